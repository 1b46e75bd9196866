"""The reconcile function: snapshot in, desired state out. `lbd plan`, `lbd explain` and the daemon all
call `reconcile` (or `allocate_snapshot` + `desired_state` to reuse one allocation for several nodes).

Order of work: allocate (lbd.allocator, MetalLB's controller), then for every allocated service decide
L2 (lbd.reconcile.l2) and BGP (lbd.reconcile.bgp) from this node's point of view, MetalLB's speaker.
Nothing here reads clocks, files or sockets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from lbd.allocator.inputs import allocate, is_ours
from lbd.allocator.requests import AllocationResult, Assignment, State
from lbd.config.model import BGPAdvertisement, BGPPeer, EndpointSlice, L2Advertisement, Service
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


@dataclass(frozen=True, slots=True)
class PoolFacts:
    """What every service of one pool shares: its advertisements and whether BGP may announce from
    this node at all (`bgp_reason`, before looking at the service's endpoints)."""

    l2: tuple[L2Advertisement, ...]
    bgp: tuple[BGPAdvertisement, ...]
    bgp_reason: Reason | None


@dataclass(frozen=True, slots=True)
class Context:
    """What every service's decisions depend on besides its own objects. `pools` fills as pools are
    met; it only depends on the config and the nodes, like the rest."""

    snapshot: Snapshot
    live: frozenset[str]
    interfaces: Mapping[str, tuple[str, ...]]
    peers: tuple[BGPPeer, ...]
    pools: dict[str, PoolFacts] = field(default_factory=dict)
    # Equal L2 decisions, one object: with a handful of nodes there are a handful of election orders,
    # however many services.
    l2_decisions: dict[L2Decision, L2Decision] = field(default_factory=dict)

    def pool(self, name: str) -> PoolFacts:
        facts = self.pools.get(name)
        if facts is None:
            config, node, nodes = self.snapshot.config, self.snapshot.node, self.snapshot.world.nodes
            advertisements = config.bgp_advertisements_for(name)
            facts = self.pools[name] = PoolFacts(
                config.l2_advertisements_for(name),
                advertisements,
                bgp.node_reason(node, advertisements, nodes) if advertisements else None,
            )
        return facts


def context_of(snapshot: Snapshot) -> Context:
    return Context(
        snapshot,
        live_nodes(snapshot),
        eligible_interfaces(snapshot),
        tuple(bgp.peers_of(snapshot.node, snapshot.config.peers, snapshot.world.nodes)),
    )


def route_table(ctx: Context) -> bgp.RouteTable:
    return bgp.RouteTable(ctx.peers, ctx.snapshot.node, ctx.snapshot.world.nodes)


# Decisions not to announce carry nothing per service: one object per reason.
_REFUSED = {reason: BGPDecision(reason, (), ()) for reason in Reason}


def slices_by_service(slices: Iterable[EndpointSlice]) -> dict[tuple[str, str], list[EndpointSlice]]:
    """One pass over the slices instead of World.endpoint_slices_for per service (quadratic at scale)."""
    out: dict[tuple[str, str], list[EndpointSlice]] = {}
    for endpoint_slice in slices:
        if endpoint_slice.service_name is not None:
            out.setdefault((endpoint_slice.namespace, endpoint_slice.service_name), []).append(endpoint_slice)
    return out


def decide(
    ctx: Context,
    verdict: Assignment,
    service: Service,
    slices: Sequence[EndpointSlice],
    table: bgp.RouteTable,
) -> tuple[ServiceState, tuple[L2Announcement, ...]]:
    """L2 and BGP decisions of one allocated service; its routes go into `table`."""
    pool = verdict.pool
    if pool is None or verdict.state is not State.ALLOCATED:
        return ServiceState(verdict, None, None), ()
    snapshot = ctx.snapshot
    facts = ctx.pool(pool)
    # Read once: the allocator may build the address objects on each read.
    addresses = verdict.addresses
    implicit = snapshot.standalone and not slices
    local = service.external_traffic_policy == "Local"
    answers: tuple[L2Announcement, ...] = ()

    l2_decision: L2Decision | None = None
    if facts.l2:
        l2_decision = l2.elect(
            addresses=addresses,
            advertisements=facts.l2,
            slices=slices,
            local_policy=local,
            nodes=snapshot.world.nodes,
            live=ctx.live,
            eligible_interfaces=ctx.interfaces,
            implicit_endpoints=implicit,
        )
        l2_decision = ctx.l2_decisions.setdefault(l2_decision, l2_decision)
        if l2_decision.reason is None and l2_decision.owner == snapshot.node:
            answers = tuple(
                L2Announcement(a, verdict.key, l2_decision.interfaces, l2_decision.all_interfaces)
                for a in addresses
            )

    bgp_decision: BGPDecision | None = None
    if facts.bgp:
        reason = facts.bgp_reason
        if reason is None:
            reason = bgp.endpoint_reason(
                snapshot.node, slices, local_policy=local, implicit_endpoints=implicit
            )
        if reason is None and not ctx.peers:
            reason = Reason.NO_PEERS
        if reason is None:
            bgp_decision = table.add(verdict.key, addresses, pool, facts.bgp)
        else:
            bgp_decision = _REFUSED[reason]
    return ServiceState(verdict, l2_decision, bgp_decision), answers


def withdraw(state: ServiceState, table: bgp.RouteTable) -> None:
    """Take the routes of an earlier `decide` out of `table`."""
    decision, verdict = state.bgp, state.allocation
    if decision is not None and decision.reason is None and verdict.pool is not None:
        table.remove(verdict.key, verdict.addresses, verdict.pool)


def answer_order(answer: L2Announcement) -> tuple[int, int]:
    return (answer.address.version, int(answer.address))


def desired_state(snapshot: Snapshot, allocations: AllocationResult) -> DesiredState:
    ctx = context_of(snapshot)
    services: Mapping[str, Service] = {
        s.key: s for s in snapshot.world.services.values() if is_ours(s, snapshot.load_balancer_class)
    }
    table = route_table(ctx)
    slices_of = slices_by_service(snapshot.world.endpoint_slices.values())
    states: list[ServiceState] = []
    answers: list[L2Announcement] = []
    for verdict in allocations.services:
        service = services[verdict.key]
        state, mine = decide(
            ctx, verdict, service, slices_of.get((service.namespace, service.name), []), table
        )
        states.append(state)
        answers.extend(mine)
    answers.sort(key=answer_order)
    return DesiredState(snapshot.node, allocations, tuple(states), tuple(answers), table.freeze())


def reconcile(snapshot: Snapshot) -> DesiredState:
    """The desired state of `snapshot.node`: allocations for every service of our class, the addresses
    this node answers ARP/NDP for and on which interfaces, and the routes it sends to each peer."""
    return desired_state(snapshot, allocate_snapshot(snapshot))
