"""Shared pieces of the BGP interop tests, and the tests of those pieces.

lbd's side is `RUNNER`: a small asyncio program in lbd's namespace that loads configuration files the
way the standalone daemon does (`DaemonCore`: files -> reconcile), hands the desired state to a
`BgpAnnouncer`, reloads on SIGHUP and serves the announcer's views on a control socket. Tests change
the configuration with `LbdBgp.reload(docs)` and look at what the *peer* reports.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest
import yaml

from lbd.control.client import ControlError, query
from tests.lab import AddressPlan, Lab, Netns, Subnet, wait_for
from tests.lab.fixtures import FrrFactory
from tests.lab.proc import Proc

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
LBD_ASN = 64512
PEER_ASN = 64513

RUNNER = r"""
import asyncio, signal, sys, time
import structlog
from lbd.config import load_paths
from lbd.control.server import ControlServer
from lbd.daemon.core import DaemonCore
from lbd.metrics import Metrics
from lbd.net.bfd_manager import BFDManager
from lbd.net.bgp_announcer import BgpAnnouncer

async def main(node, control, state_dir, config_dir, with_bfd):
    loop = asyncio.get_running_loop()
    core = DaemonCore(node, time.time)
    metrics = Metrics(process_metrics=False)
    bfd = BFDManager() if with_bfd == "bfd" else None
    if bfd is not None:
        await bfd.start()
    announcer = BgpAnnouncer(node=node, metrics=metrics, state_dir=state_dir, bfd=bfd)
    views = dict(announcer.views())
    views["metrics"] = lambda args: {
        n: [(s.labels, s.value) for s in v] for n, v in metrics.samples().items()
    }
    views["reloads"] = lambda args: reloads
    server = ControlServer(control, views)
    reloads = 0
    lock = asyncio.Lock()

    async def reload():
        nonlocal reloads
        async with lock:
            errors = core.offer(load_paths([config_dir]))
            if errors:
                print("config rejected:", *errors, sep="\n  ", flush=True)
            desired = core.compute({})
            if desired is not None and core.config is not None:
                await announcer.apply(core.config, desired)
            reloads += 1

    await reload()
    await server.start()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(reload()))
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await announcer.close()
    await server.close()
    if bfd is not None:
        await bfd.stop()

structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(10))
asyncio.run(main(*sys.argv[1:]))
"""


# --- lbd configuration documents ------------------------------------------------------------------


def peer_doc(
    name: str, address: str, *, my_asn: int = LBD_ASN, peer_asn: int = PEER_ASN, **spec: Any
) -> dict[str, Any]:
    body = {"myASN": my_asn, "peerASN": peer_asn, "peerAddress": address, "holdTime": "9s", **spec}
    return {"apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer", "metadata": {"name": name}, "spec": body}


def pool_doc(name: str, *addresses: str) -> dict[str, Any]:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": name},
        "spec": {"addresses": list(addresses), "autoAssign": False},
    }


def adv_doc(name: str, *pools: str, **spec: Any) -> dict[str, Any]:
    body = {"ipAddressPools": list(pools), **spec}
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "BGPAdvertisement",
        "metadata": {"name": name},
        "spec": body,
    }


def service_doc(name: str, *addresses: str) -> dict[str, Any]:
    """A LoadBalancer Service asking for its addresses (standalone: served on every live node)."""
    families = ["IPv6" if ":" in a else "IPv4" for a in addresses]
    spec: dict[str, Any] = {
        "type": "LoadBalancer",
        "ipFamilies": families,
        "ipFamilyPolicy": "RequireDualStack" if len(addresses) > 1 else "SingleStack",
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
    }
    annotations = {"metallb.universe.tf/loadBalancerIPs": ",".join(addresses)}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default", "annotations": annotations},
        "spec": spec,
    }


def bfd_profile_doc(name: str, interval_ms: int, multiplier: int) -> dict[str, Any]:
    spec = {"receiveInterval": interval_ms, "transmitInterval": interval_ms, "detectMultiplier": multiplier}
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "BFDProfile",
        "metadata": {"name": name},
        "spec": spec,
    }


def secret_doc(name: str, password: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "metallb-system"},
        "type": "kubernetes.io/basic-auth",
        "stringData": {"password": password},
    }


# --- lbd under test --------------------------------------------------------------------------------


@dataclass
class LbdBgp:
    lab: Lab
    ns: Netns
    config_dir: Path
    control: Path
    state_dir: Path
    node: str = "lbd"
    bfd: bool = False
    proc: Proc | None = None
    starts: int = 0
    history: list[Proc] = field(default_factory=list)

    def write(self, docs: list[dict[str, Any]]) -> None:
        tmp = self.config_dir / "config.yaml.tmp"
        tmp.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        tmp.replace(self.config_dir / "config.yaml")

    def start(self) -> None:
        script = self.lab.artifacts / "bgp_runner.py"
        script.write_text(RUNNER)
        self.starts += 1
        argv = [str(REPO / ".venv/bin/python"), str(script), self.node, str(self.control)]
        self.proc = self.lab.spawn(
            self.ns,
            [*argv, str(self.state_dir), str(self.config_dir), "bfd" if self.bfd else "-"],
            name=f"lbd{self.starts}",
            env={"PYTHONPATH": str(REPO)},
            cwd=REPO,
        )
        self.history.append(self.proc)
        wait_for(self._serving, 15, 0.05, lambda: f"lbd control socket; log:\n{self._tail()}")

    def _tail(self) -> str:
        return self.proc.tail() if self.proc is not None else ""

    def _serving(self) -> bool:
        assert self.proc is not None
        self.proc.check_alive()
        try:
            self.query("reloads")
        except (ControlError, OSError):
            return False
        return True

    def query(self, view: str, **args: Any) -> Any:
        return query(view, args, self.control, timeout=5)

    def reload(self, docs: list[dict[str, Any]]) -> None:
        """Rewrite the configuration and wait until lbd has applied it."""
        before = self.query("reloads")
        self.write(docs)
        assert self.proc is not None
        self.proc.signal(signal.SIGHUP)
        wait_for(lambda: self.query("reloads") > before, 10, 0.05, "lbd to apply the new configuration")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.signal(signal.SIGKILL)
        wait_for(lambda: not self.proc.alive(), 5, 0.02, "lbd to die")  # type: ignore[union-attr]

    def summary(self) -> dict[str, dict[str, Any]]:
        rows = self.query("bgp summary")
        return {row["peer"]: row for row in rows}

    def wait_state(self, peer: str, state: str, timeout: float = 15) -> None:
        wait_for(
            lambda: self.summary().get(peer, {}).get("state") == state,
            timeout,
            0.1,
            lambda: f"lbd session {peer} {state} (now {self.summary().get(peer)})",
        )


def start_lbd(lab: Lab, ns: Netns, docs: list[dict[str, Any]], *, bfd: bool = False) -> LbdBgp:
    config_dir = lab.artifacts / "lbd-config"
    config_dir.mkdir(exist_ok=True)
    state_dir = lab.path("bgp-state")
    state_dir.mkdir(exist_ok=True)
    lbd = LbdBgp(lab, ns, config_dir, lab.path("lbd.sock"), state_dir, bfd=bfd)
    lbd.write(docs)
    lbd.start()
    return lbd


# --- peer configurations (the peer as the receiver of lbd's routes) -----------------------------


def frr_conf(
    asn: int, router_id: str, neighbors: Mapping[str, int], *, extra: str = "", neighbor_lines: str = ""
) -> str:
    """FRR 8.4 with short timers, accepting eBGP routes without policy, IPv4 and IPv6 activated."""
    lines = [
        "frr defaults traditional",
        "log stdout debugging",
        f"router bgp {asn}",
        f" bgp router-id {router_id}",
        " no bgp ebgp-requires-policy",
        " no bgp default ipv4-unicast",
    ]
    for address, remote_as in neighbors.items():
        lines += [
            f" neighbor {address} remote-as {remote_as}",
            f" neighbor {address} timers 3 9",
            f" neighbor {address} timers connect 1",
            *(f" neighbor {address} {line.strip()}" for line in neighbor_lines.splitlines() if line.strip()),
        ]
    for afi in ("ipv4", "ipv6"):
        lines.append(f" address-family {afi} unicast")
        lines += [f"  neighbor {address} activate" for address in neighbors]
        lines.append(" exit-address-family")
    return "\n".join([*lines, extra, "!", ""])


def bird_conf(
    router_id: str, local: str, neighbor: str, local_as: int, peer_as: int, *, extra: str = ""
) -> str:
    """BIRD 2 receiving both families on one session (MP-BGP), short timers."""
    return f"""
router id {router_id};
protocol device {{}}
protocol bgp lbd {{
  local {local} as {local_as};
  neighbor {neighbor} as {peer_as};
  hold time 9; keepalive time 3; connect retry time 1;
  {extra}
  ipv4 {{ import all; export none; extended next hop on; }};
  ipv6 {{ import all; export none; extended next hop on; }};
}}
"""


def gobgp_toml(router_id: str, asn: int, neighbor: str, peer_as: int) -> str:
    return f"""
[global.config]
  as = {asn}
  router-id = "{router_id}"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "{neighbor}"
    peer-as = {peer_as}
  [neighbors.timers.config]
    hold-time = 9
    keepalive-interval = 3
    connect-retry = 1
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
"""


def exabgp_conf(router_id: str, local: str, neighbor: str, local_as: int, peer_as: int, *, api: str) -> str:
    return f"""
neighbor {neighbor} {{
    router-id {router_id};
    local-address {local};
    local-as {local_as};
    peer-as {peer_as};
    hold-time 9;
    family {{ ipv4 unicast; ipv6 unicast; }}
    {api}
}}
"""


# --- one scenario for every receiving peer --------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """Session kind and family: `v6` runs the session over IPv6; `dual` carries both families over
    an IPv4 session (dualStackAddressFamily)."""

    id: str
    ibgp: bool
    v6: bool = False
    dual: bool = False


CASES = [
    Case("ebgp-ipv4", ibgp=False),
    Case("ibgp-ipv4", ibgp=True),
    Case("ebgp-ipv6", ibgp=False, v6=True),
    Case("ibgp-ipv6", ibgp=True, v6=True),
    Case("ebgp-dual-stack", ibgp=False, dual=True),
    Case("ibgp-dual-stack", ibgp=True, dual=True),
]


@dataclass(frozen=True)
class Seen:
    """A route as the peer reports it."""

    as_path: tuple[int, ...]
    next_hops: frozenset[str]
    communities: frozenset[tuple[int, int]]
    large_communities: frozenset[tuple[int, int, int]]
    local_pref: int | None


@dataclass(frozen=True)
class Wiring:
    """Addresses of one lbd <-> peer link: the peer is host 1, lbd host 2."""

    peer_ns: Netns
    v4: Subnet
    v6: Subnet
    lbd_asn: int
    peer_asn: int
    case: Case

    @property
    def lbd_address(self) -> str:
        return self.v6.ip(2) if self.case.v6 else self.v4.ip(2)

    @property
    def peer_address(self) -> str:
        return self.v6.ip(1) if self.case.v6 else self.v4.ip(1)


class Receiver(Protocol):
    def wait_up(self) -> None: ...

    def route(self, prefix: str) -> Seen | None: ...


COMMUNITIES = ["64512:100", "no-export", "large:64512:1:2"]
EXPECTED_COMMUNITIES = frozenset({(64512, 100), (65535, 65281)})
EXPECTED_LARGE = frozenset({(64512, 1, 2)})


def check_receiver(lab: Lab, case: Case, start_peer: Callable[[Wiring], Receiver]) -> None:
    """lbd announces one service (both families when dual) to a peer; the peer must report the right
    AS path, a next hop of lbd's own of the prefix's family, communities, large communities and (iBGP)
    LOCAL_PREF; deleting the service must withdraw it."""
    plan = AddressPlan()
    v4, v6 = plan.v4_link(), plan.v6_link()
    me, peer_ns = lab.netns("lbd"), lab.netns("peer")
    a_addrs, b_addrs = [], []
    if not case.v6:
        a_addrs.append(v4.iface(2))
        b_addrs.append(v4.iface(1))
    if case.v6 or case.dual:
        a_addrs.append(v6.iface(2))
        b_addrs.append(v6.iface(1))
    lab.link(me, peer_ns, a_addrs=a_addrs, b_addrs=b_addrs)
    wiring = Wiring(peer_ns, v4, v6, LBD_ASN, LBD_ASN if case.ibgp else PEER_ASN, case)
    receiver = start_peer(wiring)
    vips = [plan.v6_prefix()] if case.v6 else [plan.v4_prefix()]
    if case.dual:
        vips.append(plan.v6_prefix())
    spec: dict[str, Any] = {"dualStackAddressFamily": True} if case.dual else {}
    base = [
        peer_doc("peer", wiring.peer_address, peer_asn=wiring.peer_asn, **spec),
        pool_doc("pool", *(v.prefix for v in vips)),
        adv_doc("adv", "pool", communities=COMMUNITIES, localPref=150),
    ]
    lbd = start_lbd(lab, me, [*base, service_doc("web", *(v.ip(0) for v in vips))])
    receiver.wait_up()
    for vip in vips:
        seen = wait_for(lambda vip=vip: receiver.route(vip.prefix), 15, 0.2, f"{vip.prefix} at the peer")
        own = v6.ip(2) if ":" in vip.prefix else v4.ip(2)
        assert own in seen.next_hops, seen
        assert seen.as_path == (() if case.ibgp else (LBD_ASN,)), seen
        assert seen.communities == EXPECTED_COMMUNITIES, seen
        assert seen.large_communities == EXPECTED_LARGE, seen
        if case.ibgp:
            assert seen.local_pref == 150, seen
    lbd.reload(base)
    for vip in vips:
        wait_for(lambda vip=vip: receiver.route(vip.prefix) is None, 10, 0.2, f"{vip.prefix} withdrawn")


# --- the harness itself ---------------------------------------------------------------------------


def test_runner_serves_views_and_reloads(lab: Lab, frr: FrrFactory) -> None:
    """The runner comes up with a peer that does not answer, shows it, and applies a reload."""
    plan = AddressPlan()
    net = plan.v4_link()
    me, r1 = lab.netns("lbd"), lab.netns("r1")
    lab.link(me, r1, a_addrs=[net.iface(2)], b_addrs=[net.iface(1)])
    lbd = start_lbd(lab, me, [peer_doc("r1", net.ip(1))])
    assert lbd.summary()["r1"]["state"] in ("Idle", "Connect", "Active")
    router = frr(r1, frr_conf(PEER_ASN, net.ip(1), {net.ip(2): LBD_ASN}))
    router.wait_established(net.ip(2))
    lbd.wait_state("r1", "Established")
    before = time.monotonic()
    lbd.reload([peer_doc("r1", net.ip(1)), peer_doc("r2", "192.0.2.250")])
    assert set(lbd.summary()) == {"r1", "r2"}
    assert time.monotonic() - before < 10
