"""One lbd process under Kubernetes: the informers, and the controller role, the speaker role or both.

Both roles share one set of informers and one `KubeSources` (one parse of the config for both). The
controller campaigns for the Lease and allocates only while it leads; the speaker runs on every node
it is deployed to. Any change in any store wakes both roles; each debounces and recomputes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from kubernetes_asyncio.client import ApiClient

from lbd.config import World
from lbd.daemon.announcer import Announcer
from lbd.kube.api import KubeApi
from lbd.kube.controller import ControllerRole
from lbd.kube.events import EventRecorder
from lbd.kube.informers import Informers
from lbd.kube.lease import LeaderElector, LeaseSettings
from lbd.kube.liveness import ready_nodes, speaker_pods
from lbd.kube.reflector import ReflectorSettings
from lbd.kube.resources import (
    DEFAULT_NAMESPACE,
    DEFAULT_SPEAKER_SELECTOR,
    ENDPOINT_SLICES,
    NAMESPACES,
    NODES,
    PODS,
    ResourceKind,
    WatchTarget,
    default_targets,
    speaker_pods_target,
    speaker_status_targets,
)
from lbd.kube.sources import KubeSources
from lbd.kube.speaker import SpeakerRole
from lbd.kube.status_objects import StatusPublisher
from lbd.kube.store import Change, ObjectStore
from lbd.metrics import Metrics

Liveness = Literal["pods", "nodes"]


def default_identity() -> str:
    """client-go's convention: the pod name (its hostname) plus something unique to the process."""
    return f"{socket.gethostname()}_{os.getpid()}"


@dataclass(frozen=True, slots=True)
class KubeOptions:
    namespace: str = DEFAULT_NAMESPACE
    controller: bool = True
    speaker: bool = True
    node: str | None = None
    identity: str = field(default_factory=default_identity)
    lease_name: str = "lbd-controller"
    lease: LeaseSettings = field(default_factory=LeaseSettings)
    load_balancer_class: str | None = None
    liveness: Liveness = "pods"
    speaker_selector: str = DEFAULT_SPEAKER_SELECTOR
    publish_status: bool = True
    reflector: ReflectorSettings = field(default_factory=ReflectorSettings)
    debounce: float = 0.05
    retry_delay: float = 1.0

    def __post_init__(self) -> None:
        if not (self.controller or self.speaker):
            raise ValueError("run the controller role, the speaker role or both")
        if self.speaker and not self.node:
            raise ValueError("the speaker role needs the node name (--node or NODE_NAME)")


def watch_targets(options: KubeOptions) -> tuple[WatchTarget, ...]:
    """What a process watches, no more than its roles read (the RBAC in deploy/ grants exactly this):
    the controller needs no EndpointSlices or Nodes, the speaker no Namespaces."""
    skip: set[ResourceKind] = set()
    if not options.speaker:
        skip |= {ENDPOINT_SLICES, NODES}
    if not options.controller:
        skip.add(NAMESPACES)
    targets = [t for t in default_targets(options.namespace) if t.kind not in skip]
    if options.speaker and options.liveness == "pods":
        targets.append(speaker_pods_target(options.namespace, options.speaker_selector))
    if options.speaker and options.publish_status:
        assert options.node is not None
        targets.extend(speaker_status_targets(options.namespace, options.node))
    return tuple(targets)


class KubeRunner:
    def __init__(
        self,
        client: ApiClient,
        options: KubeOptions,
        *,
        announcers: Sequence[Announcer] = (),
        metrics: Metrics | None = None,
        live_nodes: Callable[[], frozenset[str]] | None = None,
        interfaces: Callable[[], tuple[str, ...]] = tuple,
    ) -> None:
        """`live_nodes` replaces the pod/node liveness (a membership layer's live set)."""
        self.options = options
        self.informers = Informers(client, watch_targets(options), self._changed, settings=options.reflector)
        self.sources = KubeSources(self.informers, options.namespace, metrics=metrics)
        self.api = KubeApi(client)
        self.recorders: list[EventRecorder] = []
        self.controller: ControllerRole | None = None
        self.elector: LeaderElector | None = None
        self.speaker: SpeakerRole | None = None
        self._synced_task: asyncio.Task[None] | None = None
        if options.controller:
            recorder = EventRecorder(self.api, "metallb-controller", options.identity)
            self.recorders.append(recorder)
            self.controller = ControllerRole(
                self.sources,
                self.api,
                recorder,
                load_balancer_class=options.load_balancer_class,
                debounce=options.debounce,
                retry_delay=options.retry_delay,
            )
            self.elector = LeaderElector(
                self.api,
                options.namespace,
                options.lease_name,
                options.identity,
                options.lease,
                on_started=self.controller.on_started,
                on_stopped=self.controller.on_stopped,
            )
            if metrics is not None:
                metrics.add_provider(self.controller.metric_samples)
        if options.speaker:
            assert options.node is not None
            recorder = EventRecorder(self.api, "metallb-speaker", options.node)
            self.recorders.append(recorder)
            publisher = (
                StatusPublisher(self.api, options.namespace, options.node, self._namespaced_store)
                if options.publish_status
                else None
            )
            self.speaker = SpeakerRole(
                self.sources,
                recorder,
                options.node,
                announcers,
                live_nodes=self._live_nodes(live_nodes),
                publisher=publisher,
                interfaces=interfaces,
                load_balancer_class=options.load_balancer_class,
                debounce=options.debounce,
                retry_delay=options.retry_delay,
            )
            if metrics is not None:
                metrics.add_provider(self.speaker.metric_samples)

    def _namespaced_store(self, kind: ResourceKind) -> ObjectStore:
        return self.informers.store(kind, self.options.namespace)

    def _live_nodes(self, override: Callable[[], frozenset[str]] | None) -> Callable[[World], frozenset[str]]:
        if override is not None:
            return lambda _world: override()
        if self.options.liveness == "nodes":
            return ready_nodes
        return lambda _world: speaker_pods(self._namespaced_store(PODS).items())

    def _changed(self, _changes: Sequence[Change]) -> None:
        self.wake()

    def wake(self) -> None:
        if self.controller is not None:
            self.controller.wake()
        if self.speaker is not None:
            self.speaker.wake()

    async def start(self) -> None:
        self.informers.start()
        for recorder in self.recorders:
            recorder.start()
        if self.controller is not None and self.elector is not None:
            self.controller.start()
            self.elector.start()
        if self.speaker is not None:
            self.speaker.start()
        self._synced_task = asyncio.get_running_loop().create_task(self._wake_when_synced())

    async def _wake_when_synced(self) -> None:
        # Empty collections produce no change on their first list; the roles still need one pass.
        await self.informers.wait_synced()
        self.wake()

    async def stop(self, *, release: bool = True, close_announcers: bool = True) -> None:
        """Orderly shutdown: release the Lease, stop the roles, close the announcers (their
        announcements end), stop watching. `release=False, close_announcers=False` is a crash."""
        if self._synced_task is not None:
            self._synced_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._synced_task
        # The controller stops writing before the Lease is released, so a successor never overlaps it.
        if self.controller is not None:
            await self.controller.stop()
        if self.elector is not None:
            await self.elector.stop(release=release)
        if self.speaker is not None:
            if close_announcers:
                await self.speaker.close()
            else:
                await self.speaker.stop()
        for recorder in self.recorders:
            await recorder.stop()
        await self.informers.stop()
