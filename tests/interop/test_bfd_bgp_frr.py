"""BFD and BGP together against FRR 8.4 (bgpd + bfdd): what FRR observes when BFD goes down, and that
BFD is not starved while lbd sends 100,000 prefixes.

lbd's side is `RUNNER`: the BGP announcer (`BgpAnnouncer`, configured from files as the standalone
daemon is) given a `BFDManager`, so a BGPPeer with a `bfdProfile` gets a BFD session whose state
gates the BGP session (`lbd.net.bgp_speaker`). FRR also has `neighbor X bfd profile lbd`, so its own
BFD takes its BGP session down too (the only signal it can get when the link is cut).
"""

from __future__ import annotations

import datetime
import itertools
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from lbd.control.client import ControlError, query
from tests.interop.test_bgp_harness import LBD_ASN, PEER_ASN, adv_doc, peer_doc, pool_doc, service_doc
from tests.lab import AddressPlan, Capture, Lab, Netns, cut, restore, run, wait_for
from tests.lab.fixtures import FrrFactory
from tests.lab.frr import Frr
from tests.lab.proc import Proc

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
# RFC 9384 §2: Cease subcode 10, "BFD Down".
CEASE, BFD_DOWN = 6, 10

RUNNER = r"""
import asyncio, ipaddress, signal, sys, time
from bgp.route import Route
from lbd import logsetup
from lbd.config import load_paths
from lbd.control.server import ControlServer
from lbd.daemon.core import DaemonCore
from lbd.metrics import Metrics
from lbd.net.bfd_manager import BFDManager
from lbd.net.bgp_announcer import BgpAnnouncer

async def main(node, control, state_dir, config_dir):
    logsetup.configure("info")
    loop = asyncio.get_running_loop()
    bfd = BFDManager(log_level="info")
    await bfd.start()
    events = []
    bfd.subscribe(lambda k, e: events.append(
        {"t": time.time(), "peer": k.peer, "old": e.old.name, "new": e.new.name, "diag": int(e.diag)}))
    core = DaemonCore(node, time.time)
    metrics = Metrics(process_metrics=False)
    metrics.add_provider(bfd.metric_samples)
    announcer = BgpAnnouncer(node=node, metrics=metrics, state_dir=state_dir, bfd=bfd)
    views = dict(announcer.views())
    bulk = {}

    def send_bulk(args):
        # The whole set at once, from inside the main loop, as a reconcile pass with 100k routes would.
        base = int(ipaddress.IPv4Address("198.18.0.0"))
        routes = [Route(ipaddress.IPv4Network((base + i, 32))) for i in range(int(args["count"]))]
        def go():
            start = time.monotonic()
            announcer.speaker.drivers[args["peer"]].set_routes(routes)
            bulk["set_routes_s"] = time.monotonic() - start
        loop.call_soon(go)
        return True

    views["bulk"] = send_bulk
    views["bulk status"] = lambda args: bulk
    views["bfd events"] = lambda args: events
    views["bfd up"] = lambda args: {
        s.labels["peer"]: s.value for s in bfd.metric_samples() if s.name == "metallb_bfd_session_up"}
    views["reloads"] = lambda args: reloads
    server = ControlServer(control, views)
    reloads = 0
    errors = core.offer(load_paths([config_dir]))
    if errors:
        print("config rejected:", *errors, sep="\n  ", flush=True)
    desired = core.compute({})
    await announcer.apply(core.config, desired)
    reloads += 1
    await server.start()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await announcer.close()
    await server.close()
    await bfd.stop()

asyncio.run(main(*sys.argv[1:]))
"""

FRR_BFD_PROFILE = "lbd"
# lbd stops receiving BFD (single-hop control, echo) and nothing else: BGP's TCP keeps working, and
# FRR keeps hearing lbd's BFD until lbd declares the session down, so lbd is the side that detects.
BFD_INBOUND_CUT = """
table inet lbdt_bfdcut {
    chain input {
        type filter hook input priority -300; policy accept;
        udp dport { 3784, 3785 } drop
    }
}
"""


def bfd_profile_doc(name: str, interval_ms: int) -> dict[str, Any]:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "BFDProfile",
        "metadata": {"name": name},
        "spec": {"receiveInterval": interval_ms, "transmitInterval": interval_ms, "detectMultiplier": 3},
    }


def frr_config(router_id: str, lbd_ip: str, interval_ms: int) -> str:
    return "\n".join(
        [
            "frr defaults traditional",
            "log stdout debugging",
            "log timestamp precision 6",
            "debug bfd peer",
            # bgpd keeps the routes in its own table only: installing 100k routes through zebra into
            # the namespace's kernel would cost CPU that has nothing to do with this test.
            "bgp no-rib",
            "bfd",
            f" profile {FRR_BFD_PROFILE}",
            f"  receive-interval {interval_ms}",
            f"  transmit-interval {interval_ms}",
            "  detect-multiplier 3",
            " !",
            "!",
            f"router bgp {PEER_ASN}",
            f" bgp router-id {router_id}",
            " bgp log-neighbor-changes",
            " no bgp ebgp-requires-policy",
            " no bgp default ipv4-unicast",
            f" neighbor {lbd_ip} remote-as {LBD_ASN}",
            f" neighbor {lbd_ip} timers 3 9",
            f" neighbor {lbd_ip} timers connect 1",
            f" neighbor {lbd_ip} bfd profile {FRR_BFD_PROFILE}",
            " address-family ipv4 unicast",
            f"  neighbor {lbd_ip} activate",
            " exit-address-family",
            "!",
            "",
        ]
    )


@dataclass
class Lbd:
    proc: Proc
    control: Path

    def query(self, view: str, **args: Any) -> Any:
        self.proc.check_alive()
        return query(view, args, self.control, timeout=10)

    def serving(self) -> bool:
        try:
            self.query("reloads")
        except (ControlError, OSError):
            return False
        return True

    def bfd_events(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self.query("bfd events")
        return events

    def neighbor(self, peer: str) -> dict[str, Any]:
        doc: dict[str, Any] = self.query("bgp neighbor", peer=peer)
        return doc

    def log_events(self, event: str) -> list[dict[str, Any]]:
        """Structured log lines of the runner (JSON, `ts` in UTC) with this `event`."""
        found = []
        for line in self.proc.text().splitlines():
            if line.startswith("{") and f'"{event}"' in line:
                with_ts = json.loads(line)
                if with_ts.get("event") == event:
                    found.append(with_ts)
        return found


def epoch(iso: str) -> float:
    return datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


@dataclass
class Setup:
    lab: Lab
    me: Netns
    router: Frr
    lbd: Lbd
    lbd_ip: str
    frr_ip: str
    vip: str

    def frr_bfd(self) -> dict[str, Any] | None:
        for peer in self.router.bfd_peers():
            if peer.get("peer") == self.lbd_ip:
                return peer
        return None

    def frr_bfd_counters(self) -> dict[str, Any]:
        for peer in self.router.vtysh_json("show bfd peers counters json") or []:
            if peer.get("peer") == self.lbd_ip:
                result: dict[str, Any] = peer
                return result
        return {}

    def frr_bgp_state(self) -> str | None:
        return self.router.neighbor_state(self.lbd_ip)

    def wait_all_up(self, interval_ms: int) -> None:
        def up() -> bool:
            peer = self.frr_bfd()
            return bool(
                peer is not None
                and peer.get("status") == "up"
                and peer.get("remote-transmit-interval") == interval_ms
                and self.frr_bgp_state() == "Established"
                and self.vip in self.router.routes()
            )

        wait_for(up, 30, 0.1, lambda: f"BFD Up at {interval_ms} ms and BGP Established: {self.frr_bfd()}")


@pytest.fixture
def make_setup(lab: Lab, frr: FrrFactory) -> Any:
    def build(interval_ms: int) -> Setup:
        plan = AddressPlan()
        net, vip = plan.v4_link(), plan.v4_prefix()
        me, r1 = lab.netns("lbd"), lab.netns("r1")
        lab.link(me, r1, a_addrs=[net.iface(2)], b_addrs=[net.iface(1)])
        lbd_ip, frr_ip = net.ip(2), net.ip(1)
        router = frr(r1, frr_config(frr_ip, lbd_ip, interval_ms))
        config_dir = lab.artifacts / "lbd-config"
        config_dir.mkdir(exist_ok=True)
        docs = [
            bfd_profile_doc("fast", interval_ms),
            peer_doc("r1", frr_ip, bfdProfile="fast"),
            pool_doc("pool", vip.prefix),
            adv_doc("adv", "pool"),
            service_doc("web", vip.ip(0)),
        ]
        (config_dir / "config.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
        script = lab.artifacts / "bfd_bgp_runner.py"
        script.write_text(RUNNER)
        state_dir = lab.path("bgp-state")
        state_dir.mkdir(exist_ok=True)
        control = lab.path("lbd.sock")
        proc = lab.spawn(
            me,
            [str(REPO / ".venv/bin/python"), str(script), "lbd", *map(str, (control, state_dir, config_dir))],
            name="lbd",
            env={"PYTHONPATH": str(REPO)},
            cwd=REPO,
        )
        lbd = Lbd(proc, control)
        wait_for(lbd.serving, 15, 0.05, lambda: f"lbd control socket; log:\n{proc.tail()}")
        setup = Setup(lab, me, router, lbd, lbd_ip, frr_ip, vip.prefix)
        setup.wait_all_up(interval_ms)
        return setup

    return build


def test_cut_takes_bgp_and_routes_down_at_frr_within_detection_time(make_setup: Any) -> None:
    s: Setup = make_setup(100)
    cut(s.me)
    start = time.monotonic()
    wait_for(lambda: s.vip not in s.router.routes(), 5, 0.02, "FRR withdraws lbd's route")
    gone = time.monotonic() - start
    # FRR's BFD declares us down after 3 x 100 ms without packets and its BGP drops the session and our
    # routes with it; the margin covers vtysh polling (tens of ms) on a loaded 2-core machine. Without
    # BFD it would take the 9 s hold time.
    assert gone < 0.3 + 0.5, f"route still at FRR {gone:.3f}s after the cut"
    assert s.frr_bfd()["status"] == "down"  # type: ignore[index]
    assert s.frr_bgp_state() != "Established"
    # lbd's own BFD went down too and its BGP session was stopped with Cease "BFD Down"; the cut ate
    # that NOTIFICATION, so lbd's own record is the evidence here (the next test sees FRR receive it).
    wait_for(
        lambda: str(s.lbd.neighbor("r1")["last_error"]).startswith(f"NOTIFICATION sent {CEASE}/{BFD_DOWN}"),
        3,
        0.05,
        lambda: f"lbd stops BGP with Cease/BFD Down: {s.lbd.neighbor('r1')}",
    )
    assert s.lbd.neighbor("r1")["configured"]["bfd_blocked"] is True

    restore(s.me)
    s.wait_all_up(100)
    assert s.lbd.neighbor("r1")["configured"]["bfd_blocked"] is False


def test_bfd_down_sends_cease_10_and_bgp_waits_for_bfd_up(make_setup: Any) -> None:
    s: Setup = make_setup(100)
    s.me.run(["nft", "-f", "-"], input=BFD_INBOUND_CUT)
    start = time.monotonic()

    def notified() -> dict[str, Any] | None:
        n = s.router.neighbor(s.lbd_ip)
        return n if n.get("lastResetDueTo") == "BGP Notification received" else None

    seen = wait_for(
        notified, 5, 0.02, lambda: f"FRR receives lbd's NOTIFICATION: {s.router.neighbor(s.lbd_ip)}"
    )
    # lbd's detection time (3 x 100 ms) plus vtysh polling on a loaded machine.
    assert time.monotonic() - start < 0.3 + 0.5
    # RFC 9384: Cease (6), subcode 10 "BFD Down"; FRR prints the pair in hex.
    assert seen["lastErrorCodeSubcode"] == f"{CEASE:02X}{BFD_DOWN:02X}", seen
    assert seen["lastNotificationReason"] == "Cease/BFD Down", seen
    wait_for(lambda: s.vip not in s.router.routes(), 3, 0.05, "FRR withdraws lbd's route")

    # FRR retries every second (timers connect 1) and would establish (FRR does not wait for BFD
    # before it opens a session); lbd refuses and does not dial while its BFD session is down.
    blocked_until = time.monotonic() + 5.0
    while time.monotonic() < blocked_until:
        assert s.frr_bgp_state() != "Established"
        time.sleep(0.2)
    assert s.lbd.neighbor("r1")["state"] != "Established"

    s.me.run(["nft", "delete", "table", "inet", "lbdt_bfdcut"])
    s.wait_all_up(100)
    # The session came back only after lbd's BFD was Up again.
    bfd_up = [e["t"] for e in s.lbd.bfd_events() if e["new"] == "UP"]
    established = [epoch(e["ts"]) for e in s.lbd.log_events("bgpEstablished")]
    assert len(bfd_up) == 2 and len(established) == 2, (bfd_up, established)
    assert established[1] > bfd_up[1], (bfd_up, established)


def bfd_gaps(pcap: Path, source: str) -> list[float]:
    """Gaps between consecutive BFD control packets from `source` in a capture, in seconds."""
    out = run(None, ["tcpdump", "-r", str(pcap), "-nn", "-tt", f"src host {source} and udp dst port 3784"])
    times = [float(line.split()[0]) for line in out.stdout.splitlines() if line.strip()]
    return [b - a for a, b in itertools.pairwise(times)]


def test_bfd_50ms_not_starved_while_sending_100k_prefixes(make_setup: Any) -> None:
    """The issue's requirement: a 50 ms x 3 session does not flap while lbd's main loop builds, encodes
    and sends 100,000 prefixes (docs/bfd-design.md: the BFD worker process)."""
    count = 100_000
    s: Setup = make_setup(50)
    capture = Capture(s.lab, s.router.ns, "eth0", "udp port 3784").start()
    before = s.frr_bfd_counters()
    downs_before = [e for e in s.lbd.bfd_events() if e["new"] != "UP"]
    start = time.monotonic()
    assert s.lbd.query("bulk", peer="r1", count=count) is True

    def received() -> int:
        peer = s.router.bgp_summary().get("peers", {}).get(s.lbd_ip, {})
        return int(peer.get("pfxRcd", 0))

    # The bulk set replaces lbd's routes to FRR (the VIP included). Generous: FRR's bgpd on a shared
    # 2-core machine is the slow side.
    wait_for(lambda: received() == count, 240, 1.0, lambda: f"FRR has {count} prefixes: {received()}")
    elapsed = time.monotonic() - start
    after = s.frr_bfd_counters()
    pcap = capture.stop()
    # On the wire at FRR's interface: lbd's packets must never be a detection time (150 ms) apart. This
    # is lbd's part whatever the machine does to FRR's daemons.
    ours, theirs = max(bfd_gaps(pcap, s.lbd_ip)), max(bfd_gaps(pcap, s.frr_ip))
    print(
        f"{count} prefixes at FRR after {elapsed:.1f}s; lbd {s.lbd.query('bulk status')}; longest gap "
        f"between BFD packets: lbd {ours * 1000:.0f} ms, FRR {theirs * 1000:.0f} ms"
    )
    assert ours < 0.15, f"lbd's BFD packets {ours * 1000:.0f} ms apart at FRR's interface"
    evidence = f"longest gap lbd {ours * 1000:.0f} ms, FRR {theirs * 1000:.0f} ms; pcap {pcap}"
    assert after["session-down"] == before["session-down"], (before, after, evidence)
    assert [e for e in s.lbd.bfd_events() if e["new"] != "UP"] == downs_before, evidence
    assert s.frr_bfd()["status"] == "up"  # type: ignore[index]
    assert s.frr_bgp_state() == "Established"
