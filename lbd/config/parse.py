"""Documents (plain dicts, as YAML files or the Kubernetes API give them) to model objects.

`parse_documents` dispatches on (apiVersion, kind), reads `metadata`, and hands the body to the per-kind
parser; `validate.build` then applies the cross-object rules. Nothing here reads files.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from lbd.config import parse_core, parse_metallb, parse_node, shared
from lbd.config.errors import ConfigError, Problems
from lbd.config.fields import Fields, dns_subdomain_problem, type_name
from lbd.config.frozen import EMPTY, FrozenMap
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
from lbd.config.parse_service import quick_service

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
    """One document; a `body` of `Items` is a `kind: List` read item by item (the file layer streams a
    big JSON List so the parsed dicts of its items never all exist at once)."""

    source: str
    body: object


class Items:
    """The items of a `kind: List` document, produced one at a time."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[object]) -> None:
        self._items = items

    def __iter__(self) -> Iterator[object]:
        return iter(self._items)


@dataclass(frozen=True, slots=True)
class Known:
    """In place of a List item whose text is the same as when `service` was read from it by the fast
    path (a reload reusing last time's objects)."""

    service: Service
    key: str


@dataclass(frozen=True, slots=True)
class Entry(Generic[T_co]):
    """A parsed object and where it came from, for cross-object error messages."""

    kind: str
    name: str
    source: str
    obj: T_co


@dataclass(slots=True)
class Objects:
    """Parsed objects of every kind but Service, in document order (there are few of them)."""

    pools: list[Entry[IPAddressPool]] = field(default_factory=list)
    l2: list[Entry[L2Advertisement]] = field(default_factory=list)
    bgp: list[Entry[BGPAdvertisement]] = field(default_factory=list)
    peers: list[Entry[BGPPeer]] = field(default_factory=list)
    bfd: list[Entry[BFDProfile]] = field(default_factory=list)
    communities: list[Entry[Community]] = field(default_factory=list)
    node_configs: list[Entry[NodeConfig]] = field(default_factory=list)
    slices: list[Entry[EndpointSlice]] = field(default_factory=list)
    nodes: list[Entry[Node]] = field(default_factory=list)
    secrets: list[Entry[Secret]] = field(default_factory=list)
    namespaces: list[Entry[Namespace]] = field(default_factory=list)

    def extend(self, other: Objects) -> None:
        for name in Objects.__dataclass_fields__:
            getattr(self, name).extend(getattr(other, name))


@dataclass(slots=True)
class Batch(Objects):
    """What one file (or one set of documents) parses into, before the cross-object rules.

    Services, the bulk, are kept lean: the Service objects and their `namespace/name` keys in order
    and, per Service, one integer packing its document number, its List item and whether the fast
    path read it (the document or item held this Service alone, without a problem); sources are only
    spelt out for an error. `numbered` set: document n came from `f"{numbered}#{n + 1}"` (a file);
    otherwise `sources` keeps each document's source. `documents` counts the documents added."""

    namespace: str = DEFAULT_NAMESPACE
    numbered: str | None = None
    errors: list[ConfigError] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    places: array[int] = field(default_factory=lambda: array("q"))
    sources: list[str] = field(default_factory=list)
    documents: int = 0

    def problems(self, kind: str, name: str, source: str) -> Problems:
        return Problems(self.errors, kind, name, source)

    def add_document(self, doc: Document) -> None:
        """Parse one document (a `kind: List` item by item) into this batch."""
        number = self.documents
        self.documents += 1
        if self.numbered is None:
            self.sources.append(doc.source)
        items = _list_items(doc.body)
        if items is None:
            if doc.body is not None:  # None: an empty YAML document (`---` at the end of a file)
                _parse_one(self, doc.source, -1, doc.body, number)
            return
        for i, item in enumerate(items):
            if item is not None:
                _parse_one(self, doc.source, i, item, number)

    def add_service(self, service: Service, key: str, number: int, item: int, quick: bool = False) -> None:
        """`quick`: read by the fast path (see above)."""
        self.services.append(service)
        self.keys.append(key)
        self.places.append(number << 32 | (item + 1) << 1 | quick)

    def whole_document(self, index: int) -> int | None:
        """The document number of `services[index]` if the fast path read it from a whole document."""
        place = self.places[index]
        return place >> 32 if place & 1 and not place & 0xFFFF_FFFE else None

    def quick_item(self, index: int) -> int | None:
        """The List item of `services[index]` if the fast path read it from that item."""
        place = self.places[index]
        return ((place & 0xFFFF_FFFF) >> 1) - 1 if place & 1 and place & 0xFFFF_FFFE else None

    def service_source(self, index: int) -> str:
        """Where `services[index]` came from, as its errors would say."""
        place = self.places[index]
        number, item = place >> 32, ((place & 0xFFFF_FFFF) >> 1) - 1
        source = f"{self.numbered}#{number + 1}" if self.numbered is not None else self.sources[number]
        return source if item < 0 else _item_source(source, item)


def _item_source(source: str, item: int) -> str:
    return f"{source} items[{item}]"


@dataclass(slots=True)
class Parsed(Objects):
    """Every batch of a document set together; `validate.build` adds its errors and the World."""

    namespace: str = DEFAULT_NAMESPACE
    errors: list[ConfigError] = field(default_factory=list)
    batches: tuple[Batch, ...] = ()
    world: World = field(default_factory=World)

    @classmethod
    def of(cls, namespace: str, batches: Iterable[Batch]) -> Parsed:
        parsed = cls(namespace=namespace, batches=tuple(batches))
        for batch in parsed.batches:
            parsed.extend(batch)
            parsed.errors.extend(batch.errors)
        return parsed

    def problems(self, kind: str, name: str, source: str) -> Problems:
        return Problems(self.errors, kind, name, source)


def _list_items(body: object) -> Iterable[object] | None:
    """`kind: List` (what `kubectl get -o yaml` prints) stands for its items."""
    if isinstance(body, Items):
        return body
    if isinstance(body, Mapping) and str(body.get("kind", "")).endswith("List") and "items" in body:
        items = body["items"]
        if isinstance(items, list):
            return items
    return None


def parse_batch(
    docs: Iterable[Document], namespace: str = DEFAULT_NAMESPACE, numbered: str | None = None
) -> Batch:
    """Parse documents one at a time (each is dropped before the next is read)."""
    batch = Batch(namespace=namespace, numbered=numbered)
    for doc in docs:
        batch.add_document(doc)
    return batch


def parse_documents(docs: Iterable[Document], namespace: str = DEFAULT_NAMESPACE) -> Parsed:
    return Parsed.of(namespace, [parse_batch(docs, namespace)])


def _parse_one(batch: Batch, source: str, item: int, body: object, number: int) -> None:
    if type(body) is dict and body.get("kind") == "Service" and body.get("apiVersion") == "v1":
        service = quick_service(body)
        if service is not None:
            batch.add_service(service, service.key, number, item, True)
            return
    if type(body) is Known:
        batch.add_service(body.service, body.key, number, item, True)
        return
    if item >= 0:
        source = _item_source(source, item)
    if not isinstance(body, Mapping):
        batch.problems("-", "-", source).error("-", f"a document must be an object, got {type_name(body)}")
        return
    api_version, kind = body.get("apiVersion"), body.get("kind")
    if not isinstance(kind, str) or not isinstance(api_version, str):
        batch.problems(str(kind or "-"), "-", source).error(
            "apiVersion" if isinstance(kind, str) else "kind", "apiVersion and kind are required strings"
        )
        return
    if (api_version, kind) in IGNORED:
        batch.problems(kind, _name_of(body), source).warning("-", f"{api_version} {kind} is not used by lbd")
        return
    if kind not in API_VERSIONS:
        known = ", ".join(sorted(API_VERSIONS))
        batch.problems(kind, _name_of(body), source).error("kind", f"unsupported kind; lbd reads {known}")
        return
    if api_version not in API_VERSIONS[kind]:
        allowed = " or ".join(API_VERSIONS[kind])
        batch.problems(kind, _name_of(body), source).error(
            "apiVersion", f"{api_version!r}: {kind} is {allowed}"
        )
        return
    meta = _meta(batch, kind, api_version, body, source)
    if meta is None:
        return
    display = meta.name if kind in CLUSTER_SCOPED else f"{meta.namespace}/{meta.name}"
    top = Fields(body, "", batch.problems(kind, display, source))
    for key in ("apiVersion", "kind", "metadata"):
        top.raw(key)
    add = _Adder(batch, kind, display, source)
    if kind == "Service":
        batch.add_service(_service(meta, top), display, number, item)
    elif kind in CORE:
        _dispatch_core(add, kind, meta, top)
    else:
        _dispatch(add, kind, meta, top)


def _name_of(body: Mapping[str, Any]) -> str:
    meta = body.get("metadata")
    if isinstance(meta, Mapping) and isinstance(meta.get("name"), str):
        return str(meta["name"])
    return "-"


def _display_name(parsed: Batch, kind: str, body: Mapping[str, Any]) -> str:
    """`namespace/name` as later errors will show it, for errors found while reading metadata."""
    name = _name_of(body)
    if kind in CLUSTER_SCOPED or name == "-":
        return name
    meta = body.get("metadata")
    namespace = meta.get("namespace") if isinstance(meta, Mapping) else None
    if not isinstance(namespace, str) or not namespace:
        namespace = "default" if kind in CORE else parsed.namespace
    return f"{namespace}/{name}"


def _meta(parsed: Batch, kind: str, api_version: str, body: Mapping[str, Any], source: str) -> Meta | None:
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
    return Meta(name, shared.word(namespace), api_version, shared.string_map(labels))


@dataclass(frozen=True, slots=True)
class _Adder:
    parsed: Batch
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
    if kind == "EndpointSlice":
        add(parsed.slices)(parse_core.endpoint_slice(meta, top))
    elif kind == "Node":
        spec = Fields.of(top.raw("spec"), "spec", problems)
        status = Fields.of(top.raw("status"), "status", problems)
        add(parsed.nodes)(parse_core.node(meta, spec, status))
    elif kind == "Secret":
        add(parsed.secrets)(parse_core.secret(meta, top))
    elif kind == "Namespace":
        add(parsed.namespaces)(parse_core.namespace(meta))


def _service(meta: Meta, top: Fields) -> Service:
    problems = top.problems
    metadata = Fields.of(top.raw("metadata"), "metadata", problems)
    notes = metadata.string_map("annotations")
    annotations = FrozenMap(notes) if notes else EMPTY
    spec = Fields.of(top.raw("spec"), "spec", problems)
    status = Fields.of(top.raw("status"), "status", problems)
    return parse_core.service(meta, annotations, spec, status)
