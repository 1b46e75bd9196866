"""The speaker role: what this node announces for the addresses the controller assigned, MetalLB's `speaker`.

Theory of operation. On every change of the watched objects (debounced) the speaker rebuilds the
snapshot and runs the same reconcile core as `lbd plan` and the standalone daemon, with one
difference: it never allocates. The addresses are those in each Service's `status.loadBalancer.ingress`
(written by the controller); a Service without ingress, or whose addresses do not all lie in one pool
of the config in force, is not announced (MetalLB's `noIPAllocated` / `ipNotAllowed`). The desired state
goes to every announcer when it differs from the last one pushed.

After a successful push it records MetalLB's `nodeAssigned` Event on each Service this node started
announcing (`announcing from node "N" with protocol "layer2"`), and publishes one ServiceL2Status or
ServiceBGPStatus object per announced Service (see `lbd.kube.status_objects`).

Fail static: the speaker only reacts to changes in the stores, and the stores only change on
successful lists and watch events, so an API outage changes nothing it announces. When the API comes
back the re-list is a diff against the last known objects: an unchanged world computes an unchanged
desired state and nothing is pushed at all, so there is no withdraw-then-announce flap. A config that
fails validation is rejected whole and the last good one keeps being announced.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Sequence

import structlog

from lbd.allocator import AllocationResult, Assignment, State
from lbd.allocator.inputs import is_ours
from lbd.allocator.requests import Reason
from lbd.config import Config, World
from lbd.config.model import IPAddress
from lbd.daemon.announcer import Announcer
from lbd.kube.events import NORMAL, EventRecorder, ObjectRef
from lbd.kube.pacing import PacedLoop
from lbd.kube.resources import SERVICES
from lbd.kube.sources import KubeSources
from lbd.kube.status_objects import StatusPublisher, desired_statuses
from lbd.metrics import Sample
from lbd.reconcile import DesiredState, Snapshot
from lbd.reconcile.incremental import Reconciler

log = structlog.get_logger("lbd.kube.speaker")

LAYER2 = "layer2"
BGP = "bgp"

LiveNodes = Callable[[World], frozenset[str]]


def announced_allocations(config: Config, world: World, load_balancer_class: str | None) -> AllocationResult:
    """The controller's assignments as the Services' status shows them (MetalLB speaker `SetBalancer`)."""
    out: list[Assignment] = []
    for key in sorted(world.services):
        service = world.services[key]
        if not is_ours(service, load_balancer_class) or not service.ingress:
            continue
        addresses: list[IPAddress] = []
        for ingress in service.ingress:
            try:
                addresses.append(ipaddress.ip_address(ingress.ip or ""))
            except ValueError:
                addresses = []
                break
        if not addresses:
            continue  # MetalLB: invalidIP
        pools = [config.pool_of(a) for a in addresses]
        first = pools[0]
        if first is None or any(p is not first for p in pools):
            continue  # MetalLB: ipNotAllowed
        out.append(Assignment(key, State.ALLOCATED, Reason.KEPT, tuple(addresses), first.name))
    return AllocationResult(tuple(out))


def announced_services(desired: DesiredState) -> dict[tuple[str, str], tuple[IPAddress, ...]]:
    """(service, protocol) -> addresses this node announces for it."""
    out: dict[tuple[str, str], tuple[IPAddress, ...]] = {}
    l2_services = {x.service for x in desired.l2}
    for state in desired.services:
        a = state.allocation
        if a.key in l2_services:
            out[(a.key, LAYER2)] = a.addresses
        if state.bgp is not None and state.bgp.reason is None and state.bgp.peers:
            out[(a.key, BGP)] = a.addresses
    return out


def node_assigned_message(node: str, protocol: str) -> str:
    # MetalLB: Infof(svc, "nodeAssigned", "announcing from node %q with protocol %q", node, protocol).
    return f"announcing from node {json.dumps(node)} with protocol {json.dumps(protocol)}"


class SpeakerRole:
    def __init__(
        self,
        sources: KubeSources,
        events: EventRecorder,
        node: str,
        announcers: Sequence[Announcer],
        *,
        live_nodes: LiveNodes,
        publisher: StatusPublisher | None = None,
        interfaces: Callable[[], tuple[str, ...]] = tuple,
        load_balancer_class: str | None = None,
        debounce: float = 0.05,
        retry_delay: float = 1.0,
    ) -> None:
        self.sources = sources
        self.events = events
        self.node = node
        self.announcers = list(announcers)
        self.live_nodes = live_nodes
        self.publisher = publisher
        self.interfaces = interfaces
        self.load_balancer_class = load_balancer_class
        self.debounce = debounce
        self.desired: DesiredState | None = None
        self.pushes = 0
        self._pushed: tuple[object, ...] | None = None
        # The same result as lbd.reconcile.desired_state, but one Service change costs about its own work.
        self._reconciler = Reconciler()
        self._announced: dict[tuple[str, str], tuple[IPAddress, ...]] = {}
        self._loop = PacedLoop(
            "kube speaker",
            lambda: self.sources.informers.synced,
            self.reconcile,
            debounce=debounce,
            retry_delay=retry_delay,
        )

    def wake(self) -> None:
        self._loop.wake()

    def metric_samples(self) -> list[Sample]:
        """metallb_speaker_announced: what this node announces (desired state, as MetalLB's)."""
        out: list[Sample] = []
        for (service, protocol), addresses in sorted(self._announced.items()):
            for ip in addresses:
                labels = {"ip": str(ip), "node": self.node, "protocol": protocol, "service": service}
                out.append(Sample("metallb_speaker_announced", labels, 1.0))
        return out

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def close(self) -> None:
        """Stop, then close every announcer in reverse order (their announcements end: BGP Cease, no
        more L2 answers); one failing to close does not keep the others announcing."""
        await self.stop()
        for announcer in reversed(self.announcers):
            try:
                await announcer.close()
            except Exception:
                log.exception("announcer failed to close", announcer=announcer.name)

    async def reconcile(self) -> bool:
        """Compute and push; False when publishing the status objects failed and should be retried."""
        self.sources.refresh_config()
        config = self.sources.config_store.current
        if config is None:
            return True
        world = self.sources.world()
        snapshot = Snapshot(
            config=config,
            world=world,
            node=self.node,
            live_nodes=self.live_nodes(world) | {self.node},
            interfaces=self.interfaces(),
            load_balancer_class=self.load_balancer_class,
        )
        desired = self._reconciler.desired_state(
            snapshot, announced_allocations(config, world, self.load_balancer_class)
        )
        self.desired = desired
        pushed = (config, desired.l2, desired.bgp)
        if pushed != self._pushed:
            failed = False
            for announcer in self.announcers:
                try:
                    await announcer.apply(config, desired)
                except Exception:
                    # An announcer's own failure must not stop the others or this loop: it is logged
                    # loudly and the same state is pushed again after the retry delay.
                    log.exception("announcer failed to apply the desired state", announcer=announcer.name)
                    failed = True
            self.pushes += 1
            log.info(
                "kube speaker pushed desired state",
                l2=len(desired.l2),
                bgp_routes=sum(len(p.routes) for p in desired.bgp),
            )
            if failed:
                return False
            self._pushed = pushed
        self._record_assigned(desired)
        if self.publisher is None:
            return True
        return await self.publisher.publish(desired_statuses(desired, self.node, self.interfaces()))

    def _record_assigned(self, desired: DesiredState) -> None:
        announced = announced_services(desired)
        store = self.sources.informers.store(SERVICES)
        for (key, protocol), addresses in announced.items():
            if self._announced.get((key, protocol)) == addresses:
                continue
            namespace, name = key.split("/", 1)
            obj = store.get(namespace, name)
            if obj is not None:
                self.events.record(
                    ObjectRef.of(obj), NORMAL, "nodeAssigned", node_assigned_message(self.node, protocol)
                )
        self._announced = announced
