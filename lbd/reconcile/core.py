"""The reconcile function: snapshot in, desired state out. `lbd plan`, `lbd explain` and the daemon all
call `reconcile` (or `allocate_snapshot` + `desired_state` to reuse one allocation for several nodes).

Order of work: allocate (lbd.allocator, MetalLB's controller), then for every allocated service decide
L2 (lbd.reconcile.l2) and BGP (lbd.reconcile.bgp) from this node's point of view, MetalLB's speaker.
Nothing here reads clocks, files or sockets.
"""

from __future__ import annotations

from collections.abc import Mapping

from lbd.allocator.inputs import allocate, is_ours
from lbd.allocator.requests import AllocationResult, State
from lbd.config.model import EndpointSlice, Service
from lbd.reconcile import bgp, l2
from lbd.reconcile.types import (
    BGPDecision,
    DesiredState,
    L2Announcement,
    L2Decision,
    Reason,
    ServiceState,
    Snapshot,
)


def allocate_snapshot(snapshot: Snapshot) -> AllocationResult:
    config, world = snapshot.config, snapshot.world
    return allocate(
        tuple(config.pools[n] for n in sorted(config.pools)),
        world.services.values(),
        namespaces=world.namespaces.values(),
        load_balancer_class=snapshot.load_balancer_class,
        previous=snapshot.previous,
    )


def live_nodes(snapshot: Snapshot) -> frozenset[str]:
    if snapshot.live_nodes is not None:
        return snapshot.live_nodes
    return frozenset(snapshot.world.nodes) | {snapshot.node}


def eligible_interfaces(snapshot: Snapshot) -> dict[str, tuple[str, ...]]:
    """Known interfaces per node: this node's live list, else NodeConfig.interfaces where set."""
    known: dict[str, tuple[str, ...]] = {}
    for cfg in snapshot.config.node_configs.values():
        if cfg.interfaces:
            known[cfg.node_name] = cfg.interfaces
    if snapshot.interfaces:
        known[snapshot.node] = snapshot.interfaces
    return known


def desired_state(snapshot: Snapshot, allocations: AllocationResult) -> DesiredState:
    config, world = snapshot.config, snapshot.world
    services: Mapping[str, Service] = {
        s.key: s for s in world.services.values() if is_ours(s, snapshot.load_balancer_class)
    }
    live = live_nodes(snapshot)
    interfaces = eligible_interfaces(snapshot)
    peers = bgp.peers_of(snapshot.node, config.peers, world.nodes)
    table = bgp.RouteTable(peers)
    states: list[ServiceState] = []
    answers: list[L2Announcement] = []
    # One pass over the slices instead of World.endpoint_slices_for per service (quadratic at scale).
    slices_of: dict[tuple[str, str], list[EndpointSlice]] = {}
    for endpoint_slice in world.endpoint_slices.values():
        if endpoint_slice.service_name is not None:
            slices_of.setdefault((endpoint_slice.namespace, endpoint_slice.service_name), []).append(
                endpoint_slice
            )

    for verdict in allocations.services:
        if verdict.state is not State.ALLOCATED or verdict.pool is None:
            states.append(ServiceState(verdict, None, None))
            continue
        service = services[verdict.key]
        slices = slices_of.get((service.namespace, service.name), [])
        implicit = snapshot.standalone and not slices
        local = service.external_traffic_policy == "Local"

        l2_advs = config.l2_advertisements_for(verdict.pool)
        l2_decision: L2Decision | None = None
        if l2_advs:
            l2_decision = l2.elect(
                addresses=verdict.addresses,
                advertisements=l2_advs,
                slices=slices,
                local_policy=local,
                nodes=world.nodes,
                live=live,
                eligible_interfaces=interfaces,
                implicit_endpoints=implicit,
            )
            if l2_decision.reason is None and l2_decision.owner == snapshot.node:
                answers.extend(
                    L2Announcement(a, verdict.key, l2_decision.interfaces, l2_decision.all_interfaces)
                    for a in verdict.addresses
                )

        bgp_advs = config.bgp_advertisements_for(verdict.pool)
        bgp_decision: BGPDecision | None = None
        if bgp_advs:
            reason = bgp.should_announce(
                node=snapshot.node,
                advertisements=bgp_advs,
                slices=slices,
                local_policy=local,
                nodes=world.nodes,
                implicit_endpoints=implicit,
            )
            if reason is None and not peers:
                reason = Reason.NO_PEERS
            if reason is None:
                bgp_decision = table.add(verdict.key, verdict.addresses, bgp_advs, snapshot.node, world.nodes)
            else:
                bgp_decision = BGPDecision(reason, (), ())
        states.append(ServiceState(verdict, l2_decision, bgp_decision))

    answers.sort(key=lambda a: (a.address.version, int(a.address)))
    return DesiredState(snapshot.node, allocations, tuple(states), tuple(answers), table.freeze())


def reconcile(snapshot: Snapshot) -> DesiredState:
    """The desired state of `snapshot.node`: allocations for every service of our class, the addresses
    this node answers ARP/NDP for and on which interfaces, and the routes it sends to each peer."""
    return desired_state(snapshot, allocate_snapshot(snapshot))
