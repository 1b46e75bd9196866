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

import bisect
import ipaddress
from collections.abc import Mapping, Sequence

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


_IN_PLACE_LIMIT = 64

# What one (service, address, advertisement) adds to a route: its communities and localPref.
_Contribution = tuple[tuple[StandardCommunity, ...], tuple[LargeCommunity, ...], int]


class RouteTable:
    """Per-peer prefixes with reference counting. `add` and `remove` one service at a time; `freeze`
    gives the routes, rebuilding only what changed since the last `freeze` (the daemon keeps one table
    across changes, so one Service change does not cost a walk over every route)."""

    def __init__(self, peers: Sequence[BGPPeer]) -> None:
        self._peers = {p.name: p for p in peers}
        # peer -> prefix -> (service, address, advertisement) -> contribution
        self._routes: dict[str, dict[IPNetwork, dict[tuple[str, IPAddress, str], _Contribution]]] = {
            p.name: {} for p in peers
        }
        self._by_service: dict[str, list[tuple[str, IPNetwork]]] = {}
        self._frozen: dict[str, dict[tuple[int, int, int], BGPRoute]] = {p.name: {} for p in peers}
        self._order: dict[str, list[tuple[int, int, int]]] = {p.name: [] for p in peers}
        self._dirty: dict[str, set[IPNetwork]] = {p.name: set() for p in peers}
        self._out: dict[str, PeerRoutes] = {}

    def add(
        self,
        service: str,
        addresses: Sequence[IPAddress],
        advertisements: Sequence[BGPAdvertisement],
        node: str,
        nodes: Mapping[str, Node],
    ) -> BGPDecision:
        sent: set[str] = set()
        touched = self._by_service.setdefault(service, [])
        for adv in advertisements:
            if not any_matches(adv.node_selectors, labels_of(nodes, node)):
                continue
            targets = [p for p in self._peers if not adv.peers or p in adv.peers]
            standard = tuple(c for c in adv.communities if not isinstance(c, LargeCommunity))
            large = tuple(c for c in adv.communities if isinstance(c, LargeCommunity))
            for address in addresses:
                prefix = prefix_of(address, adv)
                for peer in targets:
                    self._routes[peer].setdefault(prefix, {})[(service, address, adv.name)] = (
                        standard,
                        large,
                        adv.local_pref,
                    )
                    self._dirty[peer].add(prefix)
                    touched.append((peer, prefix))
                    sent.add(peer)
        skipped = tuple((p, Reason.PEER_NOT_SELECTED) for p in sorted(self._peers) if p not in sent)
        return BGPDecision(None, tuple(sorted(sent)), skipped)

    def remove(self, service: str) -> None:
        """Take back everything `add` put in for `service`."""
        for peer, prefix in self._by_service.pop(service, ()):
            contributions = self._routes[peer].get(prefix)
            if contributions is None:
                continue
            for ref in [r for r in contributions if r[0] == service]:
                del contributions[ref]
            if not contributions:
                del self._routes[peer][prefix]
            self._dirty[peer].add(prefix)

    def freeze(self) -> tuple[PeerRoutes, ...]:
        return tuple(self._freeze_peer(name) for name in sorted(self._routes))

    def _freeze_peer(self, name: str) -> PeerRoutes:
        dirty, frozen, order = self._dirty[name], self._frozen[name], self._order[name]
        if not dirty and name in self._out:
            return self._out[name]
        ibgp = self._peers[name].is_ibgp
        added: list[tuple[int, int, int]] = []
        removed: list[tuple[int, int, int]] = []
        for prefix in dirty:
            contributions = self._routes[name].get(prefix)
            key: tuple[int, int, int] = (prefix.version, int(prefix.network_address), prefix.prefixlen)
            if contributions is None:
                if frozen.pop(key, None) is not None:
                    removed.append(key)
                continue
            if key not in frozen:
                added.append(key)
            frozen[key] = _route(prefix, contributions, ibgp)
        dirty.clear()
        # A few changes go in place; a rebuild (first freeze, config change) sorts once.
        if len(added) + len(removed) > _IN_PLACE_LIMIT:
            order[:] = sorted(frozen)
        else:
            for key in removed:
                del order[bisect.bisect_left(order, key)]
            for key in added:
                bisect.insort(order, key)
        out = PeerRoutes(name, tuple(frozen[k] for k in order))
        self._out[name] = out
        return out


def _route(
    prefix: IPNetwork, contributions: Mapping[tuple[str, IPAddress, str], _Contribution], ibgp: bool
) -> BGPRoute:
    communities: set[StandardCommunity] = set()
    large: set[LargeCommunity] = set()
    local_pref = 0
    for standard, large_ones, pref in contributions.values():
        communities.update(standard)
        large.update(large_ones)
        local_pref = max(local_pref, pref)
    return BGPRoute(
        prefix=prefix,
        communities=tuple(sorted(communities)),
        large_communities=tuple(sorted(large)),
        local_pref=local_pref if ibgp else None,
        services=tuple(sorted({s for s, _, _ in contributions})),
        addresses=tuple(sorted({a for _, a, _ in contributions}, key=lambda a: (a.version, int(a)))),
    )
