"""Kubernetes sources: list/watch reflectors that keep plain-dict stores of the objects lbd reads."""

from lbd.kube.backoff import Backoff
from lbd.kube.client import new_api_client
from lbd.kube.informers import Informers
from lbd.kube.reflector import (
    ApiStatusError,
    CallbackError,
    ChangeCallback,
    MalformedResponse,
    Reflector,
    ReflectorSettings,
)
from lbd.kube.resources import (
    ADDRESS_POOLS,
    BFD_PROFILES,
    BGP_ADVERTISEMENTS,
    BGP_PEERS,
    COMMUNITIES,
    DEFAULT_NAMESPACE,
    ENDPOINT_SLICES,
    IP_ADDRESS_POOLS,
    L2_ADVERTISEMENTS,
    METALLB_KINDS,
    NODES,
    SECRETS,
    SERVICES,
    ResourceKind,
    WatchTarget,
    default_targets,
)
from lbd.kube.store import Change, ChangeType, ObjectStore, object_key

__all__ = [
    "ADDRESS_POOLS",
    "BFD_PROFILES",
    "BGP_ADVERTISEMENTS",
    "BGP_PEERS",
    "COMMUNITIES",
    "DEFAULT_NAMESPACE",
    "ENDPOINT_SLICES",
    "IP_ADDRESS_POOLS",
    "L2_ADVERTISEMENTS",
    "METALLB_KINDS",
    "NODES",
    "SECRETS",
    "SERVICES",
    "ApiStatusError",
    "Backoff",
    "CallbackError",
    "Change",
    "ChangeCallback",
    "ChangeType",
    "Informers",
    "MalformedResponse",
    "ObjectStore",
    "Reflector",
    "ReflectorSettings",
    "ResourceKind",
    "WatchTarget",
    "default_targets",
    "new_api_client",
    "object_key",
]
