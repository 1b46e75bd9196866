"""Config reloads against held addresses (MetalLB's TestConfigReload and controller convergence cases)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from lbd.allocator.allocator import allocate_requests
from lbd.allocator.requests import PoolPolicy, Reason, ServiceRequest, State
from tests.unit.allocator.helpers import pool, svc


@dataclass(frozen=True)
class Reload:
    name: str
    pools: tuple[PoolPolicy, ...]
    service: ServiceRequest
    want: tuple[str, ...]  # (pool, address...) or () for pending
    reason: Reason
    events: tuple[str, ...]


HELD = ("192.0.2.0",)

RELOADS = [
    Reload(
        "unchanged pool",
        (pool("a", "192.0.2.0/24"),),
        svc("ns/s", current=HELD),
        ("a", "192.0.2.0"),
        Reason.KEPT,
        (),
    ),
    Reload(
        "pool renamed: address kept, pool follows",
        (pool("renamed", "192.0.2.0/24"),),
        svc("ns/s", current=HELD),
        ("renamed", "192.0.2.0"),
        Reason.KEPT,
        (),
    ),
    Reload(
        "pool split: address kept in the part that still holds it",
        (pool("low", "192.0.2.0/25"), pool("high", "192.0.2.128/25")),
        svc("ns/s", current=HELD),
        ("low", "192.0.2.0"),
        Reason.KEPT,
        (),
    ),
    Reload(
        "pool removed: reallocated elsewhere",
        (pool("b", "198.51.100.0/24"),),
        svc("ns/s", current=HELD),
        ("b", "198.51.100.0"),
        Reason.AUTO_ASSIGNED,
        ("ClearAssignment", "IPAllocated"),
    ),
    Reload(
        "pool shrunk past the address: reallocated in what remains",
        (pool("a", "192.0.2.1/32"),),
        svc("ns/s", current=HELD, ports=(("TCP", 443),)),
        ("a", "192.0.2.1"),
        Reason.AUTO_ASSIGNED,
        ("ClearAssignment", "IPAllocated"),
    ),
    Reload(
        "avoidBuggyIPs switched on invalidates .0",
        (pool("a", "192.0.2.0/24", avoid=True),),
        svc("ns/s", current=HELD),
        ("a", "192.0.2.1"),
        Reason.AUTO_ASSIGNED,
        ("ClearAssignment", "IPAllocated"),
    ),
    Reload(
        "autoAssign switched off keeps existing holders",
        (pool("a", "192.0.2.0/24", auto=False),),
        svc("ns/s", current=HELD),
        ("a", "192.0.2.0"),
        Reason.KEPT,
        (),
    ),
    Reload(
        "serviceAllocation now excludes the namespace",
        (pool("a", "192.0.2.0/24", namespaces=("other",)),),
        svc("ns/s", current=HELD),
        (),
        Reason.ALLOCATION_FAILED,
        ("ClearAssignment", "AllocationFailed"),
    ),
    Reload(
        "pool gone and no other pool",
        (pool("b", "198.51.100.0/32", auto=False),),
        svc("ns/s", current=HELD),
        (),
        Reason.ALLOCATION_FAILED,
        ("ClearAssignment", "AllocationFailed"),
    ),
]


@pytest.mark.parametrize("case", RELOADS, ids=[r.name for r in RELOADS])
def test_reload(case: Reload) -> None:
    (verdict,) = allocate_requests(case.pools, (case.service,)).services
    got = () if verdict.state is State.PENDING else (verdict.pool, *(str(a) for a in verdict.addresses))
    assert got == case.want
    assert verdict.reason is case.reason
    assert tuple(e.reason for e in verdict.events) == case.events


def test_clear_assignment_message_for_namespace_change() -> None:
    (verdict,) = allocate_requests(
        (pool("a", "192.0.2.0/24", namespaces=("other",)),), (svc("ns/s", current=HELD),)
    ).services
    assert verdict.events[0].message == (
        'current IP for "ns/s" not allowed by config, will attempt for new IP assignment: '
        "pool a not compatible for ip assignment"
    )


def test_freed_by_reload_goes_to_pending_service() -> None:
    """A pool grows: the service that was pending gets an address in the same pass."""
    small = (pool("a", "192.0.2.0/32"),)
    first = allocate_requests(small, (svc("ns/a"), svc("ns/b"))).by_key()
    assert first["ns/b"].state is State.PENDING
    grown = (pool("a", "192.0.2.0/31"),)
    held = tuple(str(x) for x in first["ns/a"].addresses)
    second = allocate_requests(grown, (svc("ns/a", current=held), svc("ns/b"))).by_key()
    assert [str(x) for x in second["ns/b"].addresses] == ["192.0.2.1"]
    assert second["ns/a"].reason is Reason.KEPT
