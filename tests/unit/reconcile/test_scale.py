"""The route table and the Reconciler at scale: many changes in one step, and memory per service."""

from __future__ import annotations

import gc
import ipaddress
import tracemalloc

from lbd.config.model import BGPAdvertisement, Service
from lbd.reconcile import Snapshot, allocate_snapshot, reconcile
from lbd.reconcile.incremental import Reconciler
from tests.unit.reconcile.helpers import NS, config, node, peer, pool, service, slice_for, world

BASE = int(ipaddress.IPv4Address("198.18.0.0"))


def address(i: int) -> str:
    return str(ipaddress.IPv4Address(BASE + i))


def test_many_route_changes_in_one_step_equal_reconcile() -> None:
    # More changes than the table applies in place (it re-sorts then), host routes to both peers and
    # /30 aggregates to the iBGP one (shared by up to 4 services), with and without endpoints.
    cfg = config(
        [pool("p", (address(0), address(999)))],
        bgp=[
            BGPAdvertisement("host", NS),
            BGPAdvertisement("agg", NS, aggregation_length=30, local_pref=50, peers=("r1",)),
        ],
        peers=[peer("r1", peer_asn=64500), peer("r2")],
    )
    nodes = [node("n1"), node("n2")]

    def snapshot(services: list[Service]) -> Snapshot:
        slices = [slice_for(s, ("n1" if i % 7 else "n2", i % 5 != 0)) for i, s in enumerate(services)]
        return Snapshot(config=cfg, world=world(services, slices, nodes), node="n1")

    first = [service(f"s{i}", ip=address(i)) for i in range(300)]
    # 150 removed, 150 added (some into aggregates that keep other services), the rest kept.
    second = first[150:] + [service(f"t{i}", ip=address(300 + 2 * i)) for i in range(150)]
    reconciler = Reconciler()
    for services in (first, second, first, []):
        want = reconcile(snapshot(services))
        assert reconciler.reconcile(snapshot(services)) == want
        r1 = next(p for p in want.bgp if p.peer == "r1")
        # The aggregates with several services are really there (when there are services).
        assert any(len(r.services) > 1 for r in r1.routes) == bool(services)


def test_retained_memory_per_service() -> None:
    """The scale benchmark's shape (one /32 per service, one peer, standalone): what the Reconciler
    and its result keep after `desired_state`, allocation excluded. About 137 bytes per service today
    (a ServiceState, a BGPRoute, two tuple slots); the bound leaves ~30% headroom."""
    count = 5000
    services = [service(f"s{i}", ip=address(i + 1)) for i in range(count)]
    cfg = config(
        [pool("p", (address(0), address(count + 1)))], bgp=[BGPAdvertisement("adv", NS)], peers=[peer("r1")]
    )
    snap = Snapshot(
        config=cfg, world=world(services), node="n1", live_nodes=frozenset({"n1"}), standalone=True
    )
    allocations = allocate_snapshot(snap)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        reconciler = Reconciler()
        desired = reconciler.desired_state(snap, allocations)
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(desired.bgp[0].routes) == count
    assert retained / count < 180, f"{retained / count:.0f} bytes per service"


def test_both_families_and_lengths_in_one_table_equal_reconcile() -> None:
    # IPv4 host routes and /30s, IPv6 /124s: several (version, length) groups listed in one order.
    cfg = config(
        [pool("p", ("192.0.2.0", "192.0.2.63"), ("2001:db8::", "2001:db8::3f"))],
        bgp=[
            BGPAdvertisement("host", NS, aggregation_length_v6=124),
            BGPAdvertisement("agg", NS, aggregation_length=30, aggregation_length_v6=124, peers=("r1",)),
        ],
        peers=[peer("r1"), peer("r2")],
    )
    v4 = [service(f"a{i}", ip=f"192.0.2.{i}") for i in range(0, 60, 3)]
    v6 = [service(f"b{i}", ip=f"2001:db8::{i:x}").replace(ip_families=("IPv6",)) for i in range(0, 60, 5)]
    steps = [v4 + v6, v4[5:] + v6[:4], v6, v4, v4 + v6]
    reconciler = Reconciler()
    for services in steps:
        snap = Snapshot(config=cfg, world=world(services), node="n1", standalone=True)
        want = reconcile(snap)
        assert reconciler.reconcile(snap) == want
        keys = [r.key for r in want.bgp[0].routes]
        assert keys == sorted(keys)
    assert {r.prefix.version for p in want.bgp for r in p.routes} == {4, 6}
