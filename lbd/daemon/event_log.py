"""The daemon's per-service event lines (MetalLB's names): what changed since the last desired state.

Each push compares the new desired state with the last one by service, holding only references to
the allocator's own address tuples, so an unchanged service costs a dictionary lookup and an identity
check (100,000 services: a few milliseconds, no new objects). A push that changes more than
`EACH_LIMIT` services (the first one at start, a pool renumbering) writes one summary line per event
instead, and each service's line at debug level: 100,000 JSON lines would take seconds to render and
flood the journal without telling an operator more than the counts and `lbd status services` do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from lbd.allocator.requests import State
from lbd.config.model import IPAddress
from lbd.reconcile import DesiredState

log = structlog.get_logger("lbd.daemon")

EACH_LIMIT = 1000
# Summaries name this many services, so an operator can start from them.
EXAMPLES = 5

_Addresses = tuple[IPAddress, ...]


@dataclass(slots=True)
class _Lines:
    """Event lines collected during one push, written together at the end."""

    lines: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def add(self, level: str, event: str, **fields: Any) -> None:
        self.lines.append((level, event, fields))

    def write(self) -> None:
        if len(self.lines) <= EACH_LIMIT:
            for level, event, fields in self.lines:
                getattr(log, level)(event, **fields)
            return
        # event -> (level of its lines, their fields): a summary of warnings is a warning.
        by_event: dict[str, tuple[str, list[dict[str, Any]]]] = {}
        for level, event, fields in self.lines:
            log.debug(event, **fields)
            by_event.setdefault(event, (level, []))[1].append(fields)
        for event, (level, items) in by_event.items():
            examples = sorted({str(f["service"]) for f in items})[:EXAMPLES]
            getattr(log, level)("eventsSummarized", summarized=event, count=len(items), examples=examples)


class AllocationLog:
    """ipAllocated, clearAssignment, allocationFailed and serviceDeleted, once per change."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        # service -> its addresses (the allocator's tuple; empty when not allocated)
        self._last: dict[str, _Addresses] = {}

    def update(self, desired: DesiredState) -> bool:
        """Write the lines for what changed; True if any service's addresses did."""
        last, now = self._last, {}
        lines = _Lines()
        kept = 0
        for a in desired.allocations.services:
            key = a.key
            ips = a.addresses if a.state is State.ALLOCATED else ()
            now[key] = ips
            before = last.get(key)
            if before is not None:
                kept += 1
                if before is ips or before == ips:
                    continue
            if ips:
                lines.add("info", "ipAllocated", service=key, ip=[str(i) for i in ips], pool=a.pool)
            else:
                if before:
                    lines.add(
                        "info", "clearAssignment", service=key, ip=[str(i) for i in before], reason=a.error
                    )
                lines.add("warning", "allocationFailed", service=key, error=a.error)
        if kept < len(last):
            for key, ips in last.items():
                if key not in now and ips:
                    lines.add("info", "serviceDeleted", service=key, ip=[str(i) for i in ips])
        self._last = now
        lines.write()
        return bool(lines.lines)


class AnnouncementLog:
    """serviceAnnounced and serviceWithdrawn per (service, address, protocol)."""

    __slots__ = ("_bgp", "_l2")

    def __init__(self) -> None:
        self._l2: dict[str, _Addresses] = {}
        self._bgp: dict[str, _Addresses] = {}

    def update(self, desired: DesiredState) -> None:
        lines = _Lines()
        l2: dict[str, list[IPAddress]] = {}
        for answer in desired.l2:
            l2.setdefault(answer.service, []).append(answer.address)
        self._l2 = _diff(self._l2, {k: tuple(v) for k, v in l2.items()}, "layer2", desired.node, lines)
        bgp: dict[str, _Addresses] = {}
        for state in desired.services:
            if state.bgp is not None and state.bgp.reason is None and state.bgp.peers:
                bgp[state.key] = state.allocation.addresses
        self._bgp = _diff(self._bgp, bgp, "bgp", desired.node, lines)
        lines.write()


def _diff(
    last: Mapping[str, _Addresses], now: dict[str, _Addresses], protocol: str, node: str, lines: _Lines
) -> dict[str, _Addresses]:
    kept = 0
    for key, ips in now.items():
        before = last.get(key)
        if before is not None:
            kept += 1
            if before is ips or before == ips:
                continue
        for ip in sorted(set(ips) - set(before or ()), key=_order):
            lines.add("info", "serviceAnnounced", service=key, ip=str(ip), protocol=protocol, node=node)
        for ip in sorted(set(before or ()) - set(ips), key=_order):
            lines.add("info", "serviceWithdrawn", service=key, ip=str(ip), protocol=protocol, node=node)
    if kept < len(last):
        for key, ips in last.items():
            if key not in now:
                for ip in sorted(ips, key=_order):
                    lines.add(
                        "info", "serviceWithdrawn", service=key, ip=str(ip), protocol=protocol, node=node
                    )
    return now


def _order(ip: IPAddress) -> tuple[int, int]:
    return (ip.version, int(ip))
