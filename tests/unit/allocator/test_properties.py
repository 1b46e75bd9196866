"""Hypothesis properties of the allocator over random pools, services and held addresses."""

from __future__ import annotations

import ipaddress
import random
from collections import defaultdict
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from lbd.allocator.addresses import SharingKey
from lbd.allocator.allocator import AllocationRun, allocate_requests
from lbd.allocator.requests import Family, FamilyPolicy, PoolPolicy, ServiceRequest, State
from tests.unit.allocator.helpers import pool, svc

# Small, disjoint pools so that collisions, exhaustion and sharing all happen often.
POOLS = [
    pool("a", "192.0.2.0-192.0.2.3", "2001:db8::-2001:db8::1"),
    pool("b", "192.0.2.4-192.0.2.5", avoid=True),
    pool("c", "192.0.2.255-192.0.3.1", auto=False, avoid=True),
    pool("d", "2001:db8:1::-2001:db8:1::2", namespaces=("ns1",)),
    pool("e", "198.51.100.0-198.51.100.1", priority=1, namespaces=("ns2",)),
]
ADDRESSES = [
    *(f"192.0.2.{i}" for i in (0, 1, 3, 4, 5, 9, 255)),
    "192.0.3.0",
    "192.0.3.1",
    "2001:db8::1",
    "2001:db8:1::2",
    "198.51.100.1",
]


@st.composite
def requests(draw: st.DrawFn) -> list[ServiceRequest]:
    count = draw(st.integers(1, 12))
    out = []
    for i in range(count):
        family = draw(st.sampled_from([Family.IPV4, Family.IPV6, Family.DUAL]))
        # Kubernetes allows PreferDualStack with one family (single-stack clusters), never
        # RequireDualStack with one, nor SingleStack with two.
        policy = draw(
            st.sampled_from(
                [FamilyPolicy.PREFER_DUAL_STACK, FamilyPolicy.REQUIRE_DUAL_STACK]
                if family is Family.DUAL
                else [FamilyPolicy.SINGLE_STACK, FamilyPolicy.PREFER_DUAL_STACK]
            )
        )
        out.append(
            svc(
                f"{draw(st.sampled_from(['ns1', 'ns2', 'ns3']))}/s{i}",
                ports=tuple(
                    draw(st.sets(st.sampled_from([("TCP", 80), ("TCP", 443), ("UDP", 53)]), max_size=2))
                ),
                share=draw(st.sampled_from(["", "", "k1", "k2"])),
                backend=draw(st.sampled_from(["", "app=x"])),
                family=family,
                policy=policy,
                want=tuple(draw(st.lists(st.sampled_from(ADDRESSES), max_size=1))),
                want_pool=draw(st.sampled_from([None, None, "a", "c", "nope"])),
                current=tuple(draw(st.lists(st.sampled_from(ADDRESSES), max_size=1))),
            )
        )
    return out


def may_share(a: ServiceRequest, b: ServiceRequest) -> bool:
    if not a.sharing.sharing or a.sharing != b.sharing:
        return False
    return not set(a.ports) & set(b.ports)


@settings(max_examples=120, deadline=None)
@given(requests())
def test_no_address_given_to_two_services_that_may_not_share(reqs: list[ServiceRequest]) -> None:
    result = allocate_requests(POOLS, reqs)
    by_key = {r.key: r for r in reqs}
    holders: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, list[str]] = defaultdict(list)
    for verdict in result.services:
        for address in verdict.addresses:
            holders[address].append(verdict.key)
    for keys in holders.values():
        for i, first in enumerate(keys):
            for second in keys[i + 1 :]:
                assert may_share(by_key[first], by_key[second]), (first, second)


@settings(max_examples=120, deadline=None)
@given(requests())
def test_every_address_lies_in_an_allowed_pool(reqs: list[ServiceRequest]) -> None:
    result = allocate_requests(POOLS, reqs)
    pools: dict[str, PoolPolicy] = {p.name: p for p in POOLS}
    by_key = {r.key: r for r in reqs}
    for verdict in result.services:
        if verdict.state is State.PENDING:
            assert verdict.addresses == () and verdict.pool is None and verdict.error
            continue
        assert verdict.pool is not None
        chosen = pools[verdict.pool]
        req = by_key[verdict.key]
        assert all(chosen.space.owns(a) for a in verdict.addresses)
        assert chosen.admits(req.namespace, req.labels)
        assert 1 <= len(verdict.addresses) <= 2
        assert len({a.version for a in verdict.addresses}) == len(verdict.addresses)
        if req.family is Family.DUAL and req.policy is FamilyPolicy.REQUIRE_DUAL_STACK:
            assert len(verdict.addresses) == 2 or verdict.addresses == req.current
        if req.desired and verdict.reason.value != "kept":
            assert verdict.addresses == req.desired


@settings(max_examples=80, deadline=None)
@given(requests(), st.randoms(use_true_random=False))
def test_allocation_is_deterministic_and_order_independent(
    reqs: list[ServiceRequest], rnd: random.Random
) -> None:
    first = allocate_requests(POOLS, reqs)
    shuffled = list(reqs)
    rnd.shuffle(shuffled)
    pools = list(POOLS)
    rnd.shuffle(pools)
    assert allocate_requests(pools, shuffled) == first


@settings(max_examples=80, deadline=None)
@given(requests())
def test_allocation_is_stable_when_fed_back(reqs: list[ServiceRequest]) -> None:
    """Feeding the result back as held addresses keeps every allocation (MetalLB stability)."""
    first = allocate_requests(POOLS, reqs)
    held = {v.key: v.addresses for v in first.services}
    again = allocate_requests(
        POOLS,
        [r._replace(current=held[r.key]) for r in reqs],
    )
    for before, after in zip(first.services, again.services, strict=True):
        if before.state is State.ALLOCATED:
            assert after.addresses[: len(before.addresses)] == before.addresses


def test_sharing_key_type_is_hashable() -> None:
    assert len({SharingKey("a", ""), SharingKey("a", "")}) == 1


@settings(max_examples=80, deadline=None)
@given(requests())
def test_feeding_back_reaches_a_fixed_point(reqs: list[ServiceRequest]) -> None:
    """The daemon re-runs the allocator on its own output: it must settle, not flap."""

    def feed(result_reqs: list[ServiceRequest]) -> list[ServiceRequest]:
        held = {v.key: v.addresses for v in allocate_requests(POOLS, result_reqs).services}
        return [r._replace(current=held[r.key]) for r in result_reqs]

    second = feed(feed(reqs))
    third = feed(second)
    assert [r.current for r in second] == [r.current for r in third]


@settings(max_examples=200, deadline=None)
@given(requests(), st.booleans())
def test_fast_paths_decide_as_the_general_steps(reqs: list[ServiceRequest], fed_back: bool) -> None:
    """`take_requested` and `keep_requested` shortcut the common case; without them every service
    goes through MetalLB's steps, with the same verdicts and events."""
    if fed_back:
        held = {v.key: v.addresses for v in allocate_requests(POOLS, reqs).services}
        reqs = [r._replace(current=held[r.key]) for r in reqs]
    fast = allocate_requests(POOLS, reqs)
    with (
        mock.patch.object(AllocationRun, "take_requested", lambda _self, _req: None),
        mock.patch.object(AllocationRun, "keep_requested", lambda _self, _req: None),
    ):
        general = allocate_requests(POOLS, reqs)
    assert fast == general
    assert [v.events for v in fast.services] == [v.events for v in general.services]
