"""What keeps the allocator lean at 100,000 services: compact verdicts, exact fast parsing, bounded
memory per service (docs/perf/scale-allocator.md has the figures)."""

from __future__ import annotations

import dataclasses
import gc
import ipaddress
import pickle
import tracemalloc

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lbd.allocator.incremental import IncrementalAllocator
from lbd.allocator.inputs import parse_address
from lbd.allocator.requests import Assignment, Event, EventType, HeldAddresses, Reason, State, ip_allocated
from lbd.config.frozen import FrozenMap
from lbd.config.model import AddressRange, IPAddressPool, Service, ServicePort

BYTES_PER_SERVICE = 175
"""Retained by one whole pass per service at 5,000 services, measured 135: the verdict (56 bytes,
its IPv4 address as an int shared with the address book), the book's entry, a flag byte and the
result's slot. At 100,000 the dictionaries are sparser and it is 157 (docs/perf/scale-allocator.md)."""


def _world(count: int) -> tuple[tuple[IPAddressPool, ...], FrozenMap[str, Service]]:
    """The scale benchmark's configuration: one /15 pool without autoAssign, every service asking for
    its own address by annotation. Equal ports are one tuple, as the config loader shares them."""
    net = ipaddress.ip_network("198.18.0.0/15")
    pool = IPAddressPool("bench", "ns", (AddressRange(str(net), net[0], net[-1], (net,)),), auto_assign=False)
    ports = (ServicePort(80),)
    services = {
        f"default/s{i}": Service(
            f"s{i}",
            "default",
            type="LoadBalancer",
            ports=ports,
            annotations=FrozenMap({"metallb.universe.tf/loadBalancerIPs": str(net[i + 1])}),
        )
        for i in range(count)
    }
    return (pool,), FrozenMap(services)


def test_retained_memory_per_service_stays_small() -> None:
    count = 5000
    pools, services = _world(count)
    IncrementalAllocator().allocate(pools, services)  # caches of the first call (enum tails, regex)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        allocator = IncrementalAllocator()
        result = allocator.allocate(pools, services)
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    retained = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert all(v.state is State.ALLOCATED for v in result.services)
    assert len(result.services) == count
    assert retained / count <= BYTES_PER_SERVICE, f"{retained / count:.0f} bytes per service"


def test_a_verdict_reads_back_what_it_was_given() -> None:
    address = ipaddress.IPv4Address("198.18.0.1")
    made = Assignment.allocated("ns/a", Reason.REQUESTED_ADDRESS, (address,), "p", ())
    assert made.addresses == (address,)
    assert made.state is State.ALLOCATED and made.reason is Reason.REQUESTED_ADDRESS
    assert made.pool == "p" and made.error is None
    assert made.events == (Event(EventType.NORMAL, "IPAllocated", 'Assigned IP "198.18.0.1"'),)
    assert made.holds((address,)) and not made.holds((address, ipaddress.IPv6Address("2001:db8::1")))
    assert not made.holds((ipaddress.IPv4Address("198.18.0.2"),))


def test_verdicts_compare_by_their_public_fields_however_built() -> None:
    v4 = (ipaddress.IPv4Address("198.18.0.1"),)
    dual = (ipaddress.IPv4Address("198.18.0.1"), ipaddress.IPv6Address("2001:db8::1"))
    clear = Event(EventType.NORMAL, "ClearAssignment", "moved")
    for addresses in (v4, dual):
        for prior in ((), (clear,)):
            fast = Assignment.allocated("ns/a", Reason.AUTO_ASSIGNED, addresses, "p", prior)
            public = Assignment(
                "ns/a",
                State.ALLOCATED,
                Reason.AUTO_ASSIGNED,
                addresses,
                "p",
                events=(*prior, ip_allocated(addresses)),
            )
            assert fast == public and hash(fast) == hash(public)
            assert fast.events == public.events == (*prior, ip_allocated(addresses))
            assert pickle.loads(pickle.dumps(fast)) == fast
    plain = Assignment("ns/a", State.ALLOCATED, Reason.AUTO_ASSIGNED, v4, "p")
    assert plain != Assignment.allocated("ns/a", Reason.AUTO_ASSIGNED, v4, "p", ())
    assert plain != Assignment("ns/a", State.ALLOCATED, Reason.AUTO_ASSIGNED, v4, "q")
    assert plain != Assignment("ns/b", State.ALLOCATED, Reason.AUTO_ASSIGNED, v4, "p")
    assert "addresses=(IPv4Address('198.18.0.1'),)" in repr(plain)


def test_held_addresses_is_a_mapping_of_address_tuples() -> None:
    v4 = (ipaddress.IPv4Address("198.18.0.1"),)
    dual = (ipaddress.IPv4Address("198.18.0.2"), ipaddress.IPv6Address("2001:db8::2"))
    held = HeldAddresses({"ns/a": v4})
    held["ns/b"] = list(dual)
    assert held == {"ns/a": v4, "ns/b": dual}
    assert len(held) == 2 and "ns/b" in held and sorted(held) == ["ns/a", "ns/b"]
    assert held.pop("ns/a") == v4 and held.get("ns/a") is None
    del held["ns/b"]
    assert not held
    held.update({"ns/c": v4})
    held.clear()
    assert dict(held) == {}


def test_held_addresses_taken_from_verdicts() -> None:
    v4 = (ipaddress.IPv4Address("198.18.0.1"),)
    dual = (ipaddress.IPv4Address("198.18.0.2"), ipaddress.IPv6Address("2001:db8::2"))
    verdicts = [
        Assignment.allocated("ns/a", Reason.REQUESTED_ADDRESS, v4, "p", ()),
        Assignment("ns/b", State.ALLOCATED, Reason.KEPT, dual, "p"),
        Assignment("ns/c", State.PENDING, Reason.NO_POOLS, error="pools are empty"),
    ]
    held = HeldAddresses.of_allocated(verdicts)
    assert held == {"ns/a": v4, "ns/b": dual}
    allocated = [*verdicts[:2], Assignment("ns/c", State.ALLOCATED, Reason.AUTO_ASSIGNED, v4, "p")]
    held.follow(verdicts, allocated)
    assert held["ns/c"] == v4 and len(held) == 3
    version = held.version
    held.follow(allocated, allocated)  # the same verdicts: nothing changes, not even the version
    assert held.version == version
    held.follow(allocated, allocated[1:])
    assert held == {"ns/b": dual, "ns/c": v4}


def test_held_addresses_share_the_verdicts_ints() -> None:
    """Fed back from verdicts, remembered addresses cost no object of their own."""
    pools, services = _world(2000)
    result = IncrementalAllocator().allocate(pools, services)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        held = HeldAddresses({v.key: v.addresses for v in result.services})
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    retained = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    # Only the dictionary: measured 26 bytes an entry (a plain dict of address tuples: 122).
    assert retained / len(held) < 50, f"{retained / len(held):.0f} bytes per service"
    assert all(v.holds_packed(held.packed(v.key)) for v in result.services)


def test_a_verdict_is_frozen() -> None:
    verdict = Assignment("ns/a", State.PENDING, Reason.NO_POOLS, error="pools are empty")
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.key = "ns/b"


_ADDRESS_TEXTS = st.one_of(
    st.ip_addresses().map(str),
    st.lists(
        st.sampled_from(["0", "00", "01", "1", "9", "25", "99", "255", "256", "300", "1000", "", " 1", "+1"])
    ).map(".".join),
    st.text(alphabet="0123456789.:abf/ _+-\n\u0661\u00b2", max_size=20),
)


@given(_ADDRESS_TEXTS)
def test_parse_address_agrees_with_ipaddress(text: str) -> None:
    try:
        expected: object = ipaddress.ip_address(text)
    except ValueError:
        expected = ValueError
    try:
        got: object = parse_address(text)
    except ValueError:
        got = ValueError
    assert got == expected
    assert type(got) is type(expected)
