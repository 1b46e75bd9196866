"""What the allocator needs to know about a pool and a service, and the allocation result types.

These are derived views, not configuration: `lbd.allocator.inputs` builds them from the typed config
model (`lbd.config.model`), so the allocation algorithm reads a handful of settled facts (a pool's
address space and who may use it; a service's ports, sharing key, families and requests) instead of
Kubernetes object shapes.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import FrozenInstanceError, dataclass
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol

from lbd.allocator.addresses import IPAddress, PoolSpace, Port, SharingKey, go_quote_addresses
from lbd.changes import changed_window
from lbd.config.model import Service

ANNOTATION_PREFIXES = ("metallb.io/", "metallb.universe.tf/")
"""Every MetalLB annotation is read under both prefixes; `metallb.io/` wins when both are set."""

ALLOCATED_FROM_POOL = "metallb.io/ip-allocated-from-pool"

NO_SHARING = SharingKey("", "")

NO_LABELS: Mapping[str, str] = MappingProxyType({})


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
        return _VERSIONS[self]


_VERSIONS = {Family.IPV4: (4,), Family.IPV6: (6,), Family.DUAL: (4, 6)}


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


class ServiceRequest(NamedTuple):
    """One LoadBalancer service of our class, as the allocator sees it.

    `family` comes from clusterIPs, else spec.ipFamilies, else the policy (SingleStack: IPv4, dual-stack
    policies: both); `primary` is spec.ipFamilies[0]. `desired` are the requested addresses
    (spec.loadBalancerIP or the loadBalancerIPs annotation) and `desired_error` says why the request is
    unusable (both set, unparsable, more than one per family). `current` are the addresses the service
    holds now (its status, or the daemon's memory of its last allocation).

    A named tuple rather than a frozen dataclass: a pass builds one per service (100,000 at scale)
    and a tuple is built several times faster, equally immutable and typed.
    """

    key: str
    namespace: str
    labels: Mapping[str, str] = NO_LABELS
    ports: tuple[Port, ...] = ()
    sharing: SharingKey = NO_SHARING
    family: Family = Family.IPV4
    primary: int = 4
    policy: FamilyPolicy = FamilyPolicy.SINGLE_STACK
    desired: tuple[IPAddress, ...] = ()
    desired_error: str | None = None
    desired_pool: str | None = None
    current: tuple[IPAddress, ...] = ()


class RequestedAddress(NamedTuple):
    """A service in the shape nearly every service of a large configuration has: it holds nothing,
    asks for one IPv4 address (`value`) by the loadBalancerIPs annotation, is IPv4 single-stack,
    names no pool and never shares its address (so its ports never matter). A pass serves it from
    `value` and the Service's namespace and labels (`AllocationRun.take_address`) and builds its
    ServiceRequest only when the general steps are needed: 64 bytes while the pass lasts instead of
    about 240 with the request's tuple and address object."""

    key: str
    value: int
    service: Service


class HeldAddress(NamedTuple):
    """The same shape on every pass after the first: the caller remembers one IPv4 address for the
    service (`value`), which it requests again or requests nothing; IPv4 single-stack, no pool named,
    never shared. A pass keeps it from these fields (`AllocationRun.keep_address`) and builds its
    ServiceRequest (current: that address) only when the general steps are needed."""

    key: str
    value: int
    service: Service


Entry = ServiceRequest | RequestedAddress | HeldAddress
"""What a pass is given per service: a request, or one of the compact shapes."""


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


def ip_allocated(addresses: Sequence[IPAddress]) -> Event:
    """The Event MetalLB records when it hands a service its addresses."""
    return Event(EventType.NORMAL, "IPAllocated", f"Assigned IP {go_quote_addresses(addresses)}")


# What an Assignment holds besides its key and addresses: (state, reason, pool, error, events before
# the last, whether the last is `ip_allocated(addresses)`). Services decided alike share one.
VerdictTail = tuple[State, Reason, str | None, str | None, tuple[Event, ...], bool]
_TAILS: dict[VerdictTail, VerdictTail] = {}
_TAILS_KEPT = 4096
"""Tails without events or error are shared; their number is bounded by pools x reasons, so the cap
only guards against a daemon seeing endless pool renames."""


_ALLOCATED: dict[tuple[Reason, str], VerdictTail] = {}
"""The tails of `Assignment.allocated` without earlier events, by reason and pool."""


def _shared_tail(tail: VerdictTail) -> VerdictTail:
    if tail[3] is not None or tail[4]:
        return tail
    shared = _TAILS.get(tail)
    if shared is None:
        if len(_TAILS) >= _TAILS_KEPT:
            _TAILS.clear()
        shared = _TAILS[tail] = tail
    return shared


def allocated_tail(reason: Reason, pool: str, *, announced: bool) -> VerdictTail:
    """What `Assignment.one_ipv4` needs besides key and address, the same for every service of a pool
    given its addresses for `reason` without events, but for IPAllocated when `announced`."""
    return _shared_tail((State.ALLOCATED, reason, pool, None, (), announced))


# One IPv4 address (almost every service) is held as its integer: the same int object the address
# book keeps, so an Assignment costs its own 56 bytes. Anything else is the tuple as given.
_Packed = int | tuple[IPAddress, ...]
_IPV4 = ipaddress.IPv4Address


def _pack(addresses: tuple[IPAddress, ...]) -> _Packed:
    if len(addresses) == 1 and addresses[0].version == 4:
        return int(addresses[0])
    return addresses


class Assignment:
    """What the allocator decided for one service: its addresses and pool, or why it is pending.

    Immutable, compared and hashed by its public fields (`key`, `state`, `reason`, `addresses`,
    `pool`, `error`, `events`), like the frozen dataclass it replaces. At 100,000 services its storage
    is what matters: the key is the caller's string, one IPv4 address is an int (`addresses` builds
    the tuple on each read), and the rest is one tuple shared by every service decided alike, with the
    usual trailing IPAllocated event rebuilt from the addresses on demand. The storage is canonical
    (one storage per public value), so comparing storage compares the public fields.
    """

    __slots__ = ("_packed", "_tail", "key")

    key: str
    _packed: _Packed
    _tail: VerdictTail

    def __init__(  # noqa: PLR0917 (the dataclass it replaces was built positionally)
        self,
        key: str,
        state: State,
        reason: Reason,
        addresses: tuple[IPAddress, ...] = (),
        pool: str | None = None,
        error: str | None = None,
        events: tuple[Event, ...] = (),
    ) -> None:
        addresses = tuple(addresses)
        allocated_last = bool(addresses) and bool(events) and events[-1] == ip_allocated(addresses)
        prior = tuple(events[:-1] if allocated_last else events)
        tail = _shared_tail((state, reason, pool, error, prior, allocated_last))
        self._set(key, _pack(addresses), tail)

    @classmethod
    def allocated(
        cls, key: str, reason: Reason, addresses: tuple[IPAddress, ...], pool: str, prior: tuple[Event, ...]
    ) -> Assignment:
        """ALLOCATED with the events `prior` followed by IPAllocated for these addresses."""
        tail = _ALLOCATED.get((reason, pool)) if not prior else None
        if tail is None:
            tail = _shared_tail((State.ALLOCATED, reason, pool, None, prior, True))
            if not prior:
                if len(_ALLOCATED) >= _TAILS_KEPT:
                    _ALLOCATED.clear()
                _ALLOCATED[reason, pool] = tail
        made = cls.__new__(cls)
        made._set(key, _pack(addresses), tail)
        return made

    @classmethod
    def one_ipv4(cls, key: str, value: int, tail: VerdictTail) -> Assignment:
        """ALLOCATED with the one IPv4 address `value`, the rest from `allocated_tail`: the fast paths
        of a pass, building nothing they can share."""
        made = cls.__new__(cls)
        made._set(key, value, tail)
        return made

    def _set(self, key: str, packed: _Packed, tail: VerdictTail) -> None:
        # The slots' own descriptors, past the frozen __setattr__ (object.__setattr__ costs more).
        _SET_KEY(self, key)
        _SET_PACKED(self, packed)
        _SET_TAIL(self, tail)

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    @property
    def state(self) -> State:
        return self._tail[0]

    @property
    def reason(self) -> Reason:
        return self._tail[1]

    @property
    def addresses(self) -> tuple[IPAddress, ...]:
        packed = self._packed
        if isinstance(packed, int):
            return (ipaddress.IPv4Address(packed),)
        return packed

    def holds_packed(self, packed: _Packed | None) -> bool:
        """`holds`, given what `HeldAddresses.packed` returned."""
        return packed is not None and (packed is self._packed or packed == self._packed)

    def holds(self, addresses: Sequence[IPAddress]) -> bool:
        """`tuple(addresses) == self.addresses`, without building the addresses."""
        packed = self._packed
        if packed.__class__ is not int:
            return tuple(addresses) == packed
        if len(addresses) != 1:
            return False
        first = addresses[0]
        return first.__class__ is _IPV4 and int(first) == packed

    @property
    def pool(self) -> str | None:
        return self._tail[2]

    @property
    def error(self) -> str | None:
        return self._tail[3]

    @property
    def events(self) -> tuple[Event, ...]:
        prior = self._tail[4]
        if self._tail[5]:
            return (*prior, ip_allocated(self.addresses))
        return prior

    def _fields(self) -> tuple[Any, ...]:
        return (self.key, self.state, self.reason, self.addresses, self.pool, self.error, self.events)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Assignment):
            return NotImplemented
        return self.key == other.key and self._packed == other._packed and self._tail == other._tail

    def __hash__(self) -> int:
        return hash((self.key, self._packed, self._tail))

    def __repr__(self) -> str:
        names = ("key", "state", "reason", "addresses", "pool", "error", "events")
        shown = ", ".join(f"{n}={v!r}" for n, v in zip(names, self._fields(), strict=True))
        return f"Assignment({shown})"

    def __reduce__(self) -> tuple[type[Assignment], tuple[Any, ...]]:
        return (Assignment, self._fields())

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


_SET_KEY = Assignment.__dict__["key"].__set__
_SET_PACKED = Assignment.__dict__["_packed"].__set__
_SET_TAIL = Assignment.__dict__["_tail"].__set__


class HeldAddresses(MutableMapping[str, tuple[IPAddress, ...]]):
    """Addresses remembered per service, `namespace/name` -> addresses: what a caller feeds back as
    `previous`. Stored like verdicts: one IPv4 address as its int, which is the very int object the
    verdict holds when the addresses came from one (`IPv4Address(n)` keeps `n`). A plain dict of
    100,000 such tuples costs another 10 MiB of tuples and address objects the verdicts no longer
    carry; this costs only the dictionary. The incremental allocator compares it with its verdicts
    without building addresses."""

    __slots__ = ("_packed", "version")

    def __init__(self, items: Mapping[str, Sequence[IPAddress]] | None = None) -> None:
        self._packed: dict[str, _Packed] = {}
        # Counts changes, so that a caller can tell this mapping is as it last saw it.
        self.version = 0
        if items:
            for key, addresses in items.items():
                self[key] = addresses

    @classmethod
    def of_allocated(cls, verdicts: Iterable[Assignment]) -> HeldAddresses:
        """`{v.key: v.addresses for v in verdicts if v.state is State.ALLOCATED}`, sharing the
        verdicts' storage instead of building addresses (what a caller remembers after a pass)."""
        held = cls()
        held._packed = {v.key: v._packed for v in verdicts if v.state is State.ALLOCATED}
        return held

    def follow(self, before: Sequence[Assignment], after: Sequence[Assignment]) -> None:
        """From remembering the result `before` to remembering `after` (as `of_allocated(after)`),
        at the cost of the verdicts that are not the same objects in both: the allocator hands back
        the ones it did not redo, in key order."""
        low, old_high, new_high = changed_window(before, after)
        if low == old_high == new_high:
            return  # the same verdicts: unchanged, `version` included
        packed = self._packed
        for gone in before[low:old_high]:
            packed.pop(gone.key, None)
        for verdict in after[low:new_high]:
            if verdict.state is State.ALLOCATED:
                packed[verdict.key] = verdict._packed
        self.version += 1

    def packed(self, key: str) -> _Packed | None:
        """The stored form of `key`'s addresses (as `Assignment` stores them), None when absent."""
        return self._packed.get(key)

    def __getitem__(self, key: str) -> tuple[IPAddress, ...]:
        packed = self._packed[key]
        if isinstance(packed, int):
            return (ipaddress.IPv4Address(packed),)
        return packed

    def __setitem__(self, key: str, addresses: Sequence[IPAddress]) -> None:
        self._packed[key] = _pack(tuple(addresses))
        self.version += 1

    def __delitem__(self, key: str) -> None:
        del self._packed[key]
        self.version += 1

    def __iter__(self) -> Iterator[str]:
        return iter(self._packed)

    def __len__(self) -> int:
        return len(self._packed)

    def __contains__(self, key: object) -> bool:
        return key in self._packed

    def clear(self) -> None:
        self._packed.clear()
        self.version += 1

    def __repr__(self) -> str:
        return f"HeldAddresses({dict(self.items())!r})"


@dataclass(frozen=True, slots=True)
class AllocationResult:
    """Verdicts for every service of our class, sorted by namespace/name."""

    services: tuple[Assignment, ...]

    def get(self, key: str) -> Assignment | None:
        return next((s for s in self.services if s.key == key), None)

    def by_key(self) -> dict[str, Assignment]:
        return {s.key: s for s in self.services}
