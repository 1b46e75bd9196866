"""L2 failover benchmark: from the owner's death (kill -9) or its link being cut to the first reply from
the new owner that a Linux client on the segment sees, IPv4 and IPv6, three `lbd run` nodes.

Run (root): .venv/bin/python bench/bench_failover.py [--trials 20] [--faults kill,cut,down]

Lab (tests/interop/test_failover_harness.py): a bridge, three nodes each running `lbd run` with
membership among them at the default timers (50 ms heartbeats, 150 ms failure timeout), local delivery,
and a UDP echo server on the VIPs; one dual-stack service (one IPv4 and one IPv6 VIP, same owner); a
client that sends a numbered UDP probe to each VIP every `--interval` (5 ms) from ordinary sockets, so
its own kernel resolves the VIPs and keeps the neighbour entries, and records each reply with the
Ethernet source it came from.

One trial: the probes run and are answered by the owner; at t0 the owner gets the fault; the figure is
the first reply from the new owner (the election among the two others) minus t0, per family. Faults:
- kill: SIGKILL of the owner's daemon (t0 just before the signal);
- cut: the bridge stops forwarding from and to the owner's port (nftables `bridge` table in the switch
  namespace; both ends keep carrier, so only the silence reveals it; t0 just before `nft` starts, so
  the figure includes the few ms nft takes). nftables inside the owner's namespace would not do: the
  ARP/NDP responder's packet sockets bypass that namespace's netfilter hooks;
- down: `ip link set eth0 down` in the owner's namespace (t0 just before `ip` starts).
Then the fault is undone (restart, restore, link up) and the VIP must come back to the original owner
per the election: the time until the client gets replies from it again is reported as "failback"
(for kill it includes the daemon's start-up).

Where the time goes is read from the new owner's structured log (wall-clock `ts`, converted to the
shared monotonic clock): membership declaring the owner down, the daemon's recompute (membersChanged),
local delivery adding the VIP, the first gratuitous packet (gratuitousAnnounce), and the client's reply.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shlex
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.interop.test_failover_harness import FailoverLab, Prober  # noqa: E402
from tests.lab import Lab, cleanup_stale, wait_for  # noqa: E402
from tests.lab.netns import install_handlers  # noqa: E402
from tests.lab.requirements import require_lab  # noqa: E402

# Wall clock minus monotonic clock, for reading the daemons' ISO timestamps on the monotonic axis.
OFFSET = time.time() - time.monotonic()


@dataclass
class Trial:
    fault: str
    owner: str
    new: str
    failover: dict[int, float] = field(default_factory=dict)  # family -> seconds
    mac_ok: bool = True
    failback: float | None = None
    steps: dict[str, float] = field(default_factory=dict)  # log event -> seconds after t0


def mono(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() - OFFSET


def log_events(text: str, after: float) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        with contextlib.suppress(json.JSONDecodeError, KeyError, ValueError):
            record = json.loads(line)
            record["t"] = mono(record["ts"])
            if record["t"] >= after:
                out.append(record)
    return out


def timeline(fl: FailoverLab, trial: Trial, t0: float) -> None:
    """Seconds after t0 of the new owner's first events of the takeover."""
    node = fl.nodes[trial.new]
    assert node.lbd is not None
    for record in log_events(node.lbd.text(), t0):
        event, ip = record["event"], record.get("ip")
        step = {
            "membership member down": "detected" if record.get("member") == trial.owner else None,
            "membersChanged": "recomputed",
            "localAddressAdded": "local_address" if ip == fl.vip4 else None,
            "gratuitousAnnounce": {fl.vip4: "garp", fl.vip6: "unsolicited_na"}.get(ip or ""),
        }.get(event)
        if step is not None and step not in trial.steps:
            trial.steps[step] = record["t"] - t0


def steady(fl: FailoverLab, owner: str, *, timeout: float) -> tuple[Prober, float]:
    """A prober whose replies come from `owner` on both VIPs; (prober, seconds it took)."""
    prober = fl.prober([fl.vip4, fl.vip6], seconds=timeout + 10)
    start = time.monotonic()

    def answered() -> bool:
        return all(prober.first_from(v, owner, after=time.monotonic() - 0.05) for v in (fl.vip4, fl.vip6))

    try:
        wait_for(answered, timeout, 0.02, f"client answered by {owner} on both VIPs")
    except AssertionError:
        prober.stop()
        raise
    return prober, time.monotonic() - start


def apply_fault(fl: FailoverLab, fault: str, name: str) -> float:
    ns = fl.nodes[name].ns
    if fault == "kill":
        return fl.kill(name)
    if fault == "cut":
        return fl.cut(name)
    t0 = time.monotonic()
    ns.set_down("eth0")
    return t0


def undo_fault(fl: FailoverLab, fault: str, name: str) -> None:
    if fault == "kill":
        fl.start(name, wait=False)
    elif fault == "cut":
        fl.mend()
    else:
        fl.nodes[name].ns.set_up("eth0")


def run_trial(fl: FailoverLab, fault: str) -> Trial:
    owner = fl.owner("echo")
    survivors = [n for n in fl.nodes if n != owner]
    new = fl.owner("echo", survivors)
    trial = Trial(fault, owner, new)
    prober, _ = steady(fl, owner, timeout=10)
    time.sleep(random.uniform(0.1, 0.2))  # a random phase against the 50 ms heartbeats
    t0 = apply_fault(fl, fault, owner)
    try:
        wait_for(
            lambda: all(prober.first_from(v, new, after=t0) for v in (fl.vip4, fl.vip6)),
            10,
            0.02,
            f"client answered by {new} after the {fault} of {owner}",
        )
    finally:
        prober.stop()
    for family, vip in ((4, fl.vip4), (6, fl.vip6)):
        first = prober.first_from(vip, new, after=t0)
        assert first is not None
        trial.failover[family] = first.t - t0
        # The first reply is the new owner's, and the client never went back to the old one.
        trial.mac_ok &= first.mac == fl.nodes[new].mac
        trial.mac_ok &= not any(r.mac == fl.nodes[owner].mac for r in prober.replies(vip, after=first.t))
    timeline(fl, trial, t0)
    # Undo and wait for the VIP to come back to the owner, as the election says it must.
    prober = fl.prober([fl.vip4, fl.vip6], seconds=30)
    t1 = time.monotonic()
    undo_fault(fl, fault, owner)
    try:
        wait_for(
            lambda: all(prober.first_from(v, owner, after=t1) for v in (fl.vip4, fl.vip6)),
            20,
            0.02,
            f"client answered by {owner} again",
        )
        trial.failback = max(prober.first_from(v, owner, after=t1).t for v in (fl.vip4, fl.vip6)) - t1  # type: ignore[union-attr]
    finally:
        prober.stop()
    for name in fl.nodes:
        fl.wait_live(name, set(fl.nodes))
    time.sleep(1.5)  # let the takeover's gratuitous burst (1.1 s) end before the next trial
    return trial


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def ms(v: float) -> str:
    return f"{v * 1000:.0f}"


def report(trials: list[Trial]) -> None:
    print("\nfault  family  n   p50 ms  p99 ms  max ms  min ms  (first reply from the new owner after t0)")
    for fault in dict.fromkeys(t.fault for t in trials):
        for family in (4, 6):
            values = [t.failover[family] for t in trials if t.fault == fault]
            print(
                f"{fault:6} IPv{family}    {len(values):<3} {ms(statistics.median(values)):>6}  "
                f"{ms(percentile(values, 0.99)):>6}  {ms(max(values)):>6}  {ms(min(values)):>6}"
            )
    print("\nwhere the time goes (median ms after t0, on the new owner; client = first reply, IPv4)")
    steps = ["detected", "recomputed", "local_address", "garp", "unsolicited_na"]
    print("fault  " + "  ".join(f"{s:>14}" for s in [*steps, "client"]))
    for fault in dict.fromkeys(t.fault for t in trials):
        mine = [t for t in trials if t.fault == fault]
        cells = []
        for step in steps:
            values = [t.steps[step] for t in mine if step in t.steps]
            cells.append(ms(statistics.median(values)) if values else "-")
        cells.append(ms(statistics.median(t.failover[4] for t in mine)))
        print(f"{fault:6} " + "  ".join(f"{c:>14}" for c in cells))
    print("\nfailback (undo of the fault to replies from the original owner again), median / max ms")
    for fault in dict.fromkeys(t.fault for t in trials):
        values = [t.failback for t in trials if t.fault == fault and t.failback is not None]
        print(f"{fault:6} {ms(statistics.median(values))} / {ms(max(values))}")
    bad = [t for t in trials if not t.mac_ok]
    print(f"\ntrials where the first reply came from a wrong MAC or the dead owner answered: {len(bad)}")


@contextlib.contextmanager
def lab_session(artifacts: Path) -> Iterator[Lab]:
    lab = Lab(artifacts)
    try:
        yield lab
    finally:
        lab.teardown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20, help="trials per fault (each gives IPv4 and IPv6)")
    parser.add_argument("--faults", default="kill,cut", help="comma-separated: kill, cut, down")
    parser.add_argument("--artifacts", type=Path, default=Path("/tmp/lbd-bench-failover"))
    parser.add_argument("--json", type=Path, help="write every trial here")
    parser.add_argument(
        "--timers",
        help="membership heartbeatInterval,failureTimeout (e.g. 40ms,120ms); default: lbd's (50ms,150ms)",
    )
    args = parser.parse_args()
    faults = args.faults.split(",")
    timers: tuple[str, str] | None = None
    if args.timers:
        heartbeat, _, timeout = args.timers.partition(",")
        timers = (heartbeat, timeout)
    if not set(faults) <= {"kill", "cut", "down"} or not 1 <= args.trials <= 200:
        parser.error("faults are kill, cut, down; trials 1..200")
    require_lab()
    install_handlers()
    cleanup_stale()
    print("command:", shlex.join([".venv/bin/python", *sys.argv]))
    print(f"load average at start: {os.getloadavg()}, cpus: {os.cpu_count()}")
    trials: list[Trial] = []
    with lab_session(args.artifacts) as lab:
        fl = FailoverLab(lab, timers=timers)
        for fault in faults:
            for i in range(args.trials):
                trial = run_trial(fl, fault)
                trials.append(trial)
                steps = " ".join(f"{k}={ms(v)}" for k, v in trial.steps.items())
                print(
                    f"{fault} #{i + 1}: {trial.owner}->{trial.new} v4 {ms(trial.failover[4])} ms "
                    f"v6 {ms(trial.failover[6])} ms; failback {ms(trial.failback or 0)} ms; {steps}",
                    flush=True,
                )
    print(f"load average at end: {os.getloadavg()}")
    report(trials)
    if args.json:
        args.json.write_text(json.dumps([t.__dict__ for t in trials], indent=1))


if __name__ == "__main__":
    main()
