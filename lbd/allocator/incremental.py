"""Allocation that serves one changed service without a whole pass, with the whole pass's result.

Theory of operation. `allocate` (one pass over every service) costs about 25 us per service, so with
10,000 services every Service change would cost a quarter of a second before anything is announced.
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
queue (failed keeps and new services) is served in the whole pass's order. Tests compare this with
`allocate` over random change sequences.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from lbd.allocator.addresses import IPAddress
from lbd.allocator.allocator import AllocationRun, may_gain_family
from lbd.allocator.inputs import is_ours, pool_policy, service_request
from lbd.allocator.requests import (
    AllocationResult,
    Assignment,
    Reason,
    ServiceRequest,
    State,
)
from lbd.config.model import IPAddressPool, Namespace, Service


@dataclass(frozen=True, slots=True)
class _Basis:
    pools: tuple[IPAddressPool, ...]
    namespaces: tuple[Namespace, ...]
    load_balancer_class: str | None


# A service with the addresses the caller remembers for it; a plain tuple because 10,000 of them are
# built on every call.
_Input = tuple[Service, tuple[IPAddress, ...] | None]


class IncrementalAllocator:
    """`allocate` with memory. Call `allocate` with the full inputs every time; `last_was_whole`
    says which path the last call took (for tests and metrics)."""

    __slots__ = (
        "_basis",
        "_inputs",
        "_keys",
        "_pending",
        "_requests",
        "_run",
        "_unsettled",
        "_verdicts",
        "last_was_whole",
    )

    def __init__(self) -> None:
        self._basis: _Basis | None = None
        self._run: AllocationRun | None = None
        self._inputs: dict[str, _Input] = {}
        self._requests: dict[str, ServiceRequest] = {}
        self._verdicts: dict[str, Assignment] = {}
        self._keys: list[str] = []
        # Keys a whole pass would not simply keep again, and keys left pending: both kept up to date
        # so that a call costs one dictionary scan, not a check of every verdict.
        self._unsettled: set[str] = set()
        self._pending: set[str] = set()
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
        inputs: dict[str, _Input] = {}
        for key, service in services.items():
            if is_ours(service, load_balancer_class):
                held = remembered.get(key)
                inputs[key] = (service, tuple(held) if held is not None else None)
        changed = self._changes(basis, inputs)
        if changed is None or not self._replay(changed, inputs):
            self._whole(basis, inputs)
        self._basis = basis
        self._inputs = inputs
        return AllocationResult(tuple(self._verdicts[k] for k in self._keys))

    def _changes(self, basis: _Basis, inputs: Mapping[str, _Input]) -> set[str] | None:
        """Keys to replay, or None when only a whole pass gives the right answer."""
        if self._run is None or basis != self._basis:
            return None
        if self._pending:
            return None
        old = self._inputs
        changed = {k for k in old if k not in inputs}
        for key, now in inputs.items():
            before = old.get(key)
            # Tuple comparison tries identity first, so unchanged objects cost no field comparison.
            if before != now:
                changed.add(key)
        changed.update(self._unsettled)
        return changed

    def _replay(self, changed: set[str], inputs: Mapping[str, _Input]) -> bool:
        """Serve only `changed`; False (and nothing touched) when a condition above does not hold."""
        run = self._run
        assert run is not None
        book = run.book
        replayed: dict[str, ServiceRequest] = {}
        for key in changed:
            held = book.addresses_of(key)
            if any(len(use.services) > 1 for a in held if (use := book.use_of(a)) is not None):
                return False
            if key in inputs:
                req = replayed[key] = _request(inputs[key])
                if key not in self._verdicts and req.current:
                    return False
                if key in self._verdicts and tuple(req.current) != held:
                    return False
        self.last_was_whole = False
        for key in changed:
            book.unassign(key)
            if key not in inputs:
                del self._verdicts[key]
                del self._requests[key]
                self._keys.pop(bisect.bisect_left(self._keys, key))
        for key, req in replayed.items():
            if key not in self._requests:
                bisect.insort(self._keys, key)
            self._requests[key] = req
        # The whole pass's steps over just these: keep, family gains, then the queue in its order.
        self._verdicts.update(run.allocate([replayed[k] for k in sorted(replayed)]))
        for key in changed:
            self._unsettled.discard(key)
            verdict = self._verdicts.get(key)
            if verdict is None:
                continue
            if verdict.state is not State.ALLOCATED:
                self._pending.add(key)
            if not _settled(verdict, self._requests[key]):
                self._unsettled.add(key)
        return True

    def _whole(self, basis: _Basis, inputs: Mapping[str, _Input]) -> None:
        self.last_was_whole = True
        policies = [pool_policy(p, basis.namespaces) for p in basis.pools]
        self._requests = {k: _request(i) for k, i in inputs.items()}
        self._keys = sorted(self._requests)
        ordered = [self._requests[k] for k in self._keys]
        if not policies:
            self._run = None
            self._verdicts = {
                r.key: Assignment(r.key, State.PENDING, Reason.NO_POOLS, error="pools are empty")
                for r in ordered
            }
            self._pending = set(self._verdicts)
            return
        self._run = AllocationRun(policies)
        self._verdicts = self._run.allocate(ordered)
        self._pending = {k for k, v in self._verdicts.items() if v.state is not State.ALLOCATED}
        self._unsettled = {k for k, v in self._verdicts.items() if not _settled(v, self._requests[k])}


def _request(given: _Input) -> ServiceRequest:
    return service_request(given[0], given[1])


def _settled(verdict: Assignment, req: ServiceRequest) -> bool:
    """Would a whole pass keep this service again without any change or event?"""
    return (
        verdict.state is State.ALLOCATED
        and verdict.reason is Reason.KEPT
        and not verdict.events
        and tuple(req.current) == verdict.addresses
        and req.desired_error is None
        and not may_gain_family(req, verdict.addresses)
    )
