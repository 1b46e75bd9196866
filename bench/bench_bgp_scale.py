"""BGP at scale, lbd against BIRD 2, ExaBGP 4, FRR 8.4 and GoBGP 3 as senders to one FRR receiver.

Part 1 (`--prefixes`, default 100,000): every sender announces the same /32 prefixes of 198.18.0.0/15
to FRR `bgpd -Z` (no zebra: a fast receiver that installs nothing). For each sender, in a fresh pair of
namespaces: (a) Established -> all prefixes counted by FRR, (b) sender process start -> all counted,
(c) the sender's peak RSS (VmHWM). lbd is the real daemon, `lbd run`, given a directory holding one
JSON `List` file with one Service per prefix (the way a MetalLB configuration expresses 100,000 /32s)
plus the BGPPeer, pool and BGPAdvertisement: it loads, reconciles and announces as in production.
GoBGP has no static routes in its configuration: it gets them through `gobgp mrt inject` after start,
so only (a) and (c) mean something for it.

Part 2 (`--services`, default 10,000; `--changes`, default 40): `lbd run` announces that many services
to FRR; then one service at a time is added, as an operator would: a new file in the configuration
directory and SIGHUP (`systemctl reload lbd`). FRR's update log gives the receipt of the route
(microsecond timestamps, same clock). Figures per change: SIGHUP -> route at FRR; SIGHUP -> the
daemon's `ipAllocated` line (reload: read the changed file, validate, reconcile); that line -> FRR
(BGP announcer, wire, FRR).

Run as root: `.venv/bin/python bench/bench_bgp_scale.py` (see `--help`). The namespaces are removed
at exit, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.lab import AddressPlan, Lab, Netns, cleanup_stale, wait_for  # noqa: E402
from tests.lab.frr import Frr  # noqa: E402
from tests.lab.netns import install_handlers  # noqa: E402
from tests.lab.proc import Proc  # noqa: E402
from tests.lab.requirements import require_lab, require_tools  # noqa: E402

RX_ASN, TX_ASN = 64512, 64513
BASE = ipaddress.IPv4Address("198.18.0.0")
EXABGP_ENV = {"exabgp_daemon_user": "root", "exabgp_log_level": "WARNING", "exabgp_api_cli": "false"}


def prefixes(count: int, offset: int = 0) -> list[str]:
    # Host 0 of 198.18.0.0/15 is skipped so every prefix is also a usable service address.
    return [f"{BASE + offset + i + 1}/32" for i in range(count)]


# --- lbd's side: this file as a script inside the sender namespace --------------------------------


def lbd_documents(peer: str, count: int, offset: int = 0) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "metallb.io/v1beta2",
            "kind": "BGPPeer",
            "metadata": {"name": "rx", "namespace": "metallb-system"},
            "spec": {"myASN": TX_ASN, "peerASN": RX_ASN, "peerAddress": peer, "holdTime": "9s"},
        },
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": "bench", "namespace": "metallb-system"},
            "spec": {"addresses": ["198.18.0.0/15"], "autoAssign": False},
        },
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "BGPAdvertisement",
            "metadata": {"name": "bench", "namespace": "metallb-system"},
            "spec": {"ipAddressPools": ["bench"]},
        },
    ]
    docs += [service_document(i + offset) for i in range(count)]
    return docs


def service_document(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": f"s{i}",
            "namespace": "default",
            "annotations": {"metallb.universe.tf/loadBalancerIPs": str(BASE + i + 1)},
        },
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
    }


def rss_peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def spawn_lbd(p: Pair, config_dir: Path, name: str) -> Proc:
    """`lbd run` in the sender namespace; its node name is the namespace's (unique restart marker)."""
    node = p.tx.name
    p.lab.add_cleanup("bgp state", lambda: shutil.rmtree(Path("/run/lbd/bgp") / node, ignore_errors=True))
    argv = [sys.executable, "-m", "lbd", "run", "--config", str(config_dir), "--node", node]
    argv += ["--namespace", "metallb-system", "--socket", str(p.lab.path(f"{name}.sock")), "--metrics", "off"]
    return p.lab.spawn(p.tx, argv, name=name, env={"PYTHONPATH": str(REPO)}, cwd=REPO)


def daemon_events(proc: Proc) -> list[dict[str, Any]]:
    """The daemon's JSON log lines, with `at` = their timestamp as seconds since the epoch."""
    events = []
    for line in proc.text().splitlines():
        if not line.startswith("{"):
            continue
        event = json.loads(line)
        stamp = datetime.datetime.strptime(event["ts"], "%Y-%m-%dT%H:%M:%S.%fZ")
        event["at"] = stamp.replace(tzinfo=datetime.UTC).timestamp()
        events.append(event)
    return events


def write_list(path: Path, docs: list[dict[str, Any]]) -> None:
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}))


# --- the lab --------------------------------------------------------------------------------------


@dataclass
class Pair:
    lab: Lab
    rx: Netns
    tx: Netns
    rx_ip: str
    tx_ip: str
    receiver: Frr


def receiver_config(tx_ip: str, rx_ip: str) -> str:
    return "\n".join(
        [
            "frr defaults traditional",
            "log timestamp precision 6",
            f"router bgp {RX_ASN}",
            f" bgp router-id {rx_ip}",
            " bgp log-neighbor-changes",
            " no bgp ebgp-requires-policy",
            " no bgp network import-check",
            f" neighbor {tx_ip} remote-as {TX_ASN}",
            f" neighbor {tx_ip} timers 3 9",
            f" neighbor {tx_ip} timers connect 1",
            "!",
            "",
        ]
    )


def make_pair(lab: Lab) -> Pair:
    net = AddressPlan().v4_link()
    rx, tx = lab.netns("rx"), lab.netns("tx")
    lab.link(rx, tx, a_addrs=[net.iface(1)], b_addrs=[net.iface(2)])
    receiver = Frr(lab, rx, receiver_config(net.ip(2), net.ip(1)), no_zebra=True)
    receiver.start(timeout=60)
    return Pair(lab, rx, tx, net.ip(1), net.ip(2), receiver)


@dataclass
class Result:
    sender: str
    established_to_all: float | None
    start_to_all: float | None
    rss_mib: float
    notes: str = ""


def peer_row(p: Pair) -> dict[str, Any]:
    data: dict[str, Any] = p.receiver.vtysh_json("show bgp ipv4 unicast summary json")
    return data.get("peers", {}).get(p.tx_ip, {})


def log_time(stamp: str) -> float:
    return datetime.datetime.strptime(stamp, "%Y/%m/%d %H:%M:%S.%f").timestamp()


def established_at(p: Pair) -> float | None:
    """When FRR brought the session up, from its log (microseconds, same clock as ours)."""
    pattern = re.compile(rf"^(\S+ \S+) .*%ADJCHANGE: neighbor {re.escape(p.tx_ip)}\b.* Up")
    times = [
        log_time(m.group(1)) for m in map(pattern.match, p.receiver.procs["bgpd"].text().splitlines()) if m
    ]
    return times[-1] if times else None


def measure(p: Pair, count: int, started: float, timeout: float, pid: Callable[[], int]) -> Result:
    """Poll FRR (every 50 ms) until it counts every prefix."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = peer_row(p)
        now = time.time()
        if row.get("pfxRcd", 0) >= count:
            peak = rss_peak_mib(pid())
            established = established_at(p)
            return Result("", now - established if established else None, now - started, peak)
        time.sleep(0.05)
    raise TimeoutError(f"FRR received {peer_row(p).get('pfxRcd')} of {count} prefixes")


def run_lbd(p: Pair, count: int, timeout: float) -> Result:
    config_dir = p.lab.artifacts / "lbd-config"
    config_dir.mkdir()
    write_list(config_dir / "services.json", lbd_documents(p.rx_ip, count))
    started = time.time()
    proc = spawn_lbd(p, config_dir, "lbd")
    result = measure(p, count, started, timeout, lambda: proc.pid)
    at = {e["event"]: e["at"] for e in daemon_events(proc)}
    result.notes = (
        f"configLoaded {at['configLoaded'] - started:.2f} s, daemonReady {at['daemonReady'] - started:.2f} s"
        " after start"
    )
    result.sender = "lbd"
    return result


def run_bird(p: Pair, count: int, timeout: float) -> Result:
    routes = "\n".join(f"  route {prefix} blackhole;" for prefix in prefixes(count))
    conf = p.lab.artifacts / "bird-sender.conf"
    conf.write_text(
        f"router id {p.tx_ip};\nprotocol device {{}}\n"
        f"protocol static bench {{\n  ipv4;\n{routes}\n}}\n"
        f"protocol bgp uplink {{\n  local {p.tx_ip} as {TX_ASN};\n  neighbor {p.rx_ip} as {RX_ASN};\n"
        "  hold time 9; connect retry time 1;\n  ipv4 { import none; export all; };\n}\n"
    )
    sock, pidfile = p.lab.path("bird.ctl"), p.lab.path("bird.pid")
    started = time.time()
    proc = p.lab.spawn(
        p.tx, ["bird", "-f", "-c", str(conf), "-s", str(sock), "-P", str(pidfile)], name="bird"
    )
    result = measure(p, count, started, timeout, lambda: proc.pid)
    result.sender = "BIRD"
    return result


def run_exabgp(p: Pair, count: int, timeout: float) -> Result:
    routes = "\n".join(f"        route {prefix} next-hop self;" for prefix in prefixes(count))
    conf = p.lab.artifacts / "exabgp-sender.conf"
    conf.write_text(
        f"neighbor {p.rx_ip} {{\n    router-id {p.tx_ip};\n    local-address {p.tx_ip};\n"
        f"    local-as {TX_ASN};\n    peer-as {RX_ASN};\n    hold-time 9;\n"
        f"    static {{\n{routes}\n    }}\n}}\n"
    )
    started = time.time()
    proc = p.lab.spawn(p.tx, ["exabgp", str(conf)], name="exabgp", env=EXABGP_ENV)
    result = measure(p, count, started, timeout, lambda: proc.pid)
    result.sender = "ExaBGP"
    return result


def run_frr(p: Pair, count: int, timeout: float) -> Result:
    networks = "\n".join(f"  network {prefix}" for prefix in prefixes(count))
    config = "\n".join(
        [
            "frr defaults traditional",
            f"router bgp {TX_ASN}",
            f" bgp router-id {p.tx_ip}",
            " no bgp ebgp-requires-policy",
            " no bgp network import-check",
            f" neighbor {p.rx_ip} remote-as {RX_ASN}",
            f" neighbor {p.rx_ip} timers 3 9",
            f" neighbor {p.rx_ip} timers connect 1",
            " address-family ipv4 unicast",
            networks,
            " exit-address-family",
            "!",
            "",
        ]
    )
    sender = Frr(p.lab, p.tx, config, no_zebra=True)
    started = time.time()
    sender.start(timeout=120)
    result = measure(p, count, started, timeout, lambda: sender.procs["bgpd"].pid)
    result.sender = "FRR"
    return result


def mrt_file(path: Path, count: int, next_hop: str) -> None:
    """TABLE_DUMP_V2 (RFC 6396 §4.3): a PEER_INDEX_TABLE and one RIB_IPV4_UNICAST entry per prefix."""
    now = int(time.time())

    def record(subtype: int, body: bytes) -> bytes:
        return struct.pack("!IHHI", now, 13, subtype, len(body)) + body

    peer = struct.pack(
        "!B4s4sI", 2, ipaddress.IPv4Address(next_hop).packed, ipaddress.IPv4Address(next_hop).packed, TX_ASN
    )
    out = [
        record(
            1, struct.pack("!4sH", ipaddress.IPv4Address(next_hop).packed, 0) + struct.pack("!H", 1) + peer
        )
    ]
    # ORIGIN IGP; AS_PATH empty (GoBGP adds its own AS towards an eBGP peer); NEXT_HOP.
    attrs = bytes([0x40, 1, 1, 0, 0x40, 2, 0]) + bytes([0x40, 3, 4]) + ipaddress.IPv4Address(next_hop).packed
    # GoBGP drops the last entries of an injected file: end with repeats of the first prefixes, whose
    # loss does not matter (a repeat only replaces the same path).
    padded = prefixes(count) + prefixes(min(count, 1000))
    for seq, prefix in enumerate(padded):
        network = ipaddress.IPv4Network(prefix)
        entry = struct.pack("!HIH", 0, now, len(attrs)) + attrs
        out.append(
            record(
                2, struct.pack("!IB", seq, 32) + network.network_address.packed + struct.pack("!H", 1) + entry
            )
        )
    path.write_bytes(b"".join(out))


def run_gobgp(p: Pair, count: int, timeout: float) -> Result:
    conf = p.lab.artifacts / "gobgp-sender.toml"
    conf.write_text(
        f'[global.config]\n  as = {TX_ASN}\n  router-id = "{p.tx_ip}"\n  port = -1\n'
        f'[[neighbors]]\n  [neighbors.config]\n    neighbor-address = "{p.rx_ip}"\n    peer-as = {RX_ASN}\n'
        "  [neighbors.timers.config]\n    hold-time = 9\n    connect-retry = 1\n"
    )
    mrt = p.lab.artifacts / "gobgp-routes.mrt"
    mrt_file(mrt, count, p.tx_ip)
    started = time.time()
    api = "127.0.0.1:50051"
    proc = p.lab.spawn(
        p.tx, ["gobgpd", "-f", str(conf), "-p", "--api-hosts", api, "--pprof-disable"], name="gobgpd"
    )

    def injected() -> int:
        out = p.tx.run(["gobgp", "global", "rib", "summary", "-a", "ipv4"], check=False).stdout
        found = re.search(r"Destination:\s*(\d+)", out)
        return int(found.group(1)) if found else 0

    wait_for(lambda: p.tx.run(["gobgp", "global"], check=False).returncode == 0, 30, 0.1, "gobgpd API")
    # LAB-NOTES: `mrt inject` drops the tail of a large file; inject the rest (skipping what is in).
    for _ in range(50):
        have = injected()
        if have >= count:
            break
        inject = ["gobgp", "mrt", "inject", "global", str(mrt), str(count + 1000), str(have)]
        p.tx.run(inject, check=False, timeout=300)
    result = measure(p, count, started, timeout, lambda: proc.pid)
    result.sender = "GoBGP"
    result.start_to_all = None
    result.notes = "routes injected through the API after start"
    return result


SENDERS: dict[str, Callable[[Pair, int, float], Result]] = {
    "lbd": run_lbd,
    "bird": run_bird,
    "exabgp": run_exabgp,
    "gobgp": run_gobgp,
    "frr": run_frr,
}


# --- part 2: service change latency ----------------------------------------------------------------

_LOG_LINE = re.compile(r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d+) .* rcvd (198\.18\.\d+\.\d+/32)")


def receipt_times(log: str) -> dict[str, float]:
    times: dict[str, float] = {}
    for line in log.splitlines():
        found = _LOG_LINE.match(line)
        if found:
            times[found.group(2)] = log_time(found.group(1))
    return times


def latency(lab: Lab, services: int, changes: int, timeout: float) -> dict[str, Any]:
    p = make_pair(lab)
    config_dir = lab.artifacts / "lbd-latency"
    config_dir.mkdir()
    write_list(config_dir / "services.json", lbd_documents(p.rx_ip, services))
    proc = spawn_lbd(p, config_dir, "lbd-latency")
    measure(p, services, time.time(), timeout, lambda: proc.pid)
    p.receiver.vtysh("debug bgp updates in")
    signalled: dict[str, float] = {}
    for i in range(changes):
        index = services + i
        # Written aside and renamed: the daemon never reads half a file (it ignores other suffixes).
        staged = config_dir / f"svc-{index}.json.part"
        staged.write_text(json.dumps(service_document(index)))
        staged.rename(config_dir / f"svc-{index}.json")
        signalled[f"default/s{index}"] = time.time()
        proc.signal(signal.SIGHUP)
        prefix = f"{BASE + index + 1}/32"
        wait_for(lambda prefix=prefix: prefix in p.receiver.routes(), 30, 0.02, f"{prefix} at FRR")
        time.sleep(0.1)
    received = receipt_times(p.receiver.procs["bgpd"].text())
    allocated = {e["service"]: e["at"] for e in daemon_events(proc) if e["event"] == "ipAllocated"}
    rows = []
    for key, sent in signalled.items():
        prefix = f"{BASE + int(key.split('/s')[1]) + 1}/32"
        if prefix in received and key in allocated:
            rows.append((sent, allocated[key], received[prefix]))
    return {
        "samples": len(rows),
        "full": [frr - sent for sent, _, frr in rows],
        "reload": [computed - sent for sent, computed, _ in rows],
        "bgp": [frr - computed for _, computed, frr in rows],
    }


def fresh_lab(artifacts: Path) -> Lab:
    """Logs are appended to: a directory left from an earlier run would mix its lines in."""
    shutil.rmtree(artifacts, ignore_errors=True)
    return Lab(artifacts)


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered), p99


# --- main -----------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prefixes", type=int, default=100_000)
    parser.add_argument("--senders", default="lbd,bird,exabgp,frr,gobgp")
    parser.add_argument("--services", type=int, default=10_000, help="part 2 (0: skip)")
    parser.add_argument("--changes", type=int, default=40)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--artifacts", type=Path, default=Path("/tmp/lbd-bench-bgp"))
    args = parser.parse_args()

    require_lab()
    require_tools("vtysh", "bird", "exabgp", "gobgpd", "gobgp")
    install_handlers()
    cleanup_stale()
    command = "bench/bench_bgp_scale.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    print(f"# {command}")
    print(f"# load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    results = []
    for name in filter(None, args.senders.split(",")):
        lab = fresh_lab(args.artifacts / f"scale-{name}")
        try:
            results.append(SENDERS[name](make_pair(lab), args.prefixes, args.timeout))
        finally:
            lab.teardown()
        r = results[-1]
        start = f"{r.start_to_all:.2f}" if r.start_to_all is not None else "-"
        est = f"{r.established_to_all:.2f}" if r.established_to_all is not None else "-"
        print(
            f"{r.sender:7} prefixes={args.prefixes} established->all={est}s "
            f"start->all={start}s peak_rss={r.rss_mib:.0f}MiB {r.notes}",
            flush=True,
        )
    if args.services:
        lab = fresh_lab(args.artifacts / "latency")
        try:
            lat = latency(lab, args.services, args.changes, args.timeout)
        finally:
            lab.teardown()
        for key, label in (
            ("reload", "SIGHUP -> ipAllocated logged (read new file, validate, reconcile)"),
            ("bgp", "ipAllocated logged -> FRR logs the route"),
            ("full", "new file + SIGHUP -> route at FRR"),
        ):
            p50, p99 = percentiles(lat[key])
            print(
                f"latency {label} with {args.services} services announced: "
                f"p50={p50 * 1000:.1f}ms p99={p99 * 1000:.1f}ms (n={lat['samples']})"
            )
    print(f"# load average at end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
