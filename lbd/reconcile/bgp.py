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
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address

from lbd.config.communities import LargeCommunity
from lbd.config.model import BGPAdvertisement, BGPPeer, EndpointSlice, IPAddress, Node
from lbd.config.selectors import any_matches
from lbd.reconcile.types import BGPDecision, BGPRoute, PeerRoutes, Reason, RouteAttributes
from lbd.reconcile.world import availability, has_healthy_endpoint, labels_of


def peers_of(node: str, peers: Mapping[str, BGPPeer], nodes: Mapping[str, Node]) -> list[BGPPeer]:
    """The peers this node runs a session with (empty nodeSelectors: every node), by name."""
    return [peers[n] for n in sorted(peers) if any_matches(peers[n].node_selectors, labels_of(nodes, node))]


def node_reason(
    node: str, advertisements: Sequence[BGPAdvertisement], nodes: Mapping[str, Node]
) -> Reason | None:
    """The half of MetalLB bgpController.ShouldAnnounce that only reads the pool's advertisements and
    the node (the same for every service of a pool, so callers keep it per pool)."""
    if not advertisements:
        return Reason.NO_ADVERTISEMENT
    labels = labels_of(nodes, node)
    if not any(any_matches(a.node_selectors, labels) for a in advertisements):
        return Reason.NOT_SELECTED
    return availability(nodes.get(node))


def endpoint_reason(
    node: str, slices: Sequence[EndpointSlice], *, local_policy: bool, implicit_endpoints: bool = False
) -> Reason | None:
    """The other half: a healthy endpoint on this node under externalTrafficPolicy Local, anywhere
    under Cluster."""
    if implicit_endpoints:
        return None
    if local_policy and not has_healthy_endpoint(slices, node):
        return Reason.NO_LOCAL_ENDPOINTS
    if not has_healthy_endpoint(slices, None):
        return Reason.NO_ENDPOINTS
    return None


# (version, network, prefix length): one prefix, as `BGPRoute.key`. Routes are listed in this order.
_Key = tuple[int, int, int]
# (version, prefix length) -> network -> route changed since the last freeze (None: gone). A host
# route's network is its address's own int object.
_Groups = dict[tuple[int, int], dict[int, BGPRoute | None]]
# A reference keeping a route: (service, address as an int; a prefix has one family).
_Ref = tuple[str, int]

_IN_PLACE_LIMIT = 64
_order = operator.attrgetter("key")


@dataclass(frozen=True, slots=True)
class _Target:
    """One peer an advertisement sends to: the route attributes and the peer's changes dict for the
    advertisement's prefix length, per family."""

    peer: str
    v4: RouteAttributes
    v6: RouteAttributes
    changes4: dict[int, BGPRoute | None]
    changes6: dict[int, BGPRoute | None]


@dataclass(frozen=True, slots=True)
class _Send:
    """One advertisement of a pool that selects this node."""

    bits4: int
    bits6: int
    targets: tuple[_Target, ...]


@dataclass(frozen=True, slots=True)
class _Plan:
    """What every service of one pool sends: the same prefixes' shapes, peers and decision (`idle`
    for a service without addresses: no peer gets anything)."""

    sends: tuple[_Send, ...]
    decision: BGPDecision
    idle: BGPDecision


class RouteTable:
    """Per-peer prefixes with reference counting. `add` and `remove` one service at a time; `freeze`
    gives the routes, rebuilding only what changed since the last `freeze` (the daemon keeps one table
    across changes, so one Service change does not cost a walk over every route).

    Sized for 100,000 services. Between freezes a peer's routes are its last `PeerRoutes` (sorted by
    `BGPRoute.key`, found by bisection) plus the changes since, in dicts keyed by network int per
    (version, prefix length) (None: removed); `freeze` folds the changes in and empties those dicts,
    so the settled table holds nothing per route beyond the tuple the desired state returns. A prefix
    with one reference (the common case) is just its `BGPRoute`; only prefixes with several references
    keep a dict of them (`_shared`). What a pool's services send is worked out once per pool (`_Plan`),
    and attributes and decisions are shared objects. Nothing is kept per service: `remove` is given the
    addresses and pool `add` was given."""

    def __init__(
        self, peers: Sequence[BGPPeer], node: str = "", nodes: Mapping[str, Node] | None = None
    ) -> None:
        self._peers = {p.name: p for p in peers}
        self._node = node
        self._nodes: Mapping[str, Node] = nodes if nodes is not None else {}
        self._changes: dict[str, _Groups] = {p.name: {} for p in peers}
        self._shared: dict[str, dict[_Key, dict[_Ref, RouteAttributes]]] = {p.name: {} for p in peers}
        # Prefixes in `_shared` whose route `freeze` rebuilds.
        self._pending: dict[str, set[_Key]] = {p.name: set() for p in peers}
        self._out: dict[str, PeerRoutes] = {}
        self._plans: dict[str, _Plan] = {}
        # (attributes,) -> the one object with that value; (a, b) -> their merge.
        self._attributes: dict[tuple[object, ...], RouteAttributes] = {}

    def add(
        self,
        service: str,
        addresses: Sequence[IPAddress],
        pool: str,
        advertisements: Sequence[BGPAdvertisement],
    ) -> BGPDecision:
        """Routes for `service`'s addresses from its pool's advertisements (this node announces it)."""
        plan = self._plans.get(pool)
        if plan is None:
            plan = self._plans[pool] = self._plan(advertisements)
        if not addresses:
            return plan.idle
        out = self._out
        for send in plan.sends:
            for address in addresses:
                network = value = int(address)
                v4 = type(address) is IPv4Address
                bits = send.bits4 if v4 else send.bits6
                if bits:
                    network = value >> bits << bits
                made: BGPRoute | None = None
                ref: _Ref | None = None
                for target in send.targets:
                    attributes, changes = (target.v4, target.changes4) if v4 else (target.v6, target.changes6)
                    route = changes.get(network)
                    if route is None and target.peer in out and network not in changes:
                        route = self._listed(target.peer, attributes, network)
                    if route is None:
                        # Peers with the same attributes share one immutable route object.
                        if made is None or made.attributes is not attributes:
                            made = BGPRoute(network, attributes, service, value)
                        changes[network] = made
                    else:
                        key = (attributes.version, network, attributes.prefixlen)
                        # One reference tuple for every peer.
                        ref = ref or (service, value)
                        self._join(target.peer, key, route, ref, attributes)
        return plan.decision

    def remove(self, service: str, addresses: Sequence[IPAddress], pool: str) -> None:
        """Take back what `add(service, addresses, pool, ...)` put in."""
        plan = self._plans.get(pool)
        if plan is None:
            return
        for send in plan.sends:
            for address in addresses:
                network = value = int(address)
                v4 = type(address) is IPv4Address
                bits = send.bits4 if v4 else send.bits6
                if bits:
                    network = value >> bits << bits
                for target in send.targets:
                    attributes, changes = (target.v4, target.changes4) if v4 else (target.v6, target.changes6)
                    key = (attributes.version, network, attributes.prefixlen)
                    shared = self._shared[target.peer].get(key)
                    if shared is None:
                        if network in changes:
                            route = changes[network]
                        else:
                            route = self._listed(target.peer, attributes, network)
                        if route is None or route.refs_services != service or route.refs_addresses != value:
                            continue
                        changes[network] = None
                    elif shared.pop((service, value), None) is not None:
                        if len(shared) == 1:
                            # Back to one reference: a plain route again.
                            ((s, a), kept) = shared.popitem()
                            del self._shared[target.peer][key]
                            changes[network] = BGPRoute(network, kept, s, a)
                        else:
                            self._pending[target.peer].add(key)

    def freeze(self) -> tuple[PeerRoutes, ...]:
        return tuple(self._freeze_peer(name) for name in sorted(self._changes))

    def _listed(self, peer: str, attributes: RouteAttributes, network: int) -> BGPRoute | None:
        """The route the last freeze gave for this prefix, if any."""
        out = self._out.get(peer)
        if out is None:
            return None
        routes, key = out.routes, (attributes.version, network, attributes.prefixlen)
        i = bisect.bisect_left(routes, key, key=_order)
        return routes[i] if i < len(routes) and routes[i].key == key else None

    def _join(self, peer: str, key: _Key, route: BGPRoute, ref: _Ref, attributes: RouteAttributes) -> None:
        """Another reference to an existing prefix: count it in `_shared`; the route is rebuilt once at
        `freeze` however many references arrive (a /24 aggregate may have 256)."""
        shared = self._shared[peer].get(key)
        if shared is None:
            # The route had one reference: its lone service and address.
            lone, at = route.refs_services, route.refs_addresses
            assert isinstance(lone, str) and isinstance(at, int), "a route outside _shared has one reference"
            shared = self._shared[peer][key] = {(lone, at): route.attributes}
        before = shared.get(ref)
        shared[ref] = attributes if before is None else self._merge(before, attributes)
        if len(shared) == 1:
            # The same (service, address) again, from another advertisement: still one reference.
            del self._shared[peer][key]
            self._changes[peer][(key[0], key[2])][key[1]] = BGPRoute(key[1], shared[ref], ref[0], ref[1])
            return
        self._pending[peer].add(key)

    def _freeze_peer(self, name: str) -> PeerRoutes:
        groups, pending, shared = self._changes[name], self._pending[name], self._shared[name]
        for key in pending:
            refs = shared.get(key)
            if refs is not None:
                groups[(key[0], key[2])][key[1]] = self._route(key[1], refs)
        pending.clear()
        out = self._out.get(name)
        count = sum(len(changes) for changes in groups.values())
        if out is not None and not count:
            return out
        if out is None or count > _IN_PLACE_LIMIT:
            # First freeze, or many changes: one sort beats many insertions.
            listed = self._merged(groups, out.routes if out is not None else ())
        else:
            # A few changes go in place, each keeping the list sorted.
            routes = list(out.routes)
            for (version, length), changes in groups.items():
                for network, route in changes.items():
                    key = (version, network, length)
                    i = bisect.bisect_left(routes, key, key=_order)
                    present = i < len(routes) and routes[i].key == key
                    if route is None:
                        if present:
                            del routes[i]
                    elif present:
                        routes[i] = route
                    else:
                        routes.insert(i, route)
            listed = tuple(routes)
        for changes in groups.values():
            changes.clear()
        out = PeerRoutes(name, listed)
        self._out[name] = out
        return out

    @staticmethod
    def _merged(groups: _Groups, before: Sequence[BGPRoute]) -> tuple[BGPRoute, ...]:
        """`before` with the changes in `groups` applied, sorted."""
        kept = [
            r
            for r in before
            if r.network not in groups.get((r.attributes.version, r.attributes.prefixlen), ())
        ]
        filled = [changes for changes in groups.values() if changes]
        if not kept and len(filled) == 1:
            # One family and length (the common first freeze): the network ints alone give the order.
            (changes,) = filled
            return tuple([route for n in sorted(changes) if (route := changes[n]) is not None])
        kept.extend(route for changes in filled for route in changes.values() if route is not None)
        kept.sort(key=_order)
        return tuple(kept)

    def _plan(self, advertisements: Sequence[BGPAdvertisement]) -> _Plan:
        labels = labels_of(self._nodes, self._node)
        sends: list[_Send] = []
        sent: set[str] = set()
        for adv in advertisements:
            if not any_matches(adv.node_selectors, labels):
                continue
            targets = []
            for name, peer in self._peers.items():
                if adv.peers and name not in adv.peers:
                    continue
                groups = self._changes[name]
                v4 = self._attributes_of(adv, 4, adv.aggregation_length, peer.is_ibgp)
                v6 = self._attributes_of(adv, 6, adv.aggregation_length_v6, peer.is_ibgp)
                targets.append(
                    _Target(
                        name,
                        v4,
                        v6,
                        groups.setdefault((4, v4.prefixlen), {}),
                        groups.setdefault((6, v6.prefixlen), {}),
                    )
                )
                sent.add(name)
            sends.append(_Send(32 - adv.aggregation_length, 128 - adv.aggregation_length_v6, tuple(targets)))
        peers = sorted(self._peers)
        return _Plan(
            tuple(sends),
            BGPDecision(
                None,
                tuple(sorted(sent)),
                tuple((p, Reason.PEER_NOT_SELECTED) for p in peers if p not in sent),
            ),
            BGPDecision(None, (), tuple((p, Reason.PEER_NOT_SELECTED) for p in peers)),
        )

    def _attributes_of(
        self, adv: BGPAdvertisement, version: int, prefixlen: int, ibgp: bool
    ) -> RouteAttributes:
        standard = {c for c in adv.communities if not isinstance(c, LargeCommunity)}
        large = {c for c in adv.communities if isinstance(c, LargeCommunity)}
        return self._intern(
            RouteAttributes(
                version,
                prefixlen,
                tuple(sorted(standard)),
                tuple(sorted(large)),
                max(0, adv.local_pref) if ibgp else None,
            )
        )

    def _merge(self, a: RouteAttributes, b: RouteAttributes) -> RouteAttributes:
        if a is b:
            return a
        found = self._attributes.get((a, b))
        if found is None:
            local_pref = a.local_pref
            if local_pref is not None and b.local_pref is not None:
                local_pref = max(local_pref, b.local_pref)
            found = self._attributes[(a, b)] = self._intern(
                RouteAttributes(
                    a.version,
                    a.prefixlen,
                    tuple(sorted({*a.communities, *b.communities})),
                    tuple(sorted({*a.large_communities, *b.large_communities})),
                    local_pref,
                )
            )
        return found

    def _intern(self, attributes: RouteAttributes) -> RouteAttributes:
        return self._attributes.setdefault((attributes,), attributes)

    def _route(self, network: int, refs: Mapping[_Ref, RouteAttributes]) -> BGPRoute:
        """The route of a prefix with several references: merged attributes, sorted references."""
        # Few distinct attribute objects among many references: merge each once.
        distinct = iter({id(a): a for a in refs.values()}.values())
        attributes = next(distinct)
        for each in distinct:
            attributes = self._merge(attributes, each)
        services = tuple(sorted({s for s, _ in refs}))
        addresses = tuple(sorted({a for _, a in refs}))
        return BGPRoute(
            network,
            attributes,
            services[0] if len(services) == 1 else services,
            addresses[0] if len(addresses) == 1 else addresses,
        )
