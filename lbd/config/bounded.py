"""A bounded table for sharing equal immutable values between many objects.

When full it starts over: objects keep what they hold and later ones share again, so a stream of
unique values never grows it past its bound. Used for the Services' ports, labels and spec tuples and
the small FrozenMaps' key tuples (100,000 Services that say the same thing hold one copy of it).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
T = TypeVar("T", bound=Hashable)

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


def shared(table: Table[T, T], value: T) -> T:
    """The value equal to `value` that `table` already holds, else `value` (now held)."""
    found = table.get(value)
    return found if found is not None else table.put(value, value)
