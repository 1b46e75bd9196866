"""An immutable, hashable mapping, so config objects holding labels or data stay frozen and hashable."""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, KeysView, Mapping, ValuesView
from typing import Any, TypeVar, overload

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")

# Maps of up to this many entries keep their keys and values in two tuples instead of a dict. A Service's
# annotations or labels are a handful of entries whose keys repeat from Service to Service: a one-entry
# dict costs 184 bytes, a one-entry values tuple 48, and the keys tuple is shared.
SMALL = 8
# The shared key tuples, bounded: past the bound it starts over (maps keep their tuples; later maps
# simply share with each other again).
_KEY_TUPLES: dict[tuple[Any, ...], tuple[Any, ...]] = {}
_KEY_TUPLES_BOUND = 4096
_MISSING: Any = object()


def _shared_keys(keys: tuple[Any, ...]) -> tuple[Any, ...]:
    found = _KEY_TUPLES.get(keys)
    if found is not None:
        return found
    if len(_KEY_TUPLES) >= _KEY_TUPLES_BOUND:
        _KEY_TUPLES.clear()
    _KEY_TUPLES[keys] = keys
    return keys


class FrozenMap(Mapping[K, V]):
    """A read-only dict. Equality and hashing follow the items, insertion order is kept for display.

    Small maps hold `_keys` (a tuple shared between maps with the same keys) and `_values` (a tuple);
    larger ones hold a dict in `_keys` and None in `_values`."""

    __slots__ = ("_hash", "_keys", "_values")

    def __init__(self, items: Mapping[K, V] | None = None) -> None:
        self._hash: int | None = None
        self._keys: tuple[K, ...] | dict[K, V]
        self._values: tuple[V, ...] | None
        if not items:
            self._keys, self._values = (), ()
        elif len(items) <= SMALL:
            keys = self._keys = _shared_keys(tuple(items))
            self._values = tuple(items.values() if isinstance(items, dict) else (items[k] for k in keys))
        else:
            self._keys, self._values = dict(items), None

    @classmethod
    def adopt(cls, data: dict[K, V]) -> FrozenMap[K, V]:
        """Wrap a dict nobody else will change, without copying it (the World's 100,000-entry maps)."""
        if len(data) <= SMALL:
            return cls(data)
        out: FrozenMap[K, V] = cls.__new__(cls)
        out._hash, out._keys, out._values = None, data, None
        return out

    def __getitem__(self, key: K) -> V:
        keys, values = self._keys, self._values
        if values is None:
            return keys[key]  # type: ignore[call-overload]
        for i, k in enumerate(keys):
            if k is key or k == key:
                return values[i]
        raise KeyError(key)

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
        keys, values = self._keys, self._values
        if values is None:
            return keys.get(key, default)  # type: ignore[union-attr]
        for i, k in enumerate(keys):
            if k is key or k == key:
                return values[i]
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
        keys, values = self._keys, self._values
        if values is None:
            return iter(keys.items())  # type: ignore[union-attr]
        return zip(keys, values, strict=True)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._pairs()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if isinstance(other, FrozenMap):
            if self._values is None and other._values is None:
                return self._keys == other._keys
            if self._keys is other._keys:
                return self._values == other._values
            return len(self) == len(other) and all(other.get(k, _MISSING) == v for k, v in self._pairs())
        if isinstance(other, Mapping):
            return dict(self._pairs()) == dict(other.items())
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenMap({dict(self._pairs())!r})"


EMPTY: FrozenMap[Any, Any] = FrozenMap()
