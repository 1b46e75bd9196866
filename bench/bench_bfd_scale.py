"""BFD scale: how many sessions one lbd BFD worker holds with zero false flaps, and its CPU, next to FRR
bfdd holding the same sessions in the same run.

Run (root, FRR installed):
  .venv/bin/python bench/bench_bfd_scale.py [--interval-ms 300,50] [--counts 50,100,200,500,1000]
      [--duration 60] [--mode lbd-frr|frr-frr|lbd-lbd] [--family v6|v4] [--keep-going] [--artifacts DIR]

Topology: two namespaces, A and B, joined by one veth pair; each holds N addresses, and session i runs
single hop between A's address i and B's address i, so every session has its own peer, as N routers
would. --mode says who runs the sessions on each side: lbd (one BFDManager, so one BFD worker process
holding all N) or FRR 8.4 bfdd (`peer <i> local-address <i> interface eth0`). `lbd-frr` is the
benchmark; `frr-frr` shows what bfdd itself holds on this machine at the same load, `lbd-lbd` what lbd
holds when it is alone. Both sides use one profile, interval x 3. Neighbour entries are permanent in
both namespaces: the kernel's neighbour table limit (gc_thresh3, 1024 by default, shared by every
namespace and settable only in the root one) would otherwise drop packets, which is not what this
measures.

For each interval, counts are tried in increasing order. At each count: bring every session Up on both
sides with the final timers, then hold for --duration seconds and count state changes (FRR's
session-down counters, lbd's Down events) and CPU (user+system from /proc, as a share of one core) of
the process holding the sessions on each side: lbd's BFD worker, or bfdd. A count with any flap ends
that mode's series for the interval (unless --keep-going). "rx %" is the control packets side B
received during the hold as a share of what the profile asks A to send (one per 87.5 % of the interval
on average: RFC 5880 §6.8.7 jitter of 75-100 %). "rcvbuf drops" are UDP datagrams each namespace's
kernel dropped during the hold because a socket's receive buffer was full (RcvbufErrors, IPv4 + IPv6).

--capture runs tcpdump on B's interface during the hold and reports, for A's packets (as they arrive)
and B's (as they leave), the longest gap between two packets of one session and how many sessions had
a gap of at least the detection time. When sessions flap but neither side's packets were that late on
the wire, the receiving daemon was late reading them (CPU starvation of that process).
"""

from __future__ import annotations

import argparse
import ipaddress
import re
import shlex
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_bfd_lab import (
    LbdSide,
    add_addresses,
    cpu_seconds,
    frr_bfd_config,
    frr_counters,
    frr_profile_lines,
    lab_session,
    loadavg,
    prepare,
    start_frr,
    start_lbd,
    wait,
)

from tests.lab import Lab, Netns, WaitTimeout, run
from tests.lab.frr import Frr
from tests.lab.proc import Proc

MULTIPLIER = 3
MODES = ("lbd-frr", "frr-frr", "lbd-lbd")
MEAN_JITTER = 0.875
V4_RANGES = ("198.51.100.0/24", "203.0.113.0/24")
V6_A, V6_B, V6_PREFIX = "fd00:bfd::1:0", "fd00:bfd::2:0", 64


class Side(Protocol):
    def all_up(self, interval_ms: int) -> bool: ...
    def downs(self) -> int: ...
    def received(self) -> float: ...
    def pid(self) -> int: ...


class LbdHolder:
    def __init__(self, lab: Lab, ns: Netns, ifname: str, pairs: list[tuple[str, str]], interval_ms: int):
        keys = [{"peer": peer, "local": local, "interface": ifname} for local, peer in pairs]
        profile = {
            "transmit_interval_ms": interval_ms,
            "receive_interval_ms": interval_ms,
            "detect_multiplier": MULTIPLIER,
        }
        self.count = len(pairs)
        self.lbd: LbdSide = start_lbd(lab, ns, keys, profile)

    def all_up(self, interval_ms: int) -> bool:
        return self.lbd.status().get("up") == self.count

    def downs(self) -> int:
        return len(self.lbd.status()["downs"])

    def received(self) -> float:
        return float(self.lbd.status()["control_in"])

    def pid(self) -> int:
        return int(self.lbd.status()["worker_pid"])


class FrrHolder:
    def __init__(self, lab: Lab, ns: Netns, ifname: str, pairs: list[tuple[str, str]], interval_ms: int):
        config = frr_bfd_config(
            [(peer, local) for local, peer in pairs],
            frr_profile_lines(interval_ms, MULTIPLIER),
            ifname=ifname,
        )
        self.count = len(pairs)
        # bfdd reads a configuration of thousands of peers slowly (over a minute for 1000 here).
        self.router: Frr = start_frr(lab, ns, config, timeout=60 + len(pairs) * 0.2)

    def all_up(self, interval_ms: int) -> bool:
        # Up, and the peer's Poll Sequence to the final interval is done.
        peers = self.router.bfd_peers()
        final = [
            p for p in peers if p.get("status") == "up" and p.get("remote-transmit-interval") == interval_ms
        ]
        return len(final) == self.count

    def downs(self) -> int:
        return sum(int(r["session-down"]) for r in frr_counters(self.router).values())

    def received(self) -> float:
        return float(sum(int(r["control-packet-input"]) for r in frr_counters(self.router).values()))

    def pid(self) -> int:
        return self.router.procs["bfdd"].pid


@dataclass
class Result:
    interval_ms: int
    count: int
    duration: float
    downs: tuple[int, int]
    bringup_s: float
    cpu: tuple[float, float]
    rx_ratio: float
    load: tuple[float, float]
    # With --capture: per side, the longest gap between one session's packets at B's interface (s)
    # and how many sessions had a gap of at least the detection time there.
    rcvbuf_drops: tuple[int, int] = (0, 0)
    gaps: tuple[float, float] | None = None
    late: tuple[int, int] | None = None


def addresses(family: str, count: int) -> tuple[list[str], list[str]]:
    """A's and B's N addresses as `addr/len`; address i of A and of B share a subnet."""
    if family == "v6":
        a, b = ipaddress.IPv6Address(V6_A), ipaddress.IPv6Address(V6_B)
        return [f"{a + i}/{V6_PREFIX}" for i in range(count)], [f"{b + i}/{V6_PREFIX}" for i in range(count)]
    # Each /24: A gets .2-.127, B .128-.253 (up to 252 sessions).
    pairs = [
        (f"{net.network_address + h}/24", f"{net.network_address + h + 126}/24")
        for net in (ipaddress.IPv4Network(n) for n in V4_RANGES)
        for h in range(2, 128)
    ]
    if count > len(pairs):
        raise SystemExit(f"--family v4 holds at most {len(pairs)} sessions; use --family v6")
    return [a for a, _ in pairs[:count]], [b for _, b in pairs[:count]]


def permanent_neighbours(ns: Netns, ifname: str, cidrs: list[str], mac: str) -> None:
    lines = [f"neigh replace {c.split('/')[0]} lladdr {mac} dev {ifname} nud permanent" for c in cidrs]
    ns.run(["ip", "-batch", "-"], input="\n".join(lines) + "\n", timeout=120)


def holder(
    kind: str, lab: Lab, ns: Netns, *, ifname: str, pairs: list[tuple[str, str]], interval_ms: int
) -> Side:
    if kind == "lbd":
        return LbdHolder(lab, ns, ifname, pairs, interval_ms)
    return FrrHolder(lab, ns, ifname, pairs, interval_ms)


def start_capture(lab: Lab, ns: Netns, ifname: str) -> tuple[Proc, Path]:
    """tcpdump of every BFD control packet on B's interface: A's as they arrive, B's as they leave."""
    pcap = lab.artifacts / "bfd.pcap"
    proc = ns.spawn(["tcpdump", "-i", ifname, "-n", "-s", "128", "-w", str(pcap), "udp dst port 3784"])
    wait(lambda: "listening on" in proc.text(), 10, "tcpdump listening", 0.05)
    return proc, pcap


def wire_gaps(
    pcap: Path, a_ips: set[str], window: tuple[float, float], detection: float
) -> tuple[tuple[float, float], tuple[int, int]]:
    """Longest per-session gap and number of sessions with a gap >= `detection`, for A's and B's
    packets, within the hold `window` (wall clock)."""
    out = run(None, ["tcpdump", "-r", str(pcap), "-nn", "-tt", "-q"], timeout=600).stdout
    last: dict[str, float] = {}
    longest: dict[str, float] = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        t = float(fields[0])
        if not window[0] <= t <= window[1]:
            continue
        source = fields[2].rsplit(".", 1)[0]
        if source in last:
            longest[source] = max(longest.get(source, 0.0), t - last[source])
        last[source] = t
    sides = ([g for k, g in longest.items() if k in a_ips], [g for k, g in longest.items() if k not in a_ips])
    gaps = (max(sides[0], default=0.0), max(sides[1], default=0.0))
    late = (sum(g >= detection for g in sides[0]), sum(g >= detection for g in sides[1]))
    return gaps, late


def rcvbuf_errors(ns: Netns) -> int:
    """UDP datagrams the namespace's kernel dropped because a socket's receive buffer was full."""
    total = 0
    for path, key in (("/proc/net/snmp", "Udp:"), ("/proc/net/snmp6", "Udp6RcvbufErrors")):
        lines = ns.run(["cat", path]).stdout.splitlines()
        if key == "Udp:":
            rows = [line.split() for line in lines if line.startswith("Udp:")]
            total += int(rows[1][rows[0].index("RcvbufErrors")])
        else:
            total += sum(int(line.split()[1]) for line in lines if line.startswith(key))
    return total


def run_step(
    lab: Lab, *, mode: str, family: str, interval_ms: int, count: int, duration: float, capture: bool
) -> Result:
    kind_a, kind_b = mode.split("-")
    a_cidrs, b_cidrs = addresses(family, count)
    a_ns, b_ns = lab.netns("a"), lab.netns("b")
    link = lab.link(a_ns, b_ns)
    add_addresses(a_ns, link.a_if, a_cidrs)
    add_addresses(b_ns, link.b_if, b_cidrs)
    permanent_neighbours(a_ns, link.a_if, b_cidrs, b_ns.mac(link.b_if))
    permanent_neighbours(b_ns, link.b_if, a_cidrs, a_ns.mac(link.a_if))
    a_ips, b_ips = [c.split("/")[0] for c in a_cidrs], [c.split("/")[0] for c in b_cidrs]
    started = time.monotonic()
    # B first when it is FRR: its daemons take a while to read thousands of peers.
    b = holder(
        kind_b,
        lab,
        b_ns,
        ifname=link.b_if,
        pairs=list(zip(b_ips, a_ips, strict=True)),
        interval_ms=interval_ms,
    )
    a = holder(
        kind_a,
        lab,
        a_ns,
        ifname=link.a_if,
        pairs=list(zip(a_ips, b_ips, strict=True)),
        interval_ms=interval_ms,
    )
    wait(
        lambda: a.all_up(interval_ms) and b.all_up(interval_ms),
        60 + count / 10,
        f"{count} sessions Up at {interval_ms} ms on both sides",
        interval=1.0,
    )
    bringup = time.monotonic() - started
    # Both sides' Poll Sequences after Up settle within a few intervals; FRR's is the slower (1 s start).
    time.sleep(3.0)
    pids = (a.pid(), b.pid())
    downs0 = (a.downs(), b.downs())
    rx0 = b.received()
    load0 = loadavg()
    tcpdump = start_capture(lab, b_ns, link.b_if) if capture else None
    cpu0 = [cpu_seconds(p) for p in pids]
    drops0 = (rcvbuf_errors(a_ns), rcvbuf_errors(b_ns))
    wall0 = time.time()
    t0 = time.monotonic()
    deadline = t0 + duration
    while time.monotonic() < deadline:
        # Nothing is asked of FRR during the hold: vtysh queries would cost bfdd CPU.
        time.sleep(min(5.0, max(0.0, deadline - time.monotonic())))
    elapsed = time.monotonic() - t0
    cpu1 = [cpu_seconds(p) for p in pids]
    drops = (rcvbuf_errors(a_ns) - drops0[0], rcvbuf_errors(b_ns) - drops0[1])
    wall1 = time.time()
    expected = count * elapsed / (MEAN_JITTER * interval_ms / 1000)
    gaps = late = None
    if tcpdump is not None:
        tcpdump[0].signal(signal.SIGINT)
        tcpdump[0].popen.wait(30)
        detection = MULTIPLIER * interval_ms / 1000
        gaps, late = wire_gaps(tcpdump[1], set(a_ips), (wall0, wall1), detection)
        tcpdump[1].unlink()
        # A packet the capture lost would look like a gap: say so.
        lost = re.search(r"(\d+) packets? dropped by kernel", tcpdump[0].text())
        if lost and int(lost[1]):
            print(f"  (tcpdump lost {lost[1]} packets: wire gaps are upper bounds)", flush=True)
    return Result(
        interval_ms=interval_ms,
        count=count,
        duration=elapsed,
        downs=(a.downs() - downs0[0], b.downs() - downs0[1]),
        bringup_s=bringup,
        cpu=((cpu1[0] - cpu0[0]) / elapsed, (cpu1[1] - cpu0[1]) / elapsed),
        rx_ratio=(b.received() - rx0) / expected,
        load=(load0, loadavg()),
        gaps=gaps,
        late=late,
        rcvbuf_drops=drops,
    )


def header() -> str:
    return (
        f"{'interval':>8} {'sessions':>8} {'hold s':>7} {'downs A/B':>9} {'CPU A':>7} {'CPU B':>7} "
        f"{'rx % at B':>9} {'up in s':>7} {'load 1m':>9} {'rcvbuf drops A/B':>16}"
        "  wire: longest gap A/B ms, late sessions A/B"
    )


def row(r: Result) -> str:
    return (
        f"{r.interval_ms:>6}ms {r.count:>8} {r.duration:>7.0f} {f'{r.downs[0]}/{r.downs[1]}':>9} "
        f"{r.cpu[0]:>7.1%} {r.cpu[1]:>7.1%} {r.rx_ratio:>9.1%} {r.bringup_s:>7.1f} "
        f"{r.load[0]:>4.1f}/{r.load[1]:<4.1f} {f'{r.rcvbuf_drops[0]}/{r.rcvbuf_drops[1]}':>16}"
        + (
            f"  {r.gaps[0] * 1000:.0f}/{r.gaps[1] * 1000:.0f} ms, {r.late[0]}/{r.late[1]}"
            if r.gaps is not None and r.late is not None
            else ""
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--interval-ms", default="300,50", help="comma-separated intervals (rx = tx)")
    parser.add_argument("--counts", default="50,100,200,500,1000", help="comma-separated session counts")
    parser.add_argument("--duration", type=float, default=60.0, help="hold time per step, seconds")
    parser.add_argument(
        "--mode",
        default="lbd-frr",
        help="comma-separated, of lbd-frr, frr-frr, lbd-lbd: each count runs every mode in turn",
    )
    parser.add_argument("--family", choices=("v4", "v6"), default="v6")
    parser.add_argument(
        "--capture",
        action="store_true",
        help="tcpdump at B's interface during the hold: who was late when a session flapped",
    )
    parser.add_argument("--keep-going", action="store_true", help="do not stop a series at its first flap")
    parser.add_argument("--artifacts", type=Path, default=Path("/tmp/bench-bfd-scale"))
    args = parser.parse_args()
    prepare()
    modes = args.mode.split(",")
    for mode in modes:
        if mode not in MODES:
            parser.error(f"--mode {mode}: choose from {', '.join(MODES)}")
    print("command:", shlex.join([".venv/bin/python", *sys.argv]))
    print(f"hold {args.duration:.0f} s per step, multiplier {MULTIPLIER}, {args.family}")
    print("CPU: share of one core over the hold (user+system); load: 1-minute load average before/after")
    print(f"{'mode':>8} {header()}", flush=True)
    for interval in (int(x) for x in args.interval_ms.split(",")):
        active = list(modes)
        for count in (int(x) for x in args.counts.split(",")):
            for mode in list(active):
                try:
                    with lab_session(args.artifacts / f"{mode}-{interval}ms-{count}") as lab:
                        result = run_step(
                            lab,
                            mode=mode,
                            family=args.family,
                            interval_ms=interval,
                            count=count,
                            duration=args.duration,
                            capture=args.capture,
                        )
                except WaitTimeout as error:
                    print(f"{mode:>8} {interval:>6}ms {count:>8}  not all Up: {error}", flush=True)
                    active.remove(mode)
                    continue
                print(f"{mode:>8} {row(result)}", flush=True)
                if sum(result.downs) and not args.keep_going:
                    active.remove(mode)


if __name__ == "__main__":
    main()
