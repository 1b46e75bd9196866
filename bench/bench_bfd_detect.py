"""BFD detection time: from a link cut to the session Down at FRR, p50/p99 over N trials per profile.

Run (root, FRR installed):
  .venv/bin/python bench/bench_bfd_detect.py [--interval-ms 300,50] [--trials 20] [--cut both,ingress]
      [--bgp] [--artifacts DIR]

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
"cut -> BFD Down at lbd" is when lbd's main process heard of its own Down (the worker's event, via
BFDManager).

--bgp: lbd runs its BGP announcer with the BFDManager (BGPPeer with a bfdProfile, the runner of
tests/interop/test_bfd_bgp_frr.py) and FRR runs bgpd with `neighbor X bfd profile`; each trial also waits
for bgpd's `%ADJCHANGE ... Down` line: "BFD down received" when FRR's own BFD took the session down
(cut both), "BGP Notification received" when lbd's Cease "BFD Down" (RFC 9384) got there first
(ingress).
"""

from __future__ import annotations

import argparse
import datetime
import random
import re
import shlex
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import yaml
from bench_bfd_lab import (
    REPO,
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

from tests.interop import test_bfd_bgp_frr as coupling
from tests.interop import test_bgp_harness as harness
from tests.lab import AddressPlan, Lab
from tests.lab.frr import Frr
from tests.lab.nft import FastCut

MULTIPLIER = 3
TABLE = "lbdbench_cut"
BFD_DOWN_LINE = re.compile(
    r"^(?P<ts>\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d+) BFD: \[[^]]*\] state-change: \[[^]]*\] "
    r"up -> down reason:(?P<reason>\S+)"
)
# bgp log-neighbor-changes: "%ADJCHANGE: neighbor 192.0.2.2(Unknown) in vrf default Down BFD down received"
BGP_DOWN_LINE = re.compile(
    r"^(?P<ts>\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d+) BGP: \[[^]]*\] %ADJCHANGE: neighbor \S+ "
    r"in vrf \S+ Down (?P<reason>.*?)\s*$"
)
DAEMONS = ("zebra", "bgpd", "bfdd")


@dataclass
class Series:
    interval_ms: int
    mode: str
    frr_ms: list[float] = field(default_factory=list)
    lbd_ms: list[float] = field(default_factory=list)
    nft_ms: list[float] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)
    bgp_ms: list[float] = field(default_factory=list)
    bgp_reasons: dict[str, int] = field(default_factory=dict)


def first_match(log: Path, offset: int, pattern: re.Pattern[str]) -> tuple[float, str] | None:
    """The first line matching `pattern` in an FRR log after byte `offset`: (wall-clock time, reason)."""
    with log.open("rb") as f:
        f.seek(offset)
        for raw in f.read().decode(errors="replace").splitlines():
            match = pattern.match(raw)
            if match:
                stamp = datetime.datetime.strptime(match["ts"], "%Y/%m/%d %H:%M:%S.%f")
                # FRR logs local time, as time.time() is read here: same host, same zone.
                return stamp.timestamp(), match["reason"]
    return None


class PlainPair:
    """lbd's BFD alone (the driver of bench_bfd_lab) against FRR bfdd."""

    def __init__(self, lab: Lab, interval_ms: int) -> None:
        net = AddressPlan().v4_link()
        self.me, peer_ns = lab.netns("lbd"), lab.netns("frr")
        lab.link(self.me, peer_ns, a_addrs=[net.iface(2)], b_addrs=[net.iface(1)])
        self.lbd_ip, frr_ip = net.ip(2), net.ip(1)
        self.interval_ms = interval_ms
        profile_lines = frr_profile_lines(interval_ms, MULTIPLIER)
        debug = ["debug bfd peer", "debug bfd network"]
        self.router = start_frr(
            lab, peer_ns, frr_bfd_config([(self.lbd_ip, frr_ip)], profile_lines, extra=debug)
        )
        profile = {
            "transmit_interval_ms": interval_ms,
            "receive_interval_ms": interval_ms,
            "detect_multiplier": MULTIPLIER,
        }
        self.lbd = start_lbd(
            lab, self.me, [{"peer": frr_ip, "local": self.lbd_ip, "interface": "eth0"}], profile
        )

    def ready(self) -> bool:
        return self.lbd.status().get("up") == 1 and bfd_final(self.router, self.lbd_ip, self.interval_ms)

    def lbd_downs(self) -> list[float]:
        return [float(d["t"]) for d in self.lbd.status()["downs"]]


class BgpPair:
    """lbd's BGP announcer with BFD (the runner of tests/interop/test_bfd_bgp_frr.py) against FRR bgpd
    and bfdd with `neighbor X bfd profile`."""

    def __init__(self, lab: Lab, interval_ms: int) -> None:
        plan = AddressPlan()
        net, vip = plan.v4_link(), plan.v4_prefix()
        self.me, peer_ns = lab.netns("lbd"), lab.netns("frr")
        lab.link(self.me, peer_ns, a_addrs=[net.iface(2)], b_addrs=[net.iface(1)])
        self.lbd_ip, frr_ip = net.ip(2), net.ip(1)
        self.interval_ms = interval_ms
        self.vip = vip.prefix
        self.router = start_frr(lab, peer_ns, coupling.frr_config(frr_ip, self.lbd_ip, interval_ms), DAEMONS)
        config_dir = lab.artifacts / "lbd-config"
        config_dir.mkdir(exist_ok=True)
        docs = [
            coupling.bfd_profile_doc("fast", interval_ms),
            harness.peer_doc("r1", frr_ip, bfdProfile="fast"),
            harness.pool_doc("pool", vip.prefix),
            harness.adv_doc("adv", "pool"),
            harness.service_doc("web", vip.ip(0)),
        ]
        (config_dir / "config.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
        script = lab.artifacts / "bfd_bgp_runner.py"
        script.write_text(coupling.RUNNER)
        state_dir = lab.path("bgp-state")
        state_dir.mkdir(exist_ok=True)
        control = lab.path("lbd.sock")
        argv = [sys.executable, str(script), "lbd", str(control), str(state_dir), str(config_dir)]
        proc = lab.spawn(self.me, argv, name="lbd", env={"PYTHONPATH": str(REPO)}, cwd=REPO)
        self.lbd = coupling.Lbd(proc, control)
        wait(self.lbd.serving, 15, "lbd control socket", 0.05)

    def ready(self) -> bool:
        return (
            bfd_final(self.router, self.lbd_ip, self.interval_ms)
            and self.router.neighbor_state(self.lbd_ip) == "Established"
            and self.vip in self.router.routes()
        )

    def lbd_downs(self) -> list[float]:
        return [float(e["t"]) for e in self.lbd.bfd_events() if e["old"] == "UP"]


def bfd_final(router: Frr, lbd_ip: str, interval_ms: int) -> bool:
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


def later_than(values: list[float], t: float) -> list[float]:
    return [v for v in values if v > t]


def run_series(
    lab: Lab, interval_ms: int, mode: str, *, trials: int, rng: random.Random, bgp: bool
) -> Series:
    pair = BgpPair(lab, interval_ms) if bgp else PlainPair(lab, interval_ms)
    cutter = FastCut(pair.me, TABLE)
    lab.add_cleanup("nft -i", cutter.close)
    series = Series(interval_ms, mode)
    bfdd_log = pair.router.procs["bfdd"].log
    bgpd_log = pair.router.procs["bgpd"].log if bgp else None
    for _ in range(trials):
        wait(pair.ready, 30, "session Up with final timers (and BGP Established)", 0.1)
        # A short settle, then a random phase within the transmit schedule.
        time.sleep(0.3 + rng.uniform(0, interval_ms / 1000))
        offsets = (bfdd_log.stat().st_size, bgpd_log.stat().st_size if bgpd_log else 0)
        t0 = time.time()
        cutter.cut(ingress_only=mode != "both")
        t1 = time.time()
        down = wait(
            partial(first_match, bfdd_log, offsets[0], BFD_DOWN_LINE), 10, "bfdd logs up -> down", 0.02
        )
        if bgpd_log is not None:
            bgp_down = wait(partial(first_match, bgpd_log, offsets[1], BGP_DOWN_LINE), 10, "bgpd Down", 0.02)
            series.bgp_ms.append((bgp_down[0] - t0) * 1000)
            series.bgp_reasons[bgp_down[1]] = series.bgp_reasons.get(bgp_down[1], 0) + 1
        own = wait(lambda: later_than(pair.lbd_downs(), t0), 10, "lbd sees its session Down", 0.05)  # noqa: B023
        cutter.restore()
        series.frr_ms.append((down[0] - t0) * 1000)
        series.lbd_ms.append((own[0] - t0) * 1000)
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
    parser.add_argument(
        "--bgp", action="store_true", help="lbd's BGP announcer with BFD against FRR bgpd+bfdd; adds BGP Down"
    )
    parser.add_argument("--artifacts", type=Path, default=Path("/tmp/bench-bfd-detect"))
    args = parser.parse_args()
    prepare()
    rng = random.Random(args.seed)
    columns = f"{'p50':>6} {'p99':>6} {'min':>6} {'max':>6}"
    print("command:", shlex.join([".venv/bin/python", *sys.argv]))
    print(f"{args.trials} trials per row, detect multiplier {MULTIPLIER}; times in ms from the cut")
    bgp_head = f" | {'cut -> BGP Down at FRR':^27}" if args.bgp else ""
    print(
        f"{'profile':>9} {'cut':>8} | {'cut -> BFD Down at FRR':^27} | "
        f"{'cut -> BFD Down at lbd':^27}{bgp_head} | "
        f"{'nft ms':>6} {'load':>4}  FRR reasons"
    )
    print(f"{'':>9} {'':>8} | {columns} | {columns}{f' | {columns}' if args.bgp else ''} |")
    for interval in (int(x) for x in args.interval_ms.split(",")):
        for mode in args.cut.split(","):
            name = f"{'bgp-' if args.bgp else ''}{interval}ms-{mode}"
            with lab_session(args.artifacts / name) as lab:
                s = run_series(lab, interval, mode, trials=args.trials, rng=rng, bgp=args.bgp)
            reasons = ",".join(f"{k} x{v}" for k, v in (s.reasons | s.bgp_reasons).items())
            bgp_cols = f" | {summary(s.bgp_ms)}" if args.bgp else ""
            print(
                f"{interval:>4}ms x{MULTIPLIER} {mode:>8} | {summary(s.frr_ms)} | "
                f"{summary(s.lbd_ms)}{bgp_cols} | "
                f"{max(s.nft_ms):>6.1f} {loadavg():>4.1f}  {reasons}",
                flush=True,
            )


if __name__ == "__main__":
    main()
