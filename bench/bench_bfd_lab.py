"""Shared pieces of the BFD benchmarks (bench_bfd_scale.py, bench_bfd_detect.py): the namespace lab,
FRR bfdd as the peer, lbd's side as a driver process, CPU accounting.

lbd's side is this file run as a script inside lbd's namespace (`driver` below): one BFDManager (so one
BFD worker process) holding every session of the configuration, reporting to a status file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.lab import Lab, Netns, check_address, cleanup_stale, wait_for  # noqa: E402
from tests.lab.frr import Frr  # noqa: E402
from tests.lab.netns import install_handlers  # noqa: E402
from tests.lab.proc import Proc  # noqa: E402
from tests.lab.requirements import require_lab, require_tools  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
STATUS_PERIOD = 0.5
LOG_LEVEL = "info"


# --- lbd's side: runs inside lbd's namespace ---------------------------------------------------------


async def driver(config_file: str, status_file: str) -> None:
    from bfd import Profile, State
    from lbd.net.bfd_manager import BFDManager
    from lbd.net.bfd_transport import SessionKey

    config = json.loads(Path(config_file).read_text())
    manager = BFDManager(log_level=config.get("log_level"))
    await manager.start()
    keys = [SessionKey(**k) for k in config["keys"]]
    downs: list[dict[str, Any]] = []
    up_events = [0]

    def changed(key: SessionKey, event: Any) -> None:
        if event.new is State.UP:
            up_events[0] += 1
        elif event.old is State.UP:
            # Wall clock: compared with FRR's log timestamps by the detection benchmark.
            downs.append({"peer": key.peer, "t": time.time(), "diag": int(event.diag)})

    manager.subscribe(changed)
    profile = Profile(**config["profile"])
    for key in keys:
        await manager.add_session(key, profile)
    while True:
        totals: dict[str, float] = {}
        for sample in manager.metric_samples():
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
        status = {
            "control_in": totals.get("metallb_bfd_control_packet_input", 0.0),
            "control_out": totals.get("metallb_bfd_control_packet_output", 0.0),
            "pid": os.getpid(),
            "worker_pid": manager.worker_pid,
            "sessions": len(keys),
            "up": sum(manager.is_up(k) for k in keys),
            "up_events": up_events[0],
            "downs": downs,
        }
        tmp = status_file + ".tmp"
        Path(tmp).write_text(json.dumps(status))
        os.replace(tmp, status_file)
        await asyncio.sleep(STATUS_PERIOD)


@dataclass
class LbdSide:
    proc: Proc
    status_file: Path

    def status(self) -> dict[str, Any]:
        self.proc.check_alive()
        try:
            data: dict[str, Any] = json.loads(self.status_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return data


def start_lbd(lab: Lab, ns: Netns, keys: list[dict[str, Any]], profile: dict[str, Any]) -> LbdSide:
    # Per namespace: two lbd sides may share a lab.
    config = lab.artifacts / f"{ns.short}-lbd-bfd.json"
    config.write_text(json.dumps({"keys": keys, "profile": profile, "log_level": LOG_LEVEL}))
    status = lab.path(f"{ns.short}-lbd-bfd-status.json")
    proc = lab.spawn(
        ns,
        [sys.executable, str(Path(__file__).resolve()), str(config), str(status)],
        name="lbd-bfd",
        env={"PYTHONPATH": str(REPO)},
        cwd=REPO,
    )
    return LbdSide(proc, status)


# --- the lab --------------------------------------------------------------------------------------


@contextlib.contextmanager
def lab_session(artifacts: Path) -> Iterator[Lab]:
    """A lab that is removed on exit, also on Ctrl-C (the lab installs signal handlers)."""
    lab = Lab(artifacts)
    try:
        yield lab
    finally:
        lab.teardown()


def prepare() -> None:
    require_lab()
    require_tools("vtysh", "zebra", "bfdd", "nft")
    install_handlers()
    cleanup_stale()


def add_addresses(ns: Netns, ifname: str, cidrs: list[str]) -> None:
    """Many addresses in one `ip -batch` (one `ip addr add` each would take minutes for thousands)."""
    lines = []
    for cidr in cidrs:
        check_address(cidr)
        lines.append(f"addr add {cidr} dev {ifname}" + (" nodad" if ":" in cidr else ""))
    ns.run(["ip", "-batch", "-"], input="\n".join(lines) + "\n", timeout=120)


def frr_profile_lines(tx_ms: int, multiplier: int) -> list[str]:
    return [f"receive-interval {tx_ms}", f"transmit-interval {tx_ms}", f"detect-multiplier {multiplier}"]


def frr_bfd_config(
    peers: list[tuple[str, str]],
    profile_lines: list[str],
    *,
    extra: Sequence[str] = (),
    ifname: str = "eth0",
) -> str:
    """bfdd configuration: one single-hop peer (peer address, FRR's local address) per entry."""
    lines = ["frr defaults traditional", "log timestamp precision 6", *extra, "bfd", " profile lbd"]
    lines += [f"  {line}" for line in profile_lines]
    lines.append(" !")
    for peer, local in peers:
        lines += [f" peer {peer} local-address {local} interface {ifname}", "  profile lbd", " !"]
    lines += ["!", ""]
    return "\n".join(lines)


def start_frr(
    lab: Lab, ns: Netns, config: str, daemons: tuple[str, ...] = ("zebra", "bfdd"), timeout: float = 60.0
) -> Frr:
    router = Frr(lab, ns, config, daemons=daemons)
    router.start(timeout=timeout)
    return router


def frr_peers(router: Frr) -> list[dict[str, Any]]:
    return router.bfd_peers()


def frr_counters(router: Frr) -> dict[str, dict[str, Any]]:
    """`show bfd peers counters json` by peer address (lbd's side: one session per FRR local address)."""
    rows = router.vtysh_json("show bfd peers counters json") or []
    return {f"{r['peer']} {r.get('local', '')}": r for r in rows}


# --- accounting -----------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (not its children) from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # Fields 14 and 15 of proc(5) (utime, stime); the split above starts at field 3.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def wait(predicate: Any, timeout: float, message: str, interval: float = 0.5) -> Any:
    return wait_for(predicate, timeout, interval, message)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (p99 of 20 values is the largest)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def now() -> float:
    return time.time()


if __name__ == "__main__":
    asyncio.run(driver(sys.argv[1], sys.argv[2]))
