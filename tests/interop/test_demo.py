"""`lbd demo`, the README's first command, run as a user runs it: it passes against the real FRR and the
client's kernel, prints what they see, and leaves nothing behind, also when interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.lab.requirements import require_tools

pytestmark = pytest.mark.lab

LBD = [sys.executable, "-m", "lbd.cli"]


def demo_leftovers(pid: int) -> list[str]:
    """Namespaces, FRR directories and run directories of the demo process `pid`."""
    found = []
    for root, name in (
        (Path("/run/netns"), f"lbddemo{pid}-"),
        (Path("/run/frr"), f"lbddemo{pid}-"),
        (Path("/run"), f"lbddemo-{pid}"),
    ):
        if root.is_dir():
            found += [str(root / n) for n in os.listdir(root) if n.startswith(name)]
    return found


def test_demo_passes_and_cleans_up() -> None:
    require_tools("vtysh", "zebra", "bgpd", "bfdd", "arping")
    proc = subprocess.Popen(
        [*LBD, "demo", "--timeout", "60"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        out, _ = proc.communicate(timeout=150)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    lines = out.splitlines()
    assert "[ok] FRR: BGP session with lbd (192.0.2.2) Established" in lines
    assert (
        "[ok] FRR received 198.51.100.10/32 from 192.0.2.2 (AS path 64500): "
        "communities 64500:100 no-export, large communities 64500:1:2"
    ) in lines
    assert "[ok] FRR: BFD peer 192.0.2.2 up (receive 100 ms, transmit 100 ms, multiplier 3)" in lines
    assert any(line.startswith("[ok] client: arping 192.0.2.200 answered by") for line in lines), out
    assert any(line.startswith("[ok] client: ip neigh 192.0.2.200 lladdr") for line in lines), out
    assert "$ lbd status" in lines
    assert not any(line.startswith("[FAIL]") for line in lines), out
    assert lines[-1].startswith("demo passed: ")
    assert demo_leftovers(proc.pid) == []


def test_interrupted_demo_removes_everything() -> None:
    require_tools("vtysh", "zebra", "bgpd", "bfdd", "arping")
    proc = subprocess.Popen(
        [*LBD, "demo", "--timeout", "60"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        # Interrupt once lbd runs: FRR, lbd and every namespace exist by then.
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("starting lbd") or time.monotonic() > deadline:
                break
        assert lines and lines[-1].startswith("starting lbd"), lines
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert "interrupted: cleaning up" in rest, rest
    assert proc.returncode == 1
    assert demo_leftovers(proc.pid) == []
