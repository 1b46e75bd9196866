"""Sharing equal immutable values between parsed objects: 100,000 Services that all say
`ports: [{port: 80}]` hold one ports tuple, not 100,000 equal ones.

A table is bounded: when full it starts over (objects keep what they hold; later ones share again), so
a stream of unique values never grows it past its bound.
"""

from __future__ import annotations

import sys
from collections.abc import Hashable, Mapping
from typing import Generic, TypeVar

from lbd.config.frozen import EMPTY, FrozenMap

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

BOUND = 4096


class Table(Generic[K, V]):
    """`key -> value` for values worth sharing, at most `bound` entries."""

    __slots__ = ("_bound", "_data")

    def __init__(self, bound: int = BOUND) -> None:
        self._data: dict[K, V] = {}
        self._bound = bound

    def get(self, key: K) -> V | None:
        return self._data.get(key)

    def put(self, key: K, value: V) -> V:
        if len(self._data) >= self._bound:
            self._data.clear()
        self._data[key] = value
        return value


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
