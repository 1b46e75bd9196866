"""Adj-RIB-Out: what we want the peer to have and what it has, with O(changed) diffing (RFC 4271 §3.2).

One table, not two: `desired` maps each prefix key (`bgp.route.prefix_key`) to its shared
`RouteAttributes`, and what the peer holds is described relative to it. After the table went out in
full the peer holds `desired`, except the prefixes in `_changed` (edited since, mapped to what the peer
still holds, None for nothing) and in `_unsent` (withheld: family not negotiated, no next hop). Before
that (`_full`) the peer holds nothing; taking the first changes turns the whole table into pending
changes, so a large table is taken (and sent) a slice at a time while edits keep arriving. So 100,000
routes cost one dictionary of shared objects, and a change costs one entry until it has been taken.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

from bgp.route import Route, RouteAttributes

# Routes to announce, grouped by their (shared) attributes: each group's attributes are encoded once.
Groups = dict[RouteAttributes, list[int]]


class AdjRibOut:
    __slots__ = ("_changed", "_full", "_unsent", "desired")

    def __init__(self) -> None:
        self.desired: dict[int, RouteAttributes] = {}
        self._changed: dict[int, RouteAttributes | None] = {}
        self._unsent: set[int] = set()
        # True until the table has been taken in full on the current session (and before any session).
        self._full = True

    def held(self, key: int) -> RouteAttributes | None:
        """What the peer holds for `key` (None: nothing)."""
        if self._full:
            return None
        if key in self._changed:
            return self._changed[key]
        if key in self._unsent:
            return None
        return self.desired.get(key)

    def replace(self, routes: Iterable[Route]) -> None:
        """Make `routes` (one per prefix) the whole desired table; only entries that differ are due."""
        new = {r.key: r.attributes for r in routes}
        if not self._full:
            old = self.desired
            changed = self._changed
            kept = 0
            for key, attributes in new.items():
                have = old.get(key)
                if have is not None:
                    kept += 1
                # Interned attributes: identity is equality.
                if have is not attributes and key not in changed:
                    changed[key] = None if key in self._unsent else have
            if kept < len(old):
                # Some old prefixes are gone; only then is the key-set difference worth computing.
                for key in old.keys() - new.keys():
                    if key not in changed:
                        changed[key] = None if key in self._unsent else old[key]
        self.desired = new

    def change(self, announce: Iterable[Route] = (), withdraw: Iterable[int] = ()) -> None:
        """Incremental edit of the desired table (`withdraw` holds prefix keys)."""
        desired, changed, full = self.desired, self._changed, self._full
        for route in announce:
            key, attributes = route.key, route.attributes
            have = desired.get(key)
            if have is not attributes:
                if not full and key not in changed:
                    changed[key] = None if key in self._unsent else have
                desired[key] = attributes
        for key in withdraw:
            have = desired.pop(key, None)
            if have is not None and not full and key not in changed:
                changed[key] = None if key in self._unsent else have

    def session_down(self) -> None:
        """The peer forgot everything we sent: everything desired must be sent again."""
        self._changed = {}
        self._unsent = set()
        self._full = True

    def pending(self) -> bool:
        return self._full or bool(self._changed)

    def take_changes(self, limit: int | None = None) -> tuple[Groups, list[int]]:
        """Routes to announce (grouped by attributes) and prefix keys to withdraw so that the peer
        matches `desired`, for at most `limit` prefixes (the rest stay pending, in order). Taking them
        commits them: the caller sends them in order, and reports the groups it could not send with
        `withhold`."""
        if self._full:
            # Everything is due and the peer holds nothing: from here on the table goes out as changes,
            # so that it can be taken a slice at a time while edits keep arriving.
            self._full = False
            self._changed = dict.fromkeys(self.desired)
        changed = self._changed
        if limit is None or limit >= len(changed):
            items = list(changed.items())
            self._changed = {}
        else:
            items = [(key, changed.pop(key)) for key in list(islice(changed, limit))]
        desired, unsent = self.desired, self._unsent
        groups: Groups = {}
        withdraw: list[int] = []
        for key, have in items:
            want = desired.get(key)
            if unsent:
                unsent.discard(key)
            if want is None:
                if have is not None:
                    withdraw.append(key)
            elif want is not have:
                if want in groups:
                    groups[want].append(key)
                else:
                    groups[want] = [key]
        return groups, withdraw

    def withhold(self, keys: Iterable[int]) -> None:
        """Taken routes that were not sent: the peer holds nothing for them."""
        self._unsent.update(keys)

    def sent_count(self) -> int:
        """How many prefixes the peer holds from us."""
        if self._full:
            return 0
        desired, changed = self.desired, self._changed
        overlaid = {k for k in self._unsent if k in desired} | {k for k in changed if k in desired}
        return len(desired) - len(overlaid) + sum(1 for have in changed.values() if have is not None)

    def sent(self) -> dict[int, RouteAttributes]:
        """What the peer holds, as a new dictionary (O(table): for views and tests)."""
        if self._full:
            return {}
        out = {k: a for k, a in self.desired.items() if k not in self._unsent and k not in self._changed}
        out.update((k, a) for k, a in self._changed.items() if a is not None)
        return out
