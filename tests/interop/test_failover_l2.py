"""Layer-2 failover end to end: three `lbd run` nodes with membership on one bridge and a Linux client
(the lab of tests/interop/test_failover_harness.py), IPv4 and IPv6.

Asserted from the client's side: its arping/ndisc6 answers, its own kernel's neighbour cache (never
flushed during a failover), the packets in its capture counted per MAC, and the replies of the echo
servers it reaches through the VIPs. Expected owners come from the election
(sha256(node + "#" + first address), `lbd.reconcile.l2.election_order`) and must agree with what every
daemon's `lbd status` says.

Timing bounds are derived from the membership defaults (a dead node is declared dead 100-150 ms after
its last heartbeat) plus a margin for a 2-core machine shared with other test runs; the measured
figures are printed, and `bench/bench_failover.py` gives their distribution.
"""

from __future__ import annotations

import ipaddress
import time
from pathlib import Path

import pytest

from lbd.reconcile.l2 import election_order
from tests.interop.test_failover_harness import CHECK_PORT, NODES, FailoverLab, Service, lan
from tests.interop.test_l2_responder import frames, mac_text
from tests.lab import Capture, Lab, arping, ndisc6, neigh, neigh_mac, resolve, wait_for

pytestmark = pytest.mark.lab

FAILURE_TIMEOUT = 0.150
# Event-loop lateness of the survivor and of the test's own polling on a loaded 2-core machine.
MARGIN = 0.500
# The gratuitous burst (l2.BURST) ends 1.1 s after a takeover.
BURST = 1.1


def claims(pcap: Path, vip: str, *, after: float = 0.0) -> dict[str, int]:
    """Packets claiming `vip` per Ethernet source: ARP (request or reply) with sender IP = vip, or a
    Neighbor Advertisement for target vip; only those captured at or after wall time `after`."""
    address = ipaddress.ip_address(vip)
    counts: dict[str, int] = {}
    for t, f in frames(pcap):
        if t < after:
            continue
        if address.version == 4:
            hit = f[12:14] == b"\x08\x06" and f[28:32] == address.packed
        else:
            hit = f[12:14] == b"\x86\xdd" and f[20] == 58 and f[54] == 136 and f[62:78] == address.packed
        if hit:
            counts[mac_text(f[6:12])] = counts.get(mac_text(f[6:12]), 0) + 1
    return counts


def resolutions(pcap: Path, vip: str, mac: str, *, after: float) -> int:
    """ARP requests broadcast and Neighbor Solicitations multicast by `mac` for `vip` (address
    resolution from scratch, not the unicast probes of a known entry) captured since `after`."""
    address = ipaddress.ip_address(vip)
    count = 0
    for t, f in frames(pcap):
        if t < after or mac_text(f[6:12]) != mac or f[0:6] == bytes.fromhex(mac.replace(":", "")):
            continue
        if address.version == 4:
            count += f[12:14] == b"\x08\x06" and f[0:6] == b"\xff" * 6 and f[38:42] == address.packed
        else:
            ns = f[12:14] == b"\x86\xdd" and f[20] == 58 and f[54] == 135 and f[62:78] == address.packed
            count += ns and f[0] == 0x33
    return count


def other_vip(owner: str) -> str:
    """An IPv4 address of the segment whose election, among all three nodes, is not won by `owner`."""
    lan4, _ = lan()
    for host in range(21, 30):
        if election_order(NODES, ipaddress.ip_address(lan4.ip(host)))[0] != owner:
            return lan4.ip(host)
    raise AssertionError("no address elects another node")


def test_owner_answers_non_owners_never_do_and_a_service_without_endpoints_goes_silent(lab: Lab) -> None:
    lan4, lan6 = lan()
    checked = (lan4.ip(22), lan6.ip(0x22))
    annotations = {
        "lbd.io/health-check": f"tcp:{CHECK_PORT}",
        "lbd.io/health-check-interval": "100ms",
        "lbd.io/health-check-timeout": "100ms",
        "lbd.io/health-check-failures": "1",
    }
    fl = FailoverLab(lab, extra=[Service("checked", checked, annotations)], listeners=True)
    owner = fl.owner("echo")
    for name in NODES:
        rows = fl.status_cli(name, "services")
        assert {r["service"]: r["l2_owner"] for r in rows} == {
            "default/echo": owner,
            "default/checked": fl.owner("checked"),
        }
    mac = fl.nodes[owner].mac
    capture = Capture(lab, fl.client, "eth0", "arp or icmp6").start()
    started = time.time()
    assert arping(fl.client, "eth0", fl.vip4, count=3, timeout=3) == mac
    assert ndisc6(fl.client, "eth0", fl.vip6) == mac
    assert resolve(fl.client, fl.vip4) == mac
    assert resolve(fl.client, fl.vip6) == mac
    assert fl.tcp(fl.vip4) == owner and fl.tcp(fl.vip6) == owner

    # The health-checked service is answered by its owner while the check passes.
    checked_owner = fl.nodes[fl.owner("checked")]
    assert arping(fl.client, "eth0", checked[0], count=2, timeout=2) == checked_owner.mac
    assert ndisc6(fl.client, "eth0", checked[1]) == checked_owner.mac
    # Health travels with membership: while any node's check passes, one of them answers. The others'
    # servers stop first (the owner keeps the VIP, knowing they are unhealthy), then the owner's, the
    # last ready endpoint: from then on nobody answers.
    others = [n for n in fl.nodes.values() if n is not checked_owner]
    for node in others:
        assert node.listener is not None
        node.listener.stop()
    assert checked_owner.lbd is not None
    log = checked_owner.lbd

    def knows_unhealthy(name: str) -> bool:
        return any(
            '"memberHealthChanged"' in line and f'"member": "{name}"' in line and '"healthy": 0' in line
            for line in log.text().splitlines()
        )

    wait_for(
        lambda: all(knows_unhealthy(n.name) for n in others),
        0.1 + 0.1 + 1 + MARGIN,
        0.05,
        f"{checked_owner.name} learns the other servers are down",
    )
    assert checked_owner.listener is not None
    checked_owner.listener.stop()
    wait_for(
        lambda: not any(r["ip"] in checked for r in fl.status(checked_owner.name, "l2")),
        0.1 + 0.1 + 1 + MARGIN,
        0.05,
        "the owner stops answering for the checked service",
    )
    silent = time.time()
    assert arping(fl.client, "eth0", checked[0], count=2, timeout=2) is None
    assert ndisc6(fl.client, "eth0", checked[1], retries=1) is None
    pcap = capture.stop()

    for vip in (fl.vip4, fl.vip6):
        assert set(claims(pcap, vip, after=started)) == {mac}, vip
    for vip in checked:
        assert set(claims(pcap, vip, after=started)) == {checked_owner.mac}, vip
        assert claims(pcap, vip, after=silent) == {}


@pytest.mark.parametrize("family", [4, 6])
def test_kill_9_moves_the_clients_entry_to_the_new_owner_and_traffic_resumes(lab: Lab, family: int) -> None:
    fl = FailoverLab(lab)
    vip = fl.vip4 if family == 4 else fl.vip6
    owner = fl.owner("echo")
    new = fl.owner("echo", [n for n in NODES if n != owner])
    old_mac, new_mac = fl.nodes[owner].mac, fl.nodes[new].mac
    assert resolve(fl.client, vip) == old_mac
    prober = fl.prober([vip], seconds=15)
    wait_for(lambda: prober.first_from(vip, owner, after=time.monotonic() - 0.05), 5, 0.02, "owner replies")
    capture = Capture(lab, fl.client, "eth0", "arp or icmp6").start()

    killed = fl.kill(owner)
    # The client's existing entry moves (nothing flushes it) to the survivor the election names.
    wait_for(
        lambda: neigh_mac(fl.client, vip) == new_mac,
        FAILURE_TIMEOUT + MARGIN + 1,
        0.01,
        lambda: f"client entry {neigh(fl.client, vip)}",
    )
    first = wait_for(lambda: prober.first_from(vip, new, after=killed), 5, 0.01, f"{new} replies")
    prober.stop()
    last_old = max(r.t for r in prober.replies(vip) if r.node == owner)
    gap, failover = first.t - last_old, first.t - killed
    print(f"IPv{family}: {new} replies {failover * 1000:.0f} ms after kill -9 (gap {gap * 1000:.0f} ms)")
    assert first.mac == new_mac
    assert failover < FAILURE_TIMEOUT + MARGIN
    # Every reply since the crash came from the new owner (a reply already in flight may precede it).
    assert {r.mac for r in prober.replies(vip, after=killed + 0.01)} == {new_mac}
    assert fl.tcp(vip) == new
    for name in NODES:
        if name != owner:
            fl.wait_live(name, {n for n in NODES if n != owner})
            assert fl.l2_owners(name) == {"echo": new}
    time.sleep(BURST)
    pcap = capture.stop()
    # Only the new owner claimed the VIP since the crash, and the client's entry moved on its gratuitous
    # packets: the client never had to resolve the VIP again by broadcast or multicast.
    since = killed + time.time() - time.monotonic()
    assert set(claims(pcap, vip, after=since)) == {new_mac}
    assert not resolutions(pcap, vip, fl.client.mac("eth0"), after=since)
    assert neigh_mac(fl.client, vip) == new_mac


@pytest.mark.parametrize("fault", ["down", "cut"])
def test_link_loss_then_back_the_address_returns_only_per_the_election(lab: Lab, fault: str) -> None:
    """`down`: the owner's link goes down in its namespace (it sees it: carrier lost). `cut`: the switch
    stops forwarding to and from its port, carrier stays (it only notices the silence, takes every VIP
    over as the only live node, and its claims die at the switch). Either way, when the link returns
    the election among all three gives `echo` back to it at once and `other` never moves."""
    lan4, _ = lan()
    owner = election_order(NODES, ipaddress.ip_address(lan4.ip(20)))[0]
    other = other_vip(owner)
    fl = FailoverLab(lab, extra=[Service("other", (other,))])
    assert fl.owner("echo") == owner
    keeper = fl.owner("other")
    new = fl.owner("echo", [n for n in NODES if n != owner])
    nodes = fl.nodes
    for vip in (fl.vip4, fl.vip6, other):
        resolve(fl.client, vip)
    prober = fl.prober([fl.vip4, fl.vip6, other], seconds=25)
    capture = Capture(lab, fl.client, "eth0", "arp or icmp6").start()

    lost = fl.cut(owner) if fault == "cut" else time.monotonic()
    if fault == "down":
        nodes[owner].ns.set_down("eth0")
    for vip in (fl.vip4, fl.vip6):
        wait_for(lambda v=vip: prober.first_from(v, new, after=lost), 5, 0.02, f"{new} serves {vip}")  # type: ignore[misc]
    for name in NODES:
        if name != owner:
            fl.wait_live(name, {n for n in NODES if n != owner})
    # Out longer than a takeover burst: what the cut-off node sent while alone is over and done.
    time.sleep(max(0.0, lost + FAILURE_TIMEOUT + BURST + 0.2 - time.monotonic()))
    back_wall = time.time()
    if fault == "down":
        back = time.monotonic()
        nodes[owner].ns.set_up("eth0")
    else:
        back = fl.mend()
    returned = {}
    for vip in (fl.vip4, fl.vip6):
        returned[vip] = wait_for(
            lambda v=vip: prober.first_from(v, owner, after=back),  # type: ignore[misc]
            10,
            0.02,
            f"{owner} serves {vip}",
        )
        print(
            f"{fault}: {vip} back at {owner} {(returned[vip].t - back) * 1000:.0f} ms after the link returned"
        )
    for name in NODES:
        fl.wait_live(name, set(NODES))
        assert fl.l2_owners(name) == {"echo": owner, "other": keeper}
    time.sleep(BURST)
    prober.stop()
    pcap = capture.stop()
    # Back at once: the heartbeat that heals membership plus the push, far below the seconds a client
    # takes to give up on a stale entry and ask again.
    for vip, reply in returned.items():
        assert reply.t - back < FAILURE_TIMEOUT + MARGIN, vip
        assert neigh_mac(fl.client, vip) == nodes[owner].mac
        assert fl.tcp(vip) == owner
    # The returning node never claimed an address the election does not give it, and the client kept
    # reaching that service at its owner throughout.
    assert nodes[owner].mac not in claims(pcap, other, after=back_wall)
    assert {r.node for r in prober.replies(other)} == {keeper}
    assert neigh_mac(fl.client, other) == nodes[keeper].mac
