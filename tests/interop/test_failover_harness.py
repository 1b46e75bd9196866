"""Shared pieces of the end-to-end L2 failover tests and benchmark, and the tests of those pieces.

The lab: a switch namespace (bridge `br0`), three lbd nodes each running `lbd run` with membership
between them (the other two as peers, one shared key, the default 50 ms / 150 ms timers), local
delivery on `lbd0`, and a small echo server; and a Linux client. Every node reads the same files and
picks its own NodeConfig, exactly as `examples/standalone-three-node/` documents.

- `serve` (runs in each node namespace): a UDP echo bound to each VIP with IP(V6)_FREEBIND, so it is
  ready before the node owns the VIP and replies come from the VIP; a TCP server on the wildcard
  address. Both answer with the node's name, so the client knows who served it.
- `probe` (runs in the client namespace): sends a numbered UDP datagram to each VIP every `interval`
  from ordinary sockets (so the client's kernel resolves the VIP and keeps its neighbour entry, as a
  real client does) and reads the replies from a packet socket, which also gives the Ethernet source
  of each reply. One JSON line per reply, stamped with the monotonic clock that every namespace shares.

What the tests assert is what the client observed; the daemons' `lbd status` and the election
(`lbd.reconcile.l2.election_order`, sha256(node + "#" + first address)) say what should be observed.
"""

from __future__ import annotations

import contextlib
import inspect
import ipaddress
import json
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from lbd.control.client import query
from lbd.reconcile.l2 import election_order
from tests.lab import AddressPlan, Lab, Netns, Proc, Subnet, wait_for
from tests.lab.daemon import run_lbd
from tests.lab.requirements import require_tools

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
PYTHON = str(REPO / ".venv" / "bin" / "python")
NODES = ("n1", "n2", "n3")
KEY = "failover-lab-membership-key-0123"
PORT = 8080
CHECK_PORT = 9100
CUT_TABLE = "lbdt_failover_cut"
SOL_IP, IP_FREEBIND = 0, 15
SOL_IPV6, IPV6_FREEBIND = 41, 78
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


# --- the two programs that run inside the namespaces ---------------------------------------------


def serve(node: str, vips: Sequence[str], port: int, seconds: float = 3600.0) -> None:
    """UDP echo on each VIP (reply: `node seq`) and TCP on the wildcard (reply: `node`), for at most
    `seconds` (the lab kills it at teardown)."""
    udp: list[socket.socket] = []
    for vip in vips:
        v6 = ":" in vip
        s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(SOL_IPV6 if v6 else SOL_IP, IPV6_FREEBIND if v6 else IP_FREEBIND, 1)
        s.bind((vip, port))
        udp.append(s)
    tcp = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    tcp.bind(("::", port))
    tcp.listen(64)
    print("serving", flush=True)
    name = node.encode()
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        readable, _, _ = select.select([tcp, *udp], [], [], left)
        for s in readable:
            # A link that went down since a datagram was queued makes sending fail (ENETUNREACH):
            # that datagram goes unanswered and the server carries on.
            with contextlib.suppress(OSError):
                if s is tcp:
                    conn, _ = tcp.accept()
                    with conn:
                        conn.sendall(name + b"\n")
                    continue
                data, peer = s.recvfrom(256)
                s.sendto(name + b" " + data, peer)


def listen(port: int, seconds: float = 3600.0) -> None:
    """A TCP listener on 127.0.0.1:`port` for a health check to find, for at most `seconds`."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(64)
    print("listening", flush=True)
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if select.select([s], [], [], left)[0]:
            s.accept()[0].close()


def _reply(frame: bytes, port: int) -> tuple[str, bytes] | None:
    """(source IP, UDP payload) of an Ethernet frame carrying UDP from `port`, else None."""
    kind = frame[12:14]
    if kind == b"\x08\x00" and len(frame) >= 34 and frame[23] == 17:
        udp = 14 + (frame[14] & 0x0F) * 4
        source = socket.inet_ntop(socket.AF_INET, frame[26:30])
    elif kind == b"\x86\xdd" and len(frame) >= 62 and frame[20] == 17:
        udp = 54
        source = socket.inet_ntop(socket.AF_INET6, frame[22:38])
    else:
        return None
    if len(frame) < udp + 8 or struct.unpack_from("!H", frame, udp)[0] != port:
        return None
    return source, frame[udp + 8 :]


def probe(ifname: str, vips: Sequence[str], port: int, interval: float, seconds: float) -> None:
    """Probe every VIP each `interval` for at most `seconds`; print one JSON line per reply.

    Reply lines: {"t", "ip", "node", "seq", "mac"}. The first line is {"ready": t}, the last
    {"sent": n, "errors": n}. Send errors (EHOSTUNREACH once resolution failed) are counted, not fatal.
    """
    raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    raw.bind((ifname, ETH_P_ALL))
    raw.setblocking(False)
    senders = []
    for vip in vips:
        s = socket.socket(socket.AF_INET6 if ":" in vip else socket.AF_INET, socket.SOCK_DGRAM)
        s.setblocking(False)
        senders.append((s, vip))
    start = time.monotonic()
    end = start + seconds
    print(json.dumps({"ready": start}), flush=True)
    seq = errors = 0
    due = start
    while (now := time.monotonic()) < end:
        if now >= due:
            for s, vip in senders:
                try:
                    s.sendto(str(seq).encode(), (vip, port))
                except OSError:
                    errors += 1
            seq += 1
            # A late wake-up must not turn into a burst of catch-up probes.
            due = max(due + interval, now)
        readable, _, _ = select.select([raw, *(s for s, _ in senders)], [], [], max(0.0, due - now))
        for s, _ in senders:
            if s in readable:
                while True:
                    try:
                        s.recv(256)  # replies are read from the packet socket; keep this queue empty
                    except OSError:
                        break
        if raw not in readable:
            continue
        for _ in range(256):
            try:
                frame, address = raw.recvfrom(2048)
            except BlockingIOError:
                break
            got = _reply(frame, port) if address[2] != PACKET_OUTGOING else None
            if got is None:
                continue
            fields = got[1].split()
            if len(fields) != 2:
                continue
            mac = ":".join(f"{b:02x}" for b in frame[6:12])
            line = {"t": time.monotonic(), "ip": got[0], "node": fields[0].decode(), "seq": int(fields[1])}
            print(json.dumps({**line, "mac": mac}), flush=True)
    print(json.dumps({"sent": seq, "errors": errors}), flush=True)


_PROGRAM_HEAD = f"""from __future__ import annotations
import contextlib, json, select, socket, struct, time
SOL_IP, IP_FREEBIND, SOL_IPV6, IPV6_FREEBIND = {SOL_IP}, {IP_FREEBIND}, {SOL_IPV6}, {IPV6_FREEBIND}
ETH_P_ALL, PACKET_OUTGOING = {ETH_P_ALL}, {PACKET_OUTGOING}
"""


def _inline(call: str) -> list[str]:
    """A `python -c` command line running `call` with these programs' own source: the stdlib only, so
    it starts in a fraction of the time an import of this module (pytest, lbd) would take."""
    source = "\n".join(inspect.getsource(f) for f in (serve, listen, _reply, probe))
    return [sys.executable, "-c", f"{_PROGRAM_HEAD}\n{source}\n{call}\n"]


# --- what the client saw -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    t: float
    ip: str
    node: str
    seq: int
    mac: str


@dataclass
class Prober:
    proc: Proc

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.proc.text().splitlines():
            if line.startswith("{"):
                with contextlib.suppress(json.JSONDecodeError):  # the line being written
                    out.append(json.loads(line))
        return out

    def replies(self, ip: str | None = None, *, after: float = 0.0) -> list[Reply]:
        return [
            Reply(r["t"], r["ip"], r["node"], r["seq"], r["mac"])
            for r in self.lines()
            if "t" in r and r["t"] >= after and (ip is None or r["ip"] == ip)
        ]

    def first_from(self, ip: str, node: str, *, after: float) -> Reply | None:
        return next((r for r in self.replies(ip, after=after) if r.node == node), None)

    def stop(self) -> None:
        self.proc.stop(timeout=3)


# --- the lab ---------------------------------------------------------------------------------------


@dataclass
class Node:
    name: str
    ns: Netns
    addr4: str
    addr6: str
    mac: str = ""
    port: str = ""  # its bridge port in the switch namespace
    lbd: Proc | None = None
    echo: Proc | None = None
    listener: Proc | None = None
    socket: Path = Path()
    starts: int = 0


@dataclass
class Service:
    name: str
    addresses: tuple[str, ...]
    annotations: dict[str, str] = field(default_factory=dict)


def lan() -> tuple[Subnet, Subnet]:
    """The segment's IPv4 and IPv6 subnets (the same in every lab), so VIPs can be chosen up front."""
    plan = AddressPlan()
    return plan.v4_lan(), plan.v6_lan()


class FailoverLab:
    """Three `lbd run` nodes, their echo servers, and a client on one bridge; see the module docstring.

    `extra` services are added beside `echo`; with `listeners`, each node also runs a TCP listener on
    127.0.0.1:CHECK_PORT (`Node.listener`) for `lbd.io/health-check` annotations to find. `timers`
    sets the membership's heartbeatInterval and failureTimeout (Go durations) instead of the defaults."""

    def __init__(
        self,
        lab: Lab,
        *,
        extra: Sequence[Service] = (),
        listeners: bool = False,
        log_level: str = "info",
        timers: tuple[str, str] | None = None,
    ) -> None:
        require_tools("arping", "ndisc6", "tcpdump", "nft")
        self.lab = lab
        self.log_level = log_level
        self.timers = timers  # membership (heartbeatInterval, failureTimeout); None: the defaults
        self.lan4, self.lan6 = lan()
        self.vip4, self.vip6 = self.lan4.ip(20), self.lan6.ip(0x20)
        self.switch = switch = lab.switch("sw")
        self.client = lab.netns("client")
        lab.attach(self.client, switch, addrs=[self.lan4.iface(1), self.lan6.iface(1)])
        self.nodes: dict[str, Node] = {}
        for i, name in enumerate(NODES):
            ns = lab.netns(name)
            node = Node(name, ns, self.lan4.ip(11 + i), self.lan6.ip(0x11 + i))
            # Linux removes a link's IPv6 addresses (and so the on-link route) when it goes down; a
            # host's network configuration would put them back, here they are simply kept.
            ns.sysctl(ipv6__conf__all__keep_addr_on_down=1)
            link = lab.attach(ns, switch, addrs=[self.lan4.iface(11 + i), self.lan6.iface(0x11 + i)])
            node.mac, node.port = ns.mac("eth0"), link.b_if
            self.nodes[name] = node
        self.services = [Service("echo", (self.vip4, self.vip6)), *extra]
        self.config = lab.artifacts / "config"
        self.config.mkdir(exist_ok=True)
        (self.config / "lbd.yaml").write_text(yaml.safe_dump_all(self.documents()))
        servers = [self._serve(node) for node in self.nodes.values()]
        for node in self.nodes.values() if listeners else ():
            node.listener = lab.spawn(node.ns, _inline(f"listen({CHECK_PORT})"), name="listener")
            servers.append(node.listener)
        for server in servers:
            wait_for(lambda s=server: _started(s, "serving", "listening"), 10, 0.05, "servers")  # type: ignore[misc]
        for node in self.nodes.values():
            self.start(node.name, wait=False)
        for node in self.nodes.values():
            self.wait_live(node.name, set(NODES))

    def documents(self) -> list[dict[str, Any]]:
        docs: list[dict[str, Any]] = []
        for node in self.nodes.values():
            peers = [{"name": n.name, "address": n.addr4} for n in self.nodes.values() if n is not node]
            membership: dict[str, Any] = {"bindAddress": node.addr4, "key": KEY, "peers": peers}
            if self.timers is not None:
                membership["heartbeatInterval"], membership["failureTimeout"] = self.timers
            spec = {
                "interfaces": ["eth0"],
                "membership": membership,
                "localDelivery": {"enabled": True},
            }
            meta = {"name": node.name}
            docs.append(
                {"apiVersion": "lbd.io/v1alpha1", "kind": "NodeConfig", "metadata": meta, "spec": spec}
            )
        addresses = [a for s in self.services for a in s.addresses]
        docs.append(
            {
                "apiVersion": "metallb.io/v1beta1",
                "kind": "IPAddressPool",
                "metadata": {"name": "lan"},
                "spec": {"addresses": [f"{a}/{128 if ':' in a else 32}" for a in addresses]},
            }
        )
        docs.append(
            {
                "apiVersion": "metallb.io/v1beta1",
                "kind": "L2Advertisement",
                "metadata": {"name": "lan"},
                "spec": {"ipAddressPools": ["lan"], "interfaces": ["eth0"]},
            }
        )
        for svc in self.services:
            families = ["IPv6" if ":" in a else "IPv4" for a in svc.addresses]
            service: dict[str, Any] = {
                "type": "LoadBalancer",
                "ipFamilies": families,
                "ipFamilyPolicy": "RequireDualStack" if len(families) > 1 else "SingleStack",
                "ports": [
                    {"name": "udp", "port": PORT, "protocol": "UDP"},
                    {"name": "tcp", "port": PORT, "protocol": "TCP"},
                ],
            }
            annotations = {"metallb.io/loadBalancerIPs": ",".join(svc.addresses), **svc.annotations}
            metadata = {"name": svc.name, "namespace": "default", "annotations": annotations}
            docs.append({"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": service})
        return docs

    def _serve(self, node: Node) -> Proc:
        vips = [a for s in self.services for a in s.addresses]
        argv = _inline(f"serve({node.name!r}, {vips!r}, {PORT})")
        node.echo = self.lab.spawn(node.ns, argv, name=f"echo{node.starts}", cwd=REPO)
        return node.echo

    # --- daemons ---

    def start(self, name: str, *, wait: bool = True) -> Proc:
        """Start (or restart) `lbd run` on node `name`, each time with a fresh log and socket."""
        node = self.nodes[name]
        if node.echo is not None and not node.echo.alive():
            echo = self._serve(node)
            wait_for(lambda: _started(echo, "serving"), 10, 0.05, "echo server")
        node.starts += 1
        node.socket = self.lab.path(f"{name}-{node.starts}.sock")
        options = ("--metrics", "off", "--log-level", self.log_level)
        node.lbd = run_lbd(
            self.lab, node.ns, self.config, name, node.socket, *options, name=f"lbd{node.starts}"
        )
        if wait:
            self.wait_live(name, set(self.live_names()))
        return node.lbd

    def live_names(self) -> list[str]:
        return [n.name for n in self.nodes.values() if n.lbd is not None and n.lbd.alive()]

    def kill(self, name: str) -> float:
        """The node crashes: SIGKILL to its daemon (no goodbye) and to its echo server, which would
        otherwise go on serving the clients that still send to this node's MAC (the dead daemon leaves
        the VIP on lbd0). The monotonic instant just before the first signal."""
        node = self.nodes[name]
        assert node.lbd is not None and node.echo is not None
        t = time.monotonic()
        node.lbd.signal(signal.SIGKILL)
        node.echo.signal(signal.SIGKILL)
        node.lbd.popen.wait(5)
        node.echo.popen.wait(5)
        return t

    def cut(self, name: str) -> float:
        """Silence the node's cable at the switch: the bridge forwards nothing from or to its port, while
        both ends keep carrier (a broken path that no link state reveals). Unlike nftables inside the
        node's namespace, this also stops frames the node sends from packet sockets (its ARP/NDP
        responder), which bypass the node's own netfilter hooks. The monotonic instant before `nft`."""
        port = self.nodes[name].port
        rules = f"""
table bridge {CUT_TABLE}
delete table bridge {CUT_TABLE}
table bridge {CUT_TABLE} {{
    chain forward {{
        type filter hook forward priority -300; policy accept;
        iifname "{port}" drop
        oifname "{port}" drop
    }}
}}
"""
        t = time.monotonic()
        self.switch.run(["nft", "-f", "-"], input=rules)
        return t

    def mend(self) -> float:
        """Undo `cut`; the monotonic instant before `nft`."""
        t = time.monotonic()
        self.switch.run(
            ["nft", "-f", "-"], input=f"table bridge {CUT_TABLE}\ndelete table bridge {CUT_TABLE}\n"
        )
        return t

    def status(self, name: str, view: str = "summary") -> Any:
        """What `lbd status VIEW --json` prints, read from the node's control socket in-process."""
        return query(view, path=self.nodes[name].socket)

    def status_cli(self, name: str, *view: str) -> Any:
        """`lbd status VIEW... --socket S --json` as an operator runs it."""
        out = subprocess.run(
            [PYTHON, "-m", "lbd.cli", "status", *view, "--socket", str(self.nodes[name].socket), "--json"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
            cwd=REPO,
        )
        return json.loads(out.stdout)

    def wait_live(self, name: str, live: set[str], timeout: float = 20) -> None:
        node = self.nodes[name]

        def sees() -> bool:
            assert node.lbd is not None
            node.lbd.check_alive()
            return node.socket.exists() and set(self.status(name)["live_nodes"]) == live

        wait_for(sees, timeout, 0.1, f"{name} sees {sorted(live)} live")

    def owner(self, service: str, among: Iterable[str] | None = None) -> str:
        """The owner per the election among `among` (default: every node whose daemon runs)."""
        svc = next(s for s in self.services if s.name == service)
        live = list(among) if among is not None else self.live_names()
        return election_order(live, ipaddress.ip_address(svc.addresses[0]))[0]

    def l2_owners(self, name: str) -> dict[str, str | None]:
        """`lbd status services` on node `name`: service name -> its L2 owner."""
        return {row["service"].split("/")[-1]: row["l2_owner"] for row in self.status(name, "services")}

    def macs(self) -> dict[str, str]:
        return {n.mac: n.name for n in self.nodes.values()}

    # --- the client ---

    def prober(self, vips: Sequence[str], *, interval: float = 0.005, seconds: float = 20.0) -> Prober:
        argv = _inline(f"probe('eth0', {list(vips)!r}, {PORT}, {interval}, {seconds})")
        proc = self.lab.spawn(self.client, argv, name=f"probe{len(self.lab.procs)}", cwd=REPO)
        prober = Prober(proc)
        wait_for(lambda: any("ready" in r for r in prober.lines()), 10, 0.02, "prober ready")
        return prober

    def tcp(self, vip: str) -> str | None:
        """Connect to the VIP from the client; the name of the node that answered, or None."""
        code = (
            "import socket, sys\n"
            f"with socket.create_connection(({vip!r}, {PORT}), timeout=1) as s:\n"
            "    print(s.recv(100).decode().strip())\n"
        )
        result = self.client.run([sys.executable, "-c", code], check=False, timeout=10)
        return result.stdout.strip() if result.returncode == 0 else None


def _started(proc: Proc, *words: str) -> bool:
    proc.check_alive()
    return any(word in proc.text() for word in words)


# --- tests of the pieces -------------------------------------------------------------------------


def test_reply_parser_reads_ipv4_and_ipv6_udp() -> None:
    v4 = bytes(12) + b"\x08\x00" + b"\x45" + bytes(8) + b"\x11" + bytes(2) + bytes([203, 0, 113, 20])
    v4 += bytes(4) + struct.pack("!HHHH", PORT, 5000, 14, 0) + b"n1 7"
    assert _reply(v4, PORT) == ("203.0.113.20", b"n1 7")
    assert _reply(v4, PORT + 1) is None
    v6 = bytes(12) + b"\x86\xdd" + bytes(6) + b"\x11\xff" + ipaddress.IPv6Address("fd00::20").packed
    v6 += bytes(16) + struct.pack("!HHHH", PORT, 5000, 14, 0) + b"n2 9"
    assert _reply(v6, PORT) == ("fd00::20", b"n2 9")
    assert _reply(b"\x00" * 12 + b"\x08\x06" + bytes(28), PORT) is None


def test_lab_daemons_agree_with_the_election_and_the_prober_sees_the_owner(lab: Lab) -> None:
    fl = FailoverLab(lab)
    owner = fl.owner("echo")
    for name in NODES:
        assert fl.l2_owners(name) == {"echo": owner}
    prober = fl.prober([fl.vip4, fl.vip6], seconds=5)
    wait_for(lambda: {r.ip for r in prober.replies()} == {fl.vip4, fl.vip6}, 5, 0.05, "replies on both")
    prober.stop()
    replies = prober.replies()
    assert {(r.node, r.mac) for r in replies} == {(owner, fl.nodes[owner].mac)}
    assert fl.tcp(fl.vip4) == owner and fl.tcp(fl.vip6) == owner
