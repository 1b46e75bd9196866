"""The demo's small namespace lab: namespaces joined through a bridge, daemons in them, and a teardown
that removes all of it whatever happened.

Theory of operation: every namespace is named `lbddemo<pid>-<label>`, so the creator is known from the
name. `Topology.close` stops the daemons (SIGTERM to the process group, SIGKILL after a grace time),
kills anything else left inside the namespaces, deletes them (which deletes their veths and bridge)
and removes the run directory. It is idempotent. `remove_stale` deletes what a demo killed with SIGKILL
left behind, and only when its creator is gone. Links are created inside the namespaces, never in the
root namespace, and only documentation addresses (RFC 5737) are used.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

PREFIX = "lbddemo"
NETNS_DIR = Path("/run/netns")
FRR_RUN = Path("/run/frr")
_NAME = re.compile(rf"^{PREFIX}(?P<pid>[0-9]+)-[a-z][a-z0-9]*$")
_RUN_DIR = re.compile(rf"^{PREFIX}-(?P<pid>[0-9]+)$")


class LabError(RuntimeError):
    """A lab command failed; the message has the command line and its output."""


def run(
    argv: Sequence[str], *, timeout: float = 10.0, check: bool = True
) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"{' '.join(argv)}: no answer within {timeout:g}s") from exc
    if check and result.returncode != 0:
        raise LabError(
            f"{' '.join(argv)}: exit {result.returncode}: {(result.stderr or result.stdout).strip()}"
        )
    return result


@dataclass(slots=True)
class Daemon:
    """A long-lived process in a namespace, leader of its own process group, output in a log file."""

    label: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, grace: float = 3.0) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(grace)
        # The leader may be gone while children of its group linger.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(2.0)

    def tail(self, lines: int = 20) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass(slots=True)
class Namespace:
    name: str
    label: str

    def exec_argv(self, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def run(self, argv: Sequence[str], *, timeout: float = 10.0, check: bool = True) -> str:
        return run(self.exec_argv(argv), timeout=timeout, check=check).stdout

    def ip(self, *args: str) -> str:
        return run(["ip", "-n", self.name, *args]).stdout

    def ip_json(self, *args: str) -> Any:
        out = run(["ip", "-n", self.name, "-j", *args]).stdout
        return json.loads(out) if out.strip() else []

    def mac(self, ifname: str) -> str:
        return str(self.ip_json("link", "show", "dev", ifname)[0]["address"]).lower()


@dataclass(slots=True)
class Topology:
    """Owner of everything the demo creates."""

    pid: int = field(default_factory=os.getpid)
    namespaces: list[Namespace] = field(default_factory=list)
    daemons: list[Daemon] = field(default_factory=list)
    closed: bool = False

    @property
    def run_dir(self) -> Path:
        return Path("/run") / f"{PREFIX}-{self.pid}"

    def namespace(self, label: str, *, forwarding: bool = False) -> Namespace:
        ns = Namespace(f"{PREFIX}{self.pid}-{label}", label)
        run(["ip", "netns", "add", ns.name])
        self.namespaces.append(ns)
        ns.ip("link", "set", "lo", "up")
        if forwarding:
            ns.run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
        return ns

    def bridge(self, label: str) -> Namespace:
        ns = self.namespace(label)
        ns.ip("link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0")
        ns.ip("link", "set", "br0", "up")
        return ns

    def attach(self, ns: Namespace, switch: Namespace, ifname: str, cidr: str) -> None:
        """A veth from `ns` (named `ifname`, with `cidr`) to a port of `switch`'s bridge."""
        port = f"p{sum(1 for _ in switch.ip('-o', 'link', 'show', 'master', 'br0').splitlines())}"
        ns.ip("link", "add", ifname, "type", "veth", "peer", "name", port, "netns", switch.name)
        ns.ip("addr", "add", cidr, "dev", ifname)
        ns.ip("link", "set", ifname, "up")
        switch.ip("link", "set", port, "master", "br0")
        switch.ip("link", "set", port, "up")

    def spawn(self, ns: Namespace, argv: Sequence[str], label: str, logs: Path) -> Daemon:
        logs.mkdir(parents=True, exist_ok=True)
        log = logs / f"{ns.label}-{label}.log"
        out: IO[bytes]
        with log.open("ab") as out:
            popen = subprocess.Popen(
                ns.exec_argv(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        daemon = Daemon(label, popen, log)
        self.daemons.append(daemon)
        return daemon

    def close(self) -> list[str]:
        """Remove everything; returns what could not be removed (empty when all is gone)."""
        if self.closed:
            return []
        self.closed = True
        for daemon in reversed(self.daemons):
            daemon.stop()
        problems = [problem for ns in reversed(self.namespaces) for problem in delete_namespace(ns.name)]
        shutil.rmtree(self.run_dir, ignore_errors=True)
        return problems


def delete_namespace(name: str) -> list[str]:
    problems: list[str] = []
    if (NETNS_DIR / name).exists():
        for pid in run(["ip", "netns", "pids", name], check=False).stdout.split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        result = run(["ip", "netns", "del", name], check=False)
        if result.returncode != 0:
            problems.append(f"ip netns del {name}: {result.stderr.strip()}")
    shutil.rmtree(FRR_RUN / name, ignore_errors=True)
    return problems


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale() -> list[str]:
    """Delete namespaces, FRR directories and run directories of demos whose process is gone."""
    removed: list[str] = []
    names = os.listdir(NETNS_DIR) if NETNS_DIR.is_dir() else []
    for name in names:
        match = _NAME.fullmatch(name)
        if match and not _alive(int(match["pid"])):
            delete_namespace(name)
            removed.append(name)
    for root, pattern in ((FRR_RUN, _NAME), (Path("/run"), _RUN_DIR)):
        for name in os.listdir(root) if root.is_dir() else []:
            match = pattern.fullmatch(name)
            if match and not _alive(int(match["pid"])):
                shutil.rmtree(root / name, ignore_errors=True)
    return removed
