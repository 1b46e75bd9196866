"""Allocation that serves one changed service without a whole pass, with the whole pass's result.

Theory of operation. `allocate` (one pass over every service) costs about 4 us per service, so with
100,000 services every Service change would cost 0.4 s before anything is announced.
`IncrementalAllocator` keeps the address book of its last pass and, when only some services changed,
replays just them, under conditions that make the outcome provably the one a whole pass would give:

- The pools, namespaces and load-balancer class are unchanged (else: whole pass).
- No service of the last result is pending: a freed address could go to a pending service, and which
  one gets it depends on the whole queue (else: whole pass).
- Every unchanged service was kept as it was (reason KEPT, no events, its request's current addresses
  are its addresses): the whole pass would keep it again without touching the book.
- A changed service's held addresses are not shared with another service: in a whole pass its keep
  step runs interleaved with the others' in key order, and only then does the interleaving matter.
  (PreferDualStack services gaining their second family do so after every keep, in key order; they
  are never settled, so they are always among the replayed.)
- A new service holds no addresses yet (a restart re-adopts through a whole pass).

Then removed and changed services leave the book, changed ones go through the keep steps, and the
queue (failed keeps and new services) is served in the whole pass's order. When more than a quarter
changed (the daemon's second call, when every first verdict becomes KEPT), a whole pass is cheaper
and runs instead. Tests compare this with `allocate` over random change sequences.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter

from lbd.allocator.addresses import IPAddress
from lbd.allocator.allocator import AllocationRun, gc_paused, may_gain_family, no_pools
from lbd.allocator.inputs import RequestBuilder, pool_policy
from lbd.allocator.requests import (
    AllocationResult,
    Assignment,
    Family,
    FamilyPolicy,
    HeldAddress,
    HeldAddresses,
    Reason,
    ServiceRequest,
    State,
)
from lbd.config.frozen import FrozenMap
from lbd.config.model import IPAddressPool, Namespace, Service


@dataclass(frozen=True, slots=True)
class _Basis:
    pools: tuple[IPAddressPool, ...]
    namespaces: tuple[Namespace, ...]
    load_balancer_class: str | None


# What the allocator remembers per service besides its verdict, one byte in a bytearray aligned with
# the (key-sorted) verdicts: how the addresses the caller remembered compare with the verdict's, and
# whether a whole pass would do more than keep the service as it is.
_HELD_NONE = 0  # the caller remembered nothing
_HELD_SAME = 1  # it remembered exactly the verdict's addresses
_HELD_OTHER = 2  # something else, kept in `_held_other`
_HELD = 3
_UNSETTLED = 4
_ONLY_UNSETTLED = bytes(b & _UNSETTLED for b in range(256))

_WHOLE_SHARE = 4
"""A whole pass instead of a replay once more than a quarter of the services (and more than a few)
changed."""

_FEW = 64
"""Up to this many changed services are merged into the verdicts one by one, more by one sort."""


def _key_of(verdict: Assignment) -> str:
    return verdict.key


class IncrementalAllocator:
    """`allocate` with memory. Call `allocate` with the full inputs every time; `last_was_whole`
    says which path the last call took (for tests and metrics).

    Memory per service is its verdict (shared with the result returned), one flag byte, and its share
    of the address book. The services given are remembered by reference when they are a FrozenMap
    (immutable: the next call can compare Service objects by identity), else copied."""

    __slots__ = (
        "_basis",
        "_flags",
        "_held_other",
        "_pending",
        "_result",
        "_run",
        "_seen_held",
        "_seen_version",
        "_services",
        "last_was_whole",
    )

    def __init__(self) -> None:
        self._basis: _Basis | None = None
        self._run: AllocationRun | None = None
        self._services: Mapping[str, Service] = {}
        self._result: tuple[Assignment, ...] = ()
        self._flags = bytearray()
        self._held_other: dict[str, tuple[IPAddress, ...]] = {}
        # How many verdicts are pending: any makes the next call a whole pass.
        self._pending = 0
        # The HeldAddresses of the last call and its version then.
        self._seen_held: HeldAddresses | None = None
        self._seen_version = 0
        self.last_was_whole = True

    def allocate(
        self,
        pools: Sequence[IPAddressPool],
        services: Mapping[str, Service],
        *,
        namespaces: Iterable[Namespace] = (),
        load_balancer_class: str | None = None,
        previous: Mapping[str, Sequence[IPAddress]] | None = None,
    ) -> AllocationResult:
        """Same contract and result as `lbd.allocator.allocate`; `services` is keyed by namespace/name."""
        basis = _Basis(tuple(pools), tuple(namespaces), load_balancer_class)
        remembered = previous or {}
        with gc_paused():
            changed = self._changes(basis, services, remembered)
            if changed is None or not self._replay(changed, services, remembered):
                self._whole(basis, services, remembered)
        self._basis = basis
        self._services = services if isinstance(services, FrozenMap) else dict(services)
        if isinstance(remembered, HeldAddresses):
            self._seen_held, self._seen_version = remembered, remembered.version
        else:
            self._seen_held = None
        return AllocationResult(self._result)

    def _unchanged(
        self, services: Mapping[str, Service], remembered: Mapping[str, Sequence[IPAddress]]
    ) -> bool:
        """Nothing to replay, known without a look at any service: the same (immutable) services, the
        same HeldAddresses not changed since, and no verdict a whole pass would change."""
        return (
            services is self._services
            and remembered is self._seen_held
            and remembered.version == self._seen_version
            and _UNSETTLED not in self._flags.translate(_ONLY_UNSETTLED)
        )

    def _changes(
        self, basis: _Basis, services: Mapping[str, Service], remembered: Mapping[str, Sequence[IPAddress]]
    ) -> set[str] | None:
        """Keys to replay, or None when only a whole pass gives the right answer."""
        if self._run is None or basis != self._basis or self._pending:
            return None
        if self._unchanged(services, remembered):
            return set()
        lbc = basis.load_balancer_class
        old = self._services
        changed: set[str] = set()
        if services is not old:
            added = 0
            # The old services in step with the new while their keys line up (a change replaces,
            # adds at the end or removes one entry), saving a lookup per service; `get` after.
            old_pairs: Iterator[tuple[str, Service]] | None = iter(old.items())
            for key, service in services.items():
                if old_pairs is not None:
                    pair = next(old_pairs, None)
                    if pair is not None and pair[0] == key:
                        before: Service | None = pair[1]
                    else:
                        old_pairs = None
                        before = old.get(key)
                else:
                    before = old.get(key)
                if before is service:
                    continue
                if before is None:
                    added += 1
                ours = service.type == "LoadBalancer" and service.load_balancer_class == lbc
                was = (
                    before is not None and before.type == "LoadBalancer" and before.load_balancer_class == lbc
                )
                # Field comparison only when the objects differ (a reload builds equal new ones).
                if (ours or was) and not (ours and was and before == service):
                    changed.add(key)
            if len(old) != len(services) - added:
                changed.update(k for k in old if k not in services and self._holds(k))
        held_other = self._held_other
        # Remembered addresses in verdict form compare without building any address.
        packed_of = remembered.packed if isinstance(remembered, HeldAddresses) else None
        for verdict, flag in zip(self._result, self._flags, strict=True):
            key = verdict.key
            if flag & _UNSETTLED:
                changed.add(key)
                continue
            code = flag & _HELD
            if packed_of is not None:
                packed = packed_of(key)
                if packed is None:
                    same = code == _HELD_NONE
                elif code == _HELD_SAME:
                    same = verdict.holds_packed(packed)
                else:
                    same = code == _HELD_OTHER and remembered[key] == held_other[key]
            else:
                held = remembered.get(key)
                if held is None:
                    same = code == _HELD_NONE
                elif code == _HELD_SAME:
                    same = verdict.holds(held)
                else:
                    same = code == _HELD_OTHER and tuple(held) == held_other[key]
            if not same:
                changed.add(key)
        return changed

    def _holds(self, key: str) -> bool:
        """Whether the last result has a verdict for `key`."""
        return self._verdict(key) is not None

    def _verdict(self, key: str) -> Assignment | None:
        result = self._result
        i = bisect.bisect_left(result, key, key=_key_of)
        return result[i] if i < len(result) and result[i].key == key else None

    def _replay(
        self,
        changed: set[str],
        services: Mapping[str, Service],
        remembered: Mapping[str, Sequence[IPAddress]],
    ) -> bool:
        """Serve only `changed`; False (and nothing touched) when a condition above does not hold, or
        when so many changed that a whole pass is cheaper (releasing each address from the book costs
        up to a pass over the book; the daemon's first call with its own memory replays everything)."""
        if not changed:
            self.last_was_whole = False
            return True  # the same result, the same tuple
        if len(changed) > _FEW and len(changed) * _WHOLE_SHARE > len(self._result):
            return False
        run = self._run
        assert run is not None and self._basis is not None
        lbc = self._basis.load_balancer_class
        book = run.book
        builder = RequestBuilder()
        before: dict[str, Assignment | None] = {}
        replayed: dict[str, ServiceRequest] = {}
        for key in changed:
            old = before[key] = self._verdict(key)
            # No verdict is pending here, so the book holds exactly each verdict's addresses.
            held = old.addresses if old is not None else ()
            if any(len(book.users_of(a)) > 1 for a in held):
                return False
            service = services.get(key)
            if service is not None and service.type == "LoadBalancer" and service.load_balancer_class == lbc:
                req = replayed[key] = builder.request(key, service, remembered.get(key))
                if req.current != held:
                    return False
        self.last_was_whole = False
        for key, old in before.items():
            if old is not None:
                book.unassign(key, old.addresses)
        # The whole pass's steps over just these: keep, family gains, then the queue in its order.
        ordered = [replayed[k] for k in sorted(replayed)]
        updates: dict[str, tuple[Assignment, int] | None] = dict.fromkeys(changed)
        for req, verdict in zip(ordered, run.allocate(ordered), strict=True):
            updates[req.key] = (verdict, self._flag(verdict, req, remembered.get(req.key)))
            if verdict.state is not State.ALLOCATED:
                self._pending += 1
        for key, update in updates.items():
            if update is None:
                self._held_other.pop(key, None)
        self._merge(updates)
        return True

    def _merge(self, updates: Mapping[str, tuple[Assignment, int] | None]) -> None:
        """Put new verdicts (None: gone) in place, keeping the verdicts sorted by key."""
        if len(updates) <= _FEW:
            result, flags = list(self._result), bytearray(self._flags)
            for key, update in updates.items():
                i = bisect.bisect_left(result, key, key=_key_of)
                present = i < len(result) and result[i].key == key
                if update is None:
                    if present:
                        del result[i], flags[i]
                elif present:
                    result[i], flags[i] = update
                else:
                    result.insert(i, update[0])
                    flags.insert(i, update[1])
            self._result, self._flags = tuple(result), flags
            return
        merged = [
            (verdict, flag)
            for verdict, flag in zip(self._result, self._flags, strict=True)
            if verdict.key not in updates
        ]
        merged.extend(u for u in updates.values() if u is not None)
        merged.sort(key=lambda pair: pair[0].key)
        self._result = tuple(verdict for verdict, _ in merged)
        self._flags = bytearray(flag for _, flag in merged)

    def _flag(self, verdict: Assignment, req: ServiceRequest, held: Sequence[IPAddress] | None) -> int:
        """The flag byte of a fresh verdict; records remembered addresses that differ from it."""
        key = req.key
        self._held_other.pop(key, None)
        if held is None:
            flag = _HELD_NONE
        elif verdict.holds(held):
            flag = _HELD_SAME
        else:
            flag = _HELD_OTHER
            self._held_other[key] = tuple(held)
        return flag if _settled(verdict, req) else flag | _UNSETTLED

    def _whole(
        self, basis: _Basis, services: Mapping[str, Service], remembered: Mapping[str, Sequence[IPAddress]]
    ) -> None:
        self.last_was_whole = True
        self._held_other = {}
        lbc = basis.load_balancer_class
        builder = RequestBuilder()
        # Built in the caller's order and then sorted by key (entries start with it): no dictionary
        # of our services on the side.
        # Remembered addresses as stored, without building address objects where it can be.
        held_of = remembered.packed if isinstance(remembered, HeldAddresses) else remembered.get
        ordered = [
            builder.entry(k, s, held_of(k))
            for k, s in services.items()
            if s.type == "LoadBalancer" and s.load_balancer_class == lbc
        ]
        ordered.sort(key=itemgetter(0))
        policies = [pool_policy(p, basis.namespaces) for p in basis.pools]
        if not policies:
            self._run = None
            self._result = no_pools(ordered)
            self._flags = bytearray(len(ordered))
            self._pending = len(ordered)
            return
        self._run = AllocationRun(policies)
        verdicts = self._run.allocate(ordered, builder.full)
        self._result = tuple(verdicts)
        flags = bytearray(len(ordered))
        for i, (verdict, req) in enumerate(zip(verdicts, ordered, strict=True)):
            if (
                isinstance(req, HeldAddress)
                and verdict.reason is Reason.KEPT
                and verdict.holds_packed(req.value)
                and not verdict.events
            ):
                # Kept as remembered, requesting nothing else, single-stack: `_flag`'s answer.
                flags[i] = _HELD_SAME
                continue
            # Whether the caller remembered something (then the request's current addresses).
            given = held_of(req.key) is not None
            if not given and verdict.reason is not Reason.KEPT:
                flags[i] = _HELD_NONE | _UNSETTLED  # `_flag`'s answer, in short
            else:
                # Never a RequestedAddress (it holds nothing, so it is not KEPT).
                full = req if isinstance(req, ServiceRequest) else builder.full(req)
                flags[i] = self._flag(verdict, full, full.current if given else None)
        self._flags = flags
        self._pending = sum(1 for v in verdicts if v.state is not State.ALLOCATED)


def _settled(verdict: Assignment, req: ServiceRequest) -> bool:
    """Would a whole pass keep this service again without any change or event?"""
    return (
        verdict.state is State.ALLOCATED
        and verdict.reason is Reason.KEPT
        and not verdict.events
        and verdict.holds(req.current)
        and req.desired_error is None
        and not (
            req.policy is FamilyPolicy.PREFER_DUAL_STACK
            and req.family is Family.DUAL
            and may_gain_family(req, verdict.addresses)
        )
    )
