"""Table-driven allocator rules, after the breadth of MetalLB's allocator and controller tests."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from lbd.allocator.allocator import allocate_requests
from lbd.allocator.requests import (
    Event,
    EventType,
    Family,
    FamilyPolicy,
    PoolPolicy,
    Reason,
    ServiceRequest,
    State,
)
from tests.unit.allocator.helpers import LabelsEqual, pool, svc

PENDING = "pending"


@dataclass(frozen=True)
class Case:
    name: str
    pools: tuple[PoolPolicy, ...]
    services: tuple[ServiceRequest, ...]
    # key -> ("pool", "ip", ...) or PENDING
    want: dict[str, tuple[str, ...] | str]
    errors: dict[str, str] = field(default_factory=dict)


CASES = [
    Case(
        "auto assigns in address order",
        (pool("a", "192.0.2.0/30"),),
        (svc("ns/s1"), svc("ns/s2"), svc("ns/s3")),
        {"ns/s1": ("a", "192.0.2.0"), "ns/s2": ("a", "192.0.2.1"), "ns/s3": ("a", "192.0.2.2")},
    ),
    Case(
        "pool exhausted leaves the rest pending",
        (pool("a", "192.0.2.1-192.0.2.2"),),
        (svc("ns/s1"), svc("ns/s2"), svc("ns/s3")),
        {"ns/s1": ("a", "192.0.2.1"), "ns/s2": ("a", "192.0.2.2"), "ns/s3": PENDING},
        {"ns/s3": "no available IPs"},
    ),
    Case(
        "autoAssign false pool is skipped by automatic allocation",
        (pool("a", "192.0.2.1/32", auto=False), pool("b", "198.51.100.1/32")),
        (svc("ns/s1"), svc("ns/s2")),
        {"ns/s1": ("b", "198.51.100.1"), "ns/s2": PENDING},
    ),
    Case(
        "general pools are walked by name",
        (pool("zeta", "192.0.2.1/32"), pool("alpha", "198.51.100.1/32")),
        (svc("ns/s1"), svc("ns/s2")),
        {"ns/s1": ("alpha", "198.51.100.1"), "ns/s2": ("zeta", "192.0.2.1")},
    ),
    Case(
        "avoidBuggyIPs skips .0 and .255",
        (pool("a", "192.0.2.255-192.0.3.1", avoid=True),),
        (svc("ns/s1"), svc("ns/s2")),
        {"ns/s1": ("a", "192.0.3.1"), "ns/s2": PENDING},
    ),
    Case(
        "requested buggy address is not allowed with avoidBuggyIPs",
        (pool("a", "192.0.2.0/24", avoid=True),),
        (svc("ns/s1", want=("192.0.2.0",)),),
        {"ns/s1": PENDING},
        {"ns/s1": '"192.0.2.0" is not allowed in config'},
    ),
    Case(
        "requested address outside every pool",
        (pool("a", "192.0.2.0/24"),),
        (svc("default/invalid-request", want=("4.3.2.1",)),),
        {"default/invalid-request": PENDING},
        {"default/invalid-request": '"4.3.2.1" is not allowed in config'},
    ),
    Case(
        "requested address is honoured even in an autoAssign false pool",
        (pool("a", "192.0.2.0/24", auto=False),),
        (svc("ns/s1", want=("192.0.2.77",)),),
        {"ns/s1": ("a", "192.0.2.77")},
    ),
    Case(
        "explicit requests are served before automatic allocation",
        (pool("a", "192.0.2.1-192.0.2.2"),),
        (svc("ns/a-auto"), svc("ns/b-auto"), svc("ns/z-wants", want=("192.0.2.1",))),
        {"ns/a-auto": ("a", "192.0.2.2"), "ns/b-auto": PENDING, "ns/z-wants": ("a", "192.0.2.1")},
    ),
    Case(
        "two services asking for the same address without sharing: first by name wins",
        (pool("a", "192.0.2.0/24"),),
        (svc("ns/a", want=("192.0.2.5",)), svc("ns/b", want=("192.0.2.5",), ports=(("TCP", 443),))),
        {"ns/a": ("a", "192.0.2.5"), "ns/b": PENDING},
        {"ns/b": 'can\'t change sharing key for "ns/b", address also in use by ns/a'},
    ),
    Case(
        "requested shared address is honoured",
        (pool("a", "192.0.2.0/24"),),
        (
            svc("ns/http", share="web", want=("192.0.2.5",)),
            svc("ns/https", share="web", want=("192.0.2.5",), ports=(("TCP", 443),)),
        ),
        {"ns/http": ("a", "192.0.2.5"), "ns/https": ("a", "192.0.2.5")},
    ),
    Case(
        "shared address with a port clash",
        (pool("a", "192.0.2.0/24"),),
        (svc("ns/a", share="web", want=("192.0.2.5",)), svc("ns/b", share="web", want=("192.0.2.5",))),
        {"ns/a": ("a", "192.0.2.5"), "ns/b": PENDING},
        {"ns/b": 'port TCP/80 is already in use on "192.0.2.5"'},
    ),
    Case(
        "TCP and UDP on the same port share (the DNS case)",
        (pool("a", "192.0.2.0/24"),),
        (
            svc("ns/dns-tcp", share="dns", ports=(("TCP", 53),)),
            svc("ns/dns-udp", share="dns", ports=(("UDP", 53),)),
        ),
        {"ns/dns-tcp": ("a", "192.0.2.0"), "ns/dns-udp": ("a", "192.0.2.0")},
    ),
    Case(
        "automatic sharing requires the same key",
        (pool("a", "192.0.2.0/24"),),
        (svc("ns/a", share="k1"), svc("ns/b", share="k2", ports=(("TCP", 443),))),
        {"ns/a": ("a", "192.0.2.0"), "ns/b": ("a", "192.0.2.1")},
    ),
    Case(
        "Local policy shares only with identical selectors",
        (pool("a", "192.0.2.0/24"),),
        (
            svc("ns/a", share="k", backend="app=x"),
            svc("ns/b", share="k", backend="app=y", ports=(("TCP", 443),)),
            svc("ns/c", share="k", backend="app=x", ports=(("TCP", 8443),)),
        ),
        {"ns/a": ("a", "192.0.2.0"), "ns/b": ("a", "192.0.2.1"), "ns/c": ("a", "192.0.2.0")},
    ),
    Case(
        "address-pool annotation allocates from an autoAssign false pool",
        (pool("a", "192.0.2.1/32"), pool("reserved", "198.51.100.0/30", auto=False)),
        (svc("ns/s1", want_pool="reserved"),),
        {"ns/s1": ("reserved", "198.51.100.0")},
    ),
    Case(
        "address-pool annotation naming an unknown pool falls back to auto-assign pools",
        (pool("a", "192.0.2.1/32"), pool("reserved", "198.51.100.0/30", auto=False)),
        (svc("ns/s1", want_pool="nope"),),
        {"ns/s1": ("a", "192.0.2.1")},
    ),
    Case(
        "address-pool annotation with an exhausted pool does not spill over",
        (pool("a", "192.0.2.0/30"), pool("small", "198.51.100.1/32")),
        (svc("ns/s1", want_pool="small"), svc("ns/s2", want_pool="small")),
        {"ns/s1": ("small", "198.51.100.1"), "ns/s2": PENDING},
        {"ns/s2": "no available IPs in pool small for ipv4 IPFamily"},
    ),
    Case(
        "requested address must lie in the requested pool",
        (pool("a", "192.0.2.0/24"), pool("b", "198.51.100.0/24")),
        (
            svc("ns/s1", want=("192.0.2.9",), want_pool="b"),
            svc("ns/s2", want=("198.51.100.9",), want_pool="b"),
        ),
        {"ns/s1": PENDING, "ns/s2": ("b", "198.51.100.9")},
        {"ns/s1": 'requested loadBalancer IP(s) "192.0.2.9" is not compatible with requested address pool b'},
    ),
    Case(
        "invalid request is reported",
        (pool("a", "192.0.2.0/24"),),
        (
            svc(
                "ns/s1",
                want_error="service can not have both metallb.io/loadBalancerIPs and svc.Spec.LoadBalancerIP",
            ),
        ),
        {"ns/s1": PENDING},
        {"ns/s1": "service can not have both metallb.io/loadBalancerIPs and svc.Spec.LoadBalancerIP"},
    ),
    Case(
        "requested family must match the service",
        (pool("a", "192.0.2.0/24", "2001:db8::/64"),),
        (svc("ns/s1", want=("2001:db8::5",)),),
        {"ns/s1": PENDING},
        {"ns/s1": 'requested loadBalancer IP(s) "2001:db8::5" does not match the ipFamily of the service'},
    ),
    Case(
        "IPv6 single stack",
        (pool("a", "192.0.2.0/24", "2001:db8::/64"),),
        (svc("ns/s1", family=Family.IPV6),),
        {"ns/s1": ("a", "2001:db8::")},
    ),
    Case(
        "RequireDualStack takes one of each family from one pool, IPv4 first",
        (pool("v4", "192.0.2.0/24"), pool("z-dual", "198.51.100.0/24", "2001:db8::/64")),
        (svc("ns/s1", family=Family.DUAL, primary=6, policy=FamilyPolicy.REQUIRE_DUAL_STACK),),
        {"ns/s1": ("z-dual", "198.51.100.0", "2001:db8::")},
    ),
    Case(
        "RequireDualStack without a dual pool stays pending",
        (pool("v4", "192.0.2.0/24"), pool("v6", "2001:db8::/64")),
        (svc("ns/s1", family=Family.DUAL, policy=FamilyPolicy.REQUIRE_DUAL_STACK),),
        {"ns/s1": PENDING},
    ),
    Case(
        "PreferDualStack falls back to the primary family's first pool",
        (pool("a-v4", "192.0.2.0/24"), pool("b-v6", "2001:db8::/64")),
        (
            svc("ns/v4first", family=Family.DUAL, policy=FamilyPolicy.PREFER_DUAL_STACK),
            svc("ns/v6first", family=Family.DUAL, primary=6, policy=FamilyPolicy.PREFER_DUAL_STACK),
        ),
        {"ns/v4first": ("a-v4", "192.0.2.0"), "ns/v6first": ("b-v6", "2001:db8::")},
    ),
    Case(
        "PreferDualStack takes both when one pool has both",
        (pool("a-v4", "192.0.2.0/24"), pool("b-dual", "198.51.100.0/24", "2001:db8::/64")),
        (svc("ns/s", family=Family.DUAL, policy=FamilyPolicy.PREFER_DUAL_STACK),),
        {"ns/s": ("b-dual", "198.51.100.0", "2001:db8::")},
    ),
    Case(
        "dual-stack request of two addresses",
        (pool("a", "192.0.2.0/24", "2001:db8::/64"),),
        (
            svc(
                "ns/s",
                family=Family.DUAL,
                policy=FamilyPolicy.REQUIRE_DUAL_STACK,
                want=("192.0.2.7", "2001:db8::7"),
            ),
        ),
        {"ns/s": ("a", "192.0.2.7", "2001:db8::7")},
    ),
    Case(
        "namespace-pinned pool is preferred and not offered to others",
        (pool("general", "192.0.2.0/24"), pool("team", "198.51.100.0/24", namespaces=("team",))),
        (svc("team/s"), svc("other/s")),
        {"team/s": ("team", "198.51.100.0"), "other/s": ("general", "192.0.2.0")},
    ),
    Case(
        "pinned pools by priority, 0 last",
        (
            pool("p0", "192.0.2.1/32", namespaces=("ns",)),
            pool("p2", "198.51.100.1/32", namespaces=("ns",), priority=2),
            pool("p1", "203.0.113.1/32", namespaces=("ns",), priority=1),
        ),
        (svc("ns/a"), svc("ns/b"), svc("ns/c"), svc("ns/d")),
        {
            "ns/a": ("p1", "203.0.113.1"),
            "ns/b": ("p2", "198.51.100.1"),
            "ns/c": ("p0", "192.0.2.1"),
            "ns/d": PENDING,
        },
    ),
    Case(
        "service selector pins a pool",
        (
            pool("general", "192.0.2.0/24"),
            pool("blue", "198.51.100.0/24", selectors=(LabelsEqual(color="blue"),)),
        ),
        (svc("ns/b", labels={"color": "blue"}), svc("ns/r", labels={"color": "red"})),
        {"ns/b": ("blue", "198.51.100.0"), "ns/r": ("general", "192.0.2.0")},
    ),
    Case(
        "exhausted pinned pool spills into general pools",
        (pool("general", "192.0.2.0/24"), pool("team", "198.51.100.1/32", namespaces=("team",))),
        (svc("team/a"), svc("team/b")),
        {"team/a": ("team", "198.51.100.1"), "team/b": ("general", "192.0.2.0")},
    ),
    Case(
        "requesting an address in a pool reserved for another namespace",
        (pool("team", "198.51.100.0/24", namespaces=("team",)),),
        (svc("other/s", want=("198.51.100.5",)),),
        {"other/s": PENDING},
        {"other/s": "pool team not compatible for ip assignment"},
    ),
    Case(
        "dual-stack request split across two pools is not allowed",
        (pool("v4", "192.0.2.0/24"), pool("v6", "2001:db8::/64")),
        (
            svc(
                "ns/s",
                family=Family.DUAL,
                policy=FamilyPolicy.REQUIRE_DUAL_STACK,
                want=("192.0.2.7", "2001:db8::7"),
            ),
        ),
        {"ns/s": PENDING},
        {"ns/s": '["192.0.2.7" "2001:db8::7"] is not allowed in config'},
    ),
    Case(
        "dual-stack services share both addresses",
        (pool("a", "192.0.2.0/24", "2001:db8::/64"),),
        (
            svc("ns/a", share="k", family=Family.DUAL, policy=FamilyPolicy.REQUIRE_DUAL_STACK),
            svc(
                "ns/b",
                share="k",
                ports=(("TCP", 443),),
                family=Family.DUAL,
                policy=FamilyPolicy.REQUIRE_DUAL_STACK,
            ),
        ),
        {"ns/a": ("a", "192.0.2.0", "2001:db8::"), "ns/b": ("a", "192.0.2.0", "2001:db8::")},
    ),
    Case(
        "IPv6 sharing",
        (pool("a", "2001:db8::/64"),),
        (
            svc("ns/a", share="k", family=Family.IPV6),
            svc("ns/b", share="k", family=Family.IPV6, ports=(("TCP", 443),)),
            svc("ns/c", family=Family.IPV6, ports=(("TCP", 8080),)),
        ),
        {"ns/a": ("a", "2001:db8::"), "ns/b": ("a", "2001:db8::"), "ns/c": ("a", "2001:db8::1")},
    ),
    Case(
        "no pools at all",
        (),
        (svc("ns/s"),),
        {"ns/s": PENDING},
        {"ns/s": "pools are empty"},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_allocation(case: Case) -> None:
    result = allocate_requests(case.pools, case.services)
    got: dict[str, tuple[str, ...] | str] = {}
    for s in result.services:
        if s.state is State.PENDING:
            got[s.key] = PENDING
            assert s.addresses == () and s.pool is None
        else:
            assert s.pool is not None
            got[s.key] = (s.pool, *(str(a) for a in s.addresses))
    assert got == case.want
    for key, error in case.errors.items():
        verdict = result.get(key)
        assert verdict is not None and verdict.error == error


def test_events_for_new_and_failed() -> None:
    result = allocate_requests(
        (pool("a", "192.0.2.1/32"),),
        (svc("default/a"), svc("default/x", want=("4.3.2.1",)), svc("default/z")),
    )
    assert result.by_key()["default/a"].events == (
        Event(EventType.NORMAL, "IPAllocated", 'Assigned IP "192.0.2.1"'),
    )
    assert result.by_key()["default/x"].events == (
        Event(
            EventType.WARNING,
            "AllocationFailed",
            'Failed to allocate IP for "default/x": "4.3.2.1" is not allowed in config',
        ),
    )
    assert (
        result.by_key()["default/z"].events[-1].message
        == 'Failed to allocate IP for "default/z": no available IPs'
    )
    assert result.by_key()["default/a"].annotations == {"metallb.io/ip-allocated-from-pool": "a"}
    assert result.by_key()["default/z"].annotations == {}


def test_dual_stack_event_lists_both() -> None:
    result = allocate_requests(
        (pool("a", "192.0.2.0/24", "2001:db8::/64"),),
        (svc("ns/s", family=Family.DUAL, policy=FamilyPolicy.REQUIRE_DUAL_STACK),),
    )
    assert result.services[0].events[0].message == 'Assigned IP ["192.0.2.0" "2001:db8::"]'


# -- stability and config changes -----------------------------------------------------------------


def test_kept_address_survives_and_emits_nothing() -> None:
    result = allocate_requests((pool("a", "192.0.2.0/24"),), (svc("ns/s", current=("192.0.2.9",)),))
    verdict = result.services[0]
    assert (verdict.state, verdict.reason, verdict.addresses[0].compressed, verdict.events) == (
        State.ALLOCATED,
        Reason.KEPT,
        "192.0.2.9",
        (),
    )


def test_kept_addresses_win_over_new_services() -> None:
    result = allocate_requests(
        (pool("a", "192.0.2.0/31"),),
        (svc("ns/a-new"), svc("ns/z-old", current=("192.0.2.0",))),
    )
    assert [str(s.addresses[0]) for s in result.services] == ["192.0.2.1", "192.0.2.0"]


def test_address_out_of_shrunk_pool_is_reallocated_with_clear_event() -> None:
    result = allocate_requests((pool("a", "192.0.2.0/30"),), (svc("ns/s", current=("198.51.100.9",)),))
    verdict = result.services[0]
    assert verdict.addresses[0].compressed == "192.0.2.0"
    assert verdict.reason is Reason.AUTO_ASSIGNED
    assert [e.reason for e in verdict.events] == ["ClearAssignment", "IPAllocated"]
    assert verdict.events[0].message == (
        'current IP for "ns/s" not allowed by config, will attempt for new IP assignment: '
        '"198.51.100.9" is not allowed in config'
    )


def test_pending_service_gets_freed_address() -> None:
    pools = (pool("a", "192.0.2.1/32"),)
    first = allocate_requests(pools, (svc("ns/a"), svc("ns/b")))
    assert first.by_key()["ns/b"].state is State.PENDING
    held = first.by_key()["ns/a"].addresses
    assert (
        allocate_requests(pools, (svc("ns/a", current=tuple(map(str, held))), svc("ns/b")))
        .by_key()["ns/b"]
        .state
        is State.PENDING
    )
    after_delete = allocate_requests(pools, (svc("ns/b"),))
    assert after_delete.by_key()["ns/b"].addresses[0].compressed == "192.0.2.1"


def test_pool_annotation_change_moves_the_service() -> None:
    pools = (pool("a", "192.0.2.0/24"), pool("b", "198.51.100.0/24"))
    result = allocate_requests(pools, (svc("ns/s", current=("192.0.2.4",), want_pool="b"),))
    assert (result.services[0].pool, result.services[0].reason) == ("b", Reason.REQUESTED_POOL)


def test_requested_address_change_moves_the_service() -> None:
    pools = (pool("a", "192.0.2.0/24"),)
    result = allocate_requests(pools, (svc("ns/s", current=("192.0.2.4",), want=("192.0.2.8",)),))
    assert result.services[0].addresses[0].compressed == "192.0.2.8"


def test_kept_despite_invalid_new_request() -> None:
    result = allocate_requests(
        (pool("a", "192.0.2.0/24"),),
        (svc("ns/s", current=("192.0.2.4",), want_error='invalid spec.loadBalancerIP "x"'),),
    )
    verdict = result.services[0]
    assert verdict.state is State.ALLOCATED
    assert verdict.events[0].reason == "LoadBalancerFailed"


def test_conflicting_held_addresses_first_by_name_keeps() -> None:
    result = allocate_requests(
        (pool("a", "192.0.2.0/30"),),
        (svc("ns/a", current=("192.0.2.2",)), svc("ns/b", current=("192.0.2.2",))),
    )
    assert [str(s.addresses[0]) for s in result.services] == ["192.0.2.2", "192.0.2.0"]
    assert result.by_key()["ns/b"].events[0].reason == "ClearAssignment"


def test_family_mismatch_is_dropped_silently() -> None:
    result = allocate_requests(
        (pool("a", "192.0.2.0/24", "2001:db8::/64"),),
        (svc("ns/s", family=Family.IPV6, current=("192.0.2.1",)),),
    )
    verdict = result.services[0]
    assert verdict.addresses[0].compressed == "2001:db8::"
    assert [e.reason for e in verdict.events] == ["IPAllocated"]


def test_prefer_dual_stack_gains_missing_family() -> None:
    result = allocate_requests(
        (pool("a", "192.0.2.0/24", "2001:db8::/64"),),
        (svc("ns/s", family=Family.DUAL, policy=FamilyPolicy.PREFER_DUAL_STACK, current=("192.0.2.3",)),),
    )
    verdict = result.services[0]
    assert [a.compressed for a in verdict.addresses] == ["192.0.2.3", "2001:db8::"]
    assert verdict.events == (Event(EventType.NORMAL, "IPAllocated", 'Assigned additional IP "2001:db8::"'),)


def test_prefer_dual_stack_without_other_family_keeps_one() -> None:
    result = allocate_requests(
        (pool("a", "192.0.2.0/24"),),
        (svc("ns/s", family=Family.DUAL, policy=FamilyPolicy.PREFER_DUAL_STACK, current=("192.0.2.3",)),),
    )
    verdict = result.services[0]
    assert [a.compressed for a in verdict.addresses] == ["192.0.2.3"]
    assert verdict.events[0].reason == "AdditionalAssignFailed"


def test_sharing_key_change_of_sole_user_is_kept() -> None:
    result = allocate_requests(
        (pool("a", "192.0.2.0/24"),), (svc("ns/s", share="new", current=("192.0.2.3",)),)
    )
    assert result.services[0].reason is Reason.KEPT


def test_prefer_dual_stack_on_single_stack_cluster_does_not_flap() -> None:
    """One clusterIP (single-stack cluster): no second family, so feeding back is a fixed point."""
    pools = (pool("a", "192.0.2.0/24", "2001:db8::/64"),)
    req = svc("ns/s", family=Family.IPV4, policy=FamilyPolicy.PREFER_DUAL_STACK)
    first = allocate_requests(pools, (req,)).services[0]
    assert [a.compressed for a in first.addresses] == ["192.0.2.0"]
    again = allocate_requests(
        pools,
        (svc("ns/s", family=Family.IPV4, policy=FamilyPolicy.PREFER_DUAL_STACK, current=("192.0.2.0",)),),
    ).services[0]
    assert (again.reason, again.events) == (Reason.KEPT, ())


def test_held_shared_address_with_new_port_clash_is_reallocated() -> None:
    result = allocate_requests(
        (pool("a", "192.0.2.0/24"),),
        (
            svc("ns/a", share="k", current=("192.0.2.5",)),
            svc("ns/b", share="k", current=("192.0.2.5",)),  # now also wants TCP/80
        ),
    ).by_key()
    assert result["ns/a"].reason is Reason.KEPT
    assert result["ns/b"].events[0].message.endswith('port TCP/80 is already in use on "192.0.2.5"')
    assert [str(a) for a in result["ns/b"].addresses] == ["192.0.2.0"]
