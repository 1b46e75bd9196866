"""BFD detection time: from a link cut to the session Down at FRR, p50/p99 over N trials per profile.

Run (root, FRR installed):
  .venv/bin/python bench/bench_bfd_detect.py [--interval-ms 300,50] [--trials 20] [--cut both,ingress]
      [--artifacts DIR]

One lbd BFD session (a BFDManager in lbd's namespace) against FRR 8.4 bfdd across a veth pair, both with
the profile interval x 3. Each trial waits for the session to be Up with the final timers on both
sides, waits a random part of an interval (so the cut falls anywhere in the transmit schedule), then
applies an nftables rule in lbd's namespace through an `nft -i` already running there (so the cut
costs no process start-up; the time to apply it is printed as "nft ms") and waits for FRR bfdd's
`state-change ... up -> down` log line (debug bfd peer, microsecond timestamps). The figure is FRR's
log timestamp minus the wall-clock time just before the rule was written.

Cuts:
  both     lbd's namespace drops everything in and out: FRR's own detection timer expires (reason
           control-expired). Expected: between 2 and 3 intervals (the last packet left before the cut).
  ingress  lbd's namespace drops only what it receives (a one-way failure): lbd's detection timer
           expires first. lbd's next packet says Down (diagnostic 1), but with Your Discriminator 0, as
           RFC 5880 §6.8.1 requires once a Detection Time passed without packets; FRR 8.4 drops such a
           packet while its session is Up ("'remote discriminator' is zero, not overridden" with
           debug bfd network), so FRR too goes Down only by its own timer, 3 intervals after lbd's
           last Up packet (reason control-expired). This is where lbd's BGP Cease (RFC 9384) is the
           faster signal: lbd's BGP session is torn down at lbd's detection time.
"cut -> Down at lbd" is when lbd's main process heard of its own Down (the worker's event, via
BFDManager).
"""

from __future__ import annotations

import argparse
import datetime
import random
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_bfd_lab import (
    LbdSide,
    frr_bfd_config,
    frr_profile_lines,
    lab_session,
    loadavg,
    percentile,
    prepare,
    start_frr,
    start_lbd,
    wait,
)

from tests.lab import AddressPlan, Lab, Netns
from tests.lab.frr import Frr

MULTIPLIER = 3
TABLE = "lbdbench_cut"
STATE_CHANGE = re.compile(
    r"^(?P<ts>\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d+) BFD: \[[^]]*\] state-change: \[[^]]*\] "
    r"up -> down reason:(?P<reason>\S+)"
)


class Cutter:
    """`nft -i` running inside a namespace, so a cut takes effect about a millisecond after it is asked
    for, instead of after an `ip netns exec nft` start-up (tens of ms here)."""

    def __init__(self, ns: Netns) -> None:
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns.name, "stdbuf", "-oL", "nft", "-i"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        self._send(
            f"add table inet {TABLE}",
            f"add chain inet {TABLE} input {{ type filter hook input priority -300; policy accept; }}",
            f"add chain inet {TABLE} output {{ type filter hook output priority -300; policy accept; }}",
        )

    def _send(self, *commands: str) -> None:
        # Each batch ends with a listing whose last line we wait for: the commands before it are applied.
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("\n".join([*commands, f"list table inet {TABLE}"]) + "\n")
        self.proc.stdin.flush()
        depth = 0
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("nft -i exited")
            depth += line.count("{") - line.count("}")
            if "}" in line and depth == 0:
                return

    def cut(self, mode: str) -> None:
        rules = [f'add rule inet {TABLE} input iifname != "lo" drop']
        if mode == "both":
            rules.append(f'add rule inet {TABLE} output oifname != "lo" drop')
        self._send(*rules)

    def restore(self) -> None:
        self._send(f"flush chain inet {TABLE} input", f"flush chain inet {TABLE} output")

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class Series:
    interval_ms: int
    mode: str
    frr_ms: list[float] = field(default_factory=list)
    lbd_ms: list[float] = field(default_factory=list)
    nft_ms: list[float] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)


def frr_down_after(router: Frr, offset: int) -> tuple[float, str] | None:
    """The first `up -> down` in bfdd's log after byte `offset`: (wall-clock time, reason)."""
    with router.procs["bfdd"].log.open("rb") as f:
        f.seek(offset)
        for raw in f.read().decode(errors="replace").splitlines():
            match = STATE_CHANGE.match(raw)
            if match:
                stamp = datetime.datetime.strptime(match["ts"], "%Y/%m/%d %H:%M:%S.%f")
                # FRR logs local time, as time.time() is read here: same host, same zone.
                return stamp.timestamp(), match["reason"]
    return None


def new_downs(lbd: LbdSide, seen: int) -> list[dict[str, Any]]:
    downs: list[dict[str, Any]] = lbd.status()["downs"][seen:]
    return downs


def session_ready(router: Frr, lbd: LbdSide, lbd_ip: str, interval_ms: int) -> bool:
    if lbd.status().get("up") != 1:
        return False
    for peer in router.bfd_peers():
        if peer.get("peer") == lbd_ip:
            # Up, with our Poll Sequence to the final interval done (FRR sees our final values) and
            # FRR's own one too (its transmit interval is the profile's, not the 1 s of bring-up).
            return bool(
                peer.get("status") == "up"
                and peer.get("remote-transmit-interval") == interval_ms
                and peer.get("transmit-interval") == interval_ms
            )
    return False


def run_series(lab: Lab, interval_ms: int, mode: str, trials: int, rng: random.Random) -> Series:
    plan = AddressPlan()
    net = plan.v4_link()
    me, peer_ns = lab.netns("lbd"), lab.netns("frr")
    lab.link(me, peer_ns, a_addrs=[net.iface(2)], b_addrs=[net.iface(1)])
    lbd_ip, frr_ip = net.ip(2), net.ip(1)
    profile_lines = frr_profile_lines(interval_ms, MULTIPLIER)
    router = start_frr(
        lab,
        peer_ns,
        frr_bfd_config([(lbd_ip, frr_ip)], profile_lines, extra=["debug bfd peer", "debug bfd network"]),
    )
    profile = {
        "transmit_interval_ms": interval_ms,
        "receive_interval_ms": interval_ms,
        "detect_multiplier": MULTIPLIER,
    }
    lbd = start_lbd(lab, me, [{"peer": frr_ip, "local": lbd_ip, "interface": "eth0"}], profile)
    cutter = Cutter(me)
    lab.add_cleanup("nft -i", cutter.close)
    series = Series(interval_ms, mode)
    for _ in range(trials):
        wait(lambda: session_ready(router, lbd, lbd_ip, interval_ms), 20, "session Up with final timers", 0.1)
        # A short settle, then a random phase within the transmit schedule.
        time.sleep(0.3 + rng.uniform(0, interval_ms / 1000))
        offset = router.procs["bfdd"].log.stat().st_size
        lbd_downs = len(lbd.status()["downs"])
        t0 = time.time()
        cutter.cut(mode)
        t1 = time.time()
        down = wait(partial(frr_down_after, router, offset), 10, "FRR bfdd logs up -> down", 0.02)
        own = wait(partial(new_downs, lbd, lbd_downs), 10, "lbd sees its session Down", 0.05)
        cutter.restore()
        series.frr_ms.append((down[0] - t0) * 1000)
        series.lbd_ms.append((own[0]["t"] - t0) * 1000)
        series.nft_ms.append((t1 - t0) * 1000)
        series.reasons[down[1]] = series.reasons.get(down[1], 0) + 1
    return series


def summary(values: list[float]) -> str:
    return (
        f"{percentile(values, 0.5):>6.0f} {percentile(values, 0.99):>6.0f} {min(values):>6.0f} "
        f"{max(values):>6.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--interval-ms", default="300,50", help="comma-separated intervals (rx = tx)")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--cut", default="both,ingress", help="comma-separated: both, ingress")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--artifacts", type=Path, default=Path("/tmp/bench-bfd-detect"))
    args = parser.parse_args()
    prepare()
    rng = random.Random(args.seed)
    print("command:", shlex.join([".venv/bin/python", *sys.argv]))
    print(f"{args.trials} trials per row, detect multiplier {MULTIPLIER}; times in ms from the cut")
    print(
        f"{'profile':>9} {'cut':>8} | {'cut -> Down at FRR':^27} | {'cut -> Down at lbd':^27} | "
        f"{'nft ms':>6} {'FRR reason':<20} {'load':>4}"
    )
    columns = f"{'p50':>6} {'p99':>6} {'min':>6} {'max':>6}"
    print(f"{'':>9} {'':>8} | {columns} | {columns} |")
    for interval in (int(x) for x in args.interval_ms.split(",")):
        for mode in args.cut.split(","):
            with lab_session(args.artifacts / f"{interval}ms-{mode}") as lab:
                s = run_series(lab, interval, mode, args.trials, rng)
            reasons = ",".join(f"{k}x{v}" for k, v in s.reasons.items())
            print(
                f"{interval:>4}ms x{MULTIPLIER} {mode:>8} | {summary(s.frr_ms)} | {summary(s.lbd_ms)} | "
                f"{max(s.nft_ms):>6.1f} {reasons:<20} {loadavg():>4.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
