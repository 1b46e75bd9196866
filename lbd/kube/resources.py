"""The Kubernetes resource kinds lbd watches, and the collection URLs the API server serves them at."""

from __future__ import annotations

from dataclasses import dataclass

METALLB_GROUP = "metallb.io"
DEFAULT_NAMESPACE = "metallb-system"


@dataclass(frozen=True, slots=True)
class ResourceKind:
    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def collection_path(self, namespace: str | None = None) -> str:
        """`/api/v1/services`, `/apis/metallb.io/v1beta1/namespaces/ns/ipaddresspools`, ...
        A namespaced kind without a namespace is listed across all namespaces."""
        prefix = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if namespace is not None and self.namespaced:
            return f"{prefix}/namespaces/{namespace}/{self.plural}"
        if namespace is not None:
            raise ValueError(f"{self.kind} is cluster-scoped; it has no namespace")
        return f"{prefix}/{self.plural}"

    def __str__(self) -> str:
        return f"{self.plural}.{self.version}.{self.group}" if self.group else f"{self.plural}.{self.version}"


SERVICES = ResourceKind("", "v1", "services", "Service", namespaced=True)
NODES = ResourceKind("", "v1", "nodes", "Node", namespaced=False)
SECRETS = ResourceKind("", "v1", "secrets", "Secret", namespaced=True)
NAMESPACES = ResourceKind("", "v1", "namespaces", "Namespace", namespaced=False)
PODS = ResourceKind("", "v1", "pods", "Pod", namespaced=True)
EVENTS = ResourceKind("", "v1", "events", "Event", namespaced=True)
ENDPOINT_SLICES = ResourceKind("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", namespaced=True)
LEASES = ResourceKind("coordination.k8s.io", "v1", "leases", "Lease", namespaced=True)

IP_ADDRESS_POOLS = ResourceKind(METALLB_GROUP, "v1beta1", "ipaddresspools", "IPAddressPool", True)
L2_ADVERTISEMENTS = ResourceKind(METALLB_GROUP, "v1beta1", "l2advertisements", "L2Advertisement", True)
BGP_ADVERTISEMENTS = ResourceKind(METALLB_GROUP, "v1beta1", "bgpadvertisements", "BGPAdvertisement", True)
BFD_PROFILES = ResourceKind(METALLB_GROUP, "v1beta1", "bfdprofiles", "BFDProfile", True)
COMMUNITIES = ResourceKind(METALLB_GROUP, "v1beta1", "communities", "Community", True)
# BGPPeer is stored once and served at v1beta1 and v1beta2 (a conversion webhook maps them); MetalLB
# reads v1beta2, the version that has every field.
BGP_PEERS = ResourceKind(METALLB_GROUP, "v1beta2", "bgppeers", "BGPPeer", True)
ADDRESS_POOLS = ResourceKind(METALLB_GROUP, "v1beta1", "addresspools", "AddressPool", True)
# What the speakers publish: one object per (node, service) they announce, MetalLB's status kinds.
SERVICE_L2_STATUSES = ResourceKind(METALLB_GROUP, "v1beta1", "servicel2statuses", "ServiceL2Status", True)
SERVICE_BGP_STATUSES = ResourceKind(METALLB_GROUP, "v1beta1", "servicebgpstatuses", "ServiceBGPStatus", True)

METALLB_KINDS: tuple[ResourceKind, ...] = (
    IP_ADDRESS_POOLS,
    L2_ADVERTISEMENTS,
    BGP_ADVERTISEMENTS,
    BFD_PROFILES,
    COMMUNITIES,
    BGP_PEERS,
    ADDRESS_POOLS,
)


@dataclass(frozen=True, slots=True)
class WatchTarget:
    """One list/watch: a kind, in one namespace or (None) across the cluster."""

    kind: ResourceKind
    namespace: str | None = None
    label_selector: str | None = None
    field_selector: str | None = None


def default_targets(namespace: str = DEFAULT_NAMESPACE) -> tuple[WatchTarget, ...]:
    """What the daemon watches: Services, EndpointSlices, Nodes and Namespaces (pools' namespace
    selectors) cluster-wide, and the Secrets and metallb.io objects of its own namespace."""
    return (
        WatchTarget(SERVICES),
        WatchTarget(ENDPOINT_SLICES),
        WatchTarget(NODES),
        WatchTarget(SECRETS, namespace),
        WatchTarget(NAMESPACES),
        *(WatchTarget(kind, namespace) for kind in METALLB_KINDS),
    )


NODE_LABEL = "metallb.io/node"
SERVICE_NAME_LABEL = "metallb.io/service-name"
SERVICE_NAMESPACE_LABEL = "metallb.io/service-namespace"


DEFAULT_SPEAKER_SELECTOR = "app.kubernetes.io/component=speaker"


def speaker_pods_target(namespace: str, selector: str = DEFAULT_SPEAKER_SELECTOR) -> WatchTarget:
    """The speaker pods of the deployment, whose readiness says which nodes have a live speaker."""
    return WatchTarget(PODS, namespace, label_selector=selector)


def speaker_status_targets(namespace: str, node: str) -> tuple[WatchTarget, ...]:
    """The status objects one speaker owns: those labelled with its node, in the MetalLB namespace."""
    selector = f"{NODE_LABEL}={node}"
    return (
        WatchTarget(SERVICE_L2_STATUSES, namespace, label_selector=selector),
        WatchTarget(SERVICE_BGP_STATUSES, namespace, label_selector=selector),
    )
