"""Topologies of network namespaces joined by veth pairs and bridges, and their unconditional teardown.

Theory of operation: a ``Lab`` owns everything it creates: namespaces, processes and clean-up hooks of
the routers started in it. ``Lab.teardown`` runs the hooks, kills every tracked process group, kills any
other process still inside one of its namespaces, and deletes the namespaces (which deletes their links,
bridges and addresses). It is idempotent and is reached from the pytest fixture finalizer, from
``atexit`` and from SIGINT/SIGTERM handlers (``install_handlers``). A run killed with SIGKILL leaves its
namespaces behind; ``cleanup_stale`` removes those of dead creators at the next start.

Links are created directly inside the namespaces (``ip -n A link add ... peer ... netns B``), so the
root namespace never sees or changes anything.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

from tests.lab.addresses import check_address
from tests.lab.names import (
    FRR_RUN_ROOT,
    RUN_ROOT,
    check_ifname,
    creator_pid,
    ns_name,
    pid_alive,
    rundir_pid,
    runtime_dir,
    stale_names,
)
from tests.lab.proc import DEFAULT_TIMEOUT, LabCommandError, Proc, run

NETNS_DIR = Path("/run/netns")

N = TypeVar("N", bound="Netns")

_SEQ = itertools.count(1)
_LIVE: list[Lab] = []
_LIVE_LOCK = threading.RLock()


class LabTeardownError(RuntimeError):
    """Teardown could not remove everything; the message lists what is left."""


class Netns:
    """One network namespace of a lab."""

    def __init__(self, lab: Lab, short: str) -> None:
        self.lab = lab
        self.short = short
        self.name = ns_name(lab.pid, lab.seq, short)
        self._ifindex = itertools.count(0)

    def __repr__(self) -> str:
        return f"Netns({self.name!r})"

    def run(
        self,
        argv: Sequence[str],
        *,
        check: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command to completion inside this namespace (``ip netns exec``)."""
        return run(self.name, argv, check=check, timeout=timeout, input=input, env=env)

    def ip(self, *args: str, check: bool = True) -> str:
        """``ip -n NS ARGS``: iproute2 enters the namespace itself, which is cheaper than netns exec."""
        return run(None, ["ip", "-n", self.name, *args], check=check).stdout

    def ip_json(self, *args: str) -> Any:
        out = run(None, ["ip", "-n", self.name, "-j", *args]).stdout
        return json.loads(out) if out.strip() else []

    def spawn(
        self,
        argv: Sequence[str],
        *,
        name: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Proc:
        return self.lab.spawn(self, argv, name=name, env=env, cwd=cwd)

    def next_ifname(self, stem: str = "eth") -> str:
        return check_ifname(f"{stem}{next(self._ifindex)}")

    def add_addr(self, ifname: str, *cidrs: str) -> None:
        """Add addresses (``addr/len``); IPv6 ones with ``nodad`` so they are usable at once."""
        for cidr in cidrs:
            check_address(cidr)
            extra = ["nodad"] if ":" in cidr else []
            self.ip("addr", "add", cidr, "dev", ifname, *extra)

    def del_addr(self, ifname: str, cidr: str) -> None:
        self.ip("addr", "del", check_address(cidr), "dev", ifname)

    def set_up(self, ifname: str) -> None:
        self.ip("link", "set", ifname, "up")

    def set_down(self, ifname: str) -> None:
        self.ip("link", "set", ifname, "down")

    def add_route(self, dst: str, via: str | None = None, *, dev: str | None = None) -> None:
        """Add a route; ``dst`` may be ``default``. Destinations and gateways must be lab addresses."""
        if dst != "default":
            check_address(dst)
        args = ["route", "add", dst]
        if via is not None:
            check_address(via, allow_link_local=True)
            args = ["-6", *args] if ":" in via else args
            args += ["via", via]
        if dev is not None:
            args += ["dev", dev]
        self.ip(*args)

    def sysctl(self, **values: str | int) -> None:
        """Set ``net.*`` sysctls of this namespace; keys use ``__`` for dots after ``net``."""
        args = [f"net.{key.replace('__', '.')}={value}" for key, value in values.items()]
        self.run(["sysctl", "-q", "-w", *args])

    def enable_forwarding(self) -> None:
        self.sysctl(ipv4__ip_forward=1, ipv6__conf__all__forwarding=1)

    def mac(self, ifname: str) -> str:
        links = self.ip_json("link", "show", "dev", ifname)
        return str(links[0]["address"])

    def addrs(self, ifname: str) -> list[str]:
        """Addresses on ``ifname`` as ``addr/len`` strings."""
        out = self.ip_json("addr", "show", "dev", ifname)
        return [f"{a['local']}/{a['prefixlen']}" for link in out for a in link.get("addr_info", [])]

    def pids(self) -> list[int]:
        out = run(None, ["ip", "netns", "pids", self.name], check=False).stdout
        return [int(p) for p in out.split()]


class Switch(Netns):
    """A namespace holding one Linux bridge (``br0``): a shared L2 segment for ``Lab.attach``."""

    bridge = "br0"


@dataclass(frozen=True, slots=True)
class Link:
    """A veth pair: ``a_if`` in ``a`` and ``b_if`` in ``b`` (``b`` is the switch for attachments)."""

    a: Netns
    a_if: str
    b: Netns
    b_if: str


class Lab:
    """Owner of one topology. Use the ``lab`` fixture rather than constructing one directly."""

    def __init__(self, artifacts: Path) -> None:
        self.pid = os.getpid()
        self.seq = next(_SEQ)
        self.artifacts = artifacts
        self.rundir = runtime_dir(self.pid) / str(self.seq)
        self.namespaces: list[Netns] = []
        self.procs: list[Proc] = []
        self._cleanups: list[tuple[str, Callable[[], None]]] = []
        self._closed = False
        artifacts.mkdir(parents=True, exist_ok=True)
        self.rundir.mkdir(parents=True, exist_ok=True)
        with _LIVE_LOCK:
            _LIVE.append(self)

    def __repr__(self) -> str:
        return f"Lab(pid={self.pid}, seq={self.seq}, namespaces={[n.short for n in self.namespaces]})"

    # -- building -------------------------------------------------------------------------------------

    def netns(self, short: str, *, router: bool = False) -> Netns:
        """Create namespace ``lbdt<pid>-<seq>-<short>`` with ``lo`` up and IPv6 DAD off (link-locals
        usable at once). ``router=True`` enables IPv4 and IPv6 forwarding."""
        return self._create(Netns(self, short), router=router)

    def switch(self, short: str) -> Switch:
        """Create a switch namespace with bridge ``br0`` up (no STP, no forwarding delay)."""
        sw = self._create(Switch(self, short), router=False)
        sw.ip("link", "add", sw.bridge, "type", "bridge", "stp_state", "0", "forward_delay", "0")
        sw.set_up(sw.bridge)
        return sw

    def _create(self, ns: N, *, router: bool) -> N:
        if self._closed:
            raise RuntimeError("lab already torn down")
        if any(n.short == ns.short for n in self.namespaces):
            raise ValueError(f"namespace label {ns.short!r} used twice in one lab")
        run(None, ["ip", "netns", "add", ns.name])
        # Registered before anything else can fail, so teardown deletes it.
        self.namespaces.append(ns)
        ns.set_up("lo")
        ns.sysctl(ipv6__conf__all__accept_dad=0, ipv6__conf__default__accept_dad=0)
        if router:
            ns.enable_forwarding()
        return ns

    def link(
        self,
        a: Netns,
        b: Netns,
        *,
        a_if: str | None = None,
        b_if: str | None = None,
        a_addrs: Iterable[str] = (),
        b_addrs: Iterable[str] = (),
        mtu: int | None = None,
    ) -> Link:
        """Join ``a`` and ``b`` with a veth pair (default names ``eth<n>``), add addresses, bring it up."""
        a_name = check_ifname(a_if) if a_if else a.next_ifname()
        b_name = check_ifname(b_if) if b_if else b.next_ifname()
        args = ["link", "add", a_name]
        if mtu is not None:
            args += ["mtu", str(mtu)]
        a.ip(*args, "type", "veth", "peer", "name", b_name, "netns", b.name)
        a.add_addr(a_name, *a_addrs)
        b.add_addr(b_name, *b_addrs)
        a.set_up(a_name)
        b.set_up(b_name)
        return Link(a, a_name, b, b_name)

    def attach(
        self, ns: Netns, switch: Switch, *, ifname: str | None = None, addrs: Iterable[str] = ()
    ) -> Link:
        """Plug ``ns`` into ``switch``'s bridge: a veth with ``ifname`` in ``ns`` and port ``p<n>``."""
        link = self.link(ns, switch, a_if=ifname, b_if=switch.next_ifname("p"), a_addrs=addrs)
        switch.ip("link", "set", link.b_if, "master", switch.bridge)
        return link

    # -- processes ------------------------------------------------------------------------------------

    def spawn(
        self,
        ns: Netns | None,
        argv: Sequence[str],
        *,
        name: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Proc:
        """Start a tracked process in ``ns`` with stdout+stderr in ``artifacts/<name>.log``.

        ``ns=None`` runs it in the current namespace; only use that for tools that touch no network.
        """
        if self._closed:
            raise RuntimeError("lab already torn down")
        label = name or Path(argv[0]).name
        prefix = f"{ns.short}-" if ns is not None else ""
        log = self.artifacts / f"{prefix}{label}.log"
        proc = Proc(label, ns.name if ns is not None else None, argv, log, env=env, cwd=cwd)
        self.procs.append(proc)
        return proc

    def add_cleanup(self, what: str, func: Callable[[], None]) -> None:
        """Run ``func`` at teardown (last added first), before processes are killed."""
        self._cleanups.append((what, func))

    def path(self, name: str) -> Path:
        """A per-lab path under ``/run/lbdt-<pid>/<seq>/`` for sockets and pid files."""
        return self.rundir / name

    # -- teardown -------------------------------------------------------------------------------------

    def teardown(self) -> None:
        """Remove everything this lab created. Safe to call more than once and from signal handlers."""
        with _LIVE_LOCK:
            if self._closed:
                return
            self._closed = True
        problems: list[str] = []
        while self._cleanups:
            what, func = self._cleanups.pop()
            try:
                func()
            except Exception as exc:
                problems.append(f"clean-up of {what}: {exc!r}")
        for proc in reversed(self.procs):
            if proc.stop(timeout=2.0) is None:
                problems.append(f"{proc!r} survived SIGKILL")
        for ns in reversed(self.namespaces):
            problems += _delete_namespace(ns.name)
        shutil.rmtree(self.rundir, ignore_errors=True)
        with _LIVE_LOCK, contextlib.suppress(ValueError):
            _LIVE.remove(self)
        if problems:
            raise LabTeardownError("; ".join(problems))


def _delete_namespace(name: str) -> list[str]:
    problems: list[str] = []
    if (NETNS_DIR / name).exists():
        out = run(None, ["ip", "netns", "pids", name], check=False).stdout
        for pid in (int(p) for p in out.split()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        try:
            run(None, ["ip", "netns", "del", name])
        except LabCommandError as exc:
            problems.append(str(exc))
    shutil.rmtree(FRR_RUN_ROOT / name, ignore_errors=True)
    return problems


def teardown_all() -> None:
    """Tear down every live lab of this process; errors are printed, not raised (atexit, signals)."""
    with _LIVE_LOCK:
        labs = list(_LIVE)
    for lab in labs:
        try:
            lab.teardown()
        except Exception as exc:
            print(f"lab teardown: {exc}", file=sys.stderr)
    if not _LIVE:
        shutil.rmtree(runtime_dir(os.getpid()), ignore_errors=True)


def cleanup_stale(alive: Callable[[int], bool] = pid_alive) -> list[str]:
    """Delete namespaces, their processes and run-time files left by lab runs whose creator is dead.

    Returns the names of the namespaces deleted. Anything created by a live pid is left alone.
    """
    namespaces = os.listdir(NETNS_DIR) if NETNS_DIR.is_dir() else []
    stale = stale_names(namespaces, creator_pid, alive)
    for name in stale:
        _delete_namespace(name)
    frr_dirs = os.listdir(FRR_RUN_ROOT) if FRR_RUN_ROOT.is_dir() else []
    for name in stale_names(frr_dirs, creator_pid, alive):
        shutil.rmtree(FRR_RUN_ROOT / name, ignore_errors=True)
    for name in stale_names(os.listdir(RUN_ROOT), rundir_pid, alive):
        shutil.rmtree(RUN_ROOT / name, ignore_errors=True)
    return stale


_INSTALLED: list[bool] = []


def install_handlers() -> None:
    """Make teardown unconditional: at interpreter exit and on SIGINT/SIGTERM (main thread only)."""
    if _INSTALLED:
        return
    _INSTALLED.append(True)
    atexit.register(teardown_all)
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(signum)
        signal.signal(signum, _make_handler(signum, previous))


_Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


def _make_handler(signum: int, previous: _Handler) -> Callable[[int, FrameType | None], None]:
    def handler(received: int, frame: FrameType | None) -> None:
        teardown_all()
        if callable(previous):
            previous(received, frame)
            return
        if previous == signal.SIG_IGN:
            return
        # Default action: die of the same signal, so the parent sees the usual status.
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    return handler
