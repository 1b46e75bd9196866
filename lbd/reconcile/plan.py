"""Cluster-wide view for `lbd plan` / `lbd explain`: one allocation, the desired state of every node.

`plan` runs the same reconcile function the daemon runs, once per node, reusing one allocation, and
folds the per-node BGP routes into (peer, prefix, attributes) -> announcing nodes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from lbd.allocator.requests import AllocationResult
from lbd.config.communities import LargeCommunity, StandardCommunity
from lbd.config.model import Config, IPNetwork, World
from lbd.reconcile.core import allocate_snapshot, desired_state
from lbd.reconcile.types import DesiredState, L2Announcement, Snapshot


@dataclass(frozen=True, slots=True)
class PlannedL2:
    """An address answered on L2 by `node`."""

    node: str
    announcement: L2Announcement


@dataclass(frozen=True, slots=True)
class PlannedRoute:
    """One route to one peer and the nodes that send it (BGP ECMP: every node selected)."""

    peer: str
    prefix: IPNetwork
    communities: tuple[StandardCommunity, ...]
    large_communities: tuple[LargeCommunity, ...]
    local_pref: int | None
    nodes: tuple[str, ...]
    services: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    nodes: tuple[str, ...]
    load_balancer_class: str | None
    allocations: AllocationResult
    states: Mapping[str, DesiredState]
    l2: tuple[PlannedL2, ...]
    bgp: tuple[PlannedRoute, ...]


def plan(
    config: Config,
    world: World,
    nodes: Iterable[str],
    *,
    load_balancer_class: str | None = None,
    standalone: bool = False,
) -> Plan:
    """Desired state of every node in `nodes`, all of them counted as live speakers."""
    names = tuple(sorted(set(nodes)))
    live = frozenset(names)
    snapshots = [
        Snapshot(
            config=config,
            world=world,
            node=n,
            live_nodes=live,
            load_balancer_class=load_balancer_class,
            standalone=standalone,
        )
        for n in names
    ]
    if not snapshots:
        raise ValueError("plan needs at least one node")
    allocations = allocate_snapshot(snapshots[0])
    states = {s.node: desired_state(s, allocations) for s in snapshots}
    l2 = tuple(
        sorted(
            (PlannedL2(n, a) for n, st in states.items() for a in st.l2),
            key=lambda p: (p.announcement.address.version, int(p.announcement.address), p.node),
        )
    )
    return Plan(names, load_balancer_class, allocations, states, l2, _fold_routes(states))


def _fold_routes(states: Mapping[str, DesiredState]) -> tuple[PlannedRoute, ...]:
    RouteKey = tuple[str, IPNetwork, tuple[StandardCommunity, ...], tuple[LargeCommunity, ...], int | None]
    nodes: dict[RouteKey, set[str]] = {}
    services: dict[RouteKey, set[str]] = {}
    for node, state in states.items():
        for peer in state.bgp:
            for route in peer.routes:
                key: RouteKey = (
                    peer.peer,
                    route.prefix,
                    route.communities,
                    route.large_communities,
                    route.local_pref,
                )
                nodes.setdefault(key, set()).add(node)
                services.setdefault(key, set()).update(route.services)

    def order(key: RouteKey) -> tuple[object, ...]:
        peer, prefix, communities, large, local_pref = key
        return (
            peer,
            prefix.version,
            int(prefix.network_address),
            prefix.prefixlen,
            communities,
            large,
            -1 if local_pref is None else local_pref,
        )

    return tuple(
        PlannedRoute(*key, nodes=tuple(sorted(nodes[key])), services=tuple(sorted(services[key])))
        for key in sorted(nodes, key=order)
    )
