"""L2 owner election, MetalLB-compatible (speaker/layer2_controller.go `ShouldAnnounce`).

Theory of operation. Every speaker computes the same ordered list independently, so they agree on one
owner without talking to each other beyond knowing who is alive:

1. no endpoint anywhere can serve -> nobody announces (noEndpoints);
2. candidates = live speakers, minus unavailable nodes (unschedulable, NetworkUnavailable=True, the
   exclude-from-external-load-balancers label), that at least one L2Advertisement of the address's
   pool selects by nodeSelectors;
3. externalTrafficPolicy Local keeps only candidates with an endpoint that can serve on them;
4. candidates are sorted by sha256(node name + "#" + the service's first address) compared as bytes,
   and the first one owns every address of the service. (Distinct names never tie in practice; the
   name breaks a tie anyway so the order is total.)

The owner answers on the union of the interfaces named by the advertisements selecting it, or on every
eligible interface when one of them names none (MetalLB `ipAdvertisementFor`). When that set is known
to be empty on the owner, MetalLB logs announceFailed and nobody answers: we report noInterfaces.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence

from lbd.config.model import EndpointSlice, IPAddress, L2Advertisement, Node
from lbd.config.selectors import any_matches
from lbd.reconcile.types import L2Decision, NodeVerdict, Reason
from lbd.reconcile.world import any_endpoint_can_serve, availability, labels_of, nodes_with_serving_endpoint


def election_order(nodes: Iterable[str], first_address: IPAddress) -> list[str]:
    text = str(first_address)
    return sorted(nodes, key=lambda n: (hashlib.sha256(f"{n}#{text}".encode()).digest(), n))


def interfaces_for(
    node: str, advertisements: Sequence[L2Advertisement], nodes: Mapping[str, Node]
) -> tuple[tuple[str, ...], bool]:
    """MetalLB `ipAdvertisementFor`: (interfaces, all_interfaces) of the advertisements selecting node."""
    names: set[str] = set()
    for adv in advertisements:
        if not any_matches(adv.node_selectors, labels_of(nodes, node)):
            continue
        if adv.all_interfaces:
            return (), True
        names.update(adv.interfaces)
    return tuple(sorted(names)), False


def elect(
    *,
    addresses: Sequence[IPAddress],
    advertisements: Sequence[L2Advertisement],
    slices: Sequence[EndpointSlice],
    local_policy: bool,
    nodes: Mapping[str, Node],
    live: Collection[str],
    eligible_interfaces: Mapping[str, tuple[str, ...]],
    implicit_endpoints: bool = False,
) -> L2Decision:
    """Decide the L2 owner of one service. `eligible_interfaces` maps a node to its known interfaces
    (absent: unknown, no filtering). `implicit_endpoints`: the service counts as served on every node."""
    if not advertisements:
        return L2Decision(None, (), (), (), False, Reason.NO_ADVERTISEMENT)
    if not implicit_endpoints and not any_endpoint_can_serve(slices):
        return L2Decision(None, (), (), (), False, Reason.NO_ENDPOINTS)
    serving = nodes_with_serving_endpoint(slices)
    verdicts: list[NodeVerdict] = []
    candidates: list[str] = []
    for name in sorted(set(nodes) | set(live)):
        reason: Reason | None
        reason = Reason.NOT_LIVE if name not in live else availability(nodes.get(name))
        if reason is None and not any(
            any_matches(a.node_selectors, labels_of(nodes, name)) for a in advertisements
        ):
            reason = Reason.NOT_SELECTED
        if reason is None and local_policy and not implicit_endpoints and name not in serving:
            reason = Reason.NO_LOCAL_ENDPOINTS
        verdicts.append(NodeVerdict(name, reason))
        if reason is None:
            candidates.append(name)
    if not candidates:
        reason = (
            Reason.NO_LOCAL_ENDPOINTS if local_policy and not implicit_endpoints else Reason.NO_ELIGIBLE_NODES
        )
        return L2Decision(None, (), tuple(verdicts), (), False, reason)
    ordered = election_order(candidates, addresses[0])
    owner = ordered[0]
    interfaces, every = interfaces_for(owner, advertisements, nodes)
    known = eligible_interfaces.get(owner)
    if known is not None and not every:
        interfaces = tuple(i for i in interfaces if i in known)
        if not interfaces:
            return L2Decision(owner, tuple(ordered), tuple(verdicts), (), False, Reason.NO_INTERFACES)
    if known is not None and every:
        interfaces, every = tuple(sorted(known)), False
    return L2Decision(owner, tuple(ordered), tuple(verdicts), interfaces, every, None)
