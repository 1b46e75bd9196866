"""Where two versions of a sequence differ, found by object identity.

The reconcile core hands back the same objects for everything it did not recompute, in the same
order, so what changed between two results lies between their longest common head and tail. Both
are found by C-level iteration (a few nanoseconds an item), which lets the daemon's bookkeeping cost
the changes rather than the services.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import compress, count
from operator import is_not


def same_prefix(a: Sequence[object], b: Sequence[object]) -> int:
    """How many leading items of `a` and `b` are the same objects."""
    return next(compress(count(), map(is_not, a, b)), min(len(a), len(b)))


def changed_window(old: Sequence[object], new: Sequence[object]) -> tuple[int, int, int]:
    """(low, old_high, new_high): `old[low:old_high]` became `new[low:new_high]`, the rest is identical."""
    low = same_prefix(old, new)
    tail = same_prefix(old[low:][::-1], new[low:][::-1])
    return low, len(old) - tail, len(new) - tail
