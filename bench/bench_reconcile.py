"""The reconcile stage after allocation (decisions, route table, BGPRoutes) at scale: time and memory.

Builds the scale benchmark's world directly (N Services with one /32 of 198.18.0.0/15 each, one pool,
one BGPAdvertisement, one BGPPeer, standalone mode as `lbd run`), allocates once, then measures
`Reconciler.desired_state` over that allocation: best wall time of R fresh Reconcilers, and with
tracemalloc the bytes the result and the Reconciler's memory keep (retained), the peak, and the top
allocation sites. Then RouteDiff.full over the routes (what the announcer keeps per session).

Then the incremental path at --settled services (default 10,000; bench_allocator's world: 3 nodes, L2
and BGP /24 to 2 peers, a slice per service): `Reconciler.desired_state` for one Service (with its
slice) added then removed, the allocation done outside the timing; and `RouteDiff.update` over that
many host routes given the same tuple, an equal new list, and a list with one route less.

    .venv/bin/python bench/bench_reconcile.py --services 100000 [--repeat 3] [--top 12] [--settled 10000]

A benchmark prints figures; nothing here asserts.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import ipaddress
import shlex
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_allocator import reconcile_snapshot, with_new_service
from lbd.allocator.incremental import IncrementalAllocator
from lbd.allocator.requests import AllocationResult
from lbd.config.frozen import FrozenMap
from lbd.config.model import (
    AddressRange,
    BGPAdvertisement,
    BGPPeer,
    Config,
    IPAddressPool,
    Service,
    ServicePort,
    World,
)
from lbd.net.bgp_routes import RouteDiff
from lbd.reconcile import Snapshot
from lbd.reconcile.incremental import Reconciler

LOAD_BALANCER_IPS = "metallb.universe.tf/loadBalancerIPs"


def snapshot(count: int) -> Snapshot:
    net = ipaddress.ip_network("198.18.0.0/15")
    pools = {
        "bench": IPAddressPool(
            "bench", "ns", (AddressRange(str(net), net[0], net[-1], (net,)),), auto_assign=False
        )
    }
    config = Config(
        namespace="ns",
        pools=FrozenMap(pools),
        l2_advertisements=FrozenMap(),
        bgp_advertisements=FrozenMap({"bench": BGPAdvertisement("bench", "ns")}),
        peers=FrozenMap({"rx": BGPPeer("rx", "ns", "metallb.io/v1beta2", 64500, 64501)}),
        bfd_profiles=FrozenMap(),
        communities=FrozenMap(),
        node_configs=FrozenMap(),
        pool_l2=FrozenMap(),
        pool_bgp=FrozenMap({"bench": ("bench",)}),
    )
    base = int(net.network_address)
    services = [
        Service(
            f"s{i}",
            "default",
            type="LoadBalancer",
            ports=(ServicePort(80),),
            annotations=FrozenMap({LOAD_BALANCER_IPS: str(ipaddress.IPv4Address(base + i + 1))}),
        )
        for i in range(count)
    ]
    world = World(services=FrozenMap({s.key: s for s in services}))
    return Snapshot(
        config=config, world=world, node="bench", live_nodes=frozenset({"bench"}), standalone=True
    )


def allocate(snap: Snapshot, allocator: IncrementalAllocator | None = None) -> AllocationResult:
    config, world = snap.config, snap.world
    return (allocator or IncrementalAllocator()).allocate(
        tuple(config.pools[n] for n in sorted(config.pools)),
        world.services,
        namespaces=world.namespaces.values(),
        load_balancer_class=snap.load_balancer_class,
        previous=snap.previous,
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--services", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--settled", type=int, default=10_000)
    args = parser.parse_args()
    print("$", shlex.join([".venv/bin/python", *sys.argv]))
    snap = snapshot(args.services)
    allocations = allocate(snap)
    gc.collect()
    gc.freeze()

    best = float("inf")
    for _ in range(args.repeat):
        reconciler = Reconciler()
        start = time.perf_counter()
        desired = reconciler.desired_state(snap, allocations)
        best = min(best, time.perf_counter() - start)
        del reconciler, desired
        gc.collect()
    n = args.services
    per = best / n * 1e6
    print(f"desired_state   {n} services   best of {args.repeat}: {best:.3f} s  ({per:.2f} us/service)")

    tracemalloc.start(1)
    before = tracemalloc.take_snapshot()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    reconciler = Reconciler()
    desired = reconciler.desired_state(snap, allocations)
    gc.collect()
    retained, peak = tracemalloc.get_traced_memory()
    after = tracemalloc.take_snapshot()
    routes = sum(len(p.routes) for p in desired.bgp)
    mib = 1 << 20
    print(
        f"retained        {(retained - base) / mib:7.1f} MiB ({(retained - base) / n:.0f} B/service)"
        f"   peak {(peak - base) / mib:.1f} MiB   routes {routes}"
    )
    for stat in after.compare_to(before, "lineno")[: args.top]:
        frame = stat.traceback[0]
        where = f"{Path(frame.filename).name}:{frame.lineno}"
        print(f"  {where:<28} {stat.size_diff / mib:7.2f} MiB  {stat.count_diff:>8} blocks")

    start = time.perf_counter()
    diff_base = tracemalloc.get_traced_memory()[0]
    diff = RouteDiff()
    for peer in desired.bgp:
        sum(1 for _ in diff.full(peer.routes))  # converted as a session would take them
    took = time.perf_counter() - start
    kept = tracemalloc.get_traced_memory()[0] - diff_base
    print(f"RouteDiff.full  {kept / mib:7.1f} MiB ({kept / n:.0f} B/service), {took:.3f} s under tracemalloc")
    tracemalloc.stop()
    del diff, reconciler, desired
    gc.unfreeze()
    time_changes(args.settled)
    return 0


def percentiles(samples: list[float]) -> str:
    samples = sorted(samples)
    p50, p90 = samples[len(samples) // 2], samples[int(len(samples) * 0.9)]
    return f"min {samples[0] * 1e3:.2f} ms  p50 {p50 * 1e3:.2f} ms  p90 {p90 * 1e3:.2f} ms"


def time_changes(count: int, changes: int = 100) -> None:
    snap = reconcile_snapshot(count)
    allocator, reconciler = IncrementalAllocator(), Reconciler()
    state = reconciler.desired_state(snap, allocate(snap, allocator))
    base = dataclasses.replace(snap, previous={v.key: v.addresses for v in state.allocations.services})
    reconciler.desired_state(base, allocate(base, allocator))
    gc.collect()
    gc.freeze()
    services, slices = dict(base.world.services), dict(base.world.endpoint_slices)
    samples = []
    for i in range(changes):
        svc, added = with_new_service(base, services, slices, i)
        allocations = allocate(added, allocator)
        start = time.perf_counter()
        reconciler.desired_state(added, allocations)
        samples.append(time.perf_counter() - start)
        del services[svc.key], slices[f"ns/new{i}-1"]
        allocations = allocate(base, allocator)
        start = time.perf_counter()
        reconciler.desired_state(base, allocations)
        samples.append(time.perf_counter() - start)
    print(f"change          {count} services settled, {len(samples)} changes: {percentiles(samples)}")

    # Host routes, one per service (the other world aggregates into a few /24s).
    hosts = snapshot(count)
    routes = Reconciler().desired_state(hosts, allocate(hosts)).bgp[0].routes
    diff = RouteDiff()
    diff.full(routes)
    same, equal, fewer = [], [], []
    for _ in range(20):
        start = time.perf_counter()
        diff.update(routes)
        same.append(time.perf_counter() - start)
        fresh = list(routes)
        start = time.perf_counter()
        diff.update(fresh)
        equal.append(time.perf_counter() - start)
        one_less = [*routes[: len(routes) // 2], *routes[len(routes) // 2 + 1 :]]
        start = time.perf_counter()
        diff.update(one_less)
        fewer.append(time.perf_counter() - start)
        diff.update(routes)
    print(f"RouteDiff.update {len(routes)} routes, same tuple:  {percentiles(same)}")
    print(f"RouteDiff.update {len(routes)} routes, equal list:  {percentiles(equal)}")
    print(f"RouteDiff.update {len(routes)} routes, one less:    {percentiles(fewer)}")


if __name__ == "__main__":
    sys.exit(main())
