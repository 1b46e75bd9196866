"""The emulator as the real kubernetes-asyncio client sees it: typed APIs, Watch, errors, faults."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio import client, config, watch
from kubernetes_asyncio.client import ApiClient, ApiException

from tests.kube_emulator import KubeEmulator

NS = "metallb-system"


def _service(name: str, namespace: str = "default", labels: dict[str, str] | None = None) -> client.V1Service:
    return client.V1Service(
        metadata=client.V1ObjectMeta(name=name, namespace=namespace, labels=labels),
        spec=client.V1ServiceSpec(type="LoadBalancer", ports=[client.V1ServicePort(port=80)]),
    )


def _status(err: ApiException) -> dict[str, Any]:
    assert err.body is not None
    status: dict[str, Any] = json.loads(err.body)
    assert status["kind"] == "Status"
    assert status["code"] == err.status
    return status


def _pool(name: str, addresses: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"addresses": addresses},
    }


async def test_list_with_selectors_and_paging(api_client: ApiClient) -> None:
    v1 = client.CoreV1Api(api_client)
    for i in range(5):
        await v1.create_namespaced_service(
            "default", _service(f"svc{i}", labels={"tier": "a" if i < 3 else "b"})
        )
    await v1.create_namespaced_service("other", _service("svc9", namespace="other"))

    everything = await v1.list_service_for_all_namespaces()
    assert [s.metadata.name for s in everything.items] == ["svc0", "svc1", "svc2", "svc3", "svc4", "svc9"]
    assert int(everything.metadata.resource_version) == max(
        int(s.metadata.resource_version) for s in everything.items
    )
    assert len((await v1.list_namespaced_service("other")).items) == 1
    tier_b = await v1.list_namespaced_service("default", label_selector="tier in (b)")
    assert [s.metadata.name for s in tier_b.items] == ["svc3", "svc4"]
    not_a = await v1.list_service_for_all_namespaces(label_selector="tier!=a")
    assert [s.metadata.name for s in not_a.items] == ["svc3", "svc4", "svc9"]
    by_name = await v1.list_service_for_all_namespaces(field_selector="metadata.name=svc1")
    assert [s.metadata.name for s in by_name.items] == ["svc1"]
    by_ns = await v1.list_service_for_all_namespaces(field_selector="metadata.namespace!=default")
    assert [s.metadata.name for s in by_ns.items] == ["svc9"]

    names: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await v1.list_service_for_all_namespaces(limit=2, _continue=token)
        pages += 1
        names.extend(s.metadata.name for s in page.items)
        assert page.metadata.resource_version == everything.metadata.resource_version
        token = page.metadata._continue
        if not token:
            break
    assert pages == 3
    assert names == ["svc0", "svc1", "svc2", "svc3", "svc4", "svc9"]


async def test_watch_events_and_bookmarks(api_client: ApiClient, kube_emulator: KubeEmulator) -> None:
    v1 = client.CoreV1Api(api_client)
    await v1.create_namespaced_service("default", _service("before"))
    listed = await v1.list_namespaced_service("default")
    seen: list[tuple[str, str]] = []
    w = watch.Watch()
    stream = w.stream(
        v1.list_namespaced_service,
        "default",
        resource_version=listed.metadata.resource_version,
        allow_watch_bookmarks=True,
        timeout_seconds=5,
    )

    async def writer() -> None:
        await v1.create_namespaced_service("default", _service("a"))
        await v1.patch_namespaced_service("a", "default", {"metadata": {"labels": {"x": "y"}}})
        await v1.delete_namespaced_service("a", "default")
        kube_emulator.send_bookmarks()

    task = asyncio.create_task(writer())
    async with w:
        async for event in stream:
            seen.append((event["type"], event["raw_object"]["metadata"].get("name", "")))
            if event["type"] == "BOOKMARK":
                bookmark_rv = event["raw_object"]["metadata"]["resourceVersion"]
                break
    await task
    assert seen == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a"), ("BOOKMARK", "")]
    assert int(bookmark_rv) == kube_emulator.storage.rv


async def test_watch_without_resource_version_starts_with_current_objects(api_client: ApiClient) -> None:
    v1 = client.CoreV1Api(api_client)
    await v1.create_namespaced_service("default", _service("x"))
    async with watch.Watch() as w:
        events = [e async for e in w.stream(v1.list_namespaced_service, "default", timeout_seconds=1)]
    assert [(e["type"], e["object"].metadata.name) for e in events] == [("ADDED", "x")]


async def test_watch_honours_timeout_seconds(api_client: ApiClient) -> None:
    v1 = client.CoreV1Api(api_client)
    started = time.monotonic()
    async with watch.Watch() as w:
        events = [e async for e in w.stream(v1.list_node, timeout_seconds=1)]
    assert events == []
    assert 0.9 < time.monotonic() - started < 3.0


async def test_watch_from_compacted_resource_version_is_410(
    api_client: ApiClient, kube_emulator: KubeEmulator
) -> None:
    v1 = client.CoreV1Api(api_client)
    await v1.create_namespaced_service("default", _service("a"))
    old_rv = (await v1.list_namespaced_service("default")).metadata.resource_version
    await v1.create_namespaced_service("default", _service("b"))
    kube_emulator.compact()
    with pytest.raises(ApiException) as info:
        async with watch.Watch() as w:
            async for _ in w.stream(
                v1.list_namespaced_service, "default", resource_version=old_rv, timeout_seconds=2
            ):
                pass
    assert info.value.status == 410
    assert "Expired" in str(info.value.reason)

    # A bounded history has the same effect once enough writes have passed.
    small = KubeEmulator(history=2)
    await small.start()
    try:
        small.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n0"}})
        first = small.storage.rv
        for i in range(1, 4):
            small.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"n{i}"}})
        assert small.storage.window_start > first
    finally:
        await small.stop()


async def test_conflicting_update_is_409(api_client: ApiClient) -> None:
    v1 = client.CoreV1Api(api_client)
    created = await v1.create_namespaced_service("default", _service("a"))
    fresh = await v1.read_namespaced_service("a", "default")
    fresh.metadata.labels = {"v": "1"}
    updated = await v1.replace_namespaced_service("a", "default", fresh)
    assert int(updated.metadata.resource_version) > int(created.metadata.resource_version)

    created.metadata.labels = {"v": "stale"}
    with pytest.raises(ApiException) as info:
        await v1.replace_namespaced_service("a", "default", created)
    assert info.value.status == 409
    assert "the object has been modified" in _status(info.value)["message"]
    with pytest.raises(ApiException) as dup:
        await v1.create_namespaced_service("default", _service("a"))
    assert dup.value.status == 409
    assert _status(dup.value)["reason"] == "AlreadyExists"


async def test_status_subresource(api_client: ApiClient) -> None:
    v1 = client.CoreV1Api(api_client)
    await v1.create_namespaced_service("default", _service("a"))
    svc = await v1.read_namespaced_service("a", "default")
    svc.status = client.V1ServiceStatus(
        load_balancer=client.V1LoadBalancerStatus(ingress=[client.V1LoadBalancerIngress(ip="192.0.2.10")])
    )
    svc.spec.ports[0].port = 8080
    after_status = await v1.replace_namespaced_service_status("a", "default", svc)
    assert after_status.status.load_balancer.ingress[0].ip == "192.0.2.10"
    assert after_status.spec.ports[0].port == 80  # spec changes are ignored on /status
    assert after_status.metadata.generation == 1

    after_status.status.load_balancer.ingress[0].ip = "192.0.2.99"
    after_status.spec.ports[0].port = 443
    after_main = await v1.replace_namespaced_service("a", "default", after_status)
    assert (
        after_main.status.load_balancer.ingress[0].ip == "192.0.2.10"
    )  # status ignored on the main resource
    assert after_main.spec.ports[0].port == 443
    assert after_main.metadata.generation == 2

    patched = await v1.patch_namespaced_service_status(
        "a", "default", {"status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.1"}]}}}
    )
    assert patched.status.load_balancer.ingress[0].ip == "198.51.100.1"
    assert patched.metadata.generation == 2


async def test_patch_flavours(api_client: ApiClient) -> None:
    v1 = client.CoreV1Api(api_client)
    await v1.create_namespaced_service("default", _service("a", labels={"keep": "1", "drop": "1"}))
    # A dict body is sent as a strategic merge patch: ports merge on their `port` key.
    svc = await v1.patch_namespaced_service(
        "a", "default", {"metadata": {"labels": {"drop": None}}, "spec": {"ports": [{"port": 81}]}}
    )
    assert svc.metadata.labels == {"keep": "1"}
    assert sorted(p.port for p in svc.spec.ports) == [80, 81]
    # A list body is a JSON patch.
    svc = await v1.patch_namespaced_service(
        "a", "default", [{"op": "replace", "path": "/spec/ports/0/port", "value": 90}]
    )
    assert sorted(p.port for p in svc.spec.ports) == [81, 90]
    with pytest.raises(ApiException) as info:
        await v1.patch_namespaced_service(
            "a", "default", [{"op": "test", "path": "/spec/type", "value": "x"}]
        )
    assert info.value.status == 422


async def test_not_found_and_invalid(api_client: ApiClient) -> None:
    v1 = client.CoreV1Api(api_client)
    with pytest.raises(ApiException) as missing:
        await v1.read_namespaced_service("nope", "default")
    assert missing.value.status == 404
    status = _status(missing.value)
    assert (status["kind"], status["reason"], status["code"]) == ("Status", "NotFound", 404)
    assert status["message"] == 'services "nope" not found'
    with pytest.raises(ApiException) as bad:
        await v1.create_namespaced_service("default", _service("Not_Valid"))
    assert bad.value.status == 422
    assert _status(bad.value)["reason"] == "Invalid"


async def test_leases(api_client: ApiClient) -> None:
    leases = client.CoordinationV1Api(api_client)
    lease = client.V1Lease(
        metadata=client.V1ObjectMeta(name="lbd-controller"),
        spec=client.V1LeaseSpec(holder_identity="node-a", lease_duration_seconds=15),
    )
    created = await leases.create_namespaced_lease(NS, lease)
    created.spec.holder_identity = "node-b"
    taken = await leases.replace_namespaced_lease("lbd-controller", NS, created)
    assert taken.spec.holder_identity == "node-b"
    created.spec.holder_identity = "node-c"  # built on the old resourceVersion: loses the race
    with pytest.raises(ApiException) as info:
        await leases.replace_namespaced_lease("lbd-controller", NS, created)
    assert info.value.status == 409
    assert (await leases.read_namespaced_lease("lbd-controller", NS)).spec.holder_identity == "node-b"


async def test_events(api_client: ApiClient) -> None:
    v1 = client.CoreV1Api(api_client)
    event = client.CoreV1Event(
        metadata=client.V1ObjectMeta(generate_name="a."),
        involved_object=client.V1ObjectReference(kind="Service", name="a", namespace="default"),
        reason="IPAllocated",
        message='Assigned IP ["192.0.2.10"]',
        type="Normal",
    )
    created = await v1.create_namespaced_event("default", event)
    assert created.metadata.name.startswith("a.")
    found = await v1.list_namespaced_event(
        "default", field_selector="involvedObject.name=a,reason=IPAllocated"
    )
    assert [e.message for e in found.items] == ['Assigned IP ["192.0.2.10"]']


async def test_custom_objects(api_client: ApiClient) -> None:
    custom = client.CustomObjectsApi(api_client)
    created = await custom.create_namespaced_custom_object(
        "metallb.io", "v1beta1", NS, "ipaddresspools", _pool("p1", ["192.0.2.0/28"])
    )
    assert created["metadata"]["uid"]
    assert created["apiVersion"] == "metallb.io/v1beta1"
    peer = {
        "apiVersion": "metallb.io/v1beta2",
        "kind": "BGPPeer",
        "metadata": {"name": "frr"},
        "spec": {"myASN": 64500, "peerASN": 64501, "peerAddress": "192.0.2.1"},
    }
    await custom.create_namespaced_custom_object("metallb.io", "v1beta2", NS, "bgppeers", peer)
    # One storage, two served versions.
    as_v1beta1 = await custom.get_namespaced_custom_object("metallb.io", "v1beta1", NS, "bgppeers", "frr")
    assert as_v1beta1["apiVersion"] == "metallb.io/v1beta1"
    listed = await custom.list_cluster_custom_object("metallb.io", "v1beta1", "ipaddresspools")
    assert [p["metadata"]["name"] for p in listed["items"]] == ["p1"]
    assert listed["items"][0]["kind"] == "IPAddressPool"

    patched = await custom.patch_namespaced_custom_object(
        "metallb.io",
        "v1beta1",
        NS,
        "ipaddresspools",
        "p1",
        {"spec": {"autoAssign": False}},
        _content_type="application/merge-patch+json",  # type: ignore[call-arg]  # missing from the stub
    )
    assert patched["spec"] == {"addresses": ["192.0.2.0/28"], "autoAssign": False}
    assert patched["metadata"]["generation"] == 2
    # Without the content type the client announces a JSON patch for a dict body; a real API server
    # rejects that, and so does the emulator.
    with pytest.raises(ApiException) as info:
        await custom.patch_namespaced_custom_object(
            "metallb.io", "v1beta1", NS, "ipaddresspools", "p1", {"spec": {"autoAssign": True}}
        )
    assert info.value.status == 400
    await custom.delete_namespaced_custom_object("metallb.io", "v1beta1", NS, "ipaddresspools", "p1")
    with pytest.raises(ApiException) as gone:
        await custom.get_namespaced_custom_object("metallb.io", "v1beta1", NS, "ipaddresspools", "p1")
    assert gone.value.status == 404
    assert _status(gone.value)["message"] == 'ipaddresspools.metallb.io "p1" not found'


async def test_discovery(api_client: ApiClient) -> None:
    core = await client.CoreApi(api_client).get_api_versions()
    assert core.versions == ["v1"]
    groups = await client.ApisApi(api_client).get_api_versions()
    by_name = {g.name: [v.version for v in g.versions] for g in groups.groups}
    assert by_name["metallb.io"] == ["v1beta1", "v1beta2"]
    assert by_name["coordination.k8s.io"] == ["v1"]
    resources = await client.CoreV1Api(api_client).get_api_resources()
    names = {r.name for r in resources.resources}
    assert {"services", "services/status", "nodes", "secrets", "events"} <= names
    slices = await client.DiscoveryV1Api(api_client).get_api_resources()
    assert [r.name for r in slices.resources] == ["endpointslices"]


async def test_global_kubeconfig_loading(kubeconfig: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # load_kube_config sets the process-wide default configuration; undo that after the test.
    monkeypatch.setattr(client.Configuration, "_default", None)
    await config.load_kube_config(config_file=str(kubeconfig))
    async with ApiClient() as api:
        nodes = await client.CoreV1Api(api).list_node()
    assert nodes.items == []


async def test_injected_errors_and_latency(api_client: ApiClient, kube_emulator: KubeEmulator) -> None:
    v1 = client.CoreV1Api(api_client)
    kube_emulator.fail_requests(2)
    for _ in range(2):
        with pytest.raises(ApiException) as info:
            await v1.list_node()
        assert info.value.status == 500
    await v1.list_node()

    kube_emulator.fail_requests(None, status=503, path=r"/nodes")
    with pytest.raises(ApiException) as unavailable:
        await v1.list_node()
    assert unavailable.value.status == 503
    await v1.list_service_for_all_namespaces()  # other paths are unaffected
    kube_emulator.clear_faults()
    await v1.list_node()

    kube_emulator.latency = 0.3
    started = time.monotonic()
    await v1.list_node()
    assert time.monotonic() - started >= 0.3


async def test_outage_refuses_then_recovers(api_client: ApiClient, kube_emulator: KubeEmulator) -> None:
    v1 = client.CoreV1Api(api_client)
    await v1.list_node()  # a kept-alive connection exists now
    await kube_emulator.outage(0.5)
    assert kube_emulator.in_outage
    with pytest.raises(aiohttp.ClientError):
        await v1.list_node(_request_timeout=2)
    with pytest.raises(aiohttp.ClientConnectorError):
        await v1.list_node(_request_timeout=2)
    await asyncio.sleep(0.7)
    assert not kube_emulator.in_outage
    await v1.list_node()


async def test_dropped_watch_is_seen_by_the_client(
    api_client: ApiClient, kube_emulator: KubeEmulator
) -> None:
    v1 = client.CoreV1Api(api_client)
    rv = (await v1.list_node()).metadata.resource_version

    async def drop_soon(abort: bool) -> None:
        for _ in range(500):
            if kube_emulator.open_watches:
                break
            await asyncio.sleep(0.01)
        kube_emulator.drop_watches(abort=abort)

    task = asyncio.create_task(drop_soon(abort=True))
    with pytest.raises(aiohttp.ClientPayloadError):
        async with watch.Watch() as w:
            async for _ in w.stream(v1.list_node, resource_version=rv, timeout_seconds=5):
                pass
    await task

    # A clean drop ends the stream like a server-side timeout.
    task = asyncio.create_task(drop_soon(abort=False))
    async with watch.Watch() as w:
        events = [e async for e in w.stream(v1.list_node, resource_version=rv, timeout_seconds=5)]
    await task
    assert events == []


async def test_validators_and_delete_preconditions(
    api_client: ApiClient, kube_emulator: KubeEmulator
) -> None:
    def needs_communities(obj: dict[str, Any]) -> list[str]:
        if obj.get("spec", {}).get("communities"):
            return []
        return ["spec.communities: Required value"]

    # Community's CRD schema (installed by the fixture) accepts an empty spec; this validator does not.
    kube_emulator.add_validator("metallb.io/v1beta1", "Community", needs_communities)
    custom = client.CustomObjectsApi(api_client)
    empty = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "Community",
        "metadata": {"name": "c", "namespace": NS},
        "spec": {},
    }
    with pytest.raises(ApiException) as info:
        await custom.create_namespaced_custom_object("metallb.io", "v1beta1", NS, "communities", empty)
    assert _status(info.value)["details"]["causes"] == [
        {"reason": "FieldValueInvalid", "message": "spec.communities: Required value"}
    ]

    v1 = client.CoreV1Api(api_client)
    created = await v1.create_namespaced_service("default", _service("a"))
    stale = client.V1DeleteOptions(preconditions=client.V1Preconditions(resource_version="1"))
    with pytest.raises(ApiException) as conflict:
        await v1.delete_namespaced_service("a", "default", body=stale)
    assert conflict.value.status == 409
    fresh = client.V1DeleteOptions(
        preconditions=client.V1Preconditions(resource_version=created.metadata.resource_version)
    )
    await v1.delete_namespaced_service("a", "default", body=fresh)
    assert kube_emulator.list_objects("v1", "Service") == []
