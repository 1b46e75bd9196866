"""Reflectors against the emulator: list then watch, resume, re-list on 410, and fail static."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import certifi
import pytest
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.config import incluster_config

from lbd.kube import (
    IP_ADDRESS_POOLS,
    NODES,
    SERVICES,
    CallbackError,
    Change,
    Informers,
    Reflector,
    ReflectorSettings,
    WatchTarget,
    default_targets,
    new_api_client,
)
from tests.kube_emulator import KubeEmulator

NS = "metallb-system"
FAST = ReflectorSettings(
    page_size=2,
    watch_timeout=30.0,
    read_grace=5.0,
    request_timeout=5.0,
    connect_timeout=1.0,
    backoff_initial=0.05,
    backoff_max=0.2,
    backoff_jitter=0.5,
    min_watch_duration=0.2,
)


def _node(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}}


def _service(name: str, namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
    }


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


class Recorder:
    def __init__(self) -> None:
        self.changes: list[Change] = []

    def __call__(self, changes: Sequence[Change]) -> None:
        self.changes.extend(changes)

    def summary(self) -> list[tuple[str, str]]:
        return [(c.type, c.key[1]) for c in self.changes]


@pytest.fixture
async def node_reflector(api_client: ApiClient) -> AsyncIterator[tuple[Reflector, Recorder]]:
    recorder = Recorder()
    reflector = Reflector(api_client, WatchTarget(NODES), recorder, settings=FAST, rng=random.Random(7))
    reflector.start()
    try:
        yield reflector, recorder
    finally:
        await reflector.stop()


def _names(reflector: Reflector) -> list[str]:
    return [o["metadata"]["name"] for o in reflector.store.items()]


async def test_list_pages_then_watch(kube_emulator: KubeEmulator, api_client: ApiClient) -> None:
    for i in range(5):
        kube_emulator.create(_node(f"n{i}"))
    recorder = Recorder()
    reflector = Reflector(api_client, WatchTarget(NODES), recorder, settings=FAST)
    reflector.start()
    try:
        await reflector.wait_synced(5)
        assert _names(reflector) == ["n0", "n1", "n2", "n3", "n4"]
        assert recorder.summary() == [("ADDED", f"n{i}") for i in range(5)]
        # List items of built-in kinds come without apiVersion/kind; the store fills them in.
        assert reflector.store.items()[0]["apiVersion"] == "v1"
        assert reflector.store.items()[0]["kind"] == "Node"
        lists = [p for m, p in kube_emulator.requests if "/nodes" in p and "watch" not in p]
        assert len(lists) == 3  # five nodes in pages of two

        recorder.changes.clear()
        kube_emulator.create(_node("n5"))
        obj = kube_emulator.get("v1", "Node", "n0")
        obj["metadata"]["labels"] = {"zone": "a"}
        kube_emulator.replace(obj)
        kube_emulator.delete("v1", "Node", "n1")
        await eventually(lambda: len(recorder.changes) == 3)
        assert recorder.summary() == [("ADDED", "n5"), ("MODIFIED", "n0"), ("DELETED", "n1")]
        assert reflector.store.get("", "n0") == {**kube_emulator.get("v1", "Node", "n0")}
        assert reflector.resource_version == str(kube_emulator.storage.rv)
        assert reflector.lists == 1
    finally:
        await reflector.stop()


async def test_bookmarks_advance_the_resource_version(
    kube_emulator: KubeEmulator, node_reflector: tuple[Reflector, Recorder]
) -> None:
    reflector, recorder = node_reflector
    await reflector.wait_synced(5)
    # Writes to another kind move the global revision; only a bookmark tells the node watch about it.
    kube_emulator.create(_service("s1"))
    await eventually(lambda: reflector.resource_version == str(kube_emulator.storage.rv))
    assert recorder.changes == []


async def test_dropped_watch_resumes_from_last_resource_version(
    kube_emulator: KubeEmulator, node_reflector: tuple[Reflector, Recorder]
) -> None:
    reflector, recorder = node_reflector
    kube_emulator.create(_node("a"))
    await reflector.wait_synced(5)
    await eventually(lambda: kube_emulator.open_watches == 1)
    await kube_emulator.start_outage()
    kube_emulator.create(_node("b"))  # written while the reflector cannot see it
    await kube_emulator.end_outage()
    await eventually(lambda: _names(reflector) == ["a", "b"])
    assert reflector.lists == 1  # resumed the watch, no re-list
    assert recorder.summary() == [("ADDED", "a"), ("ADDED", "b")]

    await eventually(lambda: kube_emulator.open_watches == 1)
    kube_emulator.drop_watches(abort=True)
    kube_emulator.create(_node("c"))
    await eventually(lambda: _names(reflector) == ["a", "b", "c"])
    kube_emulator.drop_watches(abort=False)
    kube_emulator.create(_node("d"))
    await eventually(lambda: _names(reflector) == ["a", "b", "c", "d"])
    assert reflector.lists == 1
    resumed = [p for m, p in kube_emulator.requests if "watch=true" in p]
    assert len(resumed) >= 3
    assert all("resourceVersion=" in p and "allowWatchBookmarks=true" in p for p in resumed)


async def test_gone_relists_and_reports_the_difference(
    kube_emulator: KubeEmulator, node_reflector: tuple[Reflector, Recorder]
) -> None:
    reflector, recorder = node_reflector
    kube_emulator.create(_node("keep"))
    kube_emulator.create(_node("drop"))
    await reflector.wait_synced(5)
    await eventually(lambda: kube_emulator.open_watches == 1)
    await kube_emulator.start_outage()
    kube_emulator.delete("v1", "Node", "drop")
    kube_emulator.create(_node("new"))
    kube_emulator.compact()  # the resource version the reflector holds is now too old
    recorder.changes.clear()
    await kube_emulator.end_outage()
    await eventually(lambda: reflector.lists == 2)
    await eventually(lambda: _names(reflector) == ["keep", "new"])
    # The re-list is a diff against what was known: the unchanged object is not removed and re-added.
    assert sorted(recorder.summary()) == [("ADDED", "new"), ("DELETED", "drop")]


async def test_gone_inside_an_open_watch(
    kube_emulator: KubeEmulator, node_reflector: tuple[Reflector, Recorder]
) -> None:
    reflector, _ = node_reflector
    await reflector.wait_synced(5)
    await eventually(lambda: kube_emulator.open_watches == 1)
    kube_emulator.fail_requests(None, status=500, path="watch=true")
    kube_emulator.drop_watches()
    kube_emulator.create(_node("x"))
    kube_emulator.compact()
    await eventually(lambda: reflector.failures >= 2)
    assert reflector.lists == 1
    kube_emulator.clear_faults()
    # The next watch gets 200 and then an ERROR event with a 410 Status in the stream, as from the
    # API server's watch cache; the reflector lists again.
    await eventually(lambda: reflector.lists == 2 and _names(reflector) == ["x"])


async def test_server_errors_back_off_and_keep_the_store(
    kube_emulator: KubeEmulator, node_reflector: tuple[Reflector, Recorder]
) -> None:
    reflector, recorder = node_reflector
    kube_emulator.create(_node("a"))
    await reflector.wait_synced(5)
    await eventually(lambda: kube_emulator.open_watches == 1)
    kube_emulator.fail_requests(None, status=500, path="/api/v1/nodes")
    kube_emulator.drop_watches()
    await eventually(lambda: reflector.failures >= 3)
    assert not reflector.connected
    assert reflector.last_error is not None and "500" in reflector.last_error
    assert _names(reflector) == ["a"]
    kube_emulator.clear_faults()
    kube_emulator.create(_node("b"))
    await eventually(lambda: _names(reflector) == ["a", "b"])
    assert reflector.connected
    assert reflector.failures == 0
    assert reflector.last_error is None
    assert [c.type for c in recorder.changes] == ["ADDED", "ADDED"]


async def test_initial_list_failure_is_retried(kube_emulator: KubeEmulator, api_client: ApiClient) -> None:
    kube_emulator.create(_node("a"))
    kube_emulator.fail_requests(3, status=503)
    reflector = Reflector(api_client, WatchTarget(NODES), settings=FAST)
    reflector.start()
    try:
        await reflector.wait_synced(5)
        assert _names(reflector) == ["a"]
        assert reflector.lists == 1
    finally:
        await reflector.stop()


async def test_outage_keeps_the_store_then_catches_up_without_flap(
    kube_emulator: KubeEmulator, node_reflector: tuple[Reflector, Recorder]
) -> None:
    reflector, recorder = node_reflector
    for name in ("a", "b", "c"):
        kube_emulator.create(_node(name))
    await reflector.wait_synced(5)
    await eventually(lambda: kube_emulator.open_watches == 1)
    recorder.changes.clear()
    await kube_emulator.start_outage()
    await eventually(lambda: reflector.failures >= 2)
    assert _names(reflector) == ["a", "b", "c"]
    assert not reflector.connected
    changed = kube_emulator.get("v1", "Node", "b")
    changed["metadata"]["labels"] = {"zone": "z"}
    kube_emulator.replace(changed)
    await kube_emulator.end_outage()
    await eventually(lambda: reflector.connected and reflector.store.get("", "b") is not None)
    await eventually(lambda: (reflector.store.get("", "b") or {})["metadata"].get("labels") == {"zone": "z"})
    assert recorder.summary() == [("MODIFIED", "b")]
    assert _names(reflector) == ["a", "b", "c"]


async def test_server_side_timeout_rewatches(kube_emulator: KubeEmulator, api_client: ApiClient) -> None:
    settings = ReflectorSettings(watch_timeout=1.0, backoff_initial=0.05, min_watch_duration=0.2)
    reflector = Reflector(api_client, WatchTarget(NODES), settings=settings)
    reflector.start()
    try:
        await reflector.wait_synced(5)
        await eventually(lambda: reflector.watches >= 2, timeout=6)
        assert reflector.lists == 1
        watches = [p for m, p in kube_emulator.requests if "watch=true" in p]
        timeouts = [int(p.split("timeoutSeconds=")[1].split("&")[0]) for p in watches]
        assert all(1 <= t < 2 for t in timeouts)
    finally:
        await reflector.stop()


async def test_selectors_and_namespace(kube_emulator: KubeEmulator, api_client: ApiClient) -> None:
    kube_emulator.create(_node("a", role="speaker"))
    kube_emulator.create(_node("b"))
    reflector = Reflector(api_client, WatchTarget(NODES, label_selector="role=speaker"), settings=FAST)
    pools = Reflector(api_client, WatchTarget(IP_ADDRESS_POOLS, NS), settings=FAST)
    kube_emulator.create(
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": "elsewhere", "namespace": "other"},
            "spec": {"addresses": ["192.0.2.0/24"]},
        }
    )
    reflector.start()
    pools.start()
    try:
        await reflector.wait_synced(5)
        await pools.wait_synced(5)
        assert _names(reflector) == ["a"]
        assert _names(pools) == []
        b = kube_emulator.get("v1", "Node", "b")
        b["metadata"]["labels"] = {"role": "speaker"}
        kube_emulator.replace(b)
        await eventually(lambda: _names(reflector) == ["a", "b"])
        a = kube_emulator.get("v1", "Node", "a")
        a["metadata"]["labels"] = {}
        kube_emulator.replace(a)
        await eventually(lambda: _names(reflector) == ["b"])
    finally:
        await reflector.stop()
        await pools.stop()


async def test_callback_errors_are_not_retried(kube_emulator: KubeEmulator, api_client: ApiClient) -> None:
    kube_emulator.create(_node("a"))

    def broken(_changes: Sequence[Change]) -> None:
        raise RuntimeError("bug")

    reflector = Reflector(api_client, WatchTarget(NODES), broken, settings=FAST)
    task = reflector.start()
    with pytest.raises(CallbackError):
        await asyncio.wait_for(task, 5)


async def test_informers_for_the_daemon(kube_emulator: KubeEmulator, api_client: ApiClient) -> None:
    kube_emulator.create(_service("web"))
    kube_emulator.create(_node("n1"))
    kube_emulator.create(
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": "p", "namespace": NS},
            "spec": {"addresses": ["192.0.2.0/28"]},
        }
    )
    kube_emulator.create(
        {
            "apiVersion": "metallb.io/v1beta2",
            "kind": "BGPPeer",
            "metadata": {"name": "frr", "namespace": NS},
            "spec": {"myASN": 64500, "peerASN": 64501, "peerAddress": "192.0.2.1"},
        }
    )
    kube_emulator.create(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "default"}, "data": {}}
    )
    recorder = Recorder()
    informers = Informers(api_client, default_targets(NS), recorder, settings=FAST)
    informers.start()
    try:
        await informers.wait_synced(5)
        assert informers.synced and informers.connected
        kinds = sorted((o["apiVersion"], o["kind"], o["metadata"]["name"]) for o in informers.objects())
        assert kinds == [
            ("metallb.io/v1beta1", "IPAddressPool", "p"),
            ("metallb.io/v1beta2", "BGPPeer", "frr"),
            ("v1", "Node", "n1"),
            ("v1", "Service", "web"),
        ]  # the Secret lives outside the watched namespace
        assert [o["metadata"]["name"] for o in informers.store(SERVICES)] == ["web"]
        with pytest.raises(KeyError):
            informers.store(SERVICES, NS)
    finally:
        await informers.stop()


async def test_slow_server_times_out_then_recovers(
    kube_emulator: KubeEmulator, api_client: ApiClient
) -> None:
    kube_emulator.create(_node("a"))
    kube_emulator.latency = 1.0
    settings = ReflectorSettings(request_timeout=0.3, backoff_initial=0.05, backoff_max=0.1)
    reflector = Reflector(api_client, WatchTarget(NODES), settings=settings)
    reflector.start()
    try:
        await eventually(lambda: reflector.failures >= 1)
        assert not reflector.synced.is_set()
        assert reflector.last_error is not None and "Timeout" in reflector.last_error
        kube_emulator.latency = 0.0
        await reflector.wait_synced(5)
        assert _names(reflector) == ["a"]
    finally:
        await reflector.stop()


async def test_new_api_client_from_kubeconfig(kube_emulator: KubeEmulator, kubeconfig: Path) -> None:
    kube_emulator.create(_node("a"))
    api = await new_api_client(str(kubeconfig))
    async with api:
        reflector = Reflector(api, WatchTarget(NODES), settings=FAST)
        reflector.start()
        try:
            await reflector.wait_synced(5)
        finally:
            await reflector.stop()
    assert _names(reflector) == ["a"]
    assert any(m == "GET" for m, _ in kube_emulator.requests)


async def test_new_api_client_in_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = tmp_path / "token"
    token.write_text("sa-token")
    ca = certifi.where()  # any well-formed CA bundle; nothing connects
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(token))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", ca)
    api = await new_api_client()
    async with api:
        assert api.configuration.host == "https://127.0.0.1:6443"
        assert api.configuration.api_key["BearerToken"].endswith("sa-token")


async def test_persistent_gone_backs_off(kube_emulator: KubeEmulator, api_client: ApiClient) -> None:
    kube_emulator.create(_node("a"))
    # Every watch is answered with an HTTP 410: each re-list is followed by a backoff, not a busy loop.
    kube_emulator.fail_requests(None, status=410, path="watch=true")
    reflector = Reflector(api_client, WatchTarget(NODES), settings=FAST)
    reflector.start()
    try:
        await eventually(lambda: reflector.failures >= 3)
        assert reflector.lists == reflector.failures
        assert _names(reflector) == ["a"]
        kube_emulator.clear_faults()
        await eventually(lambda: reflector.connected and reflector.failures == 0)
    finally:
        await reflector.stop()
