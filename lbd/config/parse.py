"""Documents (plain dicts, as YAML files or the Kubernetes API give them) to model objects.

`parse_documents` dispatches on (apiVersion, kind), reads `metadata`, and hands the body to the per-kind
parser; `validate.build` then applies the cross-object rules. Nothing here reads files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from lbd.config import parse_core, parse_metallb, parse_node
from lbd.config.errors import ConfigError, Problems
from lbd.config.fields import Fields, dns_subdomain_problem, type_name
from lbd.config.frozen import FrozenMap
from lbd.config.model import (
    DEFAULT_NAMESPACE,
    BFDProfile,
    BGPAdvertisement,
    BGPPeer,
    Community,
    EndpointSlice,
    IPAddressPool,
    L2Advertisement,
    Namespace,
    Node,
    NodeConfig,
    Secret,
    Service,
    World,
)
from lbd.config.parse_metallb import Meta
from lbd.config.parse_selectors import labels_of

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

METALLB = "metallb.io/v1beta1"
METALLB_V2 = "metallb.io/v1beta2"
LBD = "lbd.io/v1alpha1"
TOP_LEVEL = frozenset({"apiVersion", "kind", "metadata", "spec", "status"})

# The seeds' operator-installation objects: recognised so a directory of MetalLB manifests loads, but
# they configure the operator, not the speaker.
IGNORED = {
    (METALLB, "MetalLB"),
    ("operators.coreos.com/v1", "OperatorGroup"),
    ("operators.coreos.com/v1alpha1", "Subscription"),
    ("scheduling.k8s.io/v1", "PriorityClass"),
}
API_VERSIONS: dict[str, tuple[str, ...]] = {
    "IPAddressPool": (METALLB,),
    "L2Advertisement": (METALLB,),
    "BGPAdvertisement": (METALLB,),
    "BFDProfile": (METALLB,),
    "Community": (METALLB,),
    "BGPPeer": (METALLB, METALLB_V2),
    "AddressPool": ("metallb.io/v1alpha1", METALLB),
    "NodeConfig": (LBD,),
    "Service": ("v1",),
    "EndpointSlice": ("discovery.k8s.io/v1",),
    "Node": ("v1",),
    "Secret": ("v1",),
    "Namespace": ("v1",),
}
CLUSTER_SCOPED = frozenset({"Node", "Namespace", "NodeConfig"})
CORE = frozenset({"Service", "EndpointSlice", "Node", "Secret", "Namespace"})


@dataclass(frozen=True, slots=True)
class Document:
    source: str
    body: object


@dataclass(frozen=True, slots=True)
class Entry(Generic[T_co]):
    """A parsed object and where it came from, for cross-object error messages."""

    kind: str
    name: str
    source: str
    obj: T_co


@dataclass(slots=True)
class Parsed:
    namespace: str
    errors: list[ConfigError] = field(default_factory=list)
    pools: list[Entry[IPAddressPool]] = field(default_factory=list)
    l2: list[Entry[L2Advertisement]] = field(default_factory=list)
    bgp: list[Entry[BGPAdvertisement]] = field(default_factory=list)
    peers: list[Entry[BGPPeer]] = field(default_factory=list)
    bfd: list[Entry[BFDProfile]] = field(default_factory=list)
    communities: list[Entry[Community]] = field(default_factory=list)
    node_configs: list[Entry[NodeConfig]] = field(default_factory=list)
    services: list[Entry[Service]] = field(default_factory=list)
    slices: list[Entry[EndpointSlice]] = field(default_factory=list)
    nodes: list[Entry[Node]] = field(default_factory=list)
    secrets: list[Entry[Secret]] = field(default_factory=list)
    namespaces: list[Entry[Namespace]] = field(default_factory=list)
    world: World = field(default_factory=World)

    def problems(self, kind: str, name: str, source: str) -> Problems:
        return Problems(self.errors, kind, name, source)


def _expand(docs: Iterable[Document]) -> Iterable[Document]:
    """`kind: List` (what `kubectl get -o yaml` prints) stands for its items."""
    for doc in docs:
        body = doc.body
        if isinstance(body, Mapping) and str(body.get("kind", "")).endswith("List") and "items" in body:
            items = body["items"]
            if isinstance(items, list):
                for i, item in enumerate(items):
                    yield Document(f"{doc.source} items[{i}]", item)
                continue
        yield doc


def parse_documents(docs: Iterable[Document], namespace: str = DEFAULT_NAMESPACE) -> Parsed:
    parsed = Parsed(namespace)
    for doc in _expand(docs):
        if doc.body is None:
            continue  # an empty YAML document (`---` at the end of a file)
        _parse_one(parsed, doc)
    return parsed


def _parse_one(parsed: Parsed, doc: Document) -> None:
    body = doc.body
    if not isinstance(body, Mapping):
        parsed.problems("-", "-", doc.source).error(
            "-", f"a document must be an object, got {type_name(body)}"
        )
        return
    api_version, kind = body.get("apiVersion"), body.get("kind")
    if not isinstance(kind, str) or not isinstance(api_version, str):
        parsed.problems(str(kind or "-"), "-", doc.source).error(
            "apiVersion" if isinstance(kind, str) else "kind", "apiVersion and kind are required strings"
        )
        return
    if (api_version, kind) in IGNORED:
        parsed.problems(kind, _name_of(body), doc.source).warning(
            "-", f"{api_version} {kind} is not used by lbd"
        )
        return
    if kind not in API_VERSIONS:
        known = ", ".join(sorted(API_VERSIONS))
        parsed.problems(kind, _name_of(body), doc.source).error(
            "kind", f"unsupported kind; lbd reads {known}"
        )
        return
    if api_version not in API_VERSIONS[kind]:
        allowed = " or ".join(API_VERSIONS[kind])
        parsed.problems(kind, _name_of(body), doc.source).error(
            "apiVersion", f"{api_version!r}: {kind} is {allowed}"
        )
        return
    meta = _meta(parsed, kind, api_version, body, doc.source)
    if meta is None:
        return
    display = meta.name if kind in CLUSTER_SCOPED else f"{meta.namespace}/{meta.name}"
    top = Fields(body, "", parsed.problems(kind, display, doc.source))
    for key in ("apiVersion", "kind", "metadata"):
        top.raw(key)
    add = _Adder(parsed, kind, display, doc.source)
    if kind in CORE:
        _dispatch_core(add, kind, meta, top)
    else:
        _dispatch(add, kind, meta, top)


def _name_of(body: Mapping[str, Any]) -> str:
    meta = body.get("metadata")
    if isinstance(meta, Mapping) and isinstance(meta.get("name"), str):
        return str(meta["name"])
    return "-"


def _display_name(parsed: Parsed, kind: str, body: Mapping[str, Any]) -> str:
    """`namespace/name` as later errors will show it, for errors found while reading metadata."""
    name = _name_of(body)
    if kind in CLUSTER_SCOPED or name == "-":
        return name
    meta = body.get("metadata")
    namespace = meta.get("namespace") if isinstance(meta, Mapping) else None
    if not isinstance(namespace, str) or not namespace:
        namespace = "default" if kind in CORE else parsed.namespace
    return f"{namespace}/{name}"


def _meta(parsed: Parsed, kind: str, api_version: str, body: Mapping[str, Any], source: str) -> Meta | None:
    problems = parsed.problems(kind, _display_name(parsed, kind, body), source)
    metadata = Fields.of(body.get("metadata"), "metadata", problems)
    name = metadata.string("name", required=True, allow_empty=False)
    namespace = metadata.string("namespace", allow_empty=False)
    labels = labels_of(metadata, "labels")
    if name is None:
        return None
    problem = dns_subdomain_problem(name)
    if problem:
        metadata.error("name", f"{name!r} {problem}")
        return None
    if kind in CLUSTER_SCOPED:
        namespace = ""
    elif kind in CORE:
        namespace = namespace or "default"
    elif namespace is None:
        namespace = parsed.namespace
    elif namespace != parsed.namespace:
        # MetalLB reads its objects from its own namespace only; elsewhere they would silently do nothing.
        metadata.error(
            "namespace", f"{namespace!r}: MetalLB objects must be in namespace {parsed.namespace!r}"
        )
        return None
    return Meta(name, namespace, api_version, FrozenMap(labels))


@dataclass(frozen=True, slots=True)
class _Adder:
    parsed: Parsed
    kind: str
    display: str
    source: str

    def __call__(self, target: list[Entry[T]]) -> Callable[[T], None]:
        return lambda obj: target.append(Entry(self.kind, self.display, self.source, obj))


def _dispatch(add: _Adder, kind: str, meta: Meta, top: Fields) -> None:
    parsed = add.parsed
    spec = Fields.of(top.raw("spec"), "spec", top.problems)
    top.raw("status")
    top.finish()
    before = len(parsed.errors)
    if kind == "IPAddressPool":
        add(parsed.pools)(parse_metallb.ip_address_pool(meta, spec))
    elif kind == "L2Advertisement":
        add(parsed.l2)(parse_metallb.l2_advertisement(meta, spec))
    elif kind == "BGPAdvertisement":
        add(parsed.bgp)(parse_metallb.bgp_advertisement(meta, spec))
    elif kind == "BFDProfile":
        add(parsed.bfd)(parse_metallb.bfd_profile(meta, spec))
    elif kind == "Community":
        add(parsed.communities)(parse_metallb.community(meta, spec))
    elif kind == "BGPPeer":
        peer = parse_metallb.bgp_peer(meta, spec)
        # A peer with errors would only add confusing cross-peer errors (ASN, routerID) on top.
        if peer is not None and len(parsed.errors) == before:
            add(parsed.peers)(peer)
    elif kind == "AddressPool":
        pool, l2, bgp = parse_metallb.legacy_address_pool(meta, spec)
        add(parsed.pools)(pool)
        if l2 is not None:
            add(parsed.l2)(l2)
        for adv in bgp:
            add(parsed.bgp)(adv)
    elif kind == "NodeConfig":
        add(parsed.node_configs)(parse_node.node_config(meta, spec))


def _dispatch_core(add: _Adder, kind: str, meta: Meta, top: Fields) -> None:
    parsed = add.parsed
    problems = top.problems
    if kind == "Service":
        metadata = Fields.of(top.raw("metadata"), "metadata", problems)
        annotations = FrozenMap(metadata.string_map("annotations"))
        spec = Fields.of(top.raw("spec"), "spec", problems)
        status = Fields.of(top.raw("status"), "status", problems)
        add(parsed.services)(parse_core.service(meta, annotations, spec, status))
    elif kind == "EndpointSlice":
        add(parsed.slices)(parse_core.endpoint_slice(meta, top))
    elif kind == "Node":
        spec = Fields.of(top.raw("spec"), "spec", problems)
        status = Fields.of(top.raw("status"), "status", problems)
        add(parsed.nodes)(parse_core.node(meta, spec, status))
    elif kind == "Secret":
        add(parsed.secrets)(parse_core.secret(meta, top))
    elif kind == "Namespace":
        add(parsed.namespaces)(parse_core.namespace(meta))
