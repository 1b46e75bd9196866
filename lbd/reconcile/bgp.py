"""BGP announcements of one node, MetalLB-compatible (speaker/bgp_controller.go).

Theory of operation. A service's address goes to BGP when its pool has BGPAdvertisements. On this node
(`ShouldAnnounce`): at least one of them must select the node (nodeSelectors), the node must be
available and not carry the exclude label, and there must be a healthy endpoint: on this node under
externalTrafficPolicy Local, anywhere under Cluster. Then (`SetBalancer`) every advertisement selecting
the node turns every address into a prefix, the address masked to aggregationLength(V6), with the
advertisement's communities and localPref, for the peers the advertisement names (all when it names
none). Peers are those whose nodeSelectors select this node.

Several services or advertisements may produce the same prefix for the same peer (aggregation, or two
advertisements on one pool): the route is sent once, with the union of the communities and the
highest localPref (config validation rejects two different localPrefs for one prefix, as MetalLB's
does), and it stays as long as one reference (service, address) remains. LOCAL_PREF only exists on
iBGP sessions (RFC 4271 §5.1.5), so eBGP peers get None; iBGP peers get the value, 0 when no
advertisement sets it (MetalLB's documented default).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from lbd.config.communities import LargeCommunity, StandardCommunity
from lbd.config.model import BGPAdvertisement, BGPPeer, EndpointSlice, IPAddress, IPNetwork, Node
from lbd.config.selectors import any_matches
from lbd.reconcile.types import BGPDecision, BGPRoute, PeerRoutes, Reason
from lbd.reconcile.world import availability, has_healthy_endpoint, labels_of


def peers_of(node: str, peers: Mapping[str, BGPPeer], nodes: Mapping[str, Node]) -> list[BGPPeer]:
    """The peers this node runs a session with (empty nodeSelectors: every node), by name."""
    return [peers[n] for n in sorted(peers) if any_matches(peers[n].node_selectors, labels_of(nodes, node))]


def prefix_of(address: IPAddress, adv: BGPAdvertisement) -> IPNetwork:
    """The address masked to the advertisement's aggregation length for its family."""
    if address.version == 4:
        host_bits = 32 - adv.aggregation_length
        return ipaddress.IPv4Network((int(address) >> host_bits << host_bits, adv.aggregation_length))
    host_bits = 128 - adv.aggregation_length_v6
    return ipaddress.IPv6Network((int(address) >> host_bits << host_bits, adv.aggregation_length_v6))


def should_announce(
    *,
    node: str,
    advertisements: Sequence[BGPAdvertisement],
    slices: Sequence[EndpointSlice],
    local_policy: bool,
    nodes: Mapping[str, Node],
    implicit_endpoints: bool = False,
) -> Reason | None:
    """MetalLB bgpController.ShouldAnnounce, with our reason for `notOwner` made precise."""
    if not advertisements:
        return Reason.NO_ADVERTISEMENT
    if not any(any_matches(a.node_selectors, labels_of(nodes, node)) for a in advertisements):
        return Reason.NOT_SELECTED
    unavailable = availability(nodes.get(node))
    if unavailable is not None:
        return unavailable
    if implicit_endpoints:
        return None
    if local_policy and not has_healthy_endpoint(slices, node):
        return Reason.NO_LOCAL_ENDPOINTS
    if not has_healthy_endpoint(slices, None):
        return Reason.NO_ENDPOINTS
    return None


@dataclass(slots=True)
class _Route:
    communities: set[StandardCommunity] = field(default_factory=set)
    large: set[LargeCommunity] = field(default_factory=set)
    local_pref: int = 0
    refs: set[tuple[str, IPAddress]] = field(default_factory=set)


class RouteTable:
    """Per-peer prefixes with reference counting; build with `add`, read with `freeze`."""

    def __init__(self, peers: Sequence[BGPPeer]) -> None:
        self._peers = {p.name: p for p in peers}
        self._routes: dict[str, dict[IPNetwork, _Route]] = {p.name: {} for p in peers}

    def add(
        self,
        service: str,
        addresses: Sequence[IPAddress],
        advertisements: Sequence[BGPAdvertisement],
        node: str,
        nodes: Mapping[str, Node],
    ) -> BGPDecision:
        sent: set[str] = set()
        for adv in advertisements:
            if not any_matches(adv.node_selectors, labels_of(nodes, node)):
                continue
            targets = [p for p in self._peers if not adv.peers or p in adv.peers]
            for address in addresses:
                prefix = prefix_of(address, adv)
                for peer in targets:
                    route = self._routes[peer].setdefault(prefix, _Route())
                    for community in adv.communities:
                        if isinstance(community, LargeCommunity):
                            route.large.add(community)
                        else:
                            route.communities.add(community)
                    route.local_pref = max(route.local_pref, adv.local_pref)
                    route.refs.add((service, address))
                    sent.add(peer)
        skipped = tuple((p, Reason.PEER_NOT_SELECTED) for p in sorted(self._peers) if p not in sent)
        return BGPDecision(None, tuple(sorted(sent)), skipped)

    def freeze(self) -> tuple[PeerRoutes, ...]:
        out = []
        for name in sorted(self._routes):
            ibgp = self._peers[name].is_ibgp
            routes = tuple(
                BGPRoute(
                    prefix=prefix,
                    communities=tuple(sorted(r.communities)),
                    large_communities=tuple(sorted(r.large)),
                    local_pref=r.local_pref if ibgp else None,
                    services=tuple(sorted({s for s, _ in r.refs})),
                    addresses=tuple(sorted({a for _, a in r.refs}, key=lambda a: (a.version, int(a)))),
                )
                for prefix, r in sorted(self._routes[name].items(), key=lambda kv: (kv[0].version, kv[0]))
            )
            out.append(PeerRoutes(name, routes))
        return tuple(out)
