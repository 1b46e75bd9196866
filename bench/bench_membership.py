"""Membership detection time and false downs, three speakers on a bridge in the namespace lab.

Run (root):
  .venv/bin/python bench/bench_membership.py [--trials 20] [--loss-seconds 60] [--family v4|v6]
      [--artifacts DIR]

Three namespaces on one bridge each run `python -m lbd.net.membership_udp` with the default timers
(50 ms heartbeats, 150 ms failure timeout). Every event line carries the monotonic clock, which all
namespaces share, so a figure is an observer's event time minus the time the bench acted:

  kill -9   SIGKILL to n3 (after a random part of an interval, so the kill falls anywhere in the
            heartbeat schedule); time until n1 and n2 report it down. Then n3 is restarted.
            Expected: 100 to 150 ms (its last heartbeat left 0 to 50 ms before it died).
  cut       an nftables rule making n3 silent, applied through an `nft -i` already running in n3's
            namespace (about a millisecond, printed as "nft ms"); time until n1 and n2 report it
            down, then the rule is removed and the time until it is up again ("heal").
  loss      5% random loss in and out of every namespace (so about 10% between two members) for a
            fixed time: downs, suspicions and changes of the live set seen by any member.

With --simulate no lab is needed: the engines run on the simulated LAN of the unit tests
(tests/unit/membership/sim.py: seeded random loss per datagram, 0.1-0.5 ms latency, timers up to 1 ms
late) for --sim-seconds per cluster size and loss rate, and the bench prints false downs and
suspicions per member pair and hour, and how many probes were needed.
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.lab import AddressPlan, Lab, Netns, Proc, cleanup_stale, loss, restore  # noqa: E402
from tests.lab.netns import install_handlers  # noqa: E402
from tests.lab.nft import FastCut  # noqa: E402
from tests.lab.requirements import require_lab, require_tools  # noqa: E402

NAMES = ("n1", "n2", "n3")
OBSERVERS = ("n1", "n2")
VICTIM = "n3"
KEY = "bench-membership-key-0123456789"
TABLE = "lbdb_membership"
T = TypeVar("T")


def wait(predicate: Callable[[], T | None], timeout: float, what: str, interval: float = 0.01) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(interval)


class Cluster:
    def __init__(self, lab: Lab, family: str) -> None:
        self.lab = lab
        plan = AddressPlan()
        lan = plan.v6_lan() if family == "v6" else plan.v4_lan()
        switch = lab.switch("sw")
        self.addresses = {name: lan.ip(i + 1) for i, name in enumerate(NAMES)}
        self.ns: dict[str, Netns] = {}
        self.procs: dict[str, Proc] = {}
        self.configs: dict[str, Path] = {}
        for i, name in enumerate(NAMES):
            ns = lab.netns(name)
            lab.attach(ns, switch, ifname="eth0", addrs=[lan.iface(i + 1)])
            self.ns[name] = ns
            config = {
                "apiVersion": "lbd.io/v1alpha1",
                "kind": "NodeConfig",
                "metadata": {"name": name},
                "spec": {
                    "membership": {
                        "bindAddress": self.addresses[name],
                        "key": KEY,
                        "peers": [{"name": n, "address": a} for n, a in self.addresses.items() if n != name],
                    }
                },
            }
            path = lab.artifacts / f"{name}.yaml"
            path.write_text(yaml.safe_dump(config))
            self.configs[name] = path
        self.starts = 0

    def start(self, name: str) -> None:
        self.starts += 1
        argv = [sys.executable, "-m", "lbd.net.membership_udp", "--node", name, str(self.configs[name])]
        self.procs[name] = self.lab.spawn(self.ns[name], argv, name=f"membership-{self.starts}", cwd=REPO)

    def records(self, name: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.procs[name].text().splitlines() if line.startswith("{")]

    def live(self, name: str) -> set[str] | None:
        lives = [r["live"] for r in self.records(name) if "live" in r]
        return set(lives[-1]) if lives else None

    def all_live(self) -> bool:
        return all(self.live(n) == set(NAMES) for n in NAMES)

    def seen(self, observer: str, kind: str, after: float) -> Callable[[], float | None]:
        """A poll for the first `kind` event about the victim that `observer` reported after `after`."""

        def first() -> float | None:
            for r in self.records(observer):
                if r["event"] == kind and r.get("member") == VICTIM and r["t"] >= after:
                    return float(r["t"])
            return None

        return first


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def line(label: str, values: list[float]) -> str:
    return (
        f"{label:<22} {len(values):>3} {percentile(values, 0.5):>7.1f} {percentile(values, 0.99):>7.1f} "
        f"{min(values):>7.1f} {max(values):>7.1f}"
    )


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def run(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    lab = Lab(args.artifacts)
    try:
        cluster = Cluster(lab, args.family)
        for name in NAMES:
            cluster.start(name)
        wait(cluster.all_live, 15, "all three live")
        kill_ms: list[float] = []
        for _ in range(args.trials):
            time.sleep(0.3 + rng.uniform(0, 0.05))
            killed = time.monotonic()
            cluster.procs[VICTIM].signal(signal.SIGKILL)
            for o in OBSERVERS:
                at = wait(cluster.seen(o, "down", killed), 5, f"{o} sees the kill")
                kill_ms.append((at - killed) * 1000)
            cluster.start(VICTIM)
            wait(cluster.all_live, 15, "all three live after a restart")
        silencer = FastCut(cluster.ns[VICTIM], TABLE)
        lab.add_cleanup("nft -i", silencer.close)
        cut_ms: list[float] = []
        heal_ms: list[float] = []
        nft_ms: list[float] = []
        for _ in range(args.trials):
            time.sleep(0.3 + rng.uniform(0, 0.05))
            t0 = time.monotonic()
            silencer.cut()
            nft_ms.append((time.monotonic() - t0) * 1000)
            for o in OBSERVERS:
                at = wait(cluster.seen(o, "down", t0), 5, f"{o} sees the cut")
                cut_ms.append((at - t0) * 1000)
            time.sleep(0.2)
            t1 = time.monotonic()
            silencer.restore()
            for o in OBSERVERS:
                at = wait(cluster.seen(o, "up", t1), 5, f"{o} sees the heal")
                heal_ms.append((at - t1) * 1000)
            wait(cluster.all_live, 15, "all three live after a heal")
        began = time.monotonic()
        for name in NAMES:
            loss(cluster.ns[name], 5)
        time.sleep(args.loss_seconds)
        for name in NAMES:
            restore(cluster.ns[name])
        downs = suspects = changes = 0
        for name in NAMES:
            for r in cluster.records(name):
                if r["t"] < began:
                    continue
                downs += r["event"] == "down"
                suspects += r["event"] == "suspect"
                changes += r["event"] == "live"
        print(f"command: {shlex.join([sys.executable, *sys.argv])}")
        print(f"family {args.family}, trials {args.trials}, load average now {loadavg():.1f}")
        print(f"{'figure (ms)':<22} {'n':>3} {'p50':>7} {'p99':>7} {'min':>7} {'max':>7}")
        print(line("kill -9 -> down", kill_ms))
        print(line("cut -> down", cut_ms))
        print(line("restore -> up (heal)", heal_ms))
        print(line("nft apply", nft_ms))
        print(
            f"5% loss in every namespace for {args.loss_seconds:.0f} s: {downs} downs, "
            f"{suspects} suspicions, {changes} live-set changes (3 observers x 2 members)"
        )
    finally:
        lab.teardown()


def simulate(args: argparse.Namespace) -> None:
    from lbd.membership import MemberDown, MemberSuspect
    from tests.unit.membership.sim import Cluster as Simulated

    print(f"command: {shlex.join([sys.executable, *sys.argv])}")
    print(f"simulated {args.sim_seconds:.0f} s per row, 50 ms heartbeats, 150 ms failure timeout")
    print(f"{'members':>7} {'loss %':>6} {'downs':>6} {'suspicions':>10} {'probes/s':>8} {'wall s':>6}")
    for size in (2, 3, 5):
        for percent in (5, 10, 20, 30):
            started = time.monotonic()
            names = [f"n{i}" for i in range(size)]
            cluster = Simulated(names, loss=percent / 100, seed=args.seed)
            cluster.run_for(args.sim_seconds)
            downs = sum(len(cluster.events(n, MemberDown)) for n in names)
            suspicions = sum(len(cluster.events(n, MemberSuspect)) for n in names)
            probes = sum(
                m.counters.probes_sent for n in names for m in cluster.engine(n).members(cluster.now)
            )
            print(
                f"{size:>7} {percent:>6} {downs:>6} {suspicions:>10} {probes / args.sim_seconds:>8.2f} "
                f"{time.monotonic() - started:>6.1f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--loss-seconds", type=float, default=60.0)
    parser.add_argument("--family", choices=["v4", "v6"], default="v4")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--artifacts", type=Path, default=Path("/tmp/bench-membership"))
    parser.add_argument("--simulate", action="store_true", help="simulated LAN instead of the lab")
    parser.add_argument("--sim-seconds", type=float, default=3600.0)
    args = parser.parse_args()
    if args.simulate:
        simulate(args)
        return
    require_lab()
    require_tools("nft", "stdbuf")
    install_handlers()
    cleanup_stale()
    run(args)


if __name__ == "__main__":
    main()
