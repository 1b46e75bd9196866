"""`lbd demo`: a namespace lab with a real FRR router and a Linux client, lbd started from
`examples/demo/`, and what each side reports.

Theory of operation: the expected outcome is not written here but computed by the reconcile core from the
demo's configuration (`lbd plan`): the routes lbd must send to the router with their communities, and the
addresses it must answer for on the segment. The FRR configuration is derived from the same BGPPeer and
BFDProfile. The demo then builds

    router (FRR, 192.0.2.1) --+
    lbd (demo-node, 192.0.2.2) --+-- sw (bridge br0)
    client (192.0.2.3) ----------+

starts FRR and `lbd run`, and polls, within one deadline, what FRR and the client observe until every
check passes. Everything is removed at the end, on failure and on Ctrl-C as well.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from lbd.bundle import view_names
from lbd.config import load_paths
from lbd.config.model import BGPPeer, Config
from lbd.control.client import ControlError, query
from lbd.demo import checks
from lbd.demo.checks import Check, Expected
from lbd.demo.frr import DAEMONS, FRR_SBIN, Frr, router_config
from lbd.demo.netns import LabError, Namespace, Topology, remove_stale
from lbd.reconcile.plan import plan

# The lab's addresses (RFC 5737); examples/demo/ is written for them.
SEGMENT_PREFIX = 24
ROUTER_ADDRESS = "192.0.2.1"
LBD_ADDRESS = "192.0.2.2"
CLIENT_ADDRESS = "192.0.2.3"
INTERFACE = "eth0"

Say = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class DemoOptions:
    config: Path
    node: str = "demo-node"
    timeout: float = 60.0
    logs: Path | None = None
    lbd: tuple[str, ...] = (sys.executable, "-m", "lbd.cli")


class DemoError(Exception):
    """The demo cannot run here or its configuration does not fit the lab."""


def missing_requirements() -> list[str]:
    missing = [] if os.geteuid() == 0 else ["root (namespaces, veths and FRR need it)"]
    missing += [f"{tool} (package {pkg})" for tool, pkg in _TOOLS if shutil.which(tool) is None]
    missing += [f"{FRR_SBIN / d} (package frr)" for d in DAEMONS if not (FRR_SBIN / d).is_file()]
    return missing


_TOOLS = (("ip", "iproute2"), ("vtysh", "frr"), ("arping", "arping"))


@dataclass(frozen=True, slots=True)
class Setting:
    """What the lab needs from the configuration."""

    peer: BGPPeer
    bfd_ms: int
    expected: Expected


def setting(config_dir: Path, node: str) -> Setting:
    result = load_paths([config_dir])
    if result.config is None:
        raise DemoError("; ".join(str(e) for e in result.errors) or f"no configuration in {config_dir}")
    config: Config = result.config
    peers = [p for p in config.peers.values() if str(p.peer_address) == ROUTER_ADDRESS]
    if len(peers) != 1:
        raise DemoError(f"{config_dir} must have exactly one BGPPeer with peerAddress {ROUTER_ADDRESS}")
    peer = peers[0]
    profile = config.bfd_profiles.get(peer.bfd_profile or "")
    if profile is None:
        raise DemoError(f"BGPPeer {peer.name} needs a bfdProfile for the demo")
    expected = checks.expected(plan(config, result.world, {node}, standalone=True), node, peer.name)
    if not expected.routes or not expected.l2_addresses:
        raise DemoError(f"{config_dir} must give {node} at least one BGP route and one L2 address")
    return Setting(peer, profile.transmit_interval_ms, expected)


@contextmanager
def _interruptible() -> Iterator[None]:
    """SIGTERM and SIGHUP end the demo like Ctrl-C does, so the clean-up below always runs."""

    def stop(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def _shielded() -> Iterator[None]:
    """No signal may cut the clean-up short: a second Ctrl-C would leave namespaces behind."""
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in signals}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run_demo(options: DemoOptions, say: Say = print) -> int:
    missing = missing_requirements()
    if missing:
        say("lbd demo needs: " + ", ".join(missing))
        say("run `bash scripts/bootstrap.sh demo` as root to install everything")
        return 2
    try:
        wanted = setting(options.config, options.node)
    except DemoError as exc:
        say(f"lbd demo: {exc}")
        return 2
    for name in remove_stale():
        say(f"removed namespace {name} left by an earlier demo")
    topology = Topology()
    logs = options.logs or topology.run_dir / "logs"
    results: list[Check] = []
    try:
        with _interruptible():
            results = _run(topology, options, wanted, logs, say)
    except KeyboardInterrupt:
        say("interrupted: cleaning up")
        results = [Check(False, "interrupted")]
    except LabError as exc:
        say(f"lab failure: {exc}")
        results = [Check(False, str(exc))]
    finally:
        with _shielded():
            if not all(r.ok for r in results) or not results:
                for daemon in topology.daemons:
                    say(f"--- last lines of {daemon.log.name} ---\n{daemon.tail()}")
            leftovers = topology.close()
            for problem in leftovers:
                say(f"clean-up: {problem}")
    passed = sum(r.ok for r in results)
    if results and passed == len(results) and not leftovers:
        say(f"demo passed: {passed}/{len(results)} checks; lab removed")
        return 0
    say(f"demo FAILED: {passed}/{len(results)} checks passed; lab removed")
    return 1


def _run(topology: Topology, options: DemoOptions, wanted: Setting, logs: Path, say: Say) -> list[Check]:
    say(f"building the lab: namespaces {topology.run_dir.name.replace('-', '')}-{{sw,router,lbd,client}}")
    switch = topology.bridge("sw")
    router = topology.namespace("router")
    node = topology.namespace("lbd")
    client = topology.namespace("client")
    for ns, address in ((router, ROUTER_ADDRESS), (node, LBD_ADDRESS), (client, CLIENT_ADDRESS)):
        topology.attach(ns, switch, INTERFACE, f"{address}/{SEGMENT_PREFIX}")
    lbd_mac = node.mac(INTERFACE)

    peer = wanted.peer
    say(f"starting FRR in {router.name}: AS {peer.peer_asn}, BFD profile at {wanted.bfd_ms} ms x 3")
    frr = Frr(router)
    config = router_config(
        asn=peer.peer_asn,
        router_id=ROUTER_ADDRESS,
        neighbor=LBD_ADDRESS,
        neighbor_asn=peer.my_asn,
        bfd_ms=wanted.bfd_ms,
    )
    frr.start(topology, config, logs)

    socket_path = topology.run_dir / "lbd.sock"
    argv = [*options.lbd, "run", "--config", str(options.config), "--node", options.node]
    argv += ["--socket", str(socket_path)]
    say(f"starting lbd in {node.name}: lbd {' '.join(argv[len(options.lbd) :])}")
    lbd = topology.spawn(node, argv, "lbd", logs)

    deadline = time.monotonic() + options.timeout
    results = _poll(lambda: _observe(frr, client, wanted.expected, lbd_mac), lbd.alive, deadline)
    for result in results:
        say(result.line())
    if not lbd.alive():
        results.append(Check(False, f"lbd exited with status {lbd.popen.returncode}"))
        return results
    say("")
    results += _show_status(options, socket_path, say)
    return results


def _show_status(options: DemoOptions, socket_path: Path, say: Say) -> list[Check]:
    """Print `lbd status` and the views a MetalLB user gets from vtysh, as a user would type them.
    The summary must answer; a view this daemon does not serve is named, not failed."""
    try:
        served = set(view_names(lambda view, args: query(view, args, socket_path)))
    except ControlError as exc:
        return [Check(False, f"lbd status: {exc}")]
    results = []
    missing = []
    for words in STATUS_VIEWS:
        if words and " ".join(words) not in served:
            missing.append(" ".join(words))
            continue
        status = subprocess.run(
            [*options.lbd, "status", *words, "--socket", str(socket_path)],
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        )
        title = " ".join(("lbd status", *words))
        say(f"$ {title}\n{(status.stdout or status.stderr).rstrip()}\n")
        if not words:
            results.append(Check(status.returncode == 0, f"{title} answered"))
    if missing:
        say(f"(views not served by this lbd: {', '.join(missing)})")
    return results


# What the demo prints of `lbd status`: the summary, then the views a MetalLB user gets from vtysh.
STATUS_VIEWS: tuple[tuple[str, ...], ...] = (
    (),
    ("bgp", "summary"),
    ("bgp", "routes"),
    ("bfd", "peers"),
    ("l2",),
)


def _poll(observe: Callable[[], list[Check]], alive: Callable[[], bool], deadline: float) -> list[Check]:
    """Observe until every check passes, lbd dies or the deadline passes; the last observation."""
    while True:
        try:
            results = observe()
        except (LabError, ValueError) as exc:
            # A router still starting may answer vtysh with an error or half a JSON document.
            results = [Check(False, f"router or client not ready: {exc}")]
        if all(r.ok for r in results) or not alive() or time.monotonic() > deadline:
            return results
        time.sleep(0.5)


def _observe(frr: Frr, client: Namespace, want: Expected, lbd_mac: str) -> list[Check]:
    results = [checks.session(frr.vtysh_json(f"show bgp neighbors {LBD_ADDRESS} json"), LBD_ADDRESS)]
    for route in want.routes:
        results.append(
            checks.route(frr.vtysh_json(f"show bgp ipv4 unicast {route.prefix} json"), route, LBD_ADDRESS)
        )
    results.append(
        checks.unexpected_routes(frr.vtysh_json("show bgp ipv4 unicast json"), want.routes, LBD_ADDRESS)
    )
    results.append(checks.bfd(frr.vtysh_json("show bfd peers json") or [], LBD_ADDRESS))
    for vip in want.l2_addresses:
        out = client.run(["arping", "-c", "1", "-w", "1", "-I", INTERFACE, vip], timeout=5, check=False)
        results.append(checks.arp_reply(vip, checks.arping_mac(out), lbd_mac))
        # arping leaves the kernel's cache alone: a datagram makes the client's kernel resolve the VIP
        # itself, as any application would.
        client.run([sys.executable, "-c", _SEND.format(vip=vip)], timeout=5, check=False)
        results.append(checks.neighbour(client.ip_json("neigh", "show", vip), vip, lbd_mac))
    return results


_SEND = "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'demo', ('{vip}', 9))"
