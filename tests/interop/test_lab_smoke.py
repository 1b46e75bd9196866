"""The lab works end to end: real routers peer across namespaces and see each other's routes, clients
resolve neighbours across a bridge, faults cut links, and teardown leaves nothing behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lab import (
    AddressPlan,
    Capture,
    ExaBgp,
    Lab,
    arping,
    cut,
    loss,
    ndisc6,
    neigh_mac,
    resolve,
    restore,
    wait_for,
)
from tests.lab.fixtures import BirdFactory, ExaBgpFactory, FrrFactory, GoBgpFactory
from tests.lab.netns import NETNS_DIR, cleanup_stale
from tests.lab.nft import FastCut
from tests.lab.requirements import require_tools

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]


def frr_config(asn: int, router_id: str, neighbors: dict[str, int], extra: str = "") -> str:
    lines = [
        "frr defaults traditional",
        f"router bgp {asn}",
        f" bgp router-id {router_id}",
        " no bgp ebgp-requires-policy",
        " no bgp network import-check",
    ]
    for address, remote_as in neighbors.items():
        lines += [
            f" neighbor {address} remote-as {remote_as}",
            f" neighbor {address} timers 3 9",
            f" neighbor {address} timers connect 1",
        ]
    return "\n".join([*lines, extra, "!", ""])


def test_frr_learns_prefix_from_gobgp(lab: Lab, frr: FrrFactory, gobgp: GoBgpFactory) -> None:
    plan = AddressPlan()
    net = plan.v4_link()
    announced = plan.v4_prefix(24).prefix
    r1 = lab.netns("frr")
    g1 = lab.netns("gobgp")
    lab.link(r1, g1, a_addrs=[net.iface(1)], b_addrs=[net.iface(2)])

    router = frr(r1, frr_config(64512, net.ip(1), {net.ip(2): 64513}))
    peer = gobgp(
        g1,
        f"""
[global.config]
  as = 64513
  router-id = "{net.ip(2)}"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "{net.ip(1)}"
    peer-as = 64512
  [neighbors.timers.config]
    hold-time = 9
    keepalive-interval = 3
    connect-retry = 1
""",
    )
    peer.wait_established(net.ip(1))
    router.wait_established(net.ip(2))
    peer.add_route(announced, "nexthop", net.ip(2), "community", "64513:100")

    paths = router.wait_route(announced)
    assert paths[0]["nexthops"][0]["ip"] == net.ip(2)
    assert router.route(announced)["paths"][0]["community"]["string"] == "64513:100"
    assert router.bgp_summary()["peers"][net.ip(2)]["state"] == "Established"


def test_bird_and_frr_exchange_communities(lab: Lab, frr: FrrFactory, bird: BirdFactory) -> None:
    plan = AddressPlan()
    net = plan.v6_link()
    from_frr = plan.v6_prefix(64).prefix
    from_bird = plan.v6_prefix(64).prefix
    r1 = lab.netns("frr")
    b1 = lab.netns("bird")
    lab.link(r1, b1, a_addrs=[net.iface(1)], b_addrs=[net.iface(2)])
    router = frr(
        r1,
        frr_config(
            64512,
            "192.0.2.1",
            {net.ip(2): 64514},
            f"""
 address-family ipv6 unicast
  network {from_frr}
  neighbor {net.ip(2)} activate
  neighbor {net.ip(2)} route-map OUT out
 exit-address-family
!
route-map OUT permit 10
 set community 64512:9 no-export
 set large-community 64512:1:1
""",
        ),
    )
    peer = bird(
        b1,
        f"""
router id 192.0.2.2;
protocol device {{}}
protocol static s6 {{ ipv6; route {from_bird} blackhole; }}
protocol bgp frr {{
  local {net.ip(2)} as 64514;
  neighbor {net.ip(1)} as 64512;
  hold time 9; keepalive time 3; connect retry time 1;
  ipv6 {{
    import all;
    export filter {{ bgp_community.add((64514,7)); bgp_large_community.add((64514,1,2)); accept; }};
  }};
}}
""",
    )
    peer.wait_established("frr")
    router.wait_established(net.ip(2))

    route = peer.wait_route(from_frr)
    assert route.as_path == (64512,)
    assert route.communities == ((64512, 9), (65535, 65281))
    assert route.large_communities == ((64512, 1, 1),)
    assert net.ip(1) in route.next_hop

    router.wait_route(from_bird)
    path = router.route(from_bird)["paths"][0]
    assert path["community"]["string"] == "64514:7"
    assert path["largeCommunity"]["string"] == "64514:1:2"


def test_exabgp_sends_and_receives(lab: Lab, frr: FrrFactory, exabgp: ExaBgpFactory) -> None:
    plan = AddressPlan()
    net = plan.v4_link()
    static, runtime, from_frr = (plan.v4_prefix().prefix for _ in range(3))
    r1 = lab.netns("frr")
    e1 = lab.netns("exa")
    lab.link(r1, e1, a_addrs=[net.iface(1)], b_addrs=[net.iface(2)])
    router = frr(
        r1,
        frr_config(
            64512,
            net.ip(1),
            {net.ip(2): 64515},
            f" address-family ipv4 unicast\n  network {from_frr}\n exit-address-family",
        ),
    )
    peer = exabgp(
        e1,
        f"""
neighbor {net.ip(1)} {{
    router-id {net.ip(2)};
    local-address {net.ip(2)};
    local-as 64515;
    peer-as 64512;
    hold-time 9;
    {ExaBgp.API}
    static {{
        route {static} next-hop self community [64515:1];
    }}
}}
""",
    )
    peer.wait_up(net.ip(1))
    router.wait_route(static)
    peer.announce(f"announce route {runtime} next-hop self large-community [64515:1:2]")
    router.wait_route(runtime)
    assert router.route(runtime)["paths"][0]["largeCommunity"]["string"] == "64515:1:2"

    received = peer.wait_route(from_frr)
    assert received["as-path"] == [64512]
    assert received["next-hop"] == net.ip(1)
    router.configure(f"router bgp 64512\n address-family ipv4 unicast\n  no network {from_frr}")
    wait_for(lambda: from_frr not in peer.routes(), 10, 0.2, f"withdrawal of {from_frr} at ExaBGP")


def test_clients_resolve_across_a_bridge_and_faults_silence_them(lab: Lab) -> None:
    require_tools("arping", "ndisc6", "nft", "tcpdump")
    plan = AddressPlan()
    v4 = plan.v4_lan()
    v6 = plan.v6_lan()
    sw = lab.switch("sw")
    server = lab.netns("server")
    client = lab.netns("client")
    lab.attach(server, sw, addrs=[v4.iface(1), v6.iface(1)])
    lab.attach(client, sw, addrs=[v4.iface(2), v6.iface(2)])
    server_mac = server.mac("eth0")

    capture = Capture(lab, sw, "br0", "arp").start()
    assert arping(client, "eth0", v4.ip(1)) == server_mac
    assert ndisc6(client, "eth0", v6.ip(1)) == server_mac
    assert resolve(client, v6.ip(1)) == server_mac
    assert neigh_mac(client, v6.ip(1)) == server_mac
    pcap = capture.stop()
    assert pcap.stat().st_size > 24  # more than the pcap file header

    cut(server)
    assert arping(client, "eth0", v4.ip(1)) is None
    restore(server)
    assert arping(client, "eth0", v4.ip(1)) == server_mac
    loss(server, 100, iface="eth0")
    assert arping(client, "eth0", v4.ip(1)) is None
    loss(server, 30)
    assert "numgen random mod 100 < 30 drop" in server.run(["nft", "list", "ruleset"]).stdout
    restore(server)
    assert "lbdt_fault" not in server.run(["nft", "list", "ruleset"]).stdout

    def pings() -> bool:
        return client.run(["ping", "-c", "1", "-W", "1", v4.ip(1)], check=False).returncode == 0

    fast = FastCut(server)
    try:
        assert pings()
        fast.cut(ingress_only=True)
        assert not pings()
        fast.restore()
        assert pings()
        fast.cut()
        assert not pings()
    finally:
        fast.close()


_CHILD = """
import sys, time
from pathlib import Path
from tests.lab.netns import Lab, install_handlers
install_handlers()
lab = Lab(Path(sys.argv[1]))
ns = lab.netns("orphan")
sleeper = ns.spawn(["sleep", "60"], name="sleeper")
print(ns.name, sleeper.pid, flush=True)
time.sleep(60)
"""


def _start_child(tmp_path: Path) -> tuple[subprocess.Popen[str], str, int]:
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(tmp_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    name, pid = child.stdout.readline().split()
    return child, name, int(pid)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A killed child of the dead run is reparented and reaped; a zombie still counts as gone.
    return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "SIGKILL+next run"])
def test_teardown_is_unconditional(lab: Lab, tmp_path: Path, how: str) -> None:
    child, name, sleeper = _start_child(tmp_path)
    try:
        assert (NETNS_DIR / name).exists()
        signum = {"SIGTERM": signal.SIGTERM, "SIGINT": signal.SIGINT}.get(how, signal.SIGKILL)
        child.send_signal(signum)
        child.wait(10)
        if signum == signal.SIGKILL:
            assert (NETNS_DIR / name).exists()
            assert name in cleanup_stale()
        assert not (NETNS_DIR / name).exists()
        wait_for(lambda: _gone(sleeper), 5, 0.05, f"sleeper {sleeper} of {name} to be killed")
    finally:
        child.kill()
        child.wait()


def test_stale_cleanup_spares_live_runs(lab: Lab) -> None:
    mine = lab.netns("live")
    assert mine.name not in cleanup_stale()
    assert (NETNS_DIR / mine.name).exists()
    assert json.loads(mine.ip("-j", "link", "show", "lo"))[0]["operstate"] in {"UNKNOWN", "UP"}
