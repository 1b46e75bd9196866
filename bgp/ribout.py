"""Adj-RIB-Out: what we want the peer to have and what it has, with O(changed) diffing (RFC 4271 §3.2)."""

from __future__ import annotations

from collections.abc import Iterable

from bgp.families import Prefix
from bgp.route import Route


class AdjRibOut:
    """`desired` is the configuration's view; `sent` what the peer holds from us on the current session.

    Every prefix whose desired route may differ from the sent one is in `_dirty`; `take_changes` settles
    exactly those, so one changed service among 10,000 costs a lookup, not a table scan. After a session
    comes up (`session_down`) everything is due, which `take_changes` handles without per-prefix work.
    """

    def __init__(self) -> None:
        self.desired: dict[Prefix, Route] = {}
        self.sent: dict[Prefix, Route] = {}
        self._dirty: set[Prefix] = set()
        # True until the table has been sent in full on the current session (and before any session).
        self._full = True
        # The last table given to `replace`, in order: a caller passing the same Route objects again
        # (with a few replaced) is diffed by identity, without hashing every prefix.
        self._last: list[Route] = []

    def replace(self, routes: Iterable[Route]) -> None:
        """Make `routes` (one per prefix) the whole desired table; only entries that differ become dirty."""
        table = list(routes)
        if self._full:
            # Everything goes out when the session comes up anyway: no per-prefix diff needed.
            self.desired = {r.prefix: r for r in table}
            self._last = table if len(self.desired) == len(table) else []
            return
        last = self._last
        if len(table) == len(last):
            moved = [i for i, (new, old) in enumerate(zip(table, last, strict=True)) if new is not old]
            if all(table[i].prefix is last[i].prefix or table[i].prefix == last[i].prefix for i in moved):
                # Same prefixes in the same order: compare the attribute tuples only (C-level, cheap).
                for i in moved:
                    fresh, prior = table[i], last[i]
                    if (
                        fresh.communities != prior.communities
                        or fresh.large_communities != prior.large_communities
                        or fresh.local_pref != prior.local_pref
                    ):
                        self.desired[fresh.prefix] = fresh
                        self._dirty.add(fresh.prefix)
                self._last = table
                return
        new = {r.prefix: r for r in table}
        old = self.desired
        added = 0
        for prefix, route in new.items():
            have = old.get(prefix)
            if have is None:
                added += 1
                self._dirty.add(prefix)
            elif have is not route and have != route:
                self._dirty.add(prefix)
        if len(new) - added < len(old):
            # Some old prefixes are gone; only then is the key-set difference worth computing.
            self._dirty.update(old.keys() - new.keys())
        self.desired = new
        self._last = table if len(new) == len(table) else []

    def change(self, announce: Iterable[Route] = (), withdraw: Iterable[Prefix] = ()) -> None:
        """Incremental edit of the desired table."""
        self._last = []
        for route in announce:
            if self.desired.get(route.prefix) != route:
                self.desired[route.prefix] = route
                self._dirty.add(route.prefix)
        for prefix in withdraw:
            if self.desired.pop(prefix, None) is not None:
                self._dirty.add(prefix)

    def session_down(self) -> None:
        """The peer forgot everything we sent: everything desired must be sent again."""
        self.sent = {}
        self._dirty = set()
        self._full = True

    def pending(self) -> bool:
        return self._full or bool(self._dirty)

    def take_changes(self) -> tuple[list[Route], list[Prefix]]:
        """Routes to announce and prefixes to withdraw so the peer matches `desired`; the caller sends
        them (or reports them unsendable) and records the outcome with `mark_sent`/`mark_withdrawn`."""
        if self._full:
            self._full = False
            self._dirty = set()
            return list(self.desired.values()), []
        announce: list[Route] = []
        withdraw: list[Prefix] = []
        for prefix in self._dirty:
            want = self.desired.get(prefix)
            have = self.sent.get(prefix)
            if want is None:
                if have is not None:
                    withdraw.append(prefix)
            elif want != have:
                announce.append(want)
        self._dirty = set()
        return announce, withdraw

    def mark_sent(self, routes: list[Route]) -> None:
        if not self.sent and len(routes) == len(self.desired):
            # The whole table went out after a session came up: copy without re-hashing each prefix.
            self.sent = dict(self.desired)
            return
        for r in routes:
            self.sent[r.prefix] = r

    def mark_withdrawn(self, prefixes: Iterable[Prefix]) -> None:
        for p in prefixes:
            self.sent.pop(p, None)
