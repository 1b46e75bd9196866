"""The controller role against the emulator through the real kubernetes-asyncio client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from kubernetes_asyncio.client import ApiClient

from lbd.kube.api import KubeApi
from lbd.kube.controller import ingress_ips
from lbd.kube.resources import SERVICES
from lbd.kube.runner import KubeOptions, KubeRunner
from lbd.metrics import Metrics
from tests.kube_emulator import KubeEmulator
from tests.unit.kube.objects import FAST, NS, SHORT_LEASE, eventually, pool, service

Obj = dict[str, Any]


@asynccontextmanager
async def controller(
    client: ApiClient, identity: str = "c1", metrics: Metrics | None = None
) -> AsyncIterator[KubeRunner]:
    options = KubeOptions(
        namespace=NS,
        controller=True,
        speaker=False,
        identity=identity,
        lease=SHORT_LEASE,
        reflector=FAST,
        debounce=0.01,
        retry_delay=0.1,
    )
    runner = KubeRunner(client, options, metrics=metrics)
    await runner.start()
    try:
        yield runner
    finally:
        await runner.stop()


def svc(emulator: KubeEmulator, name: str, namespace: str = "default") -> Obj:
    return emulator.get("v1", "Service", name, namespace)


def events(emulator: KubeEmulator, name: str | None = None) -> list[tuple[str, str, str]]:
    found = [
        (e["type"], e["reason"], e["message"])
        for e in emulator.list_objects("v1", "Event")
        if name is None or e["involvedObject"]["name"] == name
    ]
    return sorted(found)


def has_ingress(emulator: KubeEmulator, name: str) -> Callable[[], list[str]]:
    return lambda: ingress_ips(svc(emulator, name))


async def test_allocates_writes_status_annotation_and_event(
    kube_emulator: KubeEmulator, api_client: ApiClient
) -> None:
    kube_emulator.create(pool("blue", "198.51.100.10-198.51.100.11"))
    kube_emulator.create(service("web"))
    async with controller(api_client) as runner:
        assert await eventually(has_ingress(kube_emulator, "web"), what="ingress") == ["198.51.100.10"]
        obj = svc(kube_emulator, "web")
        assert obj["metadata"]["annotations"]["metallb.io/ip-allocated-from-pool"] == "blue"
        await eventually(lambda: events(kube_emulator, "web"), what="event")
        assert events(kube_emulator, "web") == [("Normal", "IPAllocated", 'Assigned IP "198.51.100.10"')]
        event = kube_emulator.list_objects("v1", "Event")[0]
        assert event["source"]["component"] == "metallb-controller"
        assert event["reportingInstance"] == "c1"
        assert event["involvedObject"]["uid"] == obj["metadata"]["uid"]

        # The pool is full: the next Service fails with MetalLB's event, and stays without ingress.
        kube_emulator.create(service("second"))
        kube_emulator.create(service("third"))
        await eventually(lambda: events(kube_emulator, "third"), what="failure event")
        assert events(kube_emulator, "third") == [
            ("Warning", "AllocationFailed", 'Failed to allocate IP for "default/third": no available IPs')
        ]
        assert ingress_ips(svc(kube_emulator, "third")) == []
        assert "annotations" not in svc(kube_emulator, "third")["metadata"]
        passes = runner.controller.passes if runner.controller else 0
        assert passes >= 1


async def test_readopts_existing_assignments(kube_emulator: KubeEmulator, api_client: ApiClient) -> None:
    kube_emulator.create(pool("blue", "198.51.100.0/29"))
    kube_emulator.create(service("held", ingress=("198.51.100.5",)))
    kube_emulator.create(service("fresh"))
    async with controller(api_client) as runner:
        assert await eventually(has_ingress(kube_emulator, "fresh")) == ["198.51.100.0"]
        await eventually(lambda: "annotations" in svc(kube_emulator, "held")["metadata"])
        assert ingress_ips(svc(kube_emulator, "held")) == ["198.51.100.5"]
        # Re-adoption is silent: only the new allocation is an event.
        await runner.recorders[0].flush()
        assert [e[1] for e in events(kube_emulator)] == ["IPAllocated"]


async def test_pool_change_reallocates_with_events(
    kube_emulator: KubeEmulator, api_client: ApiClient
) -> None:
    kube_emulator.create(pool("blue", "198.51.100.10/32"))
    kube_emulator.create(service("web"))
    async with controller(api_client) as runner:
        await eventually(has_ingress(kube_emulator, "web"))
        changed = kube_emulator.get("metallb.io/v1beta1", "IPAddressPool", "blue", NS)
        changed["spec"]["addresses"] = ["198.51.100.20/32"]
        kube_emulator.replace(changed)
        assert await eventually(
            lambda: ingress_ips(svc(kube_emulator, "web")) == ["198.51.100.20"], what="reallocation"
        )
        await runner.recorders[0].flush()
        assert events(kube_emulator, "web") == [
            ("Normal", "ClearAssignment", _clear_message()),
            ("Normal", "IPAllocated", 'Assigned IP "198.51.100.10"'),
            ("Normal", "IPAllocated", 'Assigned IP "198.51.100.20"'),
        ]


def _clear_message() -> str:
    return (
        'current IP for "default/web" not allowed by config, will attempt for new IP assignment: '
        '"198.51.100.10" is not allowed in config'
    )


async def test_service_leaving_loadbalancer_is_cleared(
    kube_emulator: KubeEmulator, api_client: ApiClient
) -> None:
    kube_emulator.create(pool("blue", "198.51.100.10/32"))
    kube_emulator.create(service("web"))
    async with controller(api_client):
        await eventually(has_ingress(kube_emulator, "web"))
        obj = svc(kube_emulator, "web")
        obj["spec"]["type"] = "ClusterIP"
        kube_emulator.replace(obj)
        await eventually(lambda: not ingress_ips(svc(kube_emulator, "web")), what="cleared status")
        await eventually(
            lambda: (
                "metallb.io/ip-allocated-from-pool"
                not in svc(kube_emulator, "web")["metadata"]["annotations"]
            )
        )


async def test_invalid_config_is_rejected_whole_and_last_good_stays(
    kube_emulator: KubeEmulator, api_client: ApiClient
) -> None:
    kube_emulator.create(pool("blue", "198.51.100.10/31"))
    metrics = Metrics(process_metrics=False)
    async with controller(api_client, metrics=metrics) as runner:
        kube_emulator.create(service("a"))
        await eventually(has_ingress(kube_emulator, "a"))
        # Overlapping pools make the whole set invalid; the new pool is not used, the old one is.
        kube_emulator.create(pool("green", "198.51.100.11/32", "198.51.100.200/32"))
        kube_emulator.create(service("b"))
        assert await eventually(has_ingress(kube_emulator, "b")) == ["198.51.100.11"]
        await eventually(lambda: events(kube_emulator, "green"), what="config event")
        ((type_, reason, message),) = events(kube_emulator, "green")
        assert (type_, reason) == ("Warning", "InvalidConfig")
        assert "overlap" in message
        samples = metrics.samples()
        assert samples["metallb_k8s_client_config_stale_bool"][0].value == 1.0
        assert samples["metallb_k8s_client_config_loaded_bool"][0].value == 1.0
        assert runner.sources.stale
        kube_emulator.delete("metallb.io/v1beta1", "IPAddressPool", "green", NS)
        await eventually(lambda: not runner.sources.stale, what="fresh config")
        assert metrics.samples()["metallb_k8s_client_config_stale_bool"][0].value == 0.0


async def test_conflicting_write_is_retried_on_the_fresh_object(
    kube_emulator: KubeEmulator, api_client: ApiClient
) -> None:
    stale = kube_emulator.create(service("web"))
    # Someone else changes the Service after we read it.
    fresh = kube_emulator.get("v1", "Service", "web", "default")
    fresh["metadata"]["labels"] = {"team": "a"}
    kube_emulator.replace(fresh)
    api = KubeApi(api_client)
    seen: list[str] = []

    def annotate(obj: Obj) -> Obj:
        seen.append(obj["metadata"]["resourceVersion"])
        obj["metadata"].setdefault("annotations", {})["k"] = "v"
        return obj

    written = await api.update(SERVICES, "default", "web", annotate, current=stale)
    assert len(seen) == 2 and seen[0] == stale["metadata"]["resourceVersion"]
    assert written["metadata"]["labels"] == {"team": "a"}  # the other writer's change is kept
    assert written["metadata"]["annotations"] == {"k": "v"}
    conflicts = [r for r in kube_emulator.requests if r[0] == "PUT"]
    assert len(conflicts) == 2


async def test_only_the_lease_holder_allocates_and_a_successor_takes_over(
    kube_emulator: KubeEmulator, api_client: ApiClient, kubeconfig: Any
) -> None:
    from kubernetes_asyncio import config

    other_client = await config.new_client_from_config(config_file=str(kubeconfig))
    kube_emulator.create(pool("blue", "198.51.100.0/28"))
    try:
        async with controller(api_client, "c1") as first, controller(other_client, "c2") as second:
            runners = {"c1": first, "c2": second}
            await eventually(lambda: _holder(kube_emulator), what="a lease holder")
            kube_emulator.create(service("a"))
            await eventually(has_ingress(kube_emulator, "a"))
            await eventually(lambda: _allocated_by(kube_emulator, "a"), what="the IPAllocated event")
            # Whoever wrote did so while holding the Lease, and the other wrote nothing.
            (writer,) = _allocated_by(kube_emulator, "a")
            standby = "c2" if writer == "c1" else "c1"
            assert _controller(runners[writer]).writes == 2
            assert _controller(runners[standby]).writes == 0

            # The holder dies without releasing: the other takes over once the lease has run out.
            holder = _holder(kube_emulator)
            assert holder is not None
            other = "c2" if holder == "c1" else "c1"
            loop = asyncio.get_running_loop()
            killed_at = loop.time()
            await runners[holder].stop(release=False)
            await eventually(lambda: _holder(kube_emulator) == other, timeout=10.0, what="takeover")
            s = SHORT_LEASE
            # The lease duration, one retry period with its jitter, and a margin for a loaded machine.
            assert loop.time() - killed_at < s.lease_duration + s.retry_period * (1 + s.jitter) + 2.0
            kube_emulator.create(service("b"))
            assert await eventually(has_ingress(kube_emulator, "b")) == ["198.51.100.1"]
            await eventually(
                lambda: _allocated_by(kube_emulator, "b") == {other}, what="the successor's event"
            )
            lease = kube_emulator.get("coordination.k8s.io/v1", "Lease", "lbd-controller", NS)
            assert lease["spec"]["leaseTransitions"] >= 1
    finally:
        await other_client.close()


def _controller(runner: KubeRunner) -> Any:
    assert runner.controller is not None
    return runner.controller


def _allocated_by(emulator: KubeEmulator, name: str) -> set[str]:
    return {
        e["reportingInstance"]
        for e in emulator.list_objects("v1", "Event")
        if e["involvedObject"]["name"] == name and e["reason"] == "IPAllocated"
    }


async def test_released_lease_is_taken_at_once(kube_emulator: KubeEmulator, api_client: ApiClient) -> None:
    async with controller(api_client, "c1"):
        await eventually(lambda: _holder(kube_emulator) == "c1")
    lease = kube_emulator.get("coordination.k8s.io/v1", "Lease", "lbd-controller", NS)
    assert lease["spec"]["holderIdentity"] == ""
    async with controller(api_client, "c2"):
        # No waiting for the old term: the released lease is free.
        await eventually(lambda: _holder(kube_emulator) == "c2", timeout=SHORT_LEASE.lease_duration - 0.5)


def _holder(emulator: KubeEmulator) -> str | None:
    try:
        lease = emulator.get("coordination.k8s.io/v1", "Lease", "lbd-controller", NS)
    except Exception:
        return None
    return lease["spec"].get("holderIdentity") or None
