"""Allocator benchmark: 10,000 services into pools of several shapes, plus re-adoption of the result.

Run: .venv/bin/python bench/bench_allocator.py [--services N] [--repeat R]

Prints, per scenario, the best wall time of R runs of one complete allocation pass (the pure function
the daemon, `lbd plan` and the tests share) and the per-service cost. Scenarios:
  v4-/16          every service auto-assigned from 198.18.0.0/16
  v4-/16-buggy    the same with avoidBuggyIPs (skips .0/.255 inside used runs)
  v6-/64          2001:db8::/64, to show that pool size does not matter
  dual-stack      RequireDualStack from one pool holding a /16 and a /64
  shared          pairs of services sharing an address by allow-shared-ip (different ports)
  re-adopt        every service already holds its address (the daemon restarting)
  reconcile       the whole reconcile function for one node of 3: allocation, L2 election and BGP
                  routes to 2 peers, every service with an EndpointSlice
  change          the daemon's incremental Reconciler with every service settled: one Service added
                  (with its slice), then one removed; p50/p99/max over 200 changes
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import ipaddress
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lbd.allocator.addresses import PoolSpace, Port, SharingKey, Span
from lbd.allocator.allocator import allocate_requests
from lbd.allocator.requests import Family, FamilyPolicy, PoolPolicy, ServiceRequest, State
from lbd.config.frozen import FrozenMap
from lbd.config.model import (
    AddressRange,
    BGPAdvertisement,
    BGPPeer,
    Config,
    Endpoint,
    EndpointSlice,
    IPAddressPool,
    L2Advertisement,
    Node,
    Service,
    ServicePort,
    World,
)
from lbd.reconcile import Snapshot, reconcile
from lbd.reconcile.incremental import Reconciler


def cidr(text: str) -> Span:
    net = ipaddress.ip_network(text)
    return Span.between(net.network_address, net.broadcast_address)


def pool(*cidrs: str, avoid: bool = False) -> list[PoolPolicy]:
    return [PoolPolicy(PoolSpace("bench", tuple(cidr(c) for c in cidrs), avoid))]


def services(n: int, **kw: object) -> list[ServiceRequest]:
    return [
        ServiceRequest(key=f"ns{i % 50}/svc{i}", namespace=f"ns{i % 50}", ports=(Port("TCP", 80),), **kw)  # type: ignore[arg-type]
        for i in range(n)
    ]


def shared(n: int) -> list[ServiceRequest]:
    return [
        ServiceRequest(
            key=f"ns/svc{i}",
            namespace="ns",
            ports=(Port("TCP", 80 if i % 2 == 0 else 443),),
            sharing=SharingKey(f"pair{i // 2}", ""),
        )
        for i in range(n)
    ]


def timed(label: str, pools: list[PoolPolicy], reqs: list[ServiceRequest], repeat: int) -> None:
    best = float("inf")
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = allocate_requests(pools, reqs)
        best = min(best, time.perf_counter() - start)
    assert result is not None
    allocated = sum(1 for s in result.services if s.state is State.ALLOCATED)
    print(
        f"{label:<14} {len(reqs):>7} services  {allocated:>7} allocated  {best * 1000:9.1f} ms"
        f"  {best / len(reqs) * 1e6:7.1f} us/service"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n, repeat = args.services, args.repeat
    print("command:", shlex.join([sys.executable, *sys.argv]))
    print(f"python {sys.version.split()[0]}, best of {repeat}")

    scenarios: list[tuple[str, Callable[[], tuple[list[PoolPolicy], list[ServiceRequest]]]]] = [
        ("v4-/16", lambda: (pool("198.18.0.0/16"), services(n))),
        ("v4-/16-buggy", lambda: (pool("198.18.0.0/16", avoid=True), services(n))),
        ("v6-/64", lambda: (pool("2001:db8::/64"), services(n, family=Family.IPV6, primary=6))),
        (
            "dual-stack",
            lambda: (
                pool("198.18.0.0/16", "2001:db8::/64"),
                services(n, family=Family.DUAL, policy=FamilyPolicy.REQUIRE_DUAL_STACK),
            ),
        ),
        ("shared", lambda: (pool("198.18.0.0/16"), shared(n))),
    ]
    for label, build in scenarios:
        pools, reqs = build()
        timed(label, pools, reqs, repeat)

    pools, reqs = pool("198.18.0.0/16"), services(n)
    held = {s.key: s.addresses for s in allocate_requests(pools, reqs).services}
    readopt = [
        ServiceRequest(key=r.key, namespace=r.namespace, ports=r.ports, current=held[r.key]) for r in reqs
    ]
    timed("re-adopt", pools, readopt, repeat)
    time_reconcile(n, repeat)
    return 0


def time_reconcile(n: int, repeat: int) -> None:
    snapshot = reconcile_snapshot(n)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        state = reconcile(snapshot)
        best = min(best, time.perf_counter() - start)
    routes = sum(len(p.routes) for p in state.bgp)
    print(
        f"{'reconcile':<14} {n:>7} services  {len(state.l2):>7} L2 here   {best * 1000:9.1f} ms"
        f"  {best / n * 1e6:7.1f} us/service  ({routes} BGP routes)"
    )
    time_changes(snapshot, n)


def with_new_service(
    base: Snapshot, services: dict[str, Service], slices: dict[str, EndpointSlice], i: int
) -> tuple[Service, Snapshot]:
    """`base` plus Service ns/new{i} with a ready endpoint on n1 (added to `services` and `slices`,
    which the caller removes it from again)."""
    svc = Service(f"new{i}", "ns", type="LoadBalancer", ports=(ServicePort(80),))
    piece = EndpointSlice(
        f"new{i}-1", "ns", f"new{i}", endpoints=(Endpoint(("203.0.113.1",), node_name="n1"),)
    )
    services[svc.key], slices[f"ns/new{i}-1"] = svc, piece
    world = dataclasses.replace(base.world, services=FrozenMap(services), endpoint_slices=FrozenMap(slices))
    return svc, dataclasses.replace(base, world=world)


def time_changes(snapshot: Snapshot, n: int, changes: int = 200) -> None:
    """One Service (with its EndpointSlice) added, then removed, against a settled Reconciler."""
    reconciler = Reconciler()
    state = reconciler.reconcile(snapshot)
    previous = {v.key: v.addresses for v in state.allocations.services}
    base = dataclasses.replace(snapshot, previous=previous)
    reconciler.reconcile(base)
    # As `lbd run` does after loading a config: full collections no longer walk the world's objects.
    gc.collect()
    gc.freeze()
    services, slices = dict(base.world.services), dict(base.world.endpoint_slices)
    samples = []
    for i in range(changes):
        svc, added = with_new_service(base, services, slices, i)
        start = time.perf_counter()
        state = reconciler.reconcile(added)
        samples.append(time.perf_counter() - start)
        previous[svc.key] = state.allocations.by_key()[svc.key].addresses
        del services[svc.key], slices[f"ns/new{i}-1"], previous[svc.key]
        start = time.perf_counter()
        reconciler.reconcile(base)
        samples.append(time.perf_counter() - start)
    samples.sort()
    p50, p99 = samples[len(samples) // 2], samples[int(len(samples) * 0.99)]
    print(
        f"{'change':<14} {n:>7} services  {len(samples):>7} changes   p50 {p50 * 1000:6.1f} ms"
        f"  p99 {p99 * 1000:6.1f} ms  max {samples[-1] * 1000:6.1f} ms"
    )


def reconcile_snapshot(n: int) -> Snapshot:
    net = ipaddress.ip_network("198.18.0.0/16")
    pools = {"p": IPAddressPool("p", "ns", (AddressRange(str(net), net[0], net[-1], (net,)),))}
    config = Config(
        namespace="ns",
        pools=FrozenMap(pools),
        l2_advertisements=FrozenMap({"l2": L2Advertisement("l2", "ns")}),
        bgp_advertisements=FrozenMap({"bgp": BGPAdvertisement("bgp", "ns", aggregation_length=24)}),
        peers=FrozenMap(
            {f"r{i}": BGPPeer(f"r{i}", "ns", "metallb.io/v1beta2", 64500, 64501) for i in (1, 2)}
        ),
        bfd_profiles=FrozenMap(),
        communities=FrozenMap(),
        node_configs=FrozenMap(),
        pool_l2=FrozenMap({"p": ("l2",)}),
        pool_bgp=FrozenMap({"p": ("bgp",)}),
    )
    svcs = [
        Service(f"svc{i}", f"ns{i % 50}", type="LoadBalancer", ports=(ServicePort(80),)) for i in range(n)
    ]
    slices = [
        EndpointSlice(
            f"svc{i}-1", f"ns{i % 50}", f"svc{i}", endpoints=(Endpoint(("203.0.113.1",), node_name="n1"),)
        )
        for i in range(n)
    ]
    world = World(
        services=FrozenMap({s.key: s for s in svcs}),
        endpoint_slices=FrozenMap({f"{e.namespace}/{e.name}": e for e in slices}),
        nodes=FrozenMap({name: Node(name) for name in ("n1", "n2", "n3")}),
    )
    return Snapshot(config=config, world=world, node="n1")


if __name__ == "__main__":
    sys.exit(main())
