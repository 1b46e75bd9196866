"""Sharing equal immutable values between parsed objects: 100,000 Services that all say
`ports: [{port: 80}]` hold one ports tuple, not 100,000 equal ones.

The tables are `lbd.config.bounded.Table`s.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

from lbd.config.bounded import Table
from lbd.config.frozen import EMPTY, FrozenMap

_STRING_MAPS: Table[tuple[tuple[str, str], ...], FrozenMap[str, str]] = Table()


def string_map(items: Mapping[str, str]) -> FrozenMap[str, str]:
    """A FrozenMap equal to `items`, shared with earlier equal ones (labels, selectors)."""
    if not items:
        return EMPTY
    key = tuple(items.items())
    found = _STRING_MAPS.get(key)
    if found is not None:
        return found
    return _STRING_MAPS.put(key, FrozenMap({sys.intern(k): v for k, v in items.items()}))


def word(text: str) -> str:
    """Interned: namespaces, types, policies, protocols repeat in every object."""
    return sys.intern(text)
