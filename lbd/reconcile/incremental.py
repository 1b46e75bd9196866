"""`reconcile` with memory, for the daemon: one Service change costs about its own work, not a pass
over every service.

Theory of operation. The desired state of a node is a per-service computation (allocation verdict, L2
election, BGP decision) plus two merges (the sorted L2 answers, the per-peer route table). When the
inputs that every service depends on are unchanged (config, nodes, live speakers, interfaces, node
name, mode), a service whose verdict, Service object and EndpointSlices are the same objects as last
time has the same decisions, so only the others are recomputed; their old routes leave the table and
the new ones enter it. Anything else resets the memory and computes every service. Allocation has its
own memory (`lbd.allocator.incremental`). Tests compare every step with `reconcile`.
"""

from __future__ import annotations

from collections.abc import Mapping

from lbd.allocator.incremental import IncrementalAllocator
from lbd.allocator.requests import AllocationResult, Assignment
from lbd.config.model import EndpointSlice, Service
from lbd.reconcile import bgp
from lbd.reconcile.core import Context, answer_order, context_of, decide, eligible_interfaces, live_nodes
from lbd.reconcile.types import DesiredState, L2Announcement, ServiceState, Snapshot

_ServiceKey = tuple[str, str]


class Reconciler:
    """Call `reconcile` with each new snapshot; the result equals `lbd.reconcile.reconcile(snapshot)`.
    `recomputed` is how many services the last call decided afresh (for tests and benchmarks)."""

    __slots__ = (
        "_allocator",
        "_answers",
        "_answers_out",
        "_basis",
        "_ctx",
        "_inputs",
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
        self._inputs: dict[str, tuple[Assignment, Service]] = {}
        self._states: dict[str, ServiceState] = {}
        self._answers: dict[str, tuple[L2Announcement, ...]] = {}
        self._answers_out: tuple[L2Announcement, ...] | None = None
        self._slices: Mapping[str, EndpointSlice] = {}
        self._slices_of: dict[_ServiceKey, dict[str, EndpointSlice]] = {}
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
        if basis != self._basis or self._ctx is None:
            self._basis = basis
            ctx = context_of(snapshot)
            self._table = bgp.RouteTable(ctx.peers)
            self._inputs.clear()
            self._states.clear()
            self._answers.clear()
            self._answers_out = None
        else:
            # Same config and nodes: decisions read only those from the snapshot.
            ctx = Context(snapshot, self._ctx.live, self._ctx.interfaces, self._ctx.peers)
        self._ctx = ctx
        touched = self._update_slices(world.endpoint_slices)

        self.recomputed = 0
        services = dict(world.services.items())
        inputs, states = self._inputs, self._states
        added = False
        # The hot loop of a change: 10,000 unchanged Services must cost one lookup and two identity
        # checks each.
        for verdict in allocations.services:
            key = verdict.key
            service = services[key]
            before = inputs.get(key)
            if (
                before is not None
                and before[0] is verdict
                and before[1] is service
                and (not touched or (service.namespace, service.name) not in touched)
            ):
                continue
            service_key = (service.namespace, service.name)
            if before is not None and service_key not in touched and before == (verdict, service):
                continue
            added = added or before is None
            self.recomputed += 1
            self._table.remove(key)
            slices = tuple(self._slices_of.get(service_key, {}).values())
            state, answers = decide(ctx, verdict, service, slices, self._table)
            inputs[key] = (verdict, service)
            states[key] = state
            if answers or key in self._answers:
                self._answers[key] = answers
                self._answers_out = None
        if len(states) > len(allocations.services) or added:
            seen = {v.key for v in allocations.services}
            for key in [k for k in states if k not in seen]:
                self._table.remove(key)
                del states[key]
                del inputs[key]
                if self._answers.pop(key, None) is not None:
                    self._answers_out = None

        if self._answers_out is None:
            self._answers_out = tuple(
                sorted((a for answers in self._answers.values() for a in answers), key=answer_order)
            )
        ordered = tuple(states[v.key] for v in allocations.services)
        return DesiredState(snapshot.node, allocations, ordered, self._answers_out, self._table.freeze())

    def _update_slices(self, slices: Mapping[str, EndpointSlice]) -> set[_ServiceKey]:
        """Bring the per-service slice index up to date; the services whose slices changed."""
        touched: set[_ServiceKey] = set()
        old = self._slices
        if slices is old:
            return touched
        for key, now in slices.items():
            before = old.get(key)
            if before is now or before == now:
                continue
            if before is not None:
                self._index(key, before, add=False, touched=touched)
            self._index(key, now, add=True, touched=touched)
        for key, before in old.items():
            if key not in slices:
                self._index(key, before, add=False, touched=touched)
        self._slices = slices
        return touched

    def _index(self, key: str, item: EndpointSlice, *, add: bool, touched: set[_ServiceKey]) -> None:
        if item.service_name is None:
            return
        service_key = (item.namespace, item.service_name)
        touched.add(service_key)
        entries = self._slices_of.setdefault(service_key, {})
        if add:
            entries[key] = item
            return
        entries.pop(key, None)
        if not entries:
            del self._slices_of[service_key]
