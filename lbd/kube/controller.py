"""The controller role: address allocation for LoadBalancer Services, MetalLB's `controller`.

Theory of operation. One instance leads (a Lease, see `lbd.kube.lease`); only the leader writes. On
every change of the watched objects (debounced) the leader runs the allocator over all Services of
its class (`lbd.allocator.incremental`: the result of `lbd.reconcile.allocate_snapshot`, at the cost
of what changed) and makes each Service match its verdict:

- `metadata.annotations["metallb.io/ip-allocated-from-pool"]` names the pool (removed when pending),
- `status.loadBalancer.ingress` lists the addresses (emptied when pending), through the status
  subresource,
- the allocator's Events (IPAllocated, AllocationFailed, ClearAssignment, ...) are recorded on the
  Service when its verdict changes.

Re-adoption: a new leader starts with no memory, so the allocator keeps every address a Service's
status already holds while the config still allows it. Afterwards the leader remembers its last
verdicts (`previous`), because its own writes reach the watch only later and must not be allocated
twice. Writes are read-modify-write with the resourceVersion; a 409 Conflict re-reads the Service and
applies the same change to the fresh copy. A Service that stops being ours (type or class changed)
loses the annotation and the ingress we gave it.

Fail static: a write that fails (API outage) is retried after `retry_delay`; nothing is cleared
because the API is unreachable. An invalid config is rejected whole by `KubeSources`, the leader
records a Warning Event on each object at fault, and allocation goes on with the last good config.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from lbd.allocator import ALLOCATED_FROM_POOL, AllocationResult, Assignment, HeldAddresses, State
from lbd.allocator.addresses import PoolSpace, Span
from lbd.allocator.incremental import IncrementalAllocator
from lbd.allocator.inputs import is_ours
from lbd.config import Config, ConfigError, IPAddressPool
from lbd.config.model import IPAddress
from lbd.kube.api import NOT_FOUND, RETRYABLE, KubeApi
from lbd.kube.events import WARNING, EventRecorder, ObjectRef
from lbd.kube.pacing import PacedLoop
from lbd.kube.reflector import ApiStatusError
from lbd.kube.resources import SERVICES
from lbd.kube.sources import ConfigUpdate, KubeSources
from lbd.kube.store import Obj
from lbd.metrics import Sample

log = structlog.get_logger("lbd.kube.controller")

INVALID_CONFIG = "InvalidConfig"
LEGACY_ALLOCATED_FROM_POOL = "metallb.universe.tf/ip-allocated-from-pool"


@dataclass(frozen=True, slots=True)
class _Verdict:
    state: State
    addresses: tuple[IPAddress, ...]
    pool: str | None
    error: str | None

    @classmethod
    def of(cls, a: Assignment) -> _Verdict:
        return cls(a.state, a.addresses, a.pool, a.error)


def ingress_ips(service: Obj) -> list[str]:
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return [str(i["ip"]) for i in ingress if isinstance(i, dict) and i.get("ip")]


def _annotations_for(service: Obj, pool: str | None) -> dict[str, Any] | None:
    """The Service's annotations with the pool annotation set (removed for None); None when already so."""
    current: dict[str, Any] = (service.get("metadata") or {}).get("annotations") or {}
    annotations = {k: v for k, v in current.items() if k != LEGACY_ALLOCATED_FROM_POOL}
    if pool is None:
        annotations.pop(ALLOCATED_FROM_POOL, None)
    else:
        annotations[ALLOCATED_FROM_POOL] = pool
    return None if annotations == current else annotations


def with_annotation(service: Obj, pool: str | None) -> Obj | None:
    """The Service with the pool annotation set (or removed for None); None when already so."""
    annotations = _annotations_for(service, pool)
    if annotations is None:
        return None
    service.setdefault("metadata", {})["annotations"] = annotations
    return service


def with_ingress(service: Obj, ips: list[str]) -> Obj | None:
    """The Service with exactly these ingress addresses; None when it already has them."""
    if ingress_ips(service) == ips:
        return None
    status = service.setdefault("status", {})
    status["loadBalancer"] = {"ingress": [{"ip": ip} for ip in ips]} if ips else {}
    return service


class ControllerRole:
    def __init__(
        self,
        sources: KubeSources,
        api: KubeApi,
        events: EventRecorder,
        *,
        load_balancer_class: str | None = None,
        debounce: float = 0.05,
        retry_delay: float = 1.0,
    ) -> None:
        self.sources = sources
        self.api = api
        self.events = events
        self.load_balancer_class = load_balancer_class
        self.debounce = debounce
        self.leading = False
        self.passes = 0
        self.writes = 0
        # What the last pass allocated, sharing the verdicts' storage (no address objects per Service).
        self._previous = HeldAddresses()
        # The verdicts `_previous` was last brought up to date with.
        self._verdicts: tuple[Assignment, ...] = ()
        self._allocator = IncrementalAllocator()
        self._last: tuple[Config, AllocationResult] | None = None
        self._reported: dict[str, _Verdict] = {}
        self._reported_config: int | None = None
        self._loop = PacedLoop(
            "kube controller",
            lambda: self.leading and self.sources.informers.synced,
            self.reconcile,
            debounce=debounce,
            retry_delay=retry_delay,
        )

    # ---- lifecycle (the elector calls on_started / on_stopped)

    def on_started(self) -> None:
        self.leading = True
        # A new term starts from the Services' status: re-adoption, no memory of an older term.
        self._previous = HeldAddresses()
        self._verdicts = ()
        self._allocator = IncrementalAllocator()
        self._reported = {}
        self._reported_config = None
        self.wake()

    def on_stopped(self) -> None:
        self.leading = False
        self._last = None

    def metric_samples(self) -> list[Sample]:
        """MetalLB's allocator gauges, from the leader's last pass (a standby reports none)."""
        if self._last is None:
            return []
        config, allocations = self._last
        in_use: dict[str, set[IPAddress]] = {name: set() for name in config.pools}
        for a in allocations.services:
            if a.state is State.ALLOCATED and a.pool in in_use:
                in_use[a.pool].update(a.addresses)
        out: list[Sample] = []
        for name, pool in sorted(config.pools.items()):
            out.append(Sample("metallb_allocator_addresses_total", {"pool": name}, pool_capacity(pool)))
            out.append(Sample("metallb_allocator_addresses_in_use_total", {"pool": name}, len(in_use[name])))
        return out

    def wake(self) -> None:
        self._loop.wake()

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    # ---- one pass

    async def reconcile(self) -> bool:
        """Allocate and write; False when some write failed and the pass should be retried."""
        self.passes += 1
        update = self.sources.refresh_config()
        if update is None:
            update = self.sources.last_update
        if update is not None and not update.accepted and self._reported_config != update.generation:
            self._report_config(update)
            self._reported_config = update.generation
        config = self.sources.config_store.current
        if config is None:
            return True
        world = self.sources.world()
        # Same result as a whole pass (lbd.reconcile.allocate_snapshot), at the cost of what changed:
        # KubeSources hands out the same Service objects while their resourceVersion is unchanged.
        allocations = self._allocator.allocate(
            tuple(config.pools[n] for n in sorted(config.pools)),
            world.services,
            namespaces=world.namespaces.values(),
            load_balancer_class=self.load_balancer_class,
            previous=self._previous,
        )
        self._last = (config, allocations)
        self._previous.follow(self._verdicts, allocations.services)
        self._verdicts = allocations.services
        store = self.sources.informers.store(SERVICES)
        ok = True
        for assignment in allocations.services:
            obj = store.get(assignment.namespace, assignment.name)
            if obj is None:
                continue
            ok = await self._converge(obj, assignment) and ok
        ours = {a.key for a in allocations.services}
        for key, service in world.services.items():
            if key in ours or is_ours(service, self.load_balancer_class):
                continue
            if (
                ALLOCATED_FROM_POOL in service.annotations
                or LEGACY_ALLOCATED_FROM_POOL in service.annotations
            ):
                obj = store.get(service.namespace, service.name)
                if obj is not None:
                    ok = await self._release(obj) and ok
        for gone in set(self._reported) - ours:
            del self._reported[gone]
        return ok

    async def _converge(self, obj: Obj, assignment: Assignment) -> bool:
        ips = [str(a) for a in assignment.addresses]
        pool = assignment.pool if assignment.state is State.ALLOCATED else None
        try:
            await self._write(obj, pool, ips)
        except RETRYABLE as e:
            if isinstance(e, ApiStatusError) and e.code == NOT_FOUND:
                return True  # deleted meanwhile; the watch will tell
            log.warning("kube service write failed, will retry", service=assignment.key, error=str(e))
            return False
        verdict = _Verdict.of(assignment)
        if self._reported.get(assignment.key) != verdict:
            self._reported[assignment.key] = verdict
            ref = ObjectRef.of(obj)
            for event in assignment.events:
                self.events.record(ref, event.type.value, event.reason, event.message)
        return True

    async def _release(self, obj: Obj) -> bool:
        try:
            await self._write(obj, None, [])
        except RETRYABLE as e:
            if isinstance(e, ApiStatusError) and e.code == NOT_FOUND:
                return True
            log.warning("kube service release failed, will retry", error=str(e))
            return False
        return True

    async def _write(self, obj: Obj, pool: str | None, ips: list[str]) -> None:
        meta = obj["metadata"]
        namespace, name = meta.get("namespace") or "default", meta["name"]
        current = obj
        if _annotations_for(obj, pool) is not None:
            current = await self.api.update(
                SERVICES, namespace, name, lambda o: with_annotation(o, pool), current=obj
            )
            self.writes += 1
            log.info("kube service annotated", service=f"{namespace}/{name}", pool=pool)
        if ingress_ips(current) != ips:
            await self.api.update(
                SERVICES, namespace, name, lambda o: with_ingress(o, ips), status=True, current=current
            )
            self.writes += 1
            log.info("kube service status written", service=f"{namespace}/{name}", ingress=ips)

    def _report_config(self, update: ConfigUpdate) -> None:
        by_name: Mapping[tuple[str, str], Obj] = {
            (str(o.get("kind")), f"{o['metadata'].get('namespace', '')}/{o['metadata']['name']}"): o
            for o in update.objects
        }
        for error in update.errors:
            obj = by_name.get((error.kind, error.name))
            if obj is None:
                continue
            self.events.record(ObjectRef.of(obj), WARNING, INVALID_CONFIG, _config_message(error))


def pool_capacity(pool: IPAddressPool) -> int:
    """Usable addresses of a pool (avoidBuggyIPs leaves out .0 and .255), as the allocator counts them."""
    space = PoolSpace(
        pool.name, tuple(Span.between(r.first, r.last) for r in pool.addresses), pool.avoid_buggy_ips
    )
    return space.capacity(4) + space.capacity(6)


def _config_message(error: ConfigError) -> str:
    where = "" if error.field == "-" else f"{error.field}: "
    return f"configuration rejected, the last valid one stays in force: {where}{error.message}"
