"""lbd's configuration: MetalLB-compatible objects, lbd's NodeConfig, and the core Kubernetes objects.

Stable API (the daemon, `lbd plan`, the allocator and the Kubernetes watch loop use these):

- `parse_objects(docs, source="<input>", namespace="metallb-system") -> ParseResult`: parse and validate
  plain dicts (YAML documents or the camelCase JSON the Kubernetes API returns). `kind: List` is expanded.
- `parse_documents(docs: Iterable[Document], namespace=...) -> ParseResult`: the same, with a source per
  document (`Document(source, body)`).
- `load_paths(paths, namespace=...) -> ParseResult`: YAML/JSON files and directories (recursive).
- `FileCache(namespace).load(paths) -> ParseResult`: the same, kept between calls so that a reload parses
  only the files that changed (unchanged files' objects stay the same objects).
- `ParseResult.config`: a validated frozen `Config`, or None when there is any error (all or nothing);
  `.world`: the `World` (services, endpoint slices, nodes, secrets, namespaces) parsed along;
  `.errors` / `.warnings`: every `ConfigError` (kind, `namespace/name`, field path, message, source).
- `ConfigStore(clock).apply(result) -> bool`: keeps the last good Config and the last rejection
  (errors and time); `.current`, `.last_rejection`, `.generation`.
- Model classes (`lbd.config.model`): IPAddressPool, AddressRange, ServiceAllocation, L2Advertisement,
  BGPAdvertisement, BGPPeer, BFDProfile, Community, NodeConfig, Membership, Service, EndpointSlice, Node,
  Secret, Namespace, Config, World; selectors (`LabelSelector.matches(labels)`) and communities.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lbd.config.cache import FileCache
from lbd.config.communities import WELL_KNOWN, BGPCommunity, LargeCommunity, StandardCommunity
from lbd.config.duration import DurationError, parse_duration
from lbd.config.errors import ConfigError, Severity
from lbd.config.frozen import FrozenMap
from lbd.config.model import (
    DEFAULT_NAMESPACE,
    AddressRange,
    BFDProfile,
    BGPAdvertisement,
    BGPPeer,
    Community,
    CommunityAlias,
    Config,
    Endpoint,
    EndpointSlice,
    HostPort,
    IPAddress,
    IPAddressPool,
    IPNetwork,
    L2Advertisement,
    LoadBalancerIngress,
    LocalDelivery,
    LogLevel,
    MemberPeer,
    Membership,
    Namespace,
    Node,
    NodeAddress,
    NodeCondition,
    NodeConfig,
    Secret,
    SecretRef,
    Service,
    ServiceAllocation,
    ServicePort,
    World,
)
from lbd.config.parse import Document
from lbd.config.parse import parse_documents as _parse
from lbd.config.result import ParseResult
from lbd.config.selectors import LabelSelector, Operator, Requirement, any_matches
from lbd.config.store import ConfigStore, Rejection
from lbd.config.validate import build


def parse_documents(docs: Iterable[Document], namespace: str = DEFAULT_NAMESPACE) -> ParseResult:
    outcome = build(_parse(docs, namespace))
    return ParseResult(outcome.config, outcome.world, outcome.errors, outcome.warnings)


def parse_objects(
    docs: Iterable[Mapping[str, Any] | object], source: str = "<input>", namespace: str = DEFAULT_NAMESPACE
) -> ParseResult:
    return parse_documents((Document(f"{source}#{i + 1}", d) for i, d in enumerate(docs)), namespace)


def load_paths(paths: Iterable[str | Path], namespace: str = DEFAULT_NAMESPACE) -> ParseResult:
    return FileCache(namespace, by_document=False).load(paths)


__all__ = [
    "DEFAULT_NAMESPACE",
    "WELL_KNOWN",
    "AddressRange",
    "BFDProfile",
    "BGPAdvertisement",
    "BGPCommunity",
    "BGPPeer",
    "Community",
    "CommunityAlias",
    "Config",
    "ConfigError",
    "ConfigStore",
    "Document",
    "DurationError",
    "Endpoint",
    "EndpointSlice",
    "FileCache",
    "FrozenMap",
    "HostPort",
    "IPAddress",
    "IPAddressPool",
    "IPNetwork",
    "L2Advertisement",
    "LabelSelector",
    "LargeCommunity",
    "LoadBalancerIngress",
    "LocalDelivery",
    "LogLevel",
    "MemberPeer",
    "Membership",
    "Namespace",
    "Node",
    "NodeAddress",
    "NodeCondition",
    "NodeConfig",
    "Operator",
    "ParseResult",
    "Rejection",
    "Requirement",
    "Secret",
    "SecretRef",
    "Service",
    "ServiceAllocation",
    "ServicePort",
    "Severity",
    "StandardCommunity",
    "World",
    "any_matches",
    "load_paths",
    "parse_documents",
    "parse_duration",
    "parse_objects",
]
