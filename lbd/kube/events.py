"""Kubernetes Events about objects (Services, MetalLB objects) as MetalLB's controller and speaker do.

Recording never blocks and never fails the caller: `record` queues the event and a worker task sends
it. Like client-go's event correlator, an event repeated with the same object, type, reason and message
within `correlation_window` increments the `count` of the existing Event instead of creating another,
which keeps a periodic "AllocationFailed" from flooding etcd. Events are best effort: one that cannot be
sent after `attempts` tries (API outage) is dropped, and the queue keeps at most `max_queued`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from lbd.kube.api import NOT_FOUND, RETRYABLE, KubeApi
from lbd.kube.reflector import ApiStatusError
from lbd.kube.resources import EVENTS
from lbd.kube.store import Obj

log = structlog.get_logger("lbd.kube.events")

NORMAL = "Normal"
WARNING = "Warning"


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """The `involvedObject` of an Event."""

    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str = ""

    @classmethod
    def of(cls, obj: Obj) -> ObjectRef:
        meta = obj.get("metadata") or {}
        return cls(
            str(obj.get("apiVersion", "")),
            str(obj.get("kind", "")),
            str(meta.get("namespace") or ""),
            str(meta.get("name", "")),
            str(meta.get("uid") or ""),
        )

    def body(self) -> Obj:
        ref: Obj = {"apiVersion": self.api_version, "kind": self.kind, "name": self.name}
        if self.namespace:
            ref["namespace"] = self.namespace
        if self.uid:
            ref["uid"] = self.uid
        return ref


@dataclass(frozen=True, slots=True)
class _Pending:
    ref: ObjectRef
    type: str
    reason: str
    message: str
    at: float


@dataclass(slots=True)
class _Sent:
    name: str
    namespace: str
    count: int
    first: float
    last: float


def timestamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    """`component` is MetalLB's (`metallb-controller`, `metallb-speaker`); `instance` names this process
    (`reportingInstance`, the pod or node), so tests and operators can tell which replica wrote."""

    def __init__(
        self,
        api: KubeApi,
        component: str,
        instance: str,
        *,
        clock: Callable[[], float] = time.time,
        correlation_window: float = 600.0,
        attempts: int = 3,
        retry_delay: float = 1.0,
        max_queued: int = 1000,
    ) -> None:
        self.api = api
        self.component = component
        self.instance = instance
        self._clock = clock
        self._window = correlation_window
        self._attempts = attempts
        self._retry_delay = retry_delay
        self._queue: deque[_Pending] = deque(maxlen=max_queued)
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._sent: dict[tuple[ObjectRef, str, str, str], _Sent] = {}
        self._task: asyncio.Task[None] | None = None
        self._seq = 0
        self.dropped = 0
        self.recorded = 0

    def record(self, ref: ObjectRef, type_: str, reason: str, message: str) -> None:
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(_Pending(ref, type_, reason, message, self._clock()))
        self._idle.clear()
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"events {self.component}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def flush(self, timeout: float = 5.0) -> None:
        """Until every queued event was sent or dropped."""
        await asyncio.wait_for(self._idle.wait(), timeout)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                await self._send_with_retries(self._queue.popleft())
            self._idle.set()

    async def _send_with_retries(self, event: _Pending) -> None:
        for attempt in range(1, self._attempts + 1):
            try:
                await self._send(event)
                self.recorded += 1
                return
            except RETRYABLE as e:
                log.warning("kube event not sent", reason=event.reason, error=str(e), attempt=attempt)
                if attempt < self._attempts:
                    await asyncio.sleep(self._retry_delay * attempt)
        self.dropped += 1

    async def _send(self, event: _Pending) -> None:
        key = (event.ref, event.type, event.reason, event.message)
        sent = self._sent.get(key)
        if sent is not None and event.at - sent.last < self._window:
            patch = {"count": sent.count + 1, "lastTimestamp": timestamp(event.at)}
            try:
                await self.api.merge_patch(EVENTS, sent.namespace, sent.name, patch)
            except ApiStatusError as e:
                if e.code != NOT_FOUND:
                    raise
            else:
                sent.count += 1
                sent.last = event.at
                return
        namespace = event.ref.namespace or "default"
        # client-go's naming: the object's name and the time in hexadecimal nanoseconds (plus a sequence
        # number here, so two events of one object in the same clock tick cannot collide).
        self._seq += 1
        name = f"{event.ref.name}.{int(event.at * 1e9) + self._seq:x}"
        body: Obj = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": event.ref.body(),
            "type": event.type,
            "reason": event.reason,
            "message": event.message,
            "source": {"component": self.component, "host": self.instance},
            "reportingComponent": self.component,
            "reportingInstance": self.instance,
            "firstTimestamp": timestamp(event.at),
            "lastTimestamp": timestamp(event.at),
            "count": 1,
        }
        await self.api.create(EVENTS, namespace, body)
        self._sent[key] = _Sent(name, namespace, 1, event.at, event.at)
        self._forget_old(event.at)

    def _forget_old(self, now: float) -> None:
        if len(self._sent) < 4096:
            return
        for key in [k for k, s in self._sent.items() if now - s.last >= self._window]:
            del self._sent[key]
