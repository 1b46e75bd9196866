"""The daemon's per-service event lines (MetalLB's names): what changed since the last desired state.

Each push compares the new desired state with the last one (see `ServiceEventLog`), at a cost of the
changes, not of the services. A push that changes more than
`EACH_LIMIT` services (the first one at start, a pool renumbering) writes one summary line per event
instead, and each service's line at debug level: 100,000 JSON lines would take seconds to render and
flood the journal without telling an operator more than the counts and `lbd status services` do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import structlog

from lbd.allocator.requests import State
from lbd.config.model import IPAddress
from lbd.reconcile import DesiredState
from lbd.reconcile.types import L2Announcement, ServiceState

log = structlog.get_logger("lbd.daemon")

EACH_LIMIT = 1000
# Summaries name this many services, so an operator can start from them.
EXAMPLES = 5

_Addresses = tuple[IPAddress, ...]


# One line to write: level, event, service, and the rest of its fields (built only if it is written).
_Line = tuple[str, str, str, Callable[[], dict[str, Any]]]


@dataclass(slots=True)
class _Lines:
    """Event lines collected during one push, written together at the end."""

    lines: list[_Line] = field(default_factory=list)

    def add(self, level: str, event: str, service: str, fields: Callable[[], dict[str, Any]]) -> None:
        self.lines.append((level, event, service, fields))

    def write(self) -> None:
        if len(self.lines) <= EACH_LIMIT:
            for level, event, service, fields in self.lines:
                getattr(log, level)(event, service=service, **fields())
            return
        if log.bind().is_enabled_for(logging.DEBUG):
            for _, event, service, fields in self.lines:
                log.debug(event, service=service, **fields())
        # event -> (level of its lines, their services): a summary of warnings is a warning.
        by_event: dict[str, tuple[str, list[str]]] = {}
        for level, event, service, _ in self.lines:
            by_event.setdefault(event, (level, []))[1].append(service)
        for event, (level, services) in by_event.items():
            examples = sorted(set(services))[:EXAMPLES]
            getattr(log, level)("eventsSummarized", summarized=event, count=len(services), examples=examples)


class ServiceEventLog:
    """ipAllocated, clearAssignment, allocationFailed, serviceDeleted, serviceAnnounced and
    serviceWithdrawn: one line per change since the last `update`.

    The reconciler hands back the same `ServiceState` object for every service it did not recompute,
    in key order, so what changed lies between the longest common head and tail of the two sequences
    (compared by identity: tens of nanoseconds a service). Only that window is looked at by key.
    """

    __slots__ = ("_l2", "_l2_by_service", "_services")

    def __init__(self) -> None:
        self._services: tuple[ServiceState, ...] = ()
        self._l2: tuple[L2Announcement, ...] = ()
        self._l2_by_service: dict[str, _Addresses] = {}

    def update(self, desired: DesiredState) -> PushLines:
        """The lines for what changed since the last call, to be written by the caller."""
        allocations, lines = _Lines(), _Lines()
        old, new = self._services, desired.services
        low, old_high, new_high = 0, len(old), len(new)
        while low < old_high and low < new_high and old[low] is new[low]:
            low += 1
        while old_high > low and new_high > low and old[old_high - 1] is new[new_high - 1]:
            old_high -= 1
            new_high -= 1
        before = {s.key: s for s in old[low:old_high]}
        after = {s.key: s for s in new[low:new_high]}
        node = desired.node
        for key, state in after.items():
            _allocation_lines(key, before.get(key), state, allocations)
            _announcement_lines(
                key, _bgp(before.get(key)), _bgp(state), protocol="bgp", node=node, lines=lines
            )
        for key, state in before.items():
            if key not in after:
                _allocation_lines(key, state, None, allocations)
                _announcement_lines(key, _bgp(state), (), protocol="bgp", node=node, lines=lines)
        self._services = new
        if desired.l2 is not self._l2:
            self._l2 = desired.l2
            grouped: dict[str, list[IPAddress]] = {}
            for answer in desired.l2:
                grouped.setdefault(answer.service, []).append(answer.address)
            l2 = {k: tuple(v) for k, v in grouped.items()}
            for key in sorted(l2.keys() | self._l2_by_service.keys()):
                was, now = self._l2_by_service.get(key, ()), l2.get(key, ())
                _announcement_lines(key, was, now, protocol="layer2", node=node, lines=lines)
            self._l2_by_service = l2
        return PushLines(allocations, lines)


@dataclass(frozen=True, slots=True)
class PushLines:
    """A push's lines: the allocations' are written before the announcers act, the announcements'
    after them, so the log reads in the order things happened."""

    allocations: _Lines
    announcements: _Lines

    @property
    def addresses_changed(self) -> bool:
        return bool(self.allocations.lines)


def _allocated_addresses(state: ServiceState | None) -> _Addresses | None:
    """None: no such service; empty: not allocated."""
    if state is None:
        return None
    return state.allocation.addresses if state.allocation.state is State.ALLOCATED else ()


def _allocation_lines(
    key: str, before: ServiceState | None, after: ServiceState | None, lines: _Lines
) -> None:
    was, ips = _allocated_addresses(before), _allocated_addresses(after)
    if was == ips:
        return
    if after is None:
        if was:
            lines.add("info", "serviceDeleted", key, partial(_deleted, was))
        return
    assert ips is not None
    if ips:
        lines.add("info", "ipAllocated", key, partial(_allocated, ips, after.allocation.pool))
        return
    error = after.allocation.error
    if was:
        lines.add("info", "clearAssignment", key, partial(_cleared, was, error))
    lines.add("warning", "allocationFailed", key, partial(dict, error=error))


def _bgp(state: ServiceState | None) -> _Addresses:
    """The addresses a service has announced by BGP (to any peer) in this state."""
    if state is None or state.bgp is None or state.bgp.reason is not None or not state.bgp.peers:
        return ()
    return state.allocation.addresses


def _announcement_lines(
    key: str, was: _Addresses, now: _Addresses, *, protocol: str, node: str, lines: _Lines
) -> None:
    if was is now or was == now:
        return
    for ip in _minus(now, was):
        lines.add("info", "serviceAnnounced", key, partial(_announcement, ip, protocol, node))
    for ip in _minus(was, now):
        lines.add("info", "serviceWithdrawn", key, partial(_announcement, ip, protocol, node))


def _minus(ips: _Addresses, other: _Addresses) -> list[IPAddress]:
    return [ip for ip in ips if ip not in other]


def _allocated(ips: _Addresses, pool: str | None) -> dict[str, Any]:
    return {"ip": [str(i) for i in ips], "pool": pool}


def _cleared(ips: _Addresses, reason: str | None) -> dict[str, Any]:
    return {"ip": [str(i) for i in ips], "reason": reason}


def _deleted(ips: _Addresses) -> dict[str, Any]:
    return {"ip": [str(i) for i in ips]}


def _announcement(ip: IPAddress, protocol: str, node: str) -> dict[str, Any]:
    return {"ip": str(ip), "protocol": protocol, "node": node}
