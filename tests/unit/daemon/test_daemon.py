"""The daemon end to end in one process, with fake announcers: reloads, health, membership, shutdown."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from lbd.config import Config
from lbd.control import query
from lbd.control.server import View
from lbd.daemon.announcer import Announcer
from lbd.daemon.daemon import Daemon, Options, StartupError
from lbd.daemon.health import CHECK, FAILURES, INTERVAL
from lbd.daemon.wiring import BackgroundService, Wiring
from lbd.membership import service_id
from lbd.net.bfd_manager import BFDManager
from lbd.reconcile import DesiredState
from lbd.sdnotify import Notifier
from tests.unit.daemon.helpers import NODE, dump, l2, pool, service

GOOD = dump(pool(), l2(), service("web"))


class FakeAnnouncer:
    def __init__(self, name: str, journal: list[str], fail: bool = False) -> None:
        self._name = name
        self.journal = journal
        self.fail = fail
        self.states: list[DesiredState] = []

    @property
    def name(self) -> str:
        return self._name

    async def apply(self, config: Config, desired: DesiredState) -> None:
        self.journal.append(f"apply {self._name}")
        if self.fail:
            raise RuntimeError("announcer bug")
        self.states.append(desired)

    async def close(self) -> None:
        self.journal.append(f"close {self._name}")

    @property
    def l2_ips(self) -> list[str]:
        return [str(a.address) for a in self.states[-1].l2]


class ViewAnnouncer(FakeAnnouncer):
    def views(self) -> Mapping[str, View]:
        return {"l2": lambda _args: {"from": self.name}}


class Harness:
    def __init__(self, tmp_path: Path, daemon: Daemon, fakes: list[FakeAnnouncer], notify: socket.socket):
        self.dir = tmp_path / "config"
        self.socket = str(tmp_path / "lbd.sock")
        self.daemon = daemon
        self.fakes = fakes
        self.notify = notify
        self.after_stop: list[dict[str, str]] = []

    @property
    def fake(self) -> FakeAnnouncer:
        return self.fakes[0]

    async def query(self, view: str, **args: Any) -> Any:
        return await asyncio.to_thread(query, view, args, self.socket)

    async def until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.02)

    def write(self, text: str) -> None:
        path = self.dir / "all.yaml"
        path.write_text(text)
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))

    def notifications(self) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        while True:
            try:
                data = self.notify.recv(4096).decode()
            except BlockingIOError:
                return out
            out.append(dict(line.split("=", 1) for line in data.split("\n")))


@asynccontextmanager
async def running(
    tmp_path: Path,
    text: str = GOOD,
    *,
    make: Callable[[list[str]], list[FakeAnnouncer]] | None = None,
    poll: float = 30.0,
    bfd: BFDManager | None = None,
    environ: Mapping[str, str] | None = None,
    state_dir: Path | None = None,
    services: Callable[[Wiring], list[BackgroundService]] = lambda _w: [],
) -> AsyncIterator[Harness]:
    (tmp_path / "config").mkdir(parents=True)
    (tmp_path / "config" / "all.yaml").write_text(text)
    notify_path = str(tmp_path / "notify.sock")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.setblocking(False)
    journal: list[str] = []
    fakes = make(journal) if make else [FakeAnnouncer("first", journal), FakeAnnouncer("second", journal)]

    def build(_w: Wiring) -> list[Announcer]:
        return list(fakes)

    options = Options(
        paths=(str(tmp_path / "config"),),
        node=NODE,
        socket=str(tmp_path / "lbd.sock"),
        metrics="off",
        log_level="info",
        poll_interval=poll,
        settle=0.05,
        state_dir=str(state_dir) if state_dir else None,
    )
    notifier = Notifier({"NOTIFY_SOCKET": notify_path, **(environ or {})})
    # No background services: membership would bind its UDP port in the test runner's namespace.
    daemon = Daemon(options, announcers=build, services=services, notifier=notifier, bfd=bfd)
    task = asyncio.create_task(daemon.run())
    harness = Harness(tmp_path, daemon, fakes, notify)
    try:
        async with asyncio.timeout(5):
            await asyncio.wait(
                {task, asyncio.create_task(daemon.ready.wait())}, return_when=asyncio.FIRST_COMPLETED
            )
        if task.done():
            task.result()
        yield harness
    finally:
        daemon.request_stop()
        async with asyncio.timeout(5):
            assert await task == 0
        harness.after_stop = harness.notifications()
        notify.close()


async def test_start_pushes_to_every_announcer_and_notifies_ready(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        assert h.fakes[0].journal == ["apply first", "apply second"]
        assert h.fake.l2_ips == ["192.0.2.200"]
        assert (os.stat(h.socket).st_mode & 0o777) == 0o600
        summary = await h.query("summary")
        assert summary["node"] == NODE and summary["services_allocated"] == 1
        assert summary["announcers"] == ["first", "second"]
        assert await h.query("l2") == [
            {
                "ip": "192.0.2.200",
                "service": "default/web",
                "node": NODE,
                "interfaces": [],
                "all_interfaces": True,
            }
        ]
        (row,) = await h.query("services")
        assert (row["service"], row["ips"], row["l2_owner"]) == ("default/web", ["192.0.2.200"], NODE)
        ready = h.notifications()
        assert ready[0]["READY"] == "1" and "1 services" in ready[0]["STATUS"]
    assert not os.path.exists(h.socket)
    assert h.fakes[0].journal[-2:] == ["close second", "close first"]
    assert h.after_stop == [{"STOPPING": "1"}]


async def test_invalid_initial_config_refuses_to_start(tmp_path: Path) -> None:
    bad = pool()
    bad["spec"]["addresses"] = ["nonsense"]
    (tmp_path / "c.yaml").write_text(dump(bad))
    options = Options(paths=(str(tmp_path / "c.yaml"),), node=NODE, socket=str(tmp_path / "s"), metrics="off")
    daemon = Daemon(options, announcers=lambda _w: [], services=lambda _w: [])
    with capture_logs() as logs, pytest.raises(StartupError):
        await daemon.run()
    rejected = [e for e in logs if e["event"] == "configRejected"]
    assert rejected and rejected[0]["kind"] == "IPAddressPool" and "addresses" in rejected[0]["field"]
    assert not (tmp_path / "s").exists()


async def test_sighup_reload_applies_a_good_update(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        h.notifications()
        h.write(dump(pool(), l2(), service("web", ip="192.0.2.205")))
        os.kill(os.getpid(), signal.SIGHUP)
        await h.until(lambda: h.fake.l2_ips == ["192.0.2.205"])
        seen: list[dict[str, str]] = []

        def reloaded() -> bool:
            seen.extend(h.notifications())
            return bool(seen) and "READY" in seen[-1]

        await h.until(reloaded)
        assert [set(n) for n in seen] == [{"RELOADING", "MONOTONIC_USEC"}, {"READY", "STATUS"}]
        config = await h.query("config")
        assert config["generation"] == 2 and config["rejected"] is None


async def test_bad_update_is_rejected_whole_and_last_good_state_kept(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        h.notifications()
        bad = pool()
        bad["spec"]["addresses"] = ["192.0.2.250-192.0.2.240"]
        h.write(dump(bad, l2(), service("web"), service("other")))
        with capture_logs() as logs:
            h.daemon.request_reload()
            await h.until(lambda: h.daemon.core.store.last_rejection is not None)
        rejected = [e for e in logs if e["event"] == "configRejected"]
        assert rejected and {"kind", "name", "field", "error", "source"} <= set(rejected[0])
        assert rejected[0]["kind"] == "IPAddressPool" and rejected[0]["name"] == "metallb-system/vips"
        config = await h.query("config")
        assert config["generation"] == 1
        assert config["rejected"]["errors"][0]["field"].startswith("spec.addresses")
        assert config["objects"]["IPAddressPool"]["vips"]["addresses"] == ["192.0.2.200-192.0.2.210"]
        assert (await h.query("summary"))["config_rejected"] is True
        assert h.fake.l2_ips == ["192.0.2.200"]
        metrics = h.daemon.metrics.exposition().decode()
        assert "metallb_k8s_client_config_stale_bool 1.0" in metrics
        assert "metallb_k8s_client_update_errors_total 1.0" in metrics
        notes = h.notifications()
        assert notes[0]["RELOADING"] == "1" and notes[-1]["READY"] == "1"
        assert "older config" in notes[-1]["STATUS"]
        # Fixing the files clears the rejection.
        h.write(dump(pool(), l2(), service("web"), service("other")))
        h.daemon.request_reload()
        await h.until(lambda: h.daemon.core.store.last_rejection is None)
        await h.until(lambda: len(h.fake.l2_ips) == 2)
        assert "metallb_k8s_client_config_stale_bool 0.0" in h.daemon.metrics.exposition().decode()


async def test_file_change_reloads(tmp_path: Path) -> None:
    async with running(tmp_path, poll=0.05) as h:
        h.write(dump(pool(), l2(), service("web", ip="192.0.2.207")))
        await h.until(lambda: h.fake.l2_ips == ["192.0.2.207"])
        (h.dir / "more.yaml").write_text(dump(service("extra")))
        await h.until(lambda: len(h.fake.l2_ips) == 2)


async def test_health_flip_recomputes(tmp_path: Path) -> None:
    served = asyncio.Event()

    async def handle(_r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served.set()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    notes = {CHECK: f"tcp:127.0.0.1:{port}", INTERVAL: "100ms", FAILURES: "1"}
    async with running(tmp_path, dump(pool(), l2(), service("web", notes))) as h:
        await h.until(lambda: h.fake.l2_ips == ["192.0.2.200"])
        (row,) = await h.query("services")
        assert row["health_check"] == f"tcp:127.0.0.1:{port}" and row["healthy"] is True
        server.close()
        await server.wait_closed()
        await h.until(lambda: h.fake.l2_ips == [])
        (row,) = await h.query("services")
        assert row["healthy"] is False and row["l2_reason"] == "noEndpoints"
        assert row["health_error"]


async def test_membership_change_recomputes(tmp_path: Path) -> None:
    # Two services: with a second live node, the hash election gives it at least one of them.
    text = dump(pool(), l2(), *(service(f"s{i}") for i in range(8)))
    async with running(tmp_path, text) as h:
        assert len(h.fake.l2_ips) == 8
        h.daemon.set_live_nodes(frozenset({"node-b"}))
        await h.until(lambda: len(h.fake.l2_ips) < 8)
        assert (await h.query("summary"))["live_nodes"] == [NODE, "node-b"]
        h.daemon.set_live_nodes(frozenset())
        await h.until(lambda: len(h.fake.l2_ips) == 8)


async def test_failing_announcer_does_not_block_the_others(tmp_path: Path) -> None:
    def make(journal: list[str]) -> list[FakeAnnouncer]:
        return [FakeAnnouncer("broken", journal, fail=True), FakeAnnouncer("fine", journal)]

    with capture_logs() as logs:
        async with running(tmp_path, make=make) as h:
            assert h.fakes[1].l2_ips == ["192.0.2.200"]
    assert any(e["event"] == "announcerFailed" and e["announcer"] == "broken" for e in logs)


async def test_announcer_views_replace_the_daemons(tmp_path: Path) -> None:
    def make(journal: list[str]) -> list[FakeAnnouncer]:
        return [ViewAnnouncer("responder", journal)]

    async with running(tmp_path, make=make) as h:
        assert await h.query("l2") == {"from": "responder"}


async def test_explain_view(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        doc = await h.query("explain", service="default/web")
        assert doc["ips"] == ["192.0.2.200"] and doc["l2"]["owner"] == NODE
        assert (await h.query("explain", service="default/nope"))["found"] is False


async def test_events_are_logged_with_metallb_names(tmp_path: Path) -> None:
    with capture_logs() as logs:
        async with running(tmp_path) as h:
            h.write(dump(pool(), l2()))
            h.daemon.request_reload()
            await h.until(lambda: h.fake.l2_ips == [])
    events = [e["event"] for e in logs]
    for name in ("configLoaded", "ipAllocated", "serviceAnnounced", "daemonReady", "serviceWithdrawn"):
        assert name in events
    assert events[-1] == "daemonStopped"


class FakeBFD(BFDManager):
    """Records start/stop instead of running the worker process (which would bind BFD ports here)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.journal: list[str] = []

    async def start(self) -> None:
        self.calls.append("start")
        self.journal.append("bfd start")

    async def stop(self) -> None:
        self.calls.append("stop")


def peer(bfd_profile: str | None) -> list[dict[str, Any]]:
    spec: dict[str, Any] = {"myASN": 64500, "peerASN": 64501, "peerAddress": "192.0.2.1"}
    docs: list[dict[str, Any]] = []
    if bfd_profile:
        spec["bfdProfile"] = bfd_profile
        meta = {"name": bfd_profile, "namespace": "metallb-system"}
        docs.append({"apiVersion": "metallb.io/v1beta1", "kind": "BFDProfile", "metadata": meta})
    meta = {"name": "router", "namespace": "metallb-system"}
    docs.append({"apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer", "metadata": meta, "spec": spec})
    return docs


async def test_bfd_starts_with_the_first_bfd_peer_and_stops_at_exit(tmp_path: Path) -> None:
    bfd = FakeBFD()
    async with running(tmp_path, dump(pool(), l2(), *peer(None)), bfd=bfd) as h:
        assert bfd.calls == []
        bfd.journal = h.fake.journal
        h.write(dump(pool(), l2(), *peer("fast")))
        h.daemon.request_reload()
        await h.until(lambda: h.daemon.pushes >= 2)
        # Started before the config that needs it reached the announcers.
        assert h.fake.journal[2:] == ["bfd start", "apply first", "apply second"]
    assert bfd.calls == ["start", "stop"]


async def test_watchdog_pings_from_the_loop(tmp_path: Path) -> None:
    async with running(tmp_path, environ={"WATCHDOG_USEC": "200000"}) as h:
        seen: list[dict[str, str]] = []

        def pinged_twice() -> bool:
            seen.extend(h.notifications())
            return sum(1 for n in seen if n == {"WATCHDOG": "1"}) >= 2

        await h.until(pinged_twice, timeout=3)


async def test_allocations_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state"
    async with running(tmp_path / "one", dump(pool(), l2(), service("b")), state_dir=state) as h:
        assert h.fake.l2_ips == ["192.0.2.200"]
    assert json.loads((state / f"allocations-{NODE}.json").read_text()) == {"default/b": ["192.0.2.200"]}
    # "a" sorts first and would take .200 from a fresh allocation; after the restart "b" keeps it.
    text = dump(pool(), l2(), service("a"), service("b"))
    async with running(tmp_path / "two", text, state_dir=state) as h:
        by_service = {a.service: str(a.address) for a in h.fake.states[-1].l2}
        assert by_service == {"default/a": "192.0.2.201", "default/b": "192.0.2.200"}
    async with running(tmp_path / "fresh", text) as h:
        assert {a.service: str(a.address) for a in h.fake.states[-1].l2}["default/a"] == "192.0.2.200"


class FakeMembership:
    """A background service that reports members through the wiring's callback and serves a view."""

    def __init__(self, wiring: Wiring, journal: list[str]) -> None:
        self.report = wiring.on_members
        self.journal = journal

    async def start(self) -> None:
        self.journal.append("start")

    async def close(self) -> None:
        self.journal.append("close")

    def views(self) -> Mapping[str, View]:
        return {"members": lambda _args: ["node-a", "node-b"]}


async def test_background_services_feed_live_nodes(tmp_path: Path) -> None:
    journal: list[str] = []
    made: list[FakeMembership] = []

    def services(w: Wiring) -> list[BackgroundService]:
        made.append(FakeMembership(w, journal))
        return list(made)

    text = dump(pool(), l2(), *(service(f"s{i}") for i in range(8)))
    async with running(tmp_path, text, services=services) as h:
        assert journal == ["start"]
        assert await h.query("members") == ["node-a", "node-b"]
        made[0].report(frozenset({"node-a", "node-b"}))
        await h.until(lambda: len(h.fake.l2_ips) < 8)
    assert journal == ["start", "close"]


async def test_reload_warns_about_start_only_settings(tmp_path: Path) -> None:
    node = {"apiVersion": "lbd.io/v1alpha1", "kind": "NodeConfig", "metadata": {"name": NODE}}
    async with running(tmp_path, dump(pool(), l2(), service("web"), {**node, "spec": {}})) as h:
        # --metrics and --socket are given (running() sets both): only membership counts here.
        spec = {"metricsAddress": "127.0.0.1:9999", "membership": {"bindPort": 7000}}
        h.write(dump(pool(), l2(), service("web"), {**node, "spec": spec}))
        with capture_logs() as logs:
            h.daemon.request_reload()
            await h.until(lambda: h.daemon.core.store.generation == 2)
    warned = [e for e in logs if e["event"] == "restartNeeded"]
    assert [e["field"] for e in warned] == ["NodeConfig spec.membership"]


async def test_sigterm_stops_gracefully(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        os.kill(os.getpid(), signal.SIGTERM)
        await h.until(lambda: h.fake.journal[-1] == "close first")
        assert h.fake.journal[-2:] == ["close second", "close first"]
        assert not os.path.exists(h.socket)


async def test_metrics_address_in_use_fails_start_and_cleans_up(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(GOOD)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        options = Options(
            paths=(str(tmp_path / "c.yaml"),),
            node=NODE,
            socket=str(tmp_path / "lbd.sock"),
            metrics=f"127.0.0.1:{port}",
            log_level="info",
        )
        journal: list[str] = []
        fake = FakeAnnouncer("only", journal)
        daemon = Daemon(options, announcers=lambda _w: [fake], services=lambda _w: [])
        with capture_logs(), pytest.raises(StartupError, match=f"metrics address 127.0.0.1:{port}"):
            await daemon.run()
    # Nothing was announced and the control socket is gone again.
    assert journal == [] and not (tmp_path / "lbd.sock").exists()


class FakeHealthMembership(FakeMembership):
    """Also a HealthPublisher: records this node's health sets and reports members' through the wiring."""

    def __init__(self, wiring: Wiring, journal: list[str]) -> None:
        super().__init__(wiring, journal)
        assert wiring.on_health is not None
        self.report_health = wiring.on_health
        self.published: list[frozenset[bytes]] = []

    def publish_health(self, healthy: frozenset[bytes]) -> None:
        self.published.append(healthy)


async def test_members_health_moves_addresses_and_ours_is_published(tmp_path: Path) -> None:
    async def handle(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    notes = {CHECK: f"tcp:127.0.0.1:{port}", INTERVAL: "100ms", FAILURES: "1"}
    keys = [f"default/s{i}" for i in range(8)]
    everything = frozenset(service_id(k) for k in keys)
    made: list[FakeHealthMembership] = []

    def services(w: Wiring) -> list[BackgroundService]:
        made.append(FakeHealthMembership(w, []))
        return list(made)

    text = dump(pool(), l2(), *(service(f"s{i}", notes) for i in range(8)))
    async with running(tmp_path, text, services=services) as h:
        await h.until(lambda: len(h.fake.l2_ips) == 8)
        assert made[0].published[-1] == everything
        # node-b is live but its health set has not arrived: it is no candidate yet.
        h.daemon.set_live_nodes(frozenset({"node-b"}))
        made[0].report(frozenset({NODE, "node-b"}))
        await asyncio.sleep(0.1)
        assert len(h.fake.l2_ips) == 8
        # Healthy everywhere: the hash election gives node-b some of the addresses.
        made[0].report_health("node-b", everything)
        await h.until(lambda: 0 < len(h.fake.l2_ips) < 8)
        # node-b's checks fail: every address comes back here.
        made[0].report_health("node-b", frozenset())
        await h.until(lambda: len(h.fake.l2_ips) == 8)
        # Ours fail: published at once, and nobody is left to announce.
        made[0].report_health("node-b", everything)
        server.close()
        await server.wait_closed()
        await h.until(lambda: made[0].published[-1] == frozenset())
        await h.until(lambda: h.fake.l2_ips == [])


async def test_membership_start_errors_stop_the_start_cleanly(tmp_path: Path) -> None:
    node = {
        "apiVersion": "lbd.io/v1alpha1",
        "kind": "NodeConfig",
        "metadata": {"name": NODE},
        "spec": {
            "membership": {
                "bindAddress": "127.0.0.1",
                "bindPort": 17946,
                "keyFile": str(tmp_path / "missing.key"),
                "peers": [{"name": "node-b", "address": "127.0.0.2"}],
            }
        },
    }
    (tmp_path / "c.yaml").write_text(dump(pool(), l2(), service("web"), node))
    options = Options(paths=(str(tmp_path / "c.yaml"),), node=NODE, socket=str(tmp_path / "s"), metrics="off")
    # The real membership service: the key file is read before any socket is bound.
    daemon = Daemon(options, announcers=lambda _w: [])
    with pytest.raises(StartupError, match=r"NodeConfig spec.membership.keyFile: cannot read .*missing.key"):
        await daemon.run()
    assert not (tmp_path / "s").exists()
