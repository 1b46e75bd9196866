"""Leader election on a coordination.k8s.io/v1 Lease, with client-go's rules.

Theory of operation. Every candidate polls the Lease every `retry_period` (with jitter while it is not
the leader). It judges a lease held by someone else as expired only when the record has not changed for
`leaseDurationSeconds` *as measured by its own monotonic clock since it saw the record change*; the
times written in the Lease come from other machines' clocks and are only informative. A candidate
that finds the lease free, expired or its own writes its claim with the resourceVersion it read, so of
two candidates racing for an expired lease exactly one wins and the other gets 409 Conflict.

The leader renews every `retry_period`; if it could not renew for `renew_deadline` (which must be
shorter than the lease duration) it stops leading before anyone else may start, so two leaders never
act at once as long as clocks run at the same rate. On a clean shutdown the leader releases the lease
(empty holder, duration 1 s) so a successor takes over at once instead of after the lease duration.

`LeaseObserver` is the decision core (no I/O, times passed in); `LeaderElector` is the asyncio loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from lbd.kube.api import CONFLICT, NOT_FOUND, RETRYABLE, KubeApi
from lbd.kube.reflector import ApiStatusError
from lbd.kube.resources import LEASES
from lbd.kube.store import Obj

log = structlog.get_logger("lbd.kube.lease")


@dataclass(frozen=True, slots=True)
class LeaseSettings:
    """client-go's defaults (kube-controller-manager: 15 s / 10 s / 2 s)."""

    lease_duration: int = 15
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    # client-go's JitterFactor: a candidate waits retry_period * (1 + jitter * random()).
    jitter: float = 1.2

    def __post_init__(self) -> None:
        if not self.lease_duration > self.renew_deadline > self.retry_period > 0:
            raise ValueError("need lease_duration > renew_deadline > retry_period > 0")


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """The Lease's spec."""

    holder: str
    duration: int
    acquire_time: str | None
    renew_time: str | None
    transitions: int

    @classmethod
    def of(cls, lease: Obj) -> LeaseRecord:
        spec = lease.get("spec") or {}
        return cls(
            str(spec.get("holderIdentity") or ""),
            int(spec.get("leaseDurationSeconds") or 0),
            spec.get("acquireTime"),
            spec.get("renewTime"),
            int(spec.get("leaseTransitions") or 0),
        )

    def spec(self) -> Obj:
        spec: Obj = {
            "holderIdentity": self.holder,
            "leaseDurationSeconds": self.duration,
            "leaseTransitions": self.transitions,
        }
        if self.acquire_time is not None:
            spec["acquireTime"] = self.acquire_time
        if self.renew_time is not None:
            spec["renewTime"] = self.renew_time
        return spec


def micro_time(at: float) -> str:
    """metav1.MicroTime's RFC 3339 form with microseconds."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(slots=True)
class LeaseObserver:
    """What one candidate has seen of the lease, and the claim it may write."""

    identity: str
    record: LeaseRecord | None = None
    observed_at: float = 0.0

    def observe(self, record: LeaseRecord, now: float) -> None:
        if record != self.record:
            self.record = record
            self.observed_at = now

    def held_by_other(self, now: float) -> bool:
        r = self.record
        return r is not None and r.holder not in ("", self.identity) and self.observed_at + r.duration > now

    def claim(self, now: float, wall: float, duration: int) -> LeaseRecord | None:
        """The record to write to take or keep the lease, or None while another holder's lease runs."""
        if self.held_by_other(now):
            return None
        r = self.record
        stamp = micro_time(wall)
        if r is not None and r.holder == self.identity:
            return LeaseRecord(self.identity, duration, r.acquire_time, stamp, r.transitions)
        transitions = r.transitions + 1 if r is not None else 0
        return LeaseRecord(self.identity, duration, stamp, stamp, transitions)


class LeaderElector:
    """Runs the election for `identity` until cancelled. `on_started` / `on_stopped` are called when
    this candidate starts and stops leading (synchronously, from the election task)."""

    def __init__(
        self,
        api: KubeApi,
        namespace: str,
        name: str,
        identity: str,
        settings: LeaseSettings | None = None,
        *,
        on_started: Callable[[], None] = lambda: None,
        on_stopped: Callable[[], None] = lambda: None,
        wall: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.api = api
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.settings = settings or LeaseSettings()
        self.observer = LeaseObserver(identity)
        self.leading = False
        self.transitions = 0
        self._on_started = on_started
        self._on_stopped = on_stopped
        self._wall = wall
        self._rng = rng or random.Random()
        self._task: asyncio.Task[None] | None = None
        self._log = log.bind(lease=f"{namespace}/{name}", identity=identity)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name=f"lease {self.name}")

    async def stop(self, release: bool = True) -> None:
        """Stop campaigning; a leader releases the lease unless `release` is False (a crash stand-in)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.leading:
            self._stop_leading()
            if release:
                await self._release()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        s = self.settings
        while True:
            while not await self.try_acquire_or_renew():
                await asyncio.sleep(s.retry_period * (1.0 + s.jitter * self._rng.random()))
            self.leading = True
            self.transitions += 1
            self._log.info("kube lease acquired, leading")
            self._on_started()
            renewed = loop.time()
            while True:
                await asyncio.sleep(s.retry_period)
                if await self.try_acquire_or_renew():
                    renewed = loop.time()
                elif self.observer.held_by_other(loop.time()):
                    break  # someone else holds it now (we were partitioned): stop at once
                elif loop.time() - renewed >= s.renew_deadline:
                    break
            self._log.warning("kube lease lost, stopping leading", holder=self.observer.record)
            self._stop_leading()

    def _stop_leading(self) -> None:
        self.leading = False
        self._on_stopped()

    async def try_acquire_or_renew(self) -> bool:
        now = asyncio.get_running_loop().time()
        try:
            lease = await self.api.get(LEASES, self.namespace, self.name)
        except ApiStatusError as e:
            if e.code != NOT_FOUND:
                self._log.info("kube lease read failed", error=str(e))
                return False
            return await self._create(now)
        except RETRYABLE as e:
            self._log.info("kube lease read failed", error=f"{type(e).__name__}: {e}")
            return False
        self.observer.observe(LeaseRecord.of(lease), now)
        claim = self.observer.claim(now, self._wall(), self.settings.lease_duration)
        if claim is None:
            return False
        body = {**lease, "spec": claim.spec()}
        try:
            written = await self.api.replace(LEASES, self.namespace, body)
        except RETRYABLE as e:
            # 409: another candidate wrote first; it holds the lease now.
            self._log.info("kube lease write failed", error=f"{type(e).__name__}: {e}")
            return False
        self.observer.observe(LeaseRecord.of(written), now)
        return True

    async def _create(self, now: float) -> bool:
        claim = self.observer.claim(now, self._wall(), self.settings.lease_duration)
        if claim is None:
            return False  # a holder seen before the lease was deleted: its term has not run out yet
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": claim.spec(),
        }
        try:
            written = await self.api.create(LEASES, self.namespace, body)
        except RETRYABLE as e:
            if not (isinstance(e, ApiStatusError) and e.code == CONFLICT):
                self._log.info("kube lease create failed", error=f"{type(e).__name__}: {e}")
            return False
        self.observer.observe(LeaseRecord.of(written), now)
        return True

    async def _release(self) -> None:
        def released(lease: Obj) -> Obj | None:
            record = LeaseRecord.of(lease)
            if record.holder != self.identity:
                return None
            stamp = micro_time(self._wall())
            return {**lease, "spec": LeaseRecord("", 1, stamp, stamp, record.transitions).spec()}

        try:
            await self.api.update(LEASES, self.namespace, self.name, released, attempts=2)
        except RETRYABLE as e:
            self._log.info("kube lease release failed", error=f"{type(e).__name__}: {e}")
