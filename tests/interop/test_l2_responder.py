"""The ARP/NDP responder against real Linux clients on a bridged segment (no membership layer: each lbd
node runs `lbd.net.l2_runner`, and the test decides who owns a VIP by rewriting its state file).

Every node holds the VIPs on `lo` with arp_ignore=1, as kube-proxy IPVS or lbd's local delivery would
have them, so the kernels never answer and only the owner's responder does. The assertions are what the
client saw: its arping/ndisc6 answers, its neighbour cache, and the packets in its capture.
"""

from __future__ import annotations

import json
import signal
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from lbd.control.client import query
from tests.lab import AddressPlan, Capture, Lab, arping, ndisc6, neigh, neigh_mac, resolve, wait_for
from tests.lab.netns import Netns
from tests.lab.proc import Proc
from tests.lab.requirements import require_tools

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
# The responder's whole burst (l2.BURST) lasts 1.1 s; give each check that long plus scheduling margin.
BURST_DONE = 2.5


@dataclass
class Node:
    ns: Netns
    name: str
    state: Path
    control: Path
    proc: Proc

    @property
    def mac(self) -> str:
        return self.ns.mac("eth0")

    def own(self, *vips: str) -> None:
        entries = [{"address": v, "service": "test/vip", "interfaces": ["eth0"]} for v in vips]
        self.state.write_text(json.dumps({"l2": entries}))
        before = self.proc.text().count("l2RunnerApplied")
        self.proc.signal(signal.SIGHUP)
        wait_for(lambda: self.proc.text().count("l2RunnerApplied") > before, 5, 0.02, f"{self.name} applied")

    def view(self) -> list[dict[str, object]]:
        rows: list[dict[str, object]] = query("l2", path=self.control)
        return rows


@dataclass
class Segment:
    client: Netns
    nodes: list[Node]
    vip4: str
    vip6: str
    spare4: str
    spare6: str


def start_node(lab: Lab, ns: Netns, name: str, vips: tuple[str, ...]) -> Node:
    state = lab.artifacts / f"{name}-state.json"
    entries = [{"address": v, "service": "test/vip", "interfaces": ["eth0"]} for v in vips]
    state.write_text(json.dumps({"l2": entries}))
    control = lab.path(f"{name}-l2.sock")
    argv = [sys.executable, "-m", "lbd.net.l2_runner", "--node", name, "--state", str(state)]
    proc = lab.spawn(ns, [*argv, "--control", str(control), "--log-level", "debug"], name="l2", cwd=REPO)
    wait_for(lambda: "l2RunnerReady" in proc.text(), 10, 0.05, f"{name} ready")
    return Node(ns, name, state, control, proc)


def segment(lab: Lab, count: int, owner_vips: tuple[str, ...] | None = None) -> Segment:
    require_tools("arping", "ndisc6", "tcpdump")
    plan = AddressPlan()
    lan4, lan6 = plan.v4_lan(), plan.v6_lan()
    vip4, vip6, spare4, spare6 = lan4.ip(20), lan6.ip(0x20), lan4.ip(21), lan6.ip(0x21)
    switch = lab.switch("sw")
    client = lab.netns("client")
    lab.attach(client, switch, addrs=[lan4.iface(1), lan6.iface(1)])
    nodes = []
    for i in range(count):
        ns = lab.netns(f"n{i + 1}")
        lab.attach(ns, switch, addrs=[lan4.iface(10 + i), lan6.iface(10 + i)])
        # The VIPs are local on every node, as with IPVS; arp_ignore=1 keeps the kernel from answering
        # ARP for an address that is not on the receiving interface (NDP never does).
        ns.sysctl(ipv4__conf__all__arp_ignore=1, ipv4__conf__all__arp_announce=2)
        ns.add_addr("lo", f"{vip4}/32", f"{vip6}/128", f"{spare4}/32", f"{spare6}/128")
        vips = (vip4, vip6) if i == 0 and owner_vips is None else (owner_vips or ()) if i == 0 else ()
        nodes.append(start_node(lab, ns, f"n{i + 1}", vips))
    return Segment(client, nodes, vip4, vip6, spare4, spare6)


# --- pcap reading (tcpdump -w): who answered what --------------------------------------------------


def frames(path: Path) -> list[tuple[float, bytes]]:
    data = path.read_bytes()
    out, offset = [], 24
    while offset + 16 <= len(data):
        seconds, micros, length, _ = struct.unpack_from("<IIII", data, offset)
        out.append((seconds + micros / 1e6, data[offset + 16 : offset + 16 + length]))
        offset += 16 + length
    return out


def mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def arp_replies(path: Path, vip: str) -> dict[str, int]:
    """ARP replies claiming `vip`, counted per sender MAC."""
    packed = bytes(int(p) for p in vip.split("."))
    counts: dict[str, int] = {}
    for _, f in frames(path):
        if f[12:14] == b"\x08\x06" and f[20:22] == b"\x00\x02" and f[28:32] == packed:
            counts[mac_text(f[22:28])] = counts.get(mac_text(f[22:28]), 0) + 1
    return counts


def advertisements(path: Path, vip: str) -> dict[str, int]:
    """Neighbor Advertisements for `vip` with hop limit 255, counted per Ethernet source."""
    import ipaddress

    packed = ipaddress.IPv6Address(vip).packed
    counts: dict[str, int] = {}
    for _, f in frames(path):
        if f[12:14] == b"\x86\xdd" and f[20] == 58 and f[54] == 136 and f[62:78] == packed and f[21] == 255:
            counts[mac_text(f[6:12])] = counts.get(mac_text(f[6:12]), 0) + 1
    return counts


def sent_by(path: Path, mac: str) -> list[bytes]:
    """ARP and ICMPv6 ND frames the host with `mac` transmitted."""
    return [
        f
        for _, f in frames(path)
        if mac_text(f[6:12]) == mac
        and (f[12:14] == b"\x08\x06" or (f[12:14] == b"\x86\xdd" and f[20] == 58 and f[54] in (135, 136)))
    ]


# --- tests ---------------------------------------------------------------------------------------


def test_owner_answers_and_non_owners_never_do(lab: Lab) -> None:
    seg = segment(lab, 3)
    owner = seg.nodes[0]
    capture = Capture(lab, seg.client, "eth0", "arp or icmp6").start()
    assert arping(seg.client, "eth0", seg.vip4, count=3, timeout=3) == owner.mac
    assert ndisc6(seg.client, "eth0", seg.vip6) == owner.mac
    # The client's own kernel resolves both to the owner.
    assert resolve(seg.client, seg.vip4) == owner.mac
    assert resolve(seg.client, seg.vip6) == owner.mac
    # Addresses local on every node but owned by nobody: no answer at all.
    assert arping(seg.client, "eth0", seg.spare4, count=2, timeout=2) is None
    assert ndisc6(seg.client, "eth0", seg.spare6, retries=1) is None
    pcap = capture.stop()
    assert set(arp_replies(pcap, seg.vip4)) == {owner.mac}
    assert set(advertisements(pcap, seg.vip6)) == {owner.mac}
    assert arp_replies(pcap, seg.spare4) == {} and advertisements(pcap, seg.spare6) == {}

    rows = {row["ip"]: row for row in owner.view()}
    assert rows[seg.vip4]["interfaces"] == ["eth0"] and rows[seg.vip4]["macs"] == [owner.mac]
    assert rows[seg.vip4]["node"] == "n1" and rows[seg.vip6]["protocol"] == "NDP"
    assert int(rows[seg.vip4]["responses_sent"]) >= 4  # type: ignore[call-overload]
    assert int(rows[seg.vip6]["requests_received"]) >= 2  # type: ignore[call-overload]
    assert all(node.view() == [] for node in seg.nodes[1:])
    log = owner.proc.text()
    assert "createARPResponder" in log and "createNDPResponder" in log


def test_unicast_nud_probes_are_answered(lab: Lab) -> None:
    """Linux re-confirms a STALE entry with unicast probes to the VIP (RFC 4861 §7.3.3 PROBE state;
    unicast ARP requests for IPv4); only a solicited answer brings the entry back to REACHABLE."""
    seg = segment(lab, 2)
    owner = seg.nodes[0]
    seg.client.sysctl(
        ipv4__neigh__eth0__delay_first_probe_time=1, ipv6__neigh__eth0__delay_first_probe_time=1
    )
    capture = Capture(lab, seg.client, "eth0", "arp or icmp6").start()
    for vip in (seg.vip4, seg.vip6):
        resolve(seg.client, vip)
        # A DELAY entry confirmed less than delay_first_probe_time ago goes back to REACHABLE without
        # probing (neigh_timer_handler): let the confirmation of the resolution age first.
        time.sleep(1.5)
        seg.client.ip("neigh", "change", vip, "dev", "eth0", "lladdr", owner.mac, "nud", "stale")
        family = "AF_INET6" if ":" in vip else "AF_INET"
        send = f"import socket; socket.socket(socket.{family}, socket.SOCK_DGRAM).sendto(b'x', ({vip!r}, 9))"
        seg.client.run(["python3", "-c", send])
        # STALE -> DELAY (1 s) -> PROBE (unicast) -> REACHABLE on the solicited answer.
        wait_for(
            lambda vip=vip: neigh(seg.client, vip)[0]["state"] == ["REACHABLE"],  # type: ignore[misc]
            6,
            0.1,
            lambda vip=vip: f"{vip} back to REACHABLE: {neigh(seg.client, vip)}",  # type: ignore[misc]
        )
    pcap = capture.stop()
    client_mac = seg.client.mac("eth0")
    unicast = [f for f in sent_by(pcap, client_mac) if f[0:6] == bytes.fromhex(owner.mac.replace(":", ""))]
    assert any(f[12:14] == b"\x08\x06" for f in unicast), "no unicast ARP probe seen"
    assert any(f[12:14] == b"\x86\xdd" and f[54] == 135 for f in unicast), "no unicast NS probe seen"


def plain_reply(node: Netns, vip: str, client_ip: str, client_mac: str) -> None:
    """A non-gratuitous unsolicited ARP reply claiming `vip`, as an old owner's late answer would be."""
    script = f"""
import socket
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
mine = bytes.fromhex(open("/sys/class/net/eth0/address").read().strip().replace(":", ""))
peer = bytes.fromhex({client_mac.replace(":", "")!r})
ip = lambda a: bytes(int(p) for p in a.split("."))
body = bytes.fromhex("0001080006040002") + mine + ip({vip!r}) + peer + ip({client_ip!r})
s.send(peer + mine + b"\\x08\\x06" + body)
"""
    node.run(["python3", "-c", script])


@pytest.mark.parametrize("family", [4, 6])
def test_takeover_moves_existing_entry_without_the_client_asking(lab: Lab, family: int) -> None:
    seg = segment(lab, 3)
    old, new, other = seg.nodes
    vip = seg.vip4 if family == 4 else seg.vip6
    assert resolve(seg.client, vip) == old.mac
    # The old owner's own takeover burst (1.1 s from the start of the segment) must be over before the
    # capture starts, or its last rounds count as answers from a node that no longer owns the VIP.
    full = 10 if family == 4 else 5
    wait_for(
        lambda: next(r for r in old.view() if r["ip"] == vip)["gratuitous_sent"] == full,
        BURST_DONE,
        0.05,
        lambda: f"old owner's burst: {old.view()}",
    )
    capture = Capture(lab, seg.client, "eth0", "arp or icmp6").start()
    if family == 4:
        # Linux ignores a plain ARP reply for an entry updated less than `locktime` ago (the first
        # answer wins, net/ipv4/arp.c arp_process); only a gratuitous packet overrides it. A 5 s
        # locktime (default 1 s) puts the whole takeover below inside the lock, with a wide margin.
        seg.client.sysctl(ipv4__neigh__eth0__locktime=500)
        seg.client.ip("neigh", "replace", vip, "dev", "eth0", "lladdr", old.mac, "nud", "reachable")
        locked = time.monotonic()
        plain_reply(other.ns, vip, "203.0.113.1", seg.client.mac("eth0"))
        time.sleep(0.2)
        assert neigh_mac(seg.client, vip) == old.mac
    started = time.monotonic()
    old.own()
    new.own(seg.vip4, seg.vip6)
    wait_for(
        lambda: neigh_mac(seg.client, vip) == new.mac, 2, 0.01, lambda: f"entry: {neigh(seg.client, vip)}"
    )
    moved = time.monotonic() - started
    if family == 4:
        assert time.monotonic() - locked < 5.0, "the takeover was not inside the lock time"
    time.sleep(BURST_DONE)
    pcap = capture.stop()
    # The client asked nothing: its only ND/ARP frames are none at all.
    assert sent_by(pcap, seg.client.mac("eth0")) == []
    assert moved < 1.0
    burst = arp_replies(pcap, vip) if family == 4 else advertisements(pcap, vip)
    if family == 4:
        assert burst.pop(other.mac) == 1  # the plain reply sent above
    assert set(burst) == {new.mac}
    # Five rounds (l2.BURST): request + reply each for IPv4, one unsolicited NA for IPv6.
    assert burst[new.mac] == 5
    row = next(r for r in new.view() if r["ip"] == vip)
    assert row["gratuitous_sent"] == (10 if family == 4 else 5)
    assert old.view() == []


@pytest.mark.parametrize("family", [4, 6])
def test_release_stops_answers_at_once(lab: Lab, family: int) -> None:
    seg = segment(lab, 2)
    owner = seg.nodes[0]
    vip = seg.vip4 if family == 4 else seg.vip6
    owner.own(vip)  # a fresh burst is running now
    owner.own()
    capture = Capture(lab, seg.client, "eth0", "arp or icmp6").start()
    if family == 4:
        assert arping(seg.client, "eth0", vip, count=2, timeout=2) is None
    else:
        assert ndisc6(seg.client, "eth0", vip, retries=1) is None
    time.sleep(BURST_DONE - 1.0)
    pcap = capture.stop()
    assert sent_by(pcap, owner.mac) == [], "the released VIP's burst went on"


@pytest.mark.parametrize("family", [4, 6])
def test_link_down_then_up(lab: Lab, family: int) -> None:
    seg = segment(lab, 2)
    owner = seg.nodes[0]
    vip = seg.vip4 if family == 4 else seg.vip6
    resolve(seg.client, vip)
    owner.ns.set_down("eth0")
    wait_for(lambda: next(r for r in owner.view() if r["ip"] == vip)["interfaces"] == [], 5, 0.05, "stopped")
    assert "stopAnswering" in owner.proc.text()
    capture = Capture(lab, seg.client, "eth0", "arp or icmp6").start()
    owner.ns.set_up("eth0")
    wait_for(
        lambda: next(r for r in owner.view() if r["ip"] == vip)["interfaces"] == ["eth0"], 5, 0.05, "back"
    )
    time.sleep(BURST_DONE)
    pcap = capture.stop()
    # Back on the link, the owner re-announces without being asked. The first round goes out the
    # moment our side sees carrier, and the bridge port at the other end may not forward yet: that
    # round can be lost (it was, in some runs), which is what the later rounds are for.
    burst = arp_replies(pcap, vip) if family == 4 else advertisements(pcap, vip)
    assert burst.get(owner.mac, 0) in (4, 5)
    assert (arping(seg.client, "eth0", vip) if family == 4 else ndisc6(seg.client, "eth0", vip)) == owner.mac


# An NS from an ICMPv6 socket (the kernel fills in the checksum) with a chosen hop limit; prints
# "answered" when a solicited NA for the target comes back within a second (the takeover burst's
# unsolicited NAs do not count).
SOLICIT = """
import socket, struct, sys, select
target, hops = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, hops)
mac = bytes.fromhex(open("/sys/class/net/eth0/address").read().strip().replace(":", ""))
packed = socket.inet_pton(socket.AF_INET6, target)
group = "ff02::1:ff" + packed[13:].hex()[:2] + ":" + packed[14:].hex()
ns = struct.pack("!BBHI", 135, 0, 0, 0) + packed + bytes((1, 1)) + mac
s.sendto(ns, (group, 0, 0, socket.if_nametoindex("eth0")))
while select.select([s], [], [], 1.0)[0]:
    data = s.recv(256)
    if data[0] == 136 and data[4] & 0x40 and data[8:24] == packed:
        print("answered")
        break
"""


def test_solicitations_not_at_hop_limit_255_are_dropped(lab: Lab) -> None:
    seg = segment(lab, 1)
    owner = seg.nodes[0]

    def answered(hops: int) -> bool:
        out = seg.client.run(["python3", "-c", SOLICIT, seg.vip6, str(hops)], timeout=10).stdout
        return "answered" in out

    assert not answered(254)  # RFC 4861 §7.1.1: possibly forwarded by a router
    assert answered(255)
    row = next(r for r in owner.view() if r["ip"] == seg.vip6)
    assert row["requests_received"] == 1 and row["responses_sent"] == 1
