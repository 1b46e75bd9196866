"""Health sets carried by heartbeats: which health-checked services are healthy on a member.

Theory of operation. Each node numbers its own set with a version that grows with every change. A
heartbeat always carries the version, a digest of the set and the version of the receiver's set that the
sender holds (the echo). While the receiver has not echoed the current version, every datagram to it
also carries a page of the sorted set, the next page each time, wrapping around; once echoed, pages stop
and a heartbeat carries only the 22-byte header. A receiver assembles the pages of one version and
installs the set when every position is filled and the digest matches; a page of another version starts
the assembly afresh. Replay protection (sequence numbers) already drops old or reordered datagrams, so
versions seen from one incarnation only grow. A member's new incarnation starts with an unknown set.
Nothing here does I/O; `lbd.membership.core` calls it.
"""

from __future__ import annotations

from collections.abc import Iterable

from lbd.membership.codec import MAX_HEALTH, HealthPage, health_digest


class LocalHealth:
    """This node's set: ids sorted and distinct, at most MAX_HEALTH of them (the first ones by id)."""

    __slots__ = ("digest", "ids", "version")

    def __init__(self) -> None:
        # Version 1 is the empty set: a node without health checks says "nothing healthy here".
        self.ids: tuple[bytes, ...] = ()
        self.version = 1
        self.digest = health_digest(())

    def update(self, ids: Iterable[bytes]) -> bool:
        """Install a new set; True if it differs from the current one."""
        new = tuple(sorted(set(ids)))[:MAX_HEALTH]
        if new == self.ids:
            return False
        self.ids, self.digest = new, health_digest(new)
        self.version += 1
        return True

    def page(self, acked: int, offset: int, room: int, echo: int) -> tuple[HealthPage, int]:
        """The page for a member that holds version `acked`, from `offset`; and the next offset."""
        if acked == self.version or not self.ids:
            return HealthPage(self.version, self.digest, len(self.ids), 0, (), echo), 0
        start = offset if offset < len(self.ids) else 0
        ids = self.ids[start : start + room]
        following = start + len(ids)
        return (
            HealthPage(self.version, self.digest, len(self.ids), start, ids, echo),
            following if following < len(self.ids) else 0,
        )


class PeerHealth:
    """One member's set as assembled here. `version` 0: nothing installed (unknown, counts as empty)."""

    __slots__ = ("_digest", "_filled", "_slots", "_version", "ids", "version")

    def __init__(self) -> None:
        self.ids: frozenset[bytes] = frozenset()
        self.version = 0
        self._version = 0
        self._digest = b""
        self._slots: list[bytes | None] = []
        self._filled = 0

    def receive(self, page: HealthPage) -> bool:
        """Take one page; True if it completed a set different from the installed one."""
        if page.version in (0, self.version):
            return False
        if (page.version, page.digest, page.total) != (self._version, self._digest, len(self._slots)):
            self._version, self._digest = page.version, page.digest
            self._slots, self._filled = [None] * page.total, 0
        for i, item in enumerate(page.ids, page.offset):
            if self._slots[i] is None:
                self._filled += 1
            self._slots[i] = item
        if self._filled < len(self._slots):
            return False
        assembled = tuple(item for item in self._slots if item is not None)
        self._version, self._slots, self._filled = 0, [], 0
        if health_digest(assembled) != page.digest:
            # Pages that do not add up (a sender's bug): wait for the next version rather than guess.
            return False
        before = self.ids
        self.ids, self.version = frozenset(assembled), page.version
        return self.ids != before

    def reset(self) -> bool:
        """A new incarnation of the member: its set is unknown again. True if that changes the set."""
        changed = bool(self.ids)
        self.ids, self.version = frozenset(), 0
        self._version, self._digest, self._slots, self._filled = 0, b"", [], 0
        return changed
