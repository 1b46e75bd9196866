"""The daemon's per-service event lines (MetalLB's names): what changed since the last desired state.

Each push compares the new desired state with the last one (see `ServiceEventLog`), at a cost of the
changes, not of the services. A push that changes more than `EACH_LIMIT` services (the first one at
start, a pool renumbering) writes one summary line per event instead, and each service's lines at
debug level: 100,000 JSON lines would take seconds to render and flood the journal without telling an
operator more than the counts and `lbd status services` do. A line's fields are only built when the
line is written, so a summarised push costs a few hundred nanoseconds a service.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from lbd.allocator.requests import Assignment, State
from lbd.changes import changed_window
from lbd.config.model import IPAddress
from lbd.reconcile import DesiredState
from lbd.reconcile.types import L2Announcement, ServiceState

log = structlog.get_logger("lbd.daemon")

EACH_LIMIT = 1000
# Summaries name this many services, so an operator can start from them.
EXAMPLES = 5

_Addresses = tuple[IPAddress, ...]
# The lines one event of one service stands for (announcements: one per address), built on demand.
_Fields = Callable[..., list[dict[str, Any]]]


class _Lines:
    """Events collected during one push, written together at the end: each one as its lines when
    there are few (or debug is on), and by event as counts when there are many. Past `EACH_LIMIT`
    only the counts are kept, so a push of 100,000 changes holds a list of names, not of lines."""

    __slots__ = ("_debug", "_events", "_summary", "count")

    def __init__(self) -> None:
        # level, event, service, builder of the lines' other fields, the builder's arguments
        self._events: list[tuple[str, str, str, _Fields, tuple[Any, ...]]] = []
        # event -> (level of its lines, their services); None until there are too many events
        self._summary: dict[str, tuple[str, list[str]]] | None = None
        self._debug: bool | None = None
        self.count = 0

    def add(self, level: str, event: str, service: str, fields: _Fields, *args: Any) -> None:
        self.count += 1
        if self._summary is not None:
            self._summary.setdefault(event, (level, []))[1].append(service)
            return
        self._events.append((level, event, service, fields, args))
        if len(self._events) > EACH_LIMIT and not self._debug_enabled():
            self._summary = {}
            for level_, event_, service_, _, _ in self._events:
                self._summary.setdefault(event_, (level_, []))[1].append(service_)
            self._events = []

    def _debug_enabled(self) -> bool:
        if self._debug is None:
            self._debug = bool(log.bind().is_enabled_for(logging.DEBUG))
        return self._debug

    def write(self) -> None:
        if self._summary is None and len(self._events) <= EACH_LIMIT:
            for level, event, service, fields, args in self._events:
                for line in fields(*args):
                    getattr(log, level)(event, service=service, **line)
            return
        summary = self._summary if self._summary is not None else {}
        for level, event, service, fields, args in self._events:
            # Only with debug on: each line at debug, and the summary as without it.
            for line in fields(*args):
                log.debug(event, service=service, **line)
            summary.setdefault(event, (level, []))[1].append(service)
        for event, (level, services) in summary.items():
            # A service has one event of a kind per push (two for announcements by L2 and BGP).
            examples = sorted(set(heapq.nsmallest(2 * EXAMPLES, services)))[:EXAMPLES]
            getattr(log, level)(
                "eventsSummarized", summarized=event, services=len(services), examples=examples
            )


@dataclass(frozen=True, slots=True)
class PushLines:
    """A push's lines: the allocations' are written before the announcers act, the announcements'
    after them, so the log reads in the order things happened."""

    allocations: _Lines
    announcements: _Lines

    @property
    def addresses_changed(self) -> bool:
        return self.allocations.count > 0


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
        allocations, announcements = _Lines(), _Lines()
        old, new = self._services, desired.services
        low, old_high, new_high = changed_window(old, new)
        before = {s.key: s for s in old[low:old_high]}
        node = desired.node
        for state in new[low:new_high]:
            key = state.key
            was = before.pop(key, None)
            _allocation_events(key, was, state, allocations)
            _bgp_events(key, was, state, node, announcements)
        for key, was in before.items():
            _allocation_events(key, was, None, allocations)
            _bgp_events(key, was, None, node, announcements)
        self._services = new
        if desired.l2 is not self._l2:
            self._l2 = desired.l2
            self._l2_by_service = _l2_events(self._l2_by_service, desired.l2, node, announcements)
        return PushLines(allocations, announcements)


def _allocation_events(key: str, was: ServiceState | None, now: ServiceState | None, lines: _Lines) -> None:
    before = was.allocation if was is not None else None
    after = now.allocation if now is not None else None
    if before is after:
        return
    had = before is not None and before.state is State.ALLOCATED
    if after is None:
        if had:
            lines.add("info", "serviceDeleted", key, _ips, before)
        return
    if after.state is State.ALLOCATED:
        if not had or before.addresses != after.addresses:  # type: ignore[union-attr]
            lines.add("info", "ipAllocated", key, _allocated, after)
        return
    if before is not None and not had:
        return  # still not allocated: said when it first failed
    if had:
        lines.add("info", "clearAssignment", key, _cleared, before, after.error)
    lines.add("warning", "allocationFailed", key, _failed, after.error)


def _announced(state: ServiceState | None) -> Assignment | None:
    """The allocation whose addresses this state announces by BGP (to any peer), if it does."""
    if state is None or state.bgp is None or state.bgp.reason is not None or not state.bgp.peers:
        return None
    return state.allocation


def _bgp_events(
    key: str, was: ServiceState | None, now: ServiceState | None, node: str, lines: _Lines
) -> None:
    before, after = _announced(was), _announced(now)
    if before is after:
        return
    if before is None:
        assert after is not None
        lines.add("info", "serviceAnnounced", key, _each_of, after, "bgp", node)
        return
    if after is None:
        lines.add("info", "serviceWithdrawn", key, _each_of, before, "bgp", node)
        return
    _changed(key, before.addresses, after.addresses, "bgp", node, lines)


def _l2_events(
    last: dict[str, _Addresses], answers: Sequence[L2Announcement], node: str, lines: _Lines
) -> dict[str, _Addresses]:
    grouped: dict[str, list[IPAddress]] = {}
    for answer in answers:
        grouped.setdefault(answer.service, []).append(answer.address)
    now = {k: tuple(v) for k, v in grouped.items()}
    for key in sorted(now.keys() | last.keys()):
        _changed(key, last.get(key, ()), now.get(key, ()), "layer2", node, lines)
    return now


def _changed(key: str, was: _Addresses, now: _Addresses, protocol: str, node: str, lines: _Lines) -> None:  # noqa: PLR0917
    if was == now:
        return
    added, gone = [ip for ip in now if ip not in was], [ip for ip in was if ip not in now]
    if added:
        lines.add("info", "serviceAnnounced", key, _each, tuple(added), protocol, node)
    if gone:
        lines.add("info", "serviceWithdrawn", key, _each, tuple(gone), protocol, node)


def _ips(allocation: Assignment) -> list[dict[str, Any]]:
    return [{"ip": [str(i) for i in allocation.addresses]}]


def _allocated(allocation: Assignment) -> list[dict[str, Any]]:
    return [{"ip": [str(i) for i in allocation.addresses], "pool": allocation.pool}]


def _cleared(allocation: Assignment, reason: str | None) -> list[dict[str, Any]]:
    return [{"ip": [str(i) for i in allocation.addresses], "reason": reason}]


def _failed(error: str | None) -> list[dict[str, Any]]:
    return [{"error": error}]


def _each_of(allocation: Assignment, protocol: str, node: str) -> list[dict[str, Any]]:
    return _each(allocation.addresses, protocol, node)


def _each(ips: _Addresses, protocol: str, node: str) -> list[dict[str, Any]]:
    return [{"ip": str(ip), "protocol": protocol, "node": node} for ip in ips]
