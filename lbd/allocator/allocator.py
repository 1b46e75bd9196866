"""Allocation of LoadBalancer addresses with MetalLB's semantics, as one pure function of a snapshot.

Theory of operation. MetalLB's controller converges services one at a time against an in-memory
allocator that remembers every assignment. We reach the same end state from a snapshot in one pass,
serving services in a fixed order so the result never depends on event timing:

1. Keep: every service that already holds addresses (its status, or the daemon's memory) is
   re-checked exactly as MetalLB's `convergeBalancer` does: the addresses must still lie in one pool
   the service may use, be shareable with the holders already kept, match the service's family, the
   address-pool annotation (when that pool exists) and any requested addresses. A failure clears the
   addresses (ClearAssignment event when the config no longer allows them) and the service joins the
   queue below. Once every service has been kept, each PreferDualStack service holding one address
   tries to gain the other family from the same pool.
2. Explicit addresses (spec.loadBalancerIP, loadBalancerIPs annotation), so an automatic allocation
   can never take an address some service asks for by name.
3. An address-pool annotation naming an existing pool (allowed even when autoAssign is false).
4. Everything else: pinned pools first (pools whose serviceAllocation namespaces or service selectors
   admit the service, autoAssign only, by ascending priority where 0 means lowest, ties by name),
   then every unrestricted autoAssign pool by name. MetalLB walks the general pools in Go map order,
   which is random; sorting by name is our deterministic refinement of it.

Within each phase services go by namespace/name. Pools never overlap (config validation), so an
address belongs to at most one pool. A pending service simply gets its address on the next run after
something is freed: there is no queue to forget it in.
"""

from __future__ import annotations

import gc
import ipaddress
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import NamedTuple

from lbd.allocator.addresses import (
    AddressBook,
    IPAddress,
    Port,
    SharingKey,
    confuses_buggy_firmware,
    go_quote,
    go_quote_addresses,
)
from lbd.allocator.requests import (
    NO_SHARING,
    AllocationResult,
    Assignment,
    Entry,
    Event,
    EventType,
    Family,
    FamilyPolicy,
    HeldAddress,
    PoolPolicy,
    Reason,
    RequestedAddress,
    ServiceRequest,
    State,
    VerdictTail,
    allocated_tail,
)


class _Refused(Exception):
    """An allocation step failed with MetalLB's error text (never escapes this module)."""


_V4Span = tuple[int, int, PoolPolicy, bool, VerdictTail, VerdictTail]


class _Grant(NamedTuple):
    addresses: tuple[IPAddress, ...]
    pool: PoolPolicy


class AllocationRun:
    """The address book and pools of one allocation pass. `allocate_requests` discards it after the
    pass; `lbd.allocator.incremental` keeps it to serve the next change without a whole pass."""

    def __init__(self, pools: Sequence[PoolPolicy]) -> None:
        self.pools = {p.name: p for p in pools}
        self.by_name = [self.pools[n] for n in sorted(self.pools)]
        self.book = AddressBook()
        # Every IPv4 range in `pool_for`'s order, with what the fast paths need of its pool: the pool,
        # whether it admits every service, and the verdict tails of a requested and of a kept address.
        self._v4_spans = [
            (
                r.first,
                r.last,
                p,
                not p.namespaces and not p.service_selectors,
                allocated_tail(Reason.REQUESTED_ADDRESS, p.name, announced=True),
                allocated_tail(Reason.KEPT, p.name, announced=False),
            )
            for p in self.by_name
            for r in p.space.spans
            if r.version == 4
        ]

    def _take_ipv4(
        self,
        key: str,
        value: int,
        *,
        namespace: str,
        labels: Mapping[str, str],
        ports: Sequence[Port],
        sharing: SharingKey,
    ) -> _V4Span | None:
        """`assign` of `IPv4Address(value)` to the service when nobody holds it and it lies in a pool
        admitting the service: the range it took it from; None, with nothing touched, otherwise."""
        for span in self._v4_spans:
            # `pool.space.owns(address)`, knowing the range.
            if span[0] <= value <= span[1] and not (
                span[2].space.avoid_buggy_ips and confuses_buggy_firmware(4, value)
            ):
                break
        else:
            return None
        if not (span[3] or span[2].admits(namespace, labels)) or not self.book.take_free(
            key, 4, value, ports, sharing
        ):
            return None
        return span

    def _grant_ipv4(
        self,
        key: str,
        value: int,
        *,
        kept: bool,
        namespace: str,
        labels: Mapping[str, str],
        ports: Sequence[Port],
        sharing: SharingKey,
    ) -> Assignment | None:
        """`_take_ipv4`, then the verdict with the range's shared tail: a kept or a new allocation's."""
        span = self._take_ipv4(key, value, namespace=namespace, labels=labels, ports=ports, sharing=sharing)
        return None if span is None else Assignment.one_ipv4(key, value, span[5] if kept else span[4])

    # -- MetalLB Allocator primitives -------------------------------------------------------------

    def pool_for(self, addresses: Sequence[IPAddress]) -> PoolPolicy | None:
        """MetalLB `poolFor`: the pool owning all the addresses."""
        for pool in self.by_name:
            if all(pool.space.owns(a) for a in addresses):
                return pool
        return None

    def assign(self, req: ServiceRequest, addresses: tuple[IPAddress, ...]) -> PoolPolicy:
        """MetalLB `Assign`: take exactly these addresses or say why not."""
        pool = self.pool_for(addresses)
        if pool is None:
            raise _Refused(f"{go_quote_addresses(addresses)} is not allowed in config")
        if not pool.admits(req.namespace, req.labels):
            raise _Refused(f"pool {pool.name} not compatible for ip assignment")
        if len(addresses) > 2:
            raise _Refused(f"more than two addresses {go_quote_addresses(addresses)}")
        if len(addresses) == 2 and addresses[0].version == addresses[1].version:
            raise _Refused(f"{go_quote(str(addresses[0]))} {go_quote(str(addresses[1]))} has the same family")
        for address in addresses:
            conflict = self.book.check(req.key, address, req.ports, req.sharing)
            if conflict is not None:
                raise _Refused(conflict.message)
        # A service already holding one of these (gaining its second family) holds it again as is.
        self.book.assign(req.key, addresses, req.ports, req.sharing)
        return pool

    def free_in(self, req: ServiceRequest, pool: PoolPolicy) -> dict[int, IPAddress]:
        """MetalLB `getFreeIPsFromPool`: the first acceptable address of each of the service's families."""
        found: dict[int, IPAddress] = {}
        for version in req.family.versions:
            address = self.book.first_acceptable(req.key, pool.space, version, req.ports, req.sharing)
            if address is not None:
                found[version] = address
        return found

    @staticmethod
    def select(req: ServiceRequest, pool: PoolPolicy, free: dict[int, IPAddress]) -> tuple[IPAddress, ...]:
        """MetalLB `selectIPsForFamilyAndPolicy`; dual-stack answers are IPv4 first, as MetalLB's."""
        if req.family is not Family.DUAL:
            version = req.family.versions[0]
            if version in free:
                return (free[version],)
        elif req.policy is not FamilyPolicy.SINGLE_STACK:
            if 4 in free and 6 in free:
                return (free[4], free[6])
            if req.policy is FamilyPolicy.PREFER_DUAL_STACK and free:
                return (free[4] if 4 in free else free[6],)
        raise _Refused(f"no available IPs in pool {pool.name} for {req.family} IPFamily")

    def best_pool(
        self, req: ServiceRequest, pools: Iterable[PoolPolicy]
    ) -> tuple[PoolPolicy, dict[int, IPAddress]]:
        """MetalLB `findBestPoolForService`."""
        primary, secondary = (6, 4) if req.primary == 6 else (4, 6)
        prefer_dual = req.policy is FamilyPolicy.PREFER_DUAL_STACK and req.family is Family.DUAL
        first_primary: tuple[PoolPolicy, dict[int, IPAddress]] | None = None
        first_secondary: tuple[PoolPolicy, dict[int, IPAddress]] | None = None
        for pool in pools:
            free = self.free_in(req, pool)
            if req.family is not Family.DUAL and req.family.versions[0] in free:
                return pool, free
            if primary in free and secondary in free:
                return pool, free
            if not prefer_dual:
                continue
            if primary in free and first_primary is None:
                first_primary = (pool, free)
            if secondary in free and first_secondary is None:
                first_secondary = (pool, free)
        if first_primary is not None:
            return first_primary
        if first_secondary is not None:
            return first_secondary
        raise _Refused(f"no suitable pool for {req.family} IPFamily")

    def allocate_from(self, req: ServiceRequest, pools: Sequence[PoolPolicy]) -> _Grant:
        """MetalLB `allocateFromPools`."""
        try:
            pool, free = self.best_pool(req, pools)
            addresses = self.select(req, pool, free)
            return _Grant(addresses, self.assign(req, addresses))
        except _Refused:
            raise _Refused("no available IPs") from None

    def pinned_pools(self, req: ServiceRequest) -> list[PoolPolicy]:
        pinned = [
            p
            for p in self.pools.values()
            if p.auto_assign
            and (req.namespace in p.namespaces or bool(p.service_selectors))
            and p.admits(req.namespace, req.labels)
        ]
        # MetalLB `sortPools`: a lower priority value first, 0 (unset) last; ties by name.
        return sorted(pinned, key=lambda p: (p.priority == 0, p.priority, p.name))

    def general_pools(self) -> list[PoolPolicy]:
        return [p for p in self.by_name if p.auto_assign and not p.restricted]

    # -- MetalLB controller steps -----------------------------------------------------------------

    def allocate(
        self,
        ordered: Sequence[Entry],
        full: Callable[[RequestedAddress | HeldAddress], ServiceRequest] | None = None,
    ) -> list[Assignment]:
        """Phase 1 (keep) for every request in key order, then the queue; see the module docstring.
        The verdicts are in the order of `ordered`. `full` builds the ServiceRequest of a compact
        entry the fast paths cannot serve (required when there are any)."""
        return _allocate_in(self, ordered, full)

    def allocate_queued(self, req: ServiceRequest, events: list[Event]) -> Assignment:
        """Phases 2-4 for one queued request, with the events its failed keep already produced."""
        try:
            grant, reason = self.allocate_new(req)
        except _Refused as refused:
            events.append(
                Event(
                    EventType.WARNING,
                    "AllocationFailed",
                    f"Failed to allocate IP for {go_quote(req.key)}: {refused}",
                )
            )
            return Assignment(
                req.key, State.PENDING, Reason.ALLOCATION_FAILED, error=str(refused), events=tuple(events)
            )
        return Assignment.allocated(req.key, reason, grant.addresses, grant.pool.name, tuple(events))

    def take_requested(self, req: ServiceRequest) -> Assignment | None:
        """`allocate_queued` (with no earlier events) for the case nearly every service of a large
        configuration is in: one requested IPv4 address, free, in a pool admitting the service, no
        pool annotation. None, with nothing touched, when the general steps are needed."""
        return self._grant_one(req, req.desired, kept=False)

    def take_address(self, entry: RequestedAddress) -> Assignment | None:
        """`take_requested` for a service in that shape from the start. It never shares, so the book
        records no ports for it (as for any service that does not share)."""
        key, value, service = entry
        return self._grant_ipv4(
            key,
            value,
            kept=False,
            namespace=service.namespace,
            labels=service.labels,
            ports=(),
            sharing=NO_SHARING,
        )

    def keep_address(self, entry: HeldAddress) -> Assignment | None:
        """`keep_requested` for a service in that shape from the start (it never shares, see
        `take_address`)."""
        key, value, service = entry
        return self._grant_ipv4(
            key,
            value,
            kept=True,
            namespace=service.namespace,
            labels=service.labels,
            ports=(),
            sharing=NO_SHARING,
        )

    def keep_requested(self, req: ServiceRequest) -> Assignment | None:
        """`keep` then `kept` for the same case once the service holds its address (every pass after
        the first): one IPv4 address held, nobody else holding it, requested again or nothing
        requested. None, with nothing touched, when the general steps are needed."""
        if req.desired and req.desired != req.current:
            return None
        return self._grant_one(req, req.current, kept=True)

    def _grant_one(
        self, req: ServiceRequest, addresses: Sequence[IPAddress], *, kept: bool
    ) -> Assignment | None:
        """The requested and kept fast paths: `addresses` is one IPv4 address and the request asks for
        nothing only the general steps handle (another family, a pool, an annotation error)."""
        if (
            len(addresses) != 1
            or req.family is not Family.IPV4
            or req.desired_pool is not None
            or req.desired_error is not None
        ):
            return None
        address = addresses[0]
        if address.__class__ is not ipaddress.IPv4Address:
            return None
        return self._grant_ipv4(
            req.key,
            int(address),
            kept=kept,
            namespace=req.namespace,
            labels=req.labels,
            ports=req.ports,
            sharing=req.sharing,
        )

    def allocate_new(self, req: ServiceRequest) -> tuple[_Grant, Reason]:
        """MetalLB `allocateIPs`."""
        if req.desired_error is not None:
            raise _Refused(req.desired_error)
        if req.desired:
            desired_family = _family_of(req.desired)
            if desired_family is not req.family:
                raise _Refused(
                    f"requested loadBalancer IP(s) {go_quote_addresses(req.desired)} "
                    "does not match the ipFamily of the service"
                )
            pool = self.assign(req, req.desired)
            if req.desired_pool is not None and pool.name != req.desired_pool:
                self.book.unassign(req.key, req.desired)
                raise _Refused(
                    f"requested loadBalancer IP(s) {go_quote_addresses(req.desired)} is not compatible "
                    f"with requested address pool {req.desired_pool}"
                )
            return _Grant(req.desired, pool), Reason.REQUESTED_ADDRESS
        if req.desired_pool is not None and req.desired_pool in self.pools:
            pool = self.pools[req.desired_pool]
            addresses = self.select(req, pool, self.free_in(req, pool))
            return _Grant(addresses, self.assign(req, addresses)), Reason.REQUESTED_POOL
        # An unknown pool falls back to automatic assignment, as MetalLB's documentation promises.
        pinned = self.pinned_pools(req)
        if pinned:
            try:
                return self.allocate_from(req, pinned), Reason.AUTO_ASSIGNED
            except _Refused:
                pass
        return self.allocate_from(req, self.general_pools()), Reason.AUTO_ASSIGNED

    def keep(self, req: ServiceRequest) -> tuple[_Grant | None, list[Event]]:
        """MetalLB `convergeBalancer` for a service already holding addresses."""
        events: list[Event] = []
        current = req.current
        if _family_changed(current, req):
            return None, events
        try:
            pool = self.assign(req, current)
        except _Refused as refused:
            events.append(
                Event(
                    EventType.NORMAL,
                    "ClearAssignment",
                    f"current IP for {go_quote(req.key)} not allowed by config, "
                    f"will attempt for new IP assignment: {refused}",
                )
            )
            return None, events
        if req.desired_pool is not None and req.desired_pool in self.pools and pool.name != req.desired_pool:
            self.book.unassign(req.key, current)
            return None, events
        if req.desired_error is not None:
            # MetalLB stops converging here and leaves the service as it was.
            events.append(
                Event(
                    EventType.WARNING,
                    "LoadBalancerFailed",
                    f"invalid requested loadbalancer IPs: {req.desired_error}",
                )
            )
            return _Grant(current, pool), events
        if req.desired and set(req.desired) != set(current):
            self.book.unassign(req.key, current)
            return None, events
        return _Grant(current, pool), events

    def gain_family(self, req: ServiceRequest, grant: _Grant, events: list[Event]) -> _Grant:
        """MetalLB tries the missing family for every PreferDualStack service it keeps; on a
        single-stack service its own family check then drops the pair on the next pass, so we only try
        when the service is dual-stack. Runs after every keep, so that no service gains an address
        another one still holds (MetalLB's allocator knows every assignment when it tries)."""
        current = grant.addresses
        if not may_gain_family(req, current):
            return grant
        extra = self.additional_family(req, current[0], grant.pool)
        if isinstance(extra, str):
            events.append(
                Event(
                    EventType.NORMAL,
                    "AdditionalAssignFailed",
                    f"cannot assign additional IP in PreferDualStack: {extra}",
                )
            )
            return grant
        message = f"Assigned additional IP {go_quote(str(extra))}"
        events.append(Event(EventType.NORMAL, "IPAllocated", message))
        return _Grant((current[0], extra), grant.pool)

    def kept(self, req: ServiceRequest, grant: _Grant, events: list[Event]) -> Assignment:
        """The verdict of a service that passed `keep`, after its chance to gain a family."""
        if req.desired_error is None:
            grant = self.gain_family(req, grant, events)
        return Assignment(
            req.key, State.ALLOCATED, Reason.KEPT, grant.addresses, grant.pool.name, events=tuple(events)
        )

    def additional_family(
        self, req: ServiceRequest, existing: IPAddress, pool: PoolPolicy
    ) -> IPAddress | str:
        """MetalLB `AllocateFromPoolForAdditionalFamily`: the address, or the error text."""
        version = 6 if existing.version == 4 else 4
        free = self.free_in(req, pool)
        if version not in free:
            return f"no available IPs in pool {pool.name} for {Family.of(version)} IPFamily"
        try:
            self.assign(req, (existing, free[version]))
        except _Refused as refused:
            return str(refused)
        return free[version]


def _family_of(addresses: Sequence[IPAddress]) -> Family:
    if len(addresses) == 2:
        return Family.DUAL
    return Family.of(addresses[0].version)


def _family_changed(current: Sequence[IPAddress], req: ServiceRequest) -> bool:
    """MetalLB `serviceFamilyChanged`: held addresses of the wrong family are dropped silently."""
    if len(current) > 2 or (len(current) == 2 and current[0].version == current[1].version):
        return True
    held = _family_of(current)
    if held is req.family:
        return False
    return not (req.family is Family.DUAL and req.policy is FamilyPolicy.PREFER_DUAL_STACK)


def phase(req: ServiceRequest, pools: dict[str, PoolPolicy]) -> int:
    if req.desired or req.desired_error is not None:
        return 0
    if req.desired_pool is not None and req.desired_pool in pools:
        return 1
    return 2


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside a pass. A pass over 100,000 services makes several hundred
    thousand objects, none of them in a cycle, and would otherwise set off full collections that walk
    every object of the process (three at 100,000 services: a third of the pass)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def allocate_requests(pools: Sequence[PoolPolicy], requests: Sequence[ServiceRequest]) -> AllocationResult:
    """Allocate addresses to every request; see the module docstring for the order."""
    ordered = sorted(requests, key=lambda r: r.key)
    if not pools:
        return AllocationResult(no_pools(ordered))
    with gc_paused():
        return AllocationResult(tuple(AllocationRun(pools).allocate(ordered)))


def no_pools(ordered: Iterable[Entry]) -> tuple[Assignment, ...]:
    return tuple(Assignment(r.key, State.PENDING, Reason.NO_POOLS, error="pools are empty") for r in ordered)


def _allocate_in(
    run: AllocationRun,
    ordered: Sequence[Entry],
    full: Callable[[RequestedAddress | HeldAddress], ServiceRequest] | None,
) -> list[Assignment]:
    verdicts: list[Assignment | None] = [None] * len(ordered)
    # The queue, by phase, as indexes into `ordered`: each phase in key order. Events of failed keeps
    # are kept aside by index (most queued services have none).
    queue: tuple[list[int], list[int], list[int]] = ([], [], [])
    failed: dict[int, list[Event]] = {}
    kept: list[tuple[int, _Grant, list[Event]]] = []
    pools = run.pools
    keep_requested, keep_address = run.keep_requested, run.keep_address
    for i, entry in enumerate(ordered):
        if isinstance(entry, RequestedAddress):
            queue[0].append(i)  # it holds nothing and requests an address
            continue
        # Kept without a family to gain: final now (the book is as `keep` would leave it).
        if isinstance(entry, HeldAddress):
            done = keep_address(entry)
            req = _full(entry, full) if done is None else None
        else:
            req = entry
            done = keep_requested(req) if req.current else None
        if done is not None:
            verdicts[i] = done
            continue
        assert req is not None
        if req.current:
            grant, events = run.keep(req)
            if grant is not None:
                kept.append((i, grant, events))
                continue
            if events:
                failed[i] = events
        queue[phase(req, pools)].append(i)
    for i, grant, events in kept:
        verdicts[i] = run.kept(_full(ordered[i], full), grant, events)
    take_requested, take_address = run.take_requested, run.take_address
    for waiting in queue:
        for i in waiting:
            entry = ordered[i]
            if isinstance(entry, RequestedAddress):
                verdict = take_address(entry)
                verdicts[i] = verdict if verdict is not None else run.allocate_queued(_full(entry, full), [])
                continue
            req = _full(entry, full)
            prior = failed.get(i)
            verdict = take_requested(req) if prior is None else None
            verdicts[i] = verdict if verdict is not None else run.allocate_queued(req, prior or [])
    return verdicts  # type: ignore[return-value]  # every index was filled above


def _full(
    entry: Entry, full: Callable[[RequestedAddress | HeldAddress], ServiceRequest] | None
) -> ServiceRequest:
    if isinstance(entry, ServiceRequest):
        return entry
    assert full is not None, "a compact entry needs `full`"
    return full(entry)


def may_gain_family(req: ServiceRequest, held: Sequence[IPAddress]) -> bool:
    """A kept PreferDualStack dual-stack service holding one address tries to gain the other family,
    unless it asked for exactly the addresses it holds: MetalLB gains the family anyway and then drops
    both on the next pass because they no longer match the request, a flap we do not copy."""
    dual = req.policy is FamilyPolicy.PREFER_DUAL_STACK and req.family is Family.DUAL
    return dual and len(held) == 1 and not req.desired
