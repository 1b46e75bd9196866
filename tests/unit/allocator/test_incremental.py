"""The incremental allocator gives, after every change, exactly what a whole pass gives."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from lbd.allocator import HeldAddresses, allocate, allocate_requests
from lbd.allocator.addresses import IPAddress
from lbd.allocator.incremental import IncrementalAllocator
from lbd.allocator.inputs import is_ours, pool_policy, service_request
from lbd.allocator.requests import Reason, State
from lbd.config.frozen import FrozenMap
from lbd.config.model import AddressRange, IPAddressPool, Service, ServicePort


def _pool(name: str, *cidrs: str, auto_assign: bool = True) -> IPAddressPool:
    ranges = []
    for text in cidrs:
        net = ipaddress.ip_network(text)
        ranges.append(AddressRange(text, net[0], net[-1], (net,)))
    return IPAddressPool(name, "ns", tuple(ranges), auto_assign=auto_assign)


# Small pools so that exhaustion, sharing and explicit requests collide often.
POOLS = (
    _pool("a", "192.0.2.0/30", "2001:db8::/126"),
    _pool("b", "198.51.100.0/31"),
    _pool("c", "203.0.113.8/31", "2001:db8:1::/127", auto_assign=False),
)
REQUESTABLE = ("192.0.2.1", "198.51.100.1", "203.0.113.9", "2001:db8::2", "192.0.2.77")


@st.composite
def services(draw: st.DrawFn, name: str) -> Service:
    annotations: dict[str, str] = {}
    if draw(st.integers(0, 5)) == 0:
        annotations["metallb.io/address-pool"] = draw(st.sampled_from(["a", "b", "c", "gone"]))
    if draw(st.integers(0, 4)) == 0:
        annotations["metallb.io/allow-shared-ip"] = draw(st.sampled_from(["k1", "k2"]))
    if draw(st.integers(0, 3)) == 0:
        annotations["metallb.universe.tf/loadBalancerIPs"] = draw(
            st.sampled_from([*REQUESTABLE, "192.0.2.1,2001:db8::2", " 192.0.2.2", "192.0.2.01"])
        )
    load_balancer_ip = draw(st.sampled_from(REQUESTABLE)) if draw(st.integers(0, 6)) == 0 else None
    families = draw(st.sampled_from([(), ("IPv4",), ("IPv6",), ("IPv4", "IPv6"), ("IPv6", "IPv4")]))
    policy = draw(st.sampled_from([None, "SingleStack", "PreferDualStack", "RequireDualStack"]))
    ports = draw(st.sets(st.sampled_from([80, 443, 53]), min_size=1, max_size=2))
    return Service(
        name,
        "ns",
        type=draw(st.sampled_from(["LoadBalancer"] * 5 + ["ClusterIP"])),
        load_balancer_ip=load_balancer_ip,
        ip_families=families,
        ip_family_policy=policy,
        ports=tuple(ServicePort(p) for p in sorted(ports)),
        annotations=FrozenMap(annotations),
    )


@st.composite
def histories(draw: st.DrawFn) -> list[dict[str, Service]]:
    """A sequence of worlds, each a small change (add, change, delete) of the one before."""
    world: dict[str, Service] = {}
    out = []
    for step in range(draw(st.integers(1, 12))):
        for _ in range(draw(st.integers(1, 3))):
            action = draw(st.sampled_from(["add", "add", "change", "delete"]))
            if action == "add" or not world:
                name = f"s{draw(st.integers(0, 9))}"
                world[f"ns/{name}"] = draw(services(name))
            elif action == "change":
                key = draw(st.sampled_from(sorted(world)))
                world[key] = draw(services(world[key].name))
            else:
                del world[draw(st.sampled_from(sorted(world)))]
        if step % 5 == 4 and draw(st.booleans()):
            out.append(dict(world))
        out.append(dict(world))
    return out


@settings(max_examples=300, deadline=None)
@given(histories(), st.booleans(), st.booleans())
def test_every_step_equals_a_whole_pass(
    history: list[dict[str, Service]], remember: bool, compact: bool
) -> None:
    """`remember`: the caller feeds back the last addresses as the daemon does; otherwise nothing
    (a controller whose status writes have not landed yet). `compact`: it keeps them in a
    HeldAddresses rather than a dict."""
    incremental = IncrementalAllocator()
    previous: dict[str, tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]] = {}
    for world in history:
        given_previous: Mapping[str, Sequence[IPAddress]] | None = None
        if remember:
            given_previous = HeldAddresses(previous) if compact else previous
        expected = allocate(POOLS, world.values(), previous=given_previous)
        got = incremental.allocate(POOLS, world, previous=given_previous)
        assert got == expected
        previous = {v.key: v.addresses for v in got.services if v.state is State.ALLOCATED}


def test_a_new_service_is_served_without_a_whole_pass() -> None:
    incremental = IncrementalAllocator()
    world = {f"ns/s{i}": Service(f"s{i}", "ns", type="LoadBalancer") for i in range(3)}
    first = incremental.allocate(POOLS, world)
    assert incremental.last_was_whole
    previous = {v.key: v.addresses for v in first.services}
    incremental.allocate(POOLS, world, previous=previous)
    world["ns/s3"] = Service("s3", "ns", type="LoadBalancer")
    result = incremental.allocate(POOLS, world, previous=previous)
    assert not incremental.last_was_whole
    assert result == allocate(POOLS, world.values(), previous=previous)
    assert result.by_key()["ns/s3"].state is State.ALLOCATED


def test_a_pool_change_takes_a_whole_pass() -> None:
    incremental = IncrementalAllocator()
    world = {"ns/s0": Service("s0", "ns", type="LoadBalancer")}
    incremental.allocate(POOLS, world)
    incremental.allocate(POOLS[:2], world)
    assert incremental.last_was_whole


def test_a_pending_service_takes_a_whole_pass_so_it_gets_a_freed_address() -> None:
    pools = (_pool("b", "198.51.100.0/31"),)
    incremental = IncrementalAllocator()
    world = {f"ns/s{i}": Service(f"s{i}", "ns", type="LoadBalancer") for i in range(3)}
    result = incremental.allocate(pools, world)
    assert result.by_key()["ns/s2"].state is State.PENDING
    previous = {v.key: v.addresses for v in result.services if v.state is State.ALLOCATED}
    del world["ns/s0"]
    result = incremental.allocate(pools, world, previous=previous)
    assert incremental.last_was_whole
    assert result.by_key()["ns/s2"].state is State.ALLOCATED


def test_a_changed_sharer_takes_a_whole_pass() -> None:
    """s0 now clashes on a port with s1, which shares its address: a whole pass keeps s0 (first by
    key) and moves s1; replaying s0 alone would have moved s0 instead."""

    def shared(name: str, port: int) -> Service:
        return Service(
            name,
            "ns",
            type="LoadBalancer",
            load_balancer_ip="192.0.2.1",
            ports=(ServicePort(port),),
            annotations=FrozenMap({"metallb.io/allow-shared-ip": "k1"}),
        )

    incremental = IncrementalAllocator()
    world = {"ns/s0": shared("s0", 80), "ns/s1": shared("s1", 443)}
    result = incremental.allocate(POOLS, world)
    previous = {v.key: v.addresses for v in result.services}
    incremental.allocate(POOLS, world, previous=previous)
    world["ns/s0"] = shared("s0", 443)
    result = incremental.allocate(POOLS, world, previous=previous)
    assert incremental.last_was_whole
    assert result == allocate(POOLS, world.values(), previous=previous)
    assert result.by_key()["ns/s0"].state is State.ALLOCATED


@settings(max_examples=300, deadline=None)
@given(histories(), st.booleans())
def test_compact_entries_decide_as_full_requests(history: list[dict[str, Service]], fed_back: bool) -> None:
    """`allocate` serves services that hold nothing and request one IPv4 address from a
    RequestedAddress, and those holding one from a HeldAddress; `allocate_requests` over their full
    ServiceRequests decides the same. `fed_back`: what the first world got is remembered for the
    last (stale, moved or taken addresses included)."""
    world = history[-1]
    previous: dict[str, tuple[IPAddress, ...]] = {}
    if fed_back:
        first = allocate(POOLS, history[0].values())
        previous = {v.key: v.addresses for v in first.services if v.state is State.ALLOCATED}
    policies = [pool_policy(p) for p in POOLS]
    requests = [service_request(s, previous.get(s.key)) for s in world.values() if is_ours(s, None)]
    assert allocate(POOLS, world.values(), previous=previous) == allocate_requests(policies, requests)


def test_an_unchanged_call_is_answered_without_looking_at_services() -> None:
    """The same immutable services and the same HeldAddresses, unchanged: the same result object;
    a change to the remembered addresses is still seen."""
    world = FrozenMap({f"ns/s{i}": Service(f"s{i}", "ns", type="LoadBalancer") for i in range(3)})
    incremental = IncrementalAllocator()
    first = incremental.allocate(POOLS, world)
    held = HeldAddresses.of_allocated(first.services)
    settled = incremental.allocate(POOLS, world, previous=held)
    again = incremental.allocate(POOLS, world, previous=held)
    assert again.services is settled.services and not incremental.last_was_whole
    del held["ns/s1"]
    changed = incremental.allocate(POOLS, world, previous=held)
    assert changed == allocate(POOLS, world.values(), previous=held)
    assert changed.by_key()["ns/s1"].reason is Reason.AUTO_ASSIGNED
