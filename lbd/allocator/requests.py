"""What the allocator needs to know about a pool and a service, and the allocation result types.

These are derived views, not configuration: `lbd.allocator.inputs` builds them from the typed config
model (`lbd.config.model`), so the allocation algorithm reads a handful of settled facts (a pool's
address space and who may use it; a service's ports, sharing key, families and requests) instead of
Kubernetes object shapes.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from lbd.allocator.addresses import IPAddress, PoolSpace, Port, SharingKey

ANNOTATION_PREFIXES = ("metallb.io/", "metallb.universe.tf/")
"""Every MetalLB annotation is read under both prefixes; `metallb.io/` wins when both are set."""

ALLOCATED_FROM_POOL = "metallb.io/ip-allocated-from-pool"

NO_SHARING = SharingKey("", "")


class Family(enum.StrEnum):
    """MetalLB `ipfamily.Family`; the values appear in its error messages."""

    IPV4 = "ipv4"
    IPV6 = "ipv6"
    DUAL = "dual"

    @classmethod
    def of(cls, version: int) -> Family:
        return cls.IPV4 if version == 4 else cls.IPV6

    @property
    def versions(self) -> tuple[int, ...]:
        return {Family.IPV4: (4,), Family.IPV6: (6,), Family.DUAL: (4, 6)}[self]


class FamilyPolicy(enum.StrEnum):
    """Kubernetes `spec.ipFamilyPolicy`; SingleStack when unset."""

    SINGLE_STACK = "SingleStack"
    PREFER_DUAL_STACK = "PreferDualStack"
    REQUIRE_DUAL_STACK = "RequireDualStack"


class Selector(Protocol):
    """A Kubernetes label selector, as the config model provides it."""

    def matches(self, labels: Mapping[str, str], /) -> bool: ...


@dataclass(frozen=True, slots=True)
class PoolPolicy:
    """One IPAddressPool as the allocator sees it.

    `restricted` is true when the pool has `serviceAllocation` (allocateTo): MetalLB then offers it to
    automatic allocation only through its namespaces and service selectors, never as a general pool.
    `namespaces` already includes the namespaces its namespaceSelectors matched.
    """

    space: PoolSpace
    auto_assign: bool = True
    restricted: bool = False
    priority: int = 0
    namespaces: frozenset[str] = frozenset()
    service_selectors: tuple[Selector, ...] = ()

    @property
    def name(self) -> str:
        return self.space.name

    def admits(self, namespace: str, labels: Mapping[str, str]) -> bool:
        """MetalLB `isPoolCompatibleWithService`."""
        if self.namespaces and namespace not in self.namespaces:
            return False
        if self.service_selectors:
            return any(s.matches(labels) for s in self.service_selectors)
        return True


@dataclass(frozen=True, slots=True)
class ServiceRequest:
    """One LoadBalancer service of our class, as the allocator sees it.

    `family` comes from clusterIPs, else spec.ipFamilies, else the policy (SingleStack: IPv4, dual-stack
    policies: both); `primary` is spec.ipFamilies[0]. `desired` are the requested addresses
    (spec.loadBalancerIP or the loadBalancerIPs annotation) and `desired_error` says why the request is
    unusable (both set, unparsable, more than one per family). `current` are the addresses the service
    holds now (its status, or the daemon's memory of its last allocation).
    """

    key: str
    namespace: str
    labels: Mapping[str, str] = field(default_factory=dict)
    ports: tuple[Port, ...] = ()
    sharing: SharingKey = NO_SHARING
    family: Family = Family.IPV4
    primary: int = 4
    policy: FamilyPolicy = FamilyPolicy.SINGLE_STACK
    desired: tuple[IPAddress, ...] = ()
    desired_error: str | None = None
    desired_pool: str | None = None
    current: tuple[IPAddress, ...] = ()


class EventType(enum.StrEnum):
    NORMAL = "Normal"
    WARNING = "Warning"


@dataclass(frozen=True, slots=True)
class Event:
    """A Kubernetes Event MetalLB's controller would record on the service for this transition."""

    type: EventType
    reason: str
    message: str


class State(enum.StrEnum):
    ALLOCATED = "allocated"
    PENDING = "pending"


class Reason(enum.StrEnum):
    """Why a service has its addresses, or none."""

    KEPT = "kept"
    """Addresses already held (status or previous run) are still valid and were kept."""
    REQUESTED_ADDRESS = "requestedAddress"
    REQUESTED_POOL = "requestedPool"
    AUTO_ASSIGNED = "autoAssigned"
    NO_POOLS = "noPools"
    ALLOCATION_FAILED = "allocationFailed"


@dataclass(frozen=True, slots=True)
class Assignment:
    """What the allocator decided for one service: its addresses and pool, or why it is pending."""

    key: str
    state: State
    reason: Reason
    addresses: tuple[IPAddress, ...] = ()
    pool: str | None = None
    error: str | None = None
    events: tuple[Event, ...] = ()

    @property
    def namespace(self) -> str:
        return self.key.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.key.split("/", 1)[1]

    @property
    def annotations(self) -> Mapping[str, str]:
        """Annotations the controller writes on the service (MetalLB's ip-allocated-from-pool)."""
        return {ALLOCATED_FROM_POOL: self.pool} if self.pool is not None else {}


@dataclass(frozen=True, slots=True)
class AllocationResult:
    """Verdicts for every service of our class, sorted by namespace/name."""

    services: tuple[Assignment, ...]

    def get(self, key: str) -> Assignment | None:
        return next((s for s in self.services if s.key == key), None)

    def by_key(self) -> dict[str, Assignment]:
        return {s.key: s for s in self.services}
