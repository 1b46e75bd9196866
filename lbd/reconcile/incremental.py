"""`reconcile` with memory, for the daemon: one Service change costs about its own work, not a pass
over every service.

Theory of operation. The desired state of a node is a per-service computation (allocation verdict, L2
election, BGP decision) plus two merges (the sorted L2 answers, the per-peer route table). When the
inputs that every service depends on are unchanged (config, nodes, live speakers, interfaces, node
name, mode), a service whose verdict, Service object and EndpointSlices are the same objects as last
time has the same decisions, so only the others are recomputed; their old routes leave the table and
the new ones enter it. Anything else resets the memory and computes every service. Allocation has its
own memory (`lbd.allocator.incremental`). Tests compare every step with `reconcile`.

At 100,000 services the memory is mostly the last result itself: its states (in the allocations'
namespace/name order, so one walk pairs them with the next allocations), the route table's sorted
routes, and the services and slices mappings of the last call. Beyond those, only services with
EndpointSlices cost an entry each in the slice index.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from lbd.allocator.incremental import IncrementalAllocator
from lbd.allocator.requests import AllocationResult
from lbd.config.frozen import FrozenMap
from lbd.config.model import EndpointSlice, Service
from lbd.reconcile import bgp
from lbd.reconcile.core import (
    Context,
    answer_order,
    context_of,
    decide,
    eligible_interfaces,
    live_nodes,
    route_table,
    withdraw,
)
from lbd.reconcile.types import DesiredState, L2Announcement, ServiceState, Snapshot


class Reconciler:
    """Call `reconcile` with each new snapshot; the result equals `lbd.reconcile.reconcile(snapshot)`.
    `recomputed` is how many services the last call decided afresh (for tests and benchmarks)."""

    __slots__ = (
        "_allocator",
        "_answers",
        "_answers_out",
        "_basis",
        "_ctx",
        "_in_order",
        "_seen",
        "_slices",
        "_slices_of",
        "_states",
        "_table",
        "recomputed",
    )

    def __init__(self) -> None:
        self._allocator = IncrementalAllocator()
        self._basis: tuple[object, ...] | None = None
        self._ctx: Context | None = None
        self._table = bgp.RouteTable(())
        # The services mapping of the last call: every state was decided with (an equal copy of) the
        # Service it holds, so the states need not hold their Service again.
        self._seen: Mapping[str, Service] = {}
        # The last result's states, in its allocations' order (by namespace/name): the same tuple the
        # DesiredState holds, walked beside the next allocations instead of an index by key.
        self._states: tuple[ServiceState, ...] = ()
        self._in_order = True
        self._answers: dict[str, tuple[L2Announcement, ...]] = {}
        self._answers_out: tuple[L2Announcement, ...] | None = None
        self._slices: Mapping[str, EndpointSlice] = {}
        # namespace/name -> its EndpointSlices, in the order they arrived.
        # (A lone slice bare: most services have one, and there may be 100,000 services.)
        self._slices_of: dict[str, EndpointSlice | tuple[EndpointSlice, ...]] = {}
        self.recomputed = 0

    def reconcile(self, snapshot: Snapshot) -> DesiredState:
        config, world = snapshot.config, snapshot.world
        allocations = self._allocator.allocate(
            tuple(config.pools[n] for n in sorted(config.pools)),
            world.services,
            namespaces=world.namespaces.values(),
            load_balancer_class=snapshot.load_balancer_class,
            previous=snapshot.previous,
        )
        return self.desired_state(snapshot, allocations)

    def desired_state(self, snapshot: Snapshot, allocations: AllocationResult) -> DesiredState:
        """`lbd.reconcile.desired_state` with memory, for a caller that allocates elsewhere (the
        Kubernetes speaker announces what the controller wrote in Service status)."""
        config, world = snapshot.config, snapshot.world
        basis = (
            config,
            world.nodes,
            live_nodes(snapshot),
            tuple(sorted(eligible_interfaces(snapshot).items())),
            snapshot.node,
            snapshot.standalone,
            snapshot.load_balancer_class,
        )
        if basis != self._basis or self._ctx is None or not self._in_order:
            self._basis = basis
            ctx = context_of(snapshot)
            self._reset(ctx)
        else:
            # Same config and nodes: decisions read only those from the snapshot.
            ctx = dataclasses.replace(self._ctx, snapshot=snapshot)
        self._ctx = ctx
        touched = self._update_slices(world.endpoint_slices)

        current = world.services
        services = dict(current.items())
        # Same mapping as last time (the daemon's steady state): every Service is the one decided with.
        seen = None if self._seen is current else dict(self._seen.items())
        ordered = self._walk(ctx, allocations, services, seen, touched)
        if ordered is None:
            # Not in namespace/name order (AllocationResult promises it): decide everything afresh.
            self._reset(ctx)
            ordered = self._walk(ctx, allocations, services, None, touched)
            assert ordered is not None, "nothing to walk beside: any order goes"
        self._seen = current if isinstance(current, FrozenMap) else services
        self._states = ordered

        if self._answers_out is None:
            self._answers_out = tuple(
                sorted((a for answers in self._answers.values() for a in answers), key=answer_order)
            )
        return DesiredState(snapshot.node, allocations, ordered, self._answers_out, self._table.freeze())

    def _reset(self, ctx: Context) -> None:
        self._table = route_table(ctx)
        self._states = ()
        self._answers.clear()
        self._answers_out = None

    def _walk(
        self,
        ctx: Context,
        allocations: AllocationResult,
        services: Mapping[str, Service],
        seen: Mapping[str, Service] | None,
        touched: set[str],
    ) -> tuple[ServiceState, ...] | None:
        """Every service's state, reusing the last ones where nothing they depend on changed. Both
        sequences are sorted by key, so one pass pairs them; None if the allocations are not sorted
        (only then does the pairing not work)."""
        self.recomputed = 0
        self._in_order = True
        prev, table, slices_of = self._states, self._table, self._slices_of
        count, j = len(prev), 0
        ordered: list[ServiceState] = []
        last = ""
        # The hot loop of a change: 10,000 unchanged Services must cost a few identity checks each.
        for verdict in allocations.services:
            key = verdict.key
            if key <= last:
                if count:
                    return None
                self._in_order = False
            last = key
            service = services[key]
            before: ServiceState | None = None
            while j < count:
                candidate = prev[j]
                if candidate.allocation is verdict:
                    before = candidate
                    j += 1
                    break
                held = candidate.allocation.key
                if held < key:
                    self._drop(candidate)  # a service that went away
                    j += 1
                    continue
                if held == key:
                    before = candidate
                    j += 1
                break
            if before is not None:
                was = service if seen is None else seen.get(key)
                if before.allocation is verdict and was is service and key not in touched:
                    ordered.append(before)
                    continue
                if key not in touched and before.allocation == verdict and was == service:
                    ordered.append(before)
                    continue
                withdraw(before, table)
            self.recomputed += 1
            slices = slices_of.get(key, ())
            if not isinstance(slices, tuple):
                slices = (slices,)
            state, answers = decide(ctx, verdict, service, slices, table)
            ordered.append(state)
            if answers or key in self._answers:
                self._answers[key] = answers
                self._answers_out = None
        for candidate in prev[j:]:
            self._drop(candidate)
        return tuple(ordered)

    def _drop(self, state: ServiceState) -> None:
        withdraw(state, self._table)
        if self._answers.pop(state.allocation.key, None) is not None:
            self._answers_out = None

    def _update_slices(self, slices: Mapping[str, EndpointSlice]) -> set[str]:
        """Bring the per-service slice index up to date; the services (namespace/name) whose slices
        changed."""
        touched: set[str] = set()
        if slices is self._slices:
            return touched
        # Plain dict lookups: a FrozenMap's are Python calls, and this walks every slice.
        old = dict(self._slices.items())
        arrived = 0
        for key, now in slices.items():
            before = old.get(key)
            if before is now or before == now:
                continue
            if before is None:
                arrived += 1
            else:
                self._index(before, add=False, touched=touched)
            self._index(now, add=True, touched=touched)
        if len(old) + arrived > len(slices):
            # Some slices went away (only then is the second walk needed).
            current = dict(slices.items())
            for key, before in old.items():
                if key not in current:
                    self._index(before, add=False, touched=touched)
        self._slices = slices
        return touched

    def _index(self, item: EndpointSlice, *, add: bool, touched: set[str]) -> None:
        if item.service_name is None:
            return
        service_key = f"{item.namespace}/{item.service_name}"
        touched.add(service_key)
        entries = self._slices_of.get(service_key, ())
        if not isinstance(entries, tuple):
            entries = (entries,)
        if add:
            self._slices_of[service_key] = (*entries, item) if entries else item
            return
        # The slice indexed may be an equal copy of `item` (an equal update is not re-indexed).
        kept = tuple(s for s in entries if s is not item and s != item)
        if len(kept) > 1:
            self._slices_of[service_key] = kept
        elif kept:
            self._slices_of[service_key] = kept[0]
        else:
            self._slices_of.pop(service_key, None)
