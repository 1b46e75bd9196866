"""Input snapshot and desired-state output of the reconcile function. All frozen; see `core.reconcile`."""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from lbd.allocator.requests import AllocationResult, Assignment
from lbd.config.communities import LargeCommunity, StandardCommunity
from lbd.config.model import Config, IPAddress, IPNetwork, World


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the reconcile function may look at.

    `live_nodes` are the nodes whose speaker is alive (membership or the speaker DaemonSet); None means
    "every node known to the world is live", which is what offline planning assumes. `interfaces` are
    this node's interfaces eligible for L2 answers; empty means unknown (no filtering). `previous`
    are addresses remembered from the last allocation, by `namespace/name` (see `allocate`).
    `standalone`: a service with no EndpointSlice at all counts as served on every live node, which is
    how the standalone daemon treats services declared in files (it narrows that with health checks by
    synthesising EndpointSlices itself).
    """

    config: Config
    world: World
    node: str
    live_nodes: frozenset[str] | None = None
    interfaces: tuple[str, ...] = ()
    load_balancer_class: str | None = None
    previous: Mapping[str, tuple[IPAddress, ...]] | None = None
    standalone: bool = False


class Reason(enum.StrEnum):
    """Why an address is not announced (by this node, or at all). Values are MetalLB's where it has one."""

    NO_ADVERTISEMENT = "noAdvertisement"
    """No L2Advertisement (resp. BGPAdvertisement) covers the address's pool."""
    NO_ENDPOINTS = "noEndpoints"
    """No ready (or serving) endpoint anywhere."""
    NO_LOCAL_ENDPOINTS = "noLocalEndpoints"
    """externalTrafficPolicy Local and no ready endpoint on the node (L2: on any eligible node)."""
    NOT_SELECTED = "notSelected"
    """The advertisements' nodeSelectors do not select the node."""
    NOT_LIVE = "notLive"
    """L2: the node's speaker is not alive."""
    NODE_NETWORK_UNAVAILABLE = "nodeNetworkUnavailable"
    NODE_UNSCHEDULABLE = "nodeUnschedulable"
    NODE_EXCLUDED = "nodeLabeledExcludeBalancers"
    """The node carries node.kubernetes.io/exclude-from-external-load-balancers."""
    NO_ELIGIBLE_NODES = "noEligibleNodes"
    """L2: no node is live, available and selected."""
    NOT_OWNER = "notOwner"
    """L2: another node won the election."""
    NO_INTERFACES = "noInterfaces"
    """L2: the advertisement's interfaces do not exist on the owner (MetalLB's announceFailed)."""
    NO_PEERS = "noPeers"
    """BGP: no BGPPeer's nodeSelectors select the node."""
    PEER_NOT_SELECTED = "peerNotSelected"
    """BGP: the advertisements' `peers` lists leave this peer out."""


@dataclass(frozen=True, slots=True)
class NodeVerdict:
    """One node's standing in an L2 election or a BGP decision: None reason means eligible."""

    node: str
    reason: Reason | None


@dataclass(frozen=True, slots=True)
class L2Decision:
    """L2 outcome of one service (all its addresses go with the first address's election, as MetalLB).

    `candidates` are in election order (sha256 of `node + "#" + first address`); `owner` is the first.
    `nodes` explains every node considered. `interfaces` are the owner's interfaces to answer on;
    `all_interfaces` means every eligible interface. `reason` is None when the owner announces.
    """

    owner: str | None
    candidates: tuple[str, ...]
    nodes: tuple[NodeVerdict, ...]
    interfaces: tuple[str, ...]
    all_interfaces: bool
    reason: Reason | None


@dataclass(frozen=True, slots=True)
class BGPDecision:
    """BGP outcome of one service on the snapshot's node: the peers it goes to, and why not the others."""

    reason: Reason | None
    peers: tuple[str, ...]
    skipped_peers: tuple[tuple[str, Reason], ...]


@dataclass(frozen=True, slots=True)
class ServiceState:
    """Allocation plus announcement decisions of one service."""

    allocation: Assignment
    l2: L2Decision | None
    bgp: BGPDecision | None

    @property
    def key(self) -> str:
        return self.allocation.key


@dataclass(frozen=True, slots=True)
class L2Announcement:
    """An address this node answers ARP/NDP for, on these interfaces (`all_interfaces`: every eligible)."""

    address: IPAddress
    service: str
    interfaces: tuple[str, ...]
    all_interfaces: bool


@dataclass(frozen=True, slots=True)
class RouteAttributes:
    """What routes share: the prefix's family and length, and the path attributes. One object per
    (advertisement, family, iBGP or not), and one per distinct merge of them, so 100,000 routes point at
    a handful of these instead of holding their own tuples."""

    version: int
    prefixlen: int
    communities: tuple[StandardCommunity, ...]
    large_communities: tuple[LargeCommunity, ...]
    local_pref: int | None


@dataclass(frozen=True, slots=True, repr=False)
class BGPRoute:
    """One prefix to one peer with its path attributes, merged over every advertisement producing it.

    `communities` / `large_communities` are the sorted union; `local_pref` is None for eBGP peers (0 on
    iBGP when no advertisement sets it, as MetalLB); `services` and `addresses` are the references
    keeping it alive.

    Stored compactly (the daemon holds one per announced prefix, 100,000 at scale): the network as an
    int (for a host route, the address's own int object), the shared `RouteAttributes`, the services
    and the addresses as ints, bare when there is one. `prefix`, `services` and `addresses` are built
    when read; `BGPRoute.of` builds one from the readable fields.
    """

    network: int
    attributes: RouteAttributes
    # The service(s) and the address(es) as ints (a host route's address is the network's own int
    # object): bare when one, else sorted tuples.
    refs_services: str | tuple[str, ...]
    refs_addresses: int | tuple[int, ...]

    @classmethod
    def of(
        cls,
        prefix: IPNetwork,
        *,
        communities: tuple[StandardCommunity, ...] = (),
        large_communities: tuple[LargeCommunity, ...] = (),
        local_pref: int | None = None,
        services: tuple[str, ...] = (),
        addresses: tuple[IPAddress, ...] = (),
    ) -> BGPRoute:
        attributes = RouteAttributes(
            prefix.version, prefix.prefixlen, communities, large_communities, local_pref
        )
        return cls(
            int(prefix.network_address),
            attributes,
            services[0] if len(services) == 1 else services,
            int(addresses[0]) if len(addresses) == 1 else tuple(sorted(int(a) for a in addresses)),
        )

    def __repr__(self) -> str:
        return (
            f"BGPRoute({self.prefix}, communities={self.communities!r},"
            f" large_communities={self.large_communities!r}, local_pref={self.local_pref!r},"
            f" services={self.services!r}, addresses={self.addresses!r})"
        )

    @property
    def prefix(self) -> IPNetwork:
        a = self.attributes
        if a.version == 4:
            return ipaddress.IPv4Network((self.network, a.prefixlen))
        return ipaddress.IPv6Network((self.network, a.prefixlen))

    @property
    def key(self) -> tuple[int, int, int]:
        """(version, network, prefix length): the order routes are listed in."""
        return (self.attributes.version, self.network, self.attributes.prefixlen)

    @property
    def communities(self) -> tuple[StandardCommunity, ...]:
        return self.attributes.communities

    @property
    def large_communities(self) -> tuple[LargeCommunity, ...]:
        return self.attributes.large_communities

    @property
    def local_pref(self) -> int | None:
        return self.attributes.local_pref

    @property
    def services(self) -> tuple[str, ...]:
        s = self.refs_services
        return (s,) if isinstance(s, str) else s

    @property
    def addresses(self) -> tuple[IPAddress, ...]:
        a = self.refs_addresses
        make = ipaddress.IPv4Address if self.attributes.version == 4 else ipaddress.IPv6Address
        return tuple([make(i) for i in a]) if isinstance(a, tuple) else (make(a),)


@dataclass(frozen=True, slots=True)
class PeerRoutes:
    """What this node advertises to one BGP peer it talks to."""

    peer: str
    routes: tuple[BGPRoute, ...]


@dataclass(frozen=True, slots=True)
class DesiredState:
    """The reconcile output for one node: allocations, per-service decisions, what to announce."""

    node: str
    allocations: AllocationResult
    services: tuple[ServiceState, ...]
    l2: tuple[L2Announcement, ...]
    bgp: tuple[PeerRoutes, ...]

    def service(self, key: str) -> ServiceState | None:
        return next((s for s in self.services if s.key == key), None)
