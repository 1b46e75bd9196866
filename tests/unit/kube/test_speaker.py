"""The speaker role (and both roles in one process) against the emulator, with a recording announcer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from kubernetes_asyncio.client import ApiClient

from lbd.config import Config
from lbd.kube.liveness import speaker_pods
from lbd.kube.runner import KubeOptions, KubeRunner, Liveness
from lbd.kube.views import KubeViews
from lbd.metrics import Metrics
from lbd.reconcile import DesiredState
from tests.kube_emulator import KubeEmulator
from tests.unit.kube.objects import (
    FAST,
    NS,
    SHORT_LEASE,
    bgp_adv,
    endpoints,
    eventually,
    l2,
    node,
    peer,
    pool,
    service,
    speaker_pod,
)

Obj = dict[str, Any]


@dataclass
class Recorder:
    """An announcer that keeps every desired state it was given."""

    name: str = "recorder"
    states: list[DesiredState] = field(default_factory=list)
    closed: bool = False

    async def apply(self, config: Config, desired: DesiredState) -> None:
        self.states.append(desired)

    async def close(self) -> None:
        self.closed = True

    @property
    def l2(self) -> list[str]:
        return [str(a.address) for a in self.states[-1].l2] if self.states else []

    @property
    def routes(self) -> dict[str, list[str]]:
        if not self.states:
            return {}
        return {p.peer: [str(r.prefix) for r in p.routes] for p in self.states[-1].bgp}


@asynccontextmanager
async def lbd(
    client: ApiClient,
    recorder: Recorder,
    node_name: str = "n1",
    *,
    controller: bool = True,
    liveness: Liveness = "nodes",
    metrics: Metrics | None = None,
) -> AsyncIterator[KubeRunner]:
    options = KubeOptions(
        namespace=NS,
        controller=controller,
        speaker=True,
        node=node_name,
        identity=node_name,
        lease=SHORT_LEASE,
        reflector=FAST,
        liveness=liveness,
        debounce=0.01,
        retry_delay=0.1,
    )
    runner = KubeRunner(client, options, announcers=[recorder], interfaces=lambda: ("eth0",), metrics=metrics)
    await runner.start()
    try:
        yield runner
    finally:
        await runner.stop()


def statuses(emulator: KubeEmulator, kind: str) -> list[Obj]:
    return emulator.list_objects("metallb.io/v1beta1", kind, NS)


def node_assigned(emulator: KubeEmulator, name: str) -> list[str]:
    return sorted(
        e["message"]
        for e in emulator.list_objects("v1", "Event")
        if e["involvedObject"]["name"] == name and e["reason"] == "nodeAssigned"
    )


async def test_l2_service_is_announced_with_event_and_status(
    kube_emulator: KubeEmulator, api_client: ApiClient
) -> None:
    kube_emulator.create(node("n1"))
    kube_emulator.create(pool("blue", "198.51.100.10/32"))
    kube_emulator.create(l2("l2"))
    kube_emulator.create(service("web"))
    kube_emulator.create(endpoints("web", "n1"))
    recorder = Recorder()
    metrics = Metrics(process_metrics=False)
    async with lbd(api_client, recorder, metrics=metrics):
        await eventually(lambda: recorder.l2 == ["198.51.100.10"], what="L2 announcement")
        await eventually(lambda: node_assigned(kube_emulator, "web"), what="nodeAssigned")
        samples = metrics.samples()
        (announced,) = samples["metallb_speaker_announced"]
        assert announced.labels == {
            "ip": "198.51.100.10",
            "node": "n1",
            "protocol": "layer2",
            "service": "default/web",
        }
        assert [(s.labels, s.value) for s in samples["metallb_allocator_addresses_in_use_total"]] == [
            ({"pool": "blue"}, 1)
        ]
        assert [s.value for s in samples["metallb_allocator_addresses_total"]] == [1]
        assert node_assigned(kube_emulator, "web") == ['announcing from node "n1" with protocol "layer2"']
        (status,) = await eventually(lambda: statuses(kube_emulator, "ServiceL2Status"), what="status")
        assert status["metadata"]["name"].startswith("l2-")
        assert status["metadata"]["labels"] == {
            "metallb.io/node": "n1",
            "metallb.io/service-name": "web",
            "metallb.io/service-namespace": "default",
        }
        await eventually(lambda: statuses(kube_emulator, "ServiceL2Status")[0].get("status"))
        assert statuses(kube_emulator, "ServiceL2Status")[0]["status"] == {
            "node": "n1",
            "serviceName": "web",
            "serviceNamespace": "default",
            "interfaces": [{"name": "eth0"}],
        }

        # Deleting the Service withdraws it and removes its status object.
        kube_emulator.delete("v1", "Service", "web", "default")
        await eventually(lambda: recorder.l2 == [], what="withdraw")
        await eventually(lambda: not statuses(kube_emulator, "ServiceL2Status"), what="status removed")
    assert recorder.closed


async def test_bgp_service_goes_to_the_peer_with_a_bgp_status(
    kube_emulator: KubeEmulator, api_client: ApiClient
) -> None:
    bgp_world(kube_emulator)
    recorder = Recorder()
    async with lbd(api_client, recorder):
        await eventually(lambda: recorder.routes == {"frr": ["198.51.100.10/32"]}, what="route")
        await eventually(lambda: node_assigned(kube_emulator, "web"))
        assert node_assigned(kube_emulator, "web") == ['announcing from node "n1" with protocol "bgp"']
        await eventually(lambda: [s for s in statuses(kube_emulator, "ServiceBGPStatus") if s.get("status")])
        (status,) = statuses(kube_emulator, "ServiceBGPStatus")
        assert status["status"] == {
            "node": "n1",
            "serviceName": "web",
            "serviceNamespace": "default",
            "peers": ["frr"],
        }
        # No ready endpoint: withdrawn, status object gone.
        kube_emulator.replace(endpoints("web", "n1", ready=False) | {"metadata": _meta(kube_emulator)})
        await eventually(lambda: recorder.routes == {"frr": []}, what="withdraw")
        await eventually(lambda: not statuses(kube_emulator, "ServiceBGPStatus"))


def bgp_world(emulator: KubeEmulator) -> None:
    """Node n1, pool blue (one address), BGPPeer frr and an advertisement; Service web ready on n1."""
    emulator.create(node("n1"))
    emulator.create(pool("blue", "198.51.100.10/32"))
    emulator.create(peer("frr", "192.0.2.1"))
    emulator.create(bgp_adv("bgp"))
    emulator.create(service("web"))
    emulator.create(endpoints("web", "n1"))


def _meta(emulator: KubeEmulator) -> Obj:
    return emulator.get("discovery.k8s.io/v1", "EndpointSlice", "web-n1", "default")["metadata"]


async def test_speaker_alone_announces_only_assigned_addresses(
    kube_emulator: KubeEmulator, api_client: ApiClient
) -> None:
    kube_emulator.create(node("n1"))
    kube_emulator.create(pool("blue", "198.51.100.0/29"))
    kube_emulator.create(l2("l2"))
    kube_emulator.create(service("assigned", ingress=("198.51.100.3",)))
    kube_emulator.create(service("pending"))
    kube_emulator.create(service("foreign", ingress=("203.0.113.9",)))
    for name in ("assigned", "pending", "foreign"):
        kube_emulator.create(endpoints(name, "n1"))
    recorder = Recorder()
    async with lbd(api_client, recorder, controller=False) as runner:
        await eventually(lambda: recorder.states, what="a push")
        assert recorder.l2 == ["198.51.100.3"]
        # The speaker never writes a Service.
        assert not [r for r in kube_emulator.requests if r[0] in ("PUT", "PATCH") and "/services/" in r[1]]
        assert runner.controller is None


async def test_l2_owner_is_elected_among_live_speaker_pods(
    kube_emulator: KubeEmulator, api_client: ApiClient
) -> None:
    for name in ("n1", "n2", "n3"):
        kube_emulator.create(node(name))
        kube_emulator.create(endpoints("web", name))
    kube_emulator.create(pool("blue", "198.51.100.10/32"))
    kube_emulator.create(l2("l2"))
    kube_emulator.create(service("web", ingress=("198.51.100.10",)))
    # Only n1 has a ready speaker pod; n2's is not ready and n3 has none: n1 must own the address
    # whatever the hash order says.
    kube_emulator.create(speaker_pod("n1"))
    kube_emulator.create(speaker_pod("n2", ready=False))
    recorder = Recorder()
    async with lbd(api_client, recorder, controller=False, liveness="pods"):
        await eventually(lambda: recorder.l2 == ["198.51.100.10"], what="n1 owns the address")
        decision = recorder.states[-1].service("default/web")
        assert decision is not None and decision.l2 is not None
        assert decision.l2.candidates == ("n1",)


def test_speaker_pods_liveness_rules() -> None:
    running = speaker_pod("a")
    deleting = speaker_pod("b") | {"metadata": {"name": "x", "deletionTimestamp": "2026-01-01T00:00:00Z"}}
    pending = speaker_pod("c")
    pending["status"]["phase"] = "Pending"
    unscheduled = speaker_pod("d")
    del unscheduled["spec"]["nodeName"]
    assert speaker_pods([running, deleting, pending, unscheduled, speaker_pod("e", ready=False)]) == {"a"}


async def test_api_outage_keeps_announcing_and_catches_up_without_a_flap(
    kube_emulator: KubeEmulator, api_client: ApiClient
) -> None:
    kube_emulator.create(node("n1"))
    kube_emulator.create(pool("blue", "198.51.100.10-198.51.100.11"))
    kube_emulator.create(l2("l2"))
    kube_emulator.create(service("web"))
    kube_emulator.create(endpoints("web", "n1"))
    recorder = Recorder()
    async with lbd(api_client, recorder) as runner:
        await eventually(lambda: recorder.l2 == ["198.51.100.10"])
        pushes = len(recorder.states)
        await kube_emulator.start_outage()
        # Changes made while lbd cannot see the API: a second Service, with its address already set.
        kube_emulator.create(service("late", ingress=("198.51.100.11",)))
        kube_emulator.create(endpoints("late", "n1"))
        await eventually(lambda: not runner.informers.connected, what="lbd noticing the outage")
        await __import__("asyncio").sleep(1.0)
        assert len(recorder.states) == pushes  # nothing withdrawn while the API is away
        assert recorder.l2 == ["198.51.100.10"]
        await kube_emulator.end_outage()
        await eventually(
            lambda: recorder.l2 == ["198.51.100.10", "198.51.100.11"], timeout=8.0, what="catch-up"
        )
        # Every state pushed since the first announcement kept the address: no withdraw-then-announce
        # flap (the very first push, before the controller assigned it, is empty).
        since = recorder.states[pushes - 1 :]
        assert all("198.51.100.10" in [str(a.address) for a in s.l2] for s in since)
        assert len(since) == 2


async def test_invalid_config_keeps_the_last_good_announcements(
    kube_emulator: KubeEmulator, api_client: ApiClient
) -> None:
    kube_emulator.create(node("n1"))
    kube_emulator.create(pool("blue", "198.51.100.10/32"))
    kube_emulator.create(l2("l2"))
    kube_emulator.create(service("web"))
    kube_emulator.create(endpoints("web", "n1"))
    recorder = Recorder()
    async with lbd(api_client, recorder) as runner:
        await eventually(lambda: recorder.l2 == ["198.51.100.10"])
        bad = kube_emulator.get("metallb.io/v1beta1", "L2Advertisement", "l2", NS)
        bad["spec"] = {"ipAddressPools": ["blue"], "nodeSelectors": [{"matchLabels": {"bad key!": "x"}}]}
        kube_emulator.replace(bad)
        await eventually(lambda: runner.sources.stale, what="rejection")
        await eventually(
            lambda: [e for e in kube_emulator.list_objects("v1", "Event") if e["reason"] == "InvalidConfig"]
        )
        assert recorder.l2 == ["198.51.100.10"]


async def test_membership_live_set_replaces_pod_liveness(
    kube_emulator: KubeEmulator, api_client: ApiClient
) -> None:
    for name in ("n1", "n2", "n3"):
        kube_emulator.create(node(name))
        kube_emulator.create(endpoints("web", name))
        kube_emulator.create(speaker_pod(name))
    kube_emulator.create(pool("blue", "198.51.100.10/32"))
    kube_emulator.create(l2("l2"))
    kube_emulator.create(service("web", ingress=("198.51.100.10",)))
    members = {"n1", "n2"}  # n3's speaker pod is ready, but membership says it is gone
    recorder = Recorder()
    options = KubeOptions(namespace=NS, controller=False, node="n1", reflector=FAST, debounce=0.01)
    runner = KubeRunner(api_client, options, announcers=[recorder], live_nodes=lambda: frozenset(members))
    await runner.start()
    try:
        await eventually(lambda: recorder.states, what="a push")
        decision = recorder.states[-1].service("default/web")
        assert decision is not None and decision.l2 is not None
        assert sorted(decision.l2.candidates) == ["n1", "n2"]
        members.discard("n2")
        runner.wake()
        await eventually(lambda: recorder.l2 == ["198.51.100.10"], what="n1 alone owns it")
    finally:
        await runner.stop()


async def test_restarted_speaker_adopts_its_status_objects_and_leaves_others_alone(
    kube_emulator: KubeEmulator, api_client: ApiClient
) -> None:
    kube_emulator.create(node("n1"))
    kube_emulator.create(pool("blue", "198.51.100.10/32"))
    kube_emulator.create(l2("l2"))
    kube_emulator.create(service("web", ingress=("198.51.100.10",)))
    kube_emulator.create(endpoints("web", "n1"))
    foreign = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "ServiceL2Status",
        "metadata": {
            "name": "l2-other",
            "namespace": NS,
            "labels": {
                "metallb.io/node": "n2",
                "metallb.io/service-name": "web",
                "metallb.io/service-namespace": "default",
            },
        },
    }
    kube_emulator.create(foreign)
    # A leftover of n1's from before a restart, with a stale status and a duplicate.
    for name in ("l2-old", "l2-dup"):
        leftover = foreign | {"metadata": foreign["metadata"] | {"name": name}}
        leftover["metadata"]["labels"] = foreign["metadata"]["labels"] | {"metallb.io/node": "n1"}
        kube_emulator.create(leftover | {"status": {"node": "n1", "serviceName": "gone"}})
    recorder = Recorder()
    async with lbd(api_client, recorder, controller=False):
        await eventually(lambda: recorder.l2 == ["198.51.100.10"])

        def mine() -> list[Obj]:
            objs = statuses(kube_emulator, "ServiceL2Status")
            return [o for o in objs if o["metadata"]["labels"]["metallb.io/node"] == "n1"]

        await eventually(lambda: len(mine()) == 1 and mine()[0].get("status", {}).get("serviceName") == "web")
        (kept,) = mine()
        assert kept["metadata"]["name"] in ("l2-old", "l2-dup")  # adopted, not created anew
        names = {o["metadata"]["name"] for o in statuses(kube_emulator, "ServiceL2Status")}
        assert "l2-other" in names  # n2's object is not ours to touch


async def test_status_views_show_the_speakers_decisions(
    kube_emulator: KubeEmulator, api_client: ApiClient
) -> None:
    bgp_world(kube_emulator)
    recorder = Recorder()
    async with lbd(api_client, recorder) as runner:
        await eventually(lambda: recorder.routes == {"frr": ["198.51.100.10/32"]}, what="route")
        views = KubeViews(runner, "/run/lbd/test.sock", ("recorder",)).views()
        summary = views["summary"]({})
        assert summary["roles"] == ["controller", "speaker"] and summary["node"] == "n1"
        assert (summary["services_announced_here"], summary["bgp_peers"], summary["bgp_routes"]) == (1, 1, 1)
        assert summary["announcers"] == ["recorder"]
        (row,) = views["services"]({})
        assert (row["service"], row["ips"], row["pool"], row["bgp_peers"]) == (
            "default/web",
            ["198.51.100.10"],
            "blue",
            ["frr"],
        )
        assert views["l2"]({}) == []
        explained = views["explain"]({"service": "default/web"})
        assert explained["found"] is True and explained["ips"] == ["198.51.100.10"]
        assert list(views["config"]({})["objects"]["BGPPeer"]) == ["frr"]
