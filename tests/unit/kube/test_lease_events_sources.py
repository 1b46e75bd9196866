"""The Lease decision core with explicit times, Event correlation, and what KubeSources parses."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from kubernetes_asyncio.client import ApiClient

from lbd.kube import Informers, default_targets
from lbd.kube.api import KubeApi
from lbd.kube.events import NORMAL, WARNING, EventRecorder, ObjectRef
from lbd.kube.lease import LeaderElector, LeaseObserver, LeaseRecord, LeaseSettings
from lbd.kube.sources import KubeSources, referenced_secrets
from tests.kube_emulator import KubeEmulator
from tests.unit.kube.objects import FAST, NS, eventually, peer, pool, service

Obj = dict[str, Any]


# ---- Lease decisions (no I/O: times are passed in)


def test_free_lease_is_claimed_with_a_transition() -> None:
    me = LeaseObserver("a")
    claim = me.claim(now=100.0, wall=0.0, duration=15)
    assert claim is not None and claim.holder == "a" and claim.transitions == 0
    me.observe(LeaseRecord("", 1, None, None, 4), now=100.0)  # released by someone
    claim = me.claim(now=100.0, wall=0.0, duration=15)
    assert claim is not None and claim.transitions == 5


def test_other_holder_expires_by_our_clock_not_theirs() -> None:
    me = LeaseObserver("a")
    theirs = LeaseRecord("b", 15, "2000-01-01T00:00:00.000000Z", "2000-01-01T00:00:00.000000Z", 2)
    me.observe(theirs, now=10.0)
    # Their renewTime is years old, but we only just saw the record: it is still theirs.
    assert me.claim(now=10.0, wall=1e9, duration=15) is None
    assert me.claim(now=24.9, wall=1e9, duration=15) is None
    # The same record seen again does not restart our count.
    me.observe(theirs, now=20.0)
    assert me.observed_at == 10.0
    claim = me.claim(now=25.0, wall=1e9, duration=15)
    assert claim is not None and claim.holder == "a" and claim.transitions == 3
    # A renewal (a changed record) restarts it.
    me.observe(LeaseRecord("b", 15, theirs.acquire_time, "2000-01-01T00:00:09.000000Z", 2), now=24.0)
    assert me.claim(now=25.0, wall=1e9, duration=15) is None


def test_own_renewal_keeps_acquire_time_and_transitions() -> None:
    me = LeaseObserver("a")
    mine = LeaseRecord("a", 15, "2026-01-01T00:00:00.000000Z", "2026-01-01T00:00:00.000000Z", 7)
    me.observe(mine, now=0.0)
    claim = me.claim(now=1000.0, wall=1767225602.5, duration=15)
    assert claim == LeaseRecord("a", 15, mine.acquire_time, "2026-01-01T00:00:02.500000Z", 7)


def test_lease_settings_must_be_ordered() -> None:
    with pytest.raises(ValueError):
        LeaseSettings(lease_duration=2, renew_deadline=3.0, retry_period=1.0)
    with pytest.raises(ValueError):
        LeaseSettings(lease_duration=15, renew_deadline=10.0, retry_period=10.0)


async def test_racing_candidates_one_wins_the_other_sees_conflict(
    kube_emulator: KubeEmulator, api_client: ApiClient
) -> None:
    api = KubeApi(api_client)
    settings = LeaseSettings(lease_duration=5, renew_deadline=2.0, retry_period=1.0)
    a = LeaderElector(api, NS, "race", "a", settings)
    b = LeaderElector(api, NS, "race", "b", settings)
    results = await asyncio.gather(a.try_acquire_or_renew(), b.try_acquire_or_renew())
    assert sorted(results) == [False, True]
    lease = kube_emulator.get("coordination.k8s.io/v1", "Lease", "race", NS)
    winner = "a" if results[0] else "b"
    assert lease["spec"]["holderIdentity"] == winner
    # The loser now knows the holder and does not write while the term runs.
    loser = b if winner == "a" else a
    writes = len([r for r in kube_emulator.requests if r[0] in ("PUT", "POST")])
    assert not await loser.try_acquire_or_renew()
    assert len([r for r in kube_emulator.requests if r[0] in ("PUT", "POST")]) == writes


# ---- Events


async def test_repeated_event_increments_count(kube_emulator: KubeEmulator, api_client: ApiClient) -> None:
    svc = kube_emulator.create(service("web"))
    now = [1000.0]
    recorder = EventRecorder(KubeApi(api_client), "metallb-controller", "c1", clock=lambda: now[0])
    recorder.start()
    try:
        ref = ObjectRef.of(svc)
        recorder.record(ref, WARNING, "AllocationFailed", "no available IPs")
        await recorder.flush()
        now[0] += 30
        recorder.record(ref, WARNING, "AllocationFailed", "no available IPs")
        recorder.record(ref, NORMAL, "IPAllocated", 'Assigned IP "198.51.100.1"')
        await recorder.flush()
        events = sorted(kube_emulator.list_objects("v1", "Event", "default"), key=lambda e: e["reason"])
        assert [(e["reason"], e["count"]) for e in events] == [("AllocationFailed", 2), ("IPAllocated", 1)]
        failed = events[0]
        assert failed["firstTimestamp"] == "1970-01-01T00:16:40Z"
        assert failed["lastTimestamp"] == "1970-01-01T00:17:10Z"
        assert failed["involvedObject"] == {
            "apiVersion": "v1",
            "kind": "Service",
            "name": "web",
            "namespace": "default",
            "uid": svc["metadata"]["uid"],
        }
        # After the correlation window a repeat is a new Event.
        now[0] += 700
        recorder.record(ref, WARNING, "AllocationFailed", "no available IPs")
        await recorder.flush()
        assert len(kube_emulator.list_objects("v1", "Event", "default")) == 3
        assert recorder.recorded == 4 and recorder.dropped == 0
    finally:
        await recorder.stop()


async def test_events_are_dropped_not_raised_during_an_outage(
    kube_emulator: KubeEmulator, api_client: ApiClient
) -> None:
    svc = kube_emulator.create(service("web"))
    recorder = EventRecorder(KubeApi(api_client, timeout=0.5), "metallb-speaker", "n1", retry_delay=0.01)
    recorder.start()
    try:
        await kube_emulator.start_outage()
        recorder.record(ObjectRef.of(svc), NORMAL, "nodeAssigned", "x")
        await recorder.flush(10)
        assert recorder.dropped == 1 and recorder.recorded == 0
        await kube_emulator.end_outage()
        recorder.record(ObjectRef.of(svc), NORMAL, "nodeAssigned", "y")
        await recorder.flush(10)
        assert recorder.recorded == 1
    finally:
        await recorder.stop()


# ---- KubeSources


def _secret(name: str, password: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NS},
        "type": "kubernetes.io/basic-auth",
        "data": {"password": base64.b64encode(password.encode()).decode()},
    }


def test_referenced_secrets() -> None:
    peers = [
        peer("a", "192.0.2.1", passwordSecret={"name": "s1"}),
        peer("b", "192.0.2.2", passwordSecret={}),
        peer("c", "192.0.2.3"),
        {"spec": "not a mapping"},
    ]
    assert referenced_secrets(peers) == {"s1"}


async def test_sources_parse_only_referenced_secrets_and_cache_the_world(
    kube_emulator: KubeEmulator, api_client: ApiClient
) -> None:
    kube_emulator.create(pool("blue", "198.51.100.0/30"))
    kube_emulator.create(peer("frr", "192.0.2.1", passwordSecret={"name": "bgp-auth"}))
    kube_emulator.create(_secret("bgp-auth", "s3cret"))
    kube_emulator.create(_secret("unrelated", "other"))
    kube_emulator.create(service("web"))
    informers = Informers(api_client, default_targets(NS), settings=FAST)
    informers.start()
    try:
        await informers.wait_synced(5)
        sources = KubeSources(informers, NS)
        update = sources.refresh_config()
        assert update is not None and update.accepted
        assert [d["metadata"]["name"] for d in update.objects if d["kind"] == "Secret"] == ["bgp-auth"]
        config = sources.config_store.current
        assert config is not None and config.peers["frr"].password == "s3cret"
        assert sources.refresh_config() is None  # nothing changed: not parsed again
        world = sources.world()
        assert list(world.secrets) == [f"{NS}/bgp-auth"]
        first = world.services["default/web"]
        assert sources.world().services["default/web"] is first  # cached by resourceVersion
        changed = service("web") | {"metadata": {"name": "web", "namespace": "default", "labels": {"a": "b"}}}
        kube_emulator.replace(changed)
        await eventually(lambda: sources.world().services["default/web"] is not first)
        # The Secret goes away: the peer's password no longer resolves, the set is rejected whole.
        kube_emulator.delete("v1", "Secret", "bgp-auth", NS)
        await eventually(lambda: (u := sources.refresh_config()) is not None and not u.accepted)
        assert sources.stale and sources.config_store.current is config
    finally:
        await informers.stop()


async def test_leader_steps_down_at_once_when_another_holds_the_lease(
    kube_emulator: KubeEmulator, api_client: ApiClient
) -> None:
    events: list[str] = []
    settings = LeaseSettings(lease_duration=30, renew_deadline=20.0, retry_period=0.05)
    elector = LeaderElector(
        KubeApi(api_client),
        NS,
        "taken",
        "a",
        settings,
        on_started=lambda: events.append("started"),
        on_stopped=lambda: events.append("stopped"),
    )
    elector.start()
    try:
        await eventually(lambda: elector.leading, what="leading")
        # Someone overwrites the lease (an operator, or a candidate that saw it expire during a partition).
        lease = kube_emulator.get("coordination.k8s.io/v1", "Lease", "taken", NS)
        lease["spec"]["holderIdentity"] = "b"
        kube_emulator.replace(lease)
        # Long before the 20 s renew deadline.
        await eventually(lambda: not elector.leading, timeout=2.0, what="stepping down")
        assert events == ["started", "stopped"]
    finally:
        await elector.stop()
