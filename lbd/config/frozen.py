"""An immutable, hashable mapping, so config objects holding labels or data stay frozen and hashable."""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, KeysView, Mapping, ValuesView
from typing import Any, TypeVar, overload

from lbd.config.bounded import Table, shared

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")

# Maps of up to this many entries keep their keys and values in two tuples instead of a dict. A Service's
# annotations or labels are a handful of entries whose keys repeat from Service to Service: a one-entry
# dict costs 184 bytes, a one-entry values tuple 48, and the keys tuple is shared.
SMALL = 8
# The shared key tuples (bounded: past the bound it starts over; maps keep their tuples).
_KEY_TUPLES: Table[tuple[Any, ...], tuple[Any, ...]] = Table()
_MISSING: Any = object()


class FrozenMap(Mapping[K, V]):
    """A read-only dict. Equality and hashing follow the items, insertion order is kept for display.

    Small maps hold `_keys`, a tuple shared between maps with the same keys, and `_values`: the value
    itself for one entry (a Service's one annotation), else a tuple. Larger ones hold a dict in
    `_keys` (and None in `_values`)."""

    # No cached hash: nothing hashes these maps often, and a slot more would make a Service's
    # annotations map 64 bytes instead of 48.
    __slots__ = ("_keys", "_values")

    def __init__(self, items: Mapping[K, V] | None = None) -> None:
        self._keys: tuple[K, ...] | dict[K, V]
        self._values: Any
        if not items:
            self._keys, self._values = (), ()
        elif len(items) == 1:
            [(key, self._values)] = items.items()
            self._keys = shared(_KEY_TUPLES, (key,))
        elif len(items) <= SMALL:
            keys = self._keys = shared(_KEY_TUPLES, tuple(items))
            self._values = tuple(items.values() if isinstance(items, dict) else (items[k] for k in keys))
        else:
            self._keys, self._values = dict(items), None

    @classmethod
    def adopt(cls, data: dict[K, V]) -> FrozenMap[K, V]:
        """Wrap a dict nobody else will change, without copying it (the World's 100,000-entry maps)."""
        if len(data) <= SMALL:
            return cls(data)
        out: FrozenMap[K, V] = cls.__new__(cls)
        out._keys, out._values = data, None
        return out

    def _tuple(self) -> tuple[V, ...]:
        """The values of a small map as a tuple."""
        return (self._values,) if len(self._keys) == 1 else self._values

    def __getitem__(self, key: K) -> V:
        found = self.get(key, _MISSING)
        if found is _MISSING:
            raise KeyError(key)
        return found

    def __iter__(self) -> Iterator[K]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    # The Mapping mixins would go through __getitem__ per key in Python; the daemon walks maps of
    # 10,000 services on every change, so these go straight to the dict or the tuples.
    def __contains__(self, key: object) -> bool:
        return key in self._keys

    @overload
    def get(self, key: K, /) -> V | None: ...
    @overload
    def get(self, key: K, default: V | T, /) -> V | T: ...
    def get(self, key: K, default: object = None, /) -> object:
        keys = self._keys
        if isinstance(keys, dict):
            return keys.get(key, default)
        if len(keys) == 1:
            only = keys[0]
            return self._values if only is key or only == key else default
        for i, k in enumerate(keys):
            if k is key or k == key:
                return self._values[i]
        return default

    def keys(self) -> KeysView[K]:
        keys = self._keys
        return keys.keys() if isinstance(keys, dict) else KeysView(self)

    def values(self) -> ValuesView[V]:
        keys = self._keys
        return keys.values() if isinstance(keys, dict) else ValuesView(self)

    def items(self) -> ItemsView[K, V]:
        keys = self._keys
        return keys.items() if isinstance(keys, dict) else ItemsView(self)

    def _pairs(self) -> Iterator[tuple[K, V]]:
        keys = self._keys
        if isinstance(keys, dict):
            return iter(keys.items())
        return zip(keys, self._tuple(), strict=True)

    def __hash__(self) -> int:
        return hash(frozenset(self._pairs()))

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if isinstance(other, FrozenMap):
            mine, theirs = self._keys, other._keys
            if type(mine) is dict and type(theirs) is dict:
                return mine == theirs
            if mine is theirs:
                return self._tuple() == other._tuple()
            return len(self) == len(other) and all(other.get(k, _MISSING) == v for k, v in self._pairs())
        if isinstance(other, Mapping):
            return dict(self._pairs()) == dict(other.items())
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenMap({dict(self._pairs())!r})"


EMPTY: FrozenMap[Any, Any] = FrozenMap()
