"""Typed, frozen configuration objects: the MetalLB custom resources, lbd's NodeConfig, and the core
Kubernetes objects lbd reads (Service, EndpointSlice, Node, Secret, Namespace).

Everything here is produced by `lbd.config.parse_objects` / `load_paths`; nothing here does I/O.
Durations are float seconds, BFD intervals integer milliseconds, addresses `ipaddress` objects.
Object names follow Kubernetes: `namespace/name` for namespaced kinds, `name` for Node and Namespace.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Literal

from lbd.config.bounded import Table, shared
from lbd.config.communities import BGPCommunity
from lbd.config.frozen import EMPTY, FrozenMap
from lbd.config.selectors import LabelSelector

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

DEFAULT_NAMESPACE = "metallb-system"
DEFAULT_BGP_PORT = 179
DEFAULT_CONTROL_SOCKET = "/run/lbd/lbd.sock"
DEFAULT_METRICS_ADDRESS = "127.0.0.1:7472"
DEFAULT_MEMBERSHIP_PORT = 7946
UNSPECIFIED_V4 = IPv4Address(0)


# --- address pools -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AddressRange:
    """One entry of `spec.addresses`: a CIDR or `start-end`, with its covering CIDRs (as MetalLB computes)."""

    text: str
    first: IPAddress
    last: IPAddress
    cidrs: tuple[IPNetwork, ...]

    @property
    def version(self) -> Literal[4, 6]:
        return 4 if isinstance(self.first, IPv4Address) else 6

    @property
    def size(self) -> int:
        return int(self.last) - int(self.first) + 1

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, IPv4Address | IPv6Address):
            return False
        # Compare as integers: mypy cannot see that the version check makes the families equal.
        return address.version == self.first.version and int(self.first) <= int(address) <= int(self.last)


@dataclass(frozen=True, slots=True)
class ServiceAllocation:
    """`spec.serviceAllocation`: which services may take addresses from the pool, and its priority.

    Lower `priority` values are preferred (MetalLB); 0 means "no priority set"."""

    priority: int = 0
    namespaces: tuple[str, ...] = ()
    namespace_selectors: tuple[LabelSelector, ...] = ()
    service_selectors: tuple[LabelSelector, ...] = ()

    @property
    def unrestricted(self) -> bool:
        return not (self.namespaces or self.namespace_selectors or self.service_selectors)


@dataclass(frozen=True, slots=True)
class IPAddressPool:
    """A pool of addresses (metallb.io/v1beta1 IPAddressPool, or the pool half of a legacy AddressPool)."""

    name: str
    namespace: str
    addresses: tuple[AddressRange, ...]
    labels: FrozenMap[str, str] = EMPTY
    auto_assign: bool = True
    avoid_buggy_ips: bool = False
    service_allocation: ServiceAllocation | None = None
    source_kind: Literal["IPAddressPool", "AddressPool"] = "IPAddressPool"

    @property
    def cidrs(self) -> tuple[IPNetwork, ...]:
        return tuple(c for r in self.addresses for c in r.cidrs)

    def __contains__(self, address: object) -> bool:
        return any(address in r for r in self.addresses)


# --- advertisements ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class L2Advertisement:
    """metallb.io/v1beta1 L2Advertisement. No pools named and no pool selectors means every pool."""

    name: str
    namespace: str
    ip_address_pools: tuple[str, ...] = ()
    ip_address_pool_selectors: tuple[LabelSelector, ...] = ()
    node_selectors: tuple[LabelSelector, ...] = ()
    interfaces: tuple[str, ...] = ()

    @property
    def all_interfaces(self) -> bool:
        return not self.interfaces


@dataclass(frozen=True, slots=True)
class BGPAdvertisement:
    """metallb.io/v1beta1 BGPAdvertisement (or one inline `bgpAdvertisements` entry of a legacy pool).

    `community_names` are the strings as written; `communities` their resolved values (set by validation:
    aliases, literals, well-known names). `local_pref` 0 means "not set", as in MetalLB."""

    name: str
    namespace: str
    aggregation_length: int = 32
    aggregation_length_v6: int = 128
    local_pref: int = 0
    community_names: tuple[str, ...] = ()
    communities: tuple[BGPCommunity, ...] = ()
    ip_address_pools: tuple[str, ...] = ()
    ip_address_pool_selectors: tuple[LabelSelector, ...] = ()
    node_selectors: tuple[LabelSelector, ...] = ()
    peers: tuple[str, ...] = ()


# --- BGP peers, BFD, communities -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SecretRef:
    name: str
    namespace: str


@dataclass(frozen=True, slots=True)
class BGPPeer:
    """metallb.io/v1beta1 or v1beta2 BGPPeer.

    `hold_time`/`keepalive_time` are effective values in seconds: with only holdTime set the keepalive is
    a third of it (MetalLB's parseTimers); None when neither is set (the BGP engine's defaults apply).
    `peer_asn` is 0 when `dynamic_asn` is used. `password` holds the password from `passwordSecret`
    once validation resolved it."""

    name: str
    namespace: str
    api_version: str
    my_asn: int
    peer_asn: int = 0
    dynamic_asn: Literal["internal", "external"] | None = None
    peer_address: IPAddress | None = None
    interface: str | None = None
    source_address: IPAddress | None = None
    peer_port: int = DEFAULT_BGP_PORT
    hold_time: float | None = None
    keepalive_time: float | None = None
    connect_time: float | None = None
    router_id: IPv4Address | None = None
    node_selectors: tuple[LabelSelector, ...] = ()
    password: str | None = None
    password_secret: SecretRef | None = None
    bfd_profile: str | None = None
    ebgp_multihop: bool = False
    enable_graceful_restart: bool = False
    vrf: str = ""
    disable_mp: bool = False
    dual_stack_address_family: bool = False

    @property
    def is_ibgp(self) -> bool:
        if self.dynamic_asn is not None:
            return self.dynamic_asn == "internal"
        return self.peer_asn == self.my_asn


@dataclass(frozen=True, slots=True)
class BFDProfile:
    """metallb.io/v1beta1 BFDProfile with MetalLB's documented defaults filled in (milliseconds)."""

    name: str
    namespace: str
    receive_interval_ms: int = 300
    transmit_interval_ms: int = 300
    detect_multiplier: int = 3
    echo_interval_ms: int = 50
    echo_mode: bool = False
    passive_mode: bool = False
    minimum_ttl: int = 254


@dataclass(frozen=True, slots=True)
class CommunityAlias:
    name: str
    value: BGPCommunity


@dataclass(frozen=True, slots=True)
class Community:
    """metallb.io/v1beta1 Community: named aliases usable in BGPAdvertisement `communities`."""

    name: str
    namespace: str
    aliases: tuple[CommunityAlias, ...] = ()


# --- lbd node-local settings ---------------------------------------------------------------------


class LogLevel(Enum):
    ALL = "all"
    DEBUG = "debug"
    INFO = "info"
    WARN = "warn"
    ERROR = "error"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class MemberPeer:
    name: str
    address: IPAddress
    port: int = DEFAULT_MEMBERSHIP_PORT


@dataclass(frozen=True, slots=True)
class Membership:
    """Settings of the node membership protocol used for L2 leader election without Kubernetes.

    Exactly one of `key` (inline shared secret) or `key_file` (a path the daemon reads) is set when
    there are peers. The defaults detect a dead member in about 150 ms."""

    bind_address: IPAddress = UNSPECIFIED_V4
    bind_port: int = DEFAULT_MEMBERSHIP_PORT
    peers: tuple[MemberPeer, ...] = ()
    key: str | None = None
    key_file: str | None = None
    heartbeat_interval: float = 0.05
    failure_timeout: float = 0.15


@dataclass(frozen=True, slots=True)
class LocalDelivery:
    """Standalone daemon: put announced VIPs on a dummy interface so this host accepts their traffic."""

    enabled: bool = False
    dummy_interface: str = "lbd0"


DEFAULT_BGP_PORT = 179


@dataclass(frozen=True, slots=True)
class NextHopSetting:
    """One `spec.bgp.nextHops[]` entry: the next hop of IPv4 and/or IPv6 routes sent to the BGPPeer
    `peer` (None: to every peer, for the families its own entry leaves unset)."""

    peer: str | None = None
    ipv4: IPv4Address | None = None
    ipv6: IPv6Address | None = None


@dataclass(frozen=True, slots=True)
class NodeBgp:
    """This node's BGP speaker, lbd extensions MetalLB has no field for. `listen`: also accept the
    peers' connections (RFC 4271 §8.2.1 passive opening) on `listen_port` at `listen_addresses`
    (empty: every address); `graceful_restart_state_dir`: where the restart marker lives (None:
    /run/lbd/bgp/<node>); `ttl_security`: GTSM (RFC 5082) towards directly connected eBGP peers;
    `next_hops`: configured next hops instead of the session's and its interface's addresses."""

    listen: bool = True
    listen_port: int = DEFAULT_BGP_PORT
    listen_addresses: tuple[IPAddress, ...] = ()
    graceful_restart_state_dir: str | None = None
    ttl_security: bool = False
    next_hops: tuple[NextHopSetting, ...] = ()

    def next_hops_for(self, peer: str) -> tuple[IPv4Address | None, IPv6Address | None]:
        """Configured (IPv4, IPv6) next hops towards `peer`: its own entry, else the all-peers one."""
        own = next((h for h in self.next_hops if h.peer == peer), NextHopSetting())
        default = next((h for h in self.next_hops if h.peer is None), NextHopSetting())
        return own.ipv4 or default.ipv4, own.ipv6 or default.ipv6


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """lbd.io/v1alpha1 NodeConfig: settings local to one node (see docs/configuration.md)."""

    name: str
    node_name: str
    interfaces: tuple[str, ...] = ()
    control_socket: str = DEFAULT_CONTROL_SOCKET
    metrics_address: HostPort = HostPort("127.0.0.1", 7472)
    log_level: LogLevel = LogLevel.INFO
    load_balancer_class: str | None = None
    membership: Membership = Membership()
    local_delivery: LocalDelivery = LocalDelivery()
    bgp: NodeBgp = NodeBgp()


# --- core Kubernetes objects (the "world") --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServicePort:
    port: int
    protocol: str = "TCP"
    name: str = ""
    target_port: int | str | None = None
    node_port: int | None = None


@dataclass(frozen=True, slots=True)
class LoadBalancerIngress:
    ip: str | None = None
    hostname: str | None = None


# The spec fields of a Service that most Services share with others (type, policies, selector,
# labels): one tuple for all alike.
_Spec = tuple[
    str, str | None, str | None, tuple[str, ...], str | None, str, FrozenMap[str, str], FrozenMap[str, str]
]
_SPECS: Table[_Spec, _Spec] = Table()


class Service:
    """v1 Service, the fields a load balancer needs. `load_balancer_ip` is kept as written (the
    allocator reports an unparsable one as an allocation failure, like MetalLB).

    Immutable and compared by value like the dataclasses around it, but stored compactly: 100,000
    Services from files are most of what the daemon holds. `key` (`namespace/name`) is kept and the name
    read from it, and the fields Services usually have in common are one shared tuple: 88 bytes and no
    name string of its own per Service, instead of 144 bytes plus the name.
    """

    __slots__ = ("_spec", "annotations", "cluster_ips", "ingress", "key", "namespace", "ports")

    key: str
    namespace: str
    cluster_ips: tuple[str, ...]
    ports: tuple[ServicePort, ...]
    annotations: FrozenMap[str, str]
    ingress: tuple[LoadBalancerIngress, ...]
    _spec: _Spec

    def __init__(  # noqa: PLR0917 (the dataclass it replaces was built positionally)
        self,
        name: str,
        namespace: str,
        type: str = "ClusterIP",
        load_balancer_ip: str | None = None,
        load_balancer_class: str | None = None,
        ip_families: tuple[str, ...] = (),
        ip_family_policy: str | None = None,
        external_traffic_policy: str = "Cluster",
        cluster_ips: tuple[str, ...] = (),
        ports: tuple[ServicePort, ...] = (),
        selector: FrozenMap[str, str] = EMPTY,
        labels: FrozenMap[str, str] = EMPTY,
        annotations: FrozenMap[str, str] = EMPTY,
        ingress: tuple[LoadBalancerIngress, ...] = (),
    ) -> None:
        spec = (
            type,
            load_balancer_ip,
            load_balancer_class,
            ip_families,
            ip_family_policy,
            external_traffic_policy,
            selector,
            labels,
        )
        _set = object.__setattr__
        _set(self, "key", f"{namespace}/{name}")
        _set(self, "namespace", namespace)
        _set(self, "cluster_ips", cluster_ips)
        _set(self, "ports", ports)
        _set(self, "annotations", annotations)
        _set(self, "ingress", ingress)
        _set(self, "_spec", shared(_SPECS, spec))

    @property
    def name(self) -> str:
        return self.key[len(self.namespace) + 1 :]

    @property
    def type(self) -> str:
        return self._spec[0]

    @property
    def load_balancer_ip(self) -> str | None:
        return self._spec[1]

    @property
    def load_balancer_class(self) -> str | None:
        return self._spec[2]

    @property
    def ip_families(self) -> tuple[str, ...]:
        return self._spec[3]

    @property
    def ip_family_policy(self) -> str | None:
        return self._spec[4]

    @property
    def external_traffic_policy(self) -> str:
        return self._spec[5]

    @property
    def selector(self) -> FrozenMap[str, str]:
        return self._spec[6]

    @property
    def labels(self) -> FrozenMap[str, str]:
        return self._spec[7]

    def _fields(self) -> tuple[object, ...]:
        return (
            self.key,
            self.namespace,
            self.cluster_ips,
            self.ports,
            self.annotations,
            self.ingress,
            self._spec,
        )

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, Service):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Service is immutable: cannot assign to {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Service is immutable: cannot delete {name!r}")

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in SERVICE_FIELDS)
        return f"Service({fields})"

    def replace(self, **changes: object) -> Service:
        """A copy with `changes` (constructor keywords) applied, as `dataclasses.replace` gives."""
        values: dict[str, object] = {name: getattr(self, name) for name in SERVICE_FIELDS}
        unknown = set(changes) - set(values)
        if unknown:
            raise TypeError(f"Service has no field {sorted(unknown)[0]!r}")
        values.update(changes)
        return Service(**values)  # type: ignore[arg-type]


SERVICE_FIELDS = (
    "name",
    "namespace",
    "type",
    "load_balancer_ip",
    "load_balancer_class",
    "ip_families",
    "ip_family_policy",
    "external_traffic_policy",
    "cluster_ips",
    "ports",
    "selector",
    "labels",
    "annotations",
    "ingress",
)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One endpoint of an EndpointSlice. Unset conditions follow the API: ready=nil means ready,
    serving=nil defers to ready, terminating=nil means not terminating."""

    addresses: tuple[str, ...]
    ready: bool = True
    serving: bool = True
    terminating: bool = False
    node_name: str | None = None


@dataclass(frozen=True, slots=True)
class EndpointSlice:
    name: str
    namespace: str
    service_name: str | None
    address_type: str = "IPv4"
    endpoints: tuple[Endpoint, ...] = ()
    labels: FrozenMap[str, str] = EMPTY


@dataclass(frozen=True, slots=True)
class NodeCondition:
    type: str
    status: str


@dataclass(frozen=True, slots=True)
class NodeAddress:
    type: str
    address: str


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    labels: FrozenMap[str, str] = EMPTY
    conditions: tuple[NodeCondition, ...] = ()
    addresses: tuple[NodeAddress, ...] = ()
    unschedulable: bool = False

    def condition(self, type_: str) -> str | None:
        for c in self.conditions:
            if c.type == type_:
                return c.status
        return None

    @property
    def network_unavailable(self) -> bool:
        return self.condition("NetworkUnavailable") == "True"


@dataclass(frozen=True, slots=True)
class Secret:
    """v1 Secret with `data` decoded from base64 and `stringData` merged over it (as the API server does)."""

    name: str
    namespace: str
    type: str = "Opaque"
    data: FrozenMap[str, bytes] = EMPTY


@dataclass(frozen=True, slots=True)
class Namespace:
    name: str
    labels: FrozenMap[str, str] = EMPTY


# --- snapshots -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Config:
    """A validated MetalLB + lbd configuration. Built only when a document set has no errors.

    `pool_l2`/`pool_bgp` map a pool name to the advertisements that cover it (MetalLB's resolution of
    `ipAddressPools` + `ipAddressPoolSelectors`, where neither means every pool)."""

    namespace: str
    pools: FrozenMap[str, IPAddressPool]
    l2_advertisements: FrozenMap[str, L2Advertisement]
    bgp_advertisements: FrozenMap[str, BGPAdvertisement]
    peers: FrozenMap[str, BGPPeer]
    bfd_profiles: FrozenMap[str, BFDProfile]
    communities: FrozenMap[str, BGPCommunity]
    node_configs: FrozenMap[str, NodeConfig]
    pool_l2: FrozenMap[str, tuple[str, ...]]
    pool_bgp: FrozenMap[str, tuple[str, ...]]

    def l2_advertisements_for(self, pool: str) -> tuple[L2Advertisement, ...]:
        return tuple(self.l2_advertisements[n] for n in self.pool_l2.get(pool, ()))

    def bgp_advertisements_for(self, pool: str) -> tuple[BGPAdvertisement, ...]:
        return tuple(self.bgp_advertisements[n] for n in self.pool_bgp.get(pool, ()))

    def pool_of(self, address: IPAddress) -> IPAddressPool | None:
        for pool in self.pools.values():
            if address in pool:
                return pool
        return None

    def node_config(self, node_name: str) -> NodeConfig | None:
        return self.node_configs.get(node_name)

    def bfd_profile_of(self, peer: BGPPeer) -> BFDProfile | None:
        return self.bfd_profiles.get(peer.bfd_profile) if peer.bfd_profile else None


@dataclass(frozen=True, slots=True)
class World:
    """The core objects of one snapshot, keyed `namespace/name` (or `name` for Node and Namespace)."""

    services: FrozenMap[str, Service] = EMPTY
    endpoint_slices: FrozenMap[str, EndpointSlice] = EMPTY
    nodes: FrozenMap[str, Node] = EMPTY
    secrets: FrozenMap[str, Secret] = EMPTY
    namespaces: FrozenMap[str, Namespace] = EMPTY

    def endpoint_slices_for(self, service: Service) -> tuple[EndpointSlice, ...]:
        return tuple(
            s
            for s in self.endpoint_slices.values()
            if s.namespace == service.namespace and s.service_name == service.name
        )
