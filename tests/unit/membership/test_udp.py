"""The asyncio UDP adapter on loopback: three services in one event loop, real sockets, real clock."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path

import pytest

from lbd.config import MemberPeer
from lbd.config import Membership as Settings
from lbd.membership import service_id
from lbd.metrics import Metrics
from lbd.net.membership_udp import MembershipService, StartError, load_key

KEY = "loopback-test-key-0123"
NAMES = ["a", "b", "c"]


def free_ports(n: int, family: socket.AddressFamily = socket.AF_INET, host: str = "127.0.0.1") -> list[int]:
    socks = [socket.socket(family, socket.SOCK_DGRAM) for _ in range(n)]
    try:
        for s in socks:
            s.bind((host, 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Node:
    def __init__(self, name: str, settings: Settings) -> None:
        self.changes: list[frozenset[str]] = []
        self.health: dict[str, frozenset[bytes]] = {}
        self.settings = settings
        self.metrics = Metrics(process_metrics=False)
        self.service = MembershipService(
            node=name,
            settings=settings,
            metrics=self.metrics,
            on_change=self.changes.append,
            on_health=self.health.__setitem__,
        )


def cluster(host: str = "127.0.0.1", bind: str | None = None) -> dict[str, Node]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    ports = dict(zip(NAMES, free_ports(3, family, host), strict=True))
    address: IPv4Address | IPv6Address = ip_address(host)
    nodes = {}
    for name in NAMES:
        peers = tuple(MemberPeer(n, address, p) for n, p in ports.items() if n != name)
        settings = Settings(
            bind_address=ip_address(bind) if bind is not None else address,
            bind_port=ports[name],
            peers=peers,
            key=KEY,
            heartbeat_interval=0.02,
            failure_timeout=0.06,
        )
        nodes[name] = Node(name, settings)
    return nodes


async def wait(predicate: object, timeout: float = 2.0) -> None:
    assert callable(predicate)
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.005)


@pytest.mark.parametrize(("host", "bind"), [("127.0.0.1", None), ("::1", None), ("127.0.0.1", "0.0.0.0")])
async def test_three_services_see_each_other_and_a_stop(host: str, bind: str | None) -> None:
    nodes = cluster(host, bind)
    everyone = frozenset(NAMES)
    try:
        await asyncio.gather(*(n.service.start() for n in nodes.values()))
        await wait(lambda: all(n.service.live() == everyone for n in nodes.values()))
        *members, me = nodes["a"].service.views()["members"]({})
        assert (me["name"], me["state"]) == ("a", "self")
        assert {m["name"]: m["state"] for m in members} == {"b": "alive", "c": "alive"}
        assert all(m["rtt_ms"] is not None and m["rtt_ms"] < 50 for m in members)
        await nodes["c"].service.stop()
        # A leave, not a timeout: well under the 60 ms failure timeout even on a loaded machine.
        await wait(lambda: nodes["a"].service.live() == frozenset({"a", "b"}), timeout=0.05)
        assert nodes["a"].changes[-1] == frozenset({"a", "b"})
    finally:
        for n in nodes.values():
            await n.service.stop()


async def test_metrics_and_drops() -> None:
    nodes = cluster()
    a = nodes["a"]
    try:
        await asyncio.gather(*(n.service.start() for n in nodes.values()))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"not a membership datagram", ("127.0.0.1", a.settings.bind_port))
        await wait(lambda: a.service.views()["members"]({})[-1]["unknown_source"] == 1)
        text = a.metrics.exposition().decode()
        assert 'lbd_membership_member_up{member="b"} 1.0' in text
        assert 'lbd_membership_datagrams_dropped_total{reason="unknown_source"} 1.0' in text
    finally:
        for n in nodes.values():
            await n.service.stop()


async def test_without_peers_no_socket_and_only_self() -> None:
    changes: list[frozenset[str]] = []
    service = MembershipService(node="solo", settings=Settings(), metrics=None, on_change=changes.append)
    await service.start()
    assert service.live() == frozenset({"solo"})
    [me] = service.views()["members"]({})
    assert me["state"] == "self"
    await service.stop()
    assert changes == []


def test_key_file(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_bytes(b"0123456789abcdef\n")
    assert load_key(Settings(key_file=str(path))) == b"0123456789abcdef"
    path.write_bytes(b"short\n")
    with pytest.raises(StartError, match=r"spec.membership.keyFile: .*16 bytes") as short:
        load_key(Settings(key_file=str(path)))
    assert short.value.field == "keyFile"
    with pytest.raises(StartError, match=r"spec.membership.keyFile: cannot read .*missing"):
        load_key(Settings(key_file=str(tmp_path / "missing")))
    with pytest.raises(StartError, match=r"spec.membership.key: .*shared key"):
        load_key(Settings())


async def test_an_unbindable_address_names_the_setting() -> None:
    peers = (MemberPeer("b", IPv4Address("127.0.0.1"), 7946),)
    # 192.0.2.1 is on no interface of this namespace: bind() fails with EADDRNOTAVAIL.
    settings = Settings(bind_address=IPv4Address("192.0.2.1"), bind_port=0, peers=peers, key=KEY)
    service = MembershipService(node="a", settings=settings, metrics=None, on_change=lambda _: None)
    with pytest.raises(StartError, match=r"spec.membership.bindAddress: cannot bind 192.0.2.1"):
        await service.start()
    await service.stop()


async def test_health_sets_reach_the_other_services() -> None:
    nodes = cluster()
    web = frozenset({service_id("default/web")})
    try:
        # Published before start (the daemon's checks may answer first) and after.
        nodes["a"].service.publish_health(web)
        await asyncio.gather(*(n.service.start() for n in nodes.values()))
        await wait(lambda: all(n.health.get("a") == web for k, n in nodes.items() if k != "a"))
        nodes["a"].service.publish_health(frozenset())
        await wait(lambda: all(n.health.get("a") == frozenset() for k, n in nodes.items() if k != "a"))
        row = {r["name"]: r for r in nodes["b"].service.views()["members"]({})}["a"]
        assert (row["health_version"], row["healthy"]) == (3, 0)
    finally:
        for n in nodes.values():
            await n.service.stop()


async def test_a_stalled_loop_reads_waiting_heartbeats_before_judging() -> None:
    # b and c run in a thread of their own, so they keep sending while a's loop is blocked.
    nodes = cluster()
    others = asyncio.new_event_loop()
    thread = threading.Thread(target=others.run_forever, daemon=True)
    thread.start()
    try:
        started = [asyncio.run_coroutine_threadsafe(nodes[n].service.start(), others) for n in ("b", "c")]
        await nodes["a"].service.start()
        for future in started:
            future.result(timeout=5)
        await wait(lambda: nodes["a"].service.live() == frozenset(NAMES))
        # Four failure timeouts (60 ms each) without running a's loop at all.
        time.sleep(0.24)
        await asyncio.sleep(0.1)
        assert nodes["a"].changes[-1] == frozenset(NAMES)
        *members, _ = nodes["a"].service.views()["members"]({})
        assert [m["downs"] for m in members] == [0, 0]
    finally:
        await nodes["a"].service.stop()
        for n in ("b", "c"):
            asyncio.run_coroutine_threadsafe(nodes[n].service.stop(), others).result(timeout=5)
        others.call_soon_threadsafe(others.stop)
        thread.join(5)
        others.close()
