"""lbd's BGP speaker against FRR 8.4 bgpd: what FRR reports about the session and the routes it got.

Topology: namespace `lbd` (lbd, host .2 / ::2) linked to namespace `r1` (FRR, host .1 / ::1).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest

from tests.interop.test_bgp_harness import (
    LBD_ASN,
    PEER_ASN,
    adv_doc,
    frr_conf,
    peer_doc,
    pool_doc,
    service_doc,
    start_lbd,
)
from tests.lab import AddressPlan, Lab, Netns, Subnet, wait_for
from tests.lab.fixtures import FrrFactory
from tests.lab.frr import Frr

pytestmark = pytest.mark.lab


@dataclass
class Topo:
    me: Netns
    v4: Subnet
    v6: Subnet
    router: Frr


def setup(
    lab: Lab,
    frr: FrrFactory,
    *,
    v6: bool = False,
    dual: bool = False,
    peer_asn: int = PEER_ASN,
    extra: str = "",
    neighbor_lines: str = "",
) -> Topo:
    """lbd <-> FRR on one link. FRR peers with lbd's address of the session family (IPv6 when `v6`)."""
    plan = AddressPlan()
    v4net, v6net = plan.v4_link(), plan.v6_link()
    me, r1 = lab.netns("lbd"), lab.netns("r1")
    a_addrs, b_addrs = [], []
    if not v6 or dual:
        a_addrs.append(v4net.iface(2))
        b_addrs.append(v4net.iface(1))
    if v6 or dual:
        a_addrs.append(v6net.iface(2))
        b_addrs.append(v6net.iface(1))
    lab.link(me, r1, a_addrs=a_addrs, b_addrs=b_addrs)
    lbd_address = v6net.ip(2) if v6 else v4net.ip(2)
    config = frr_conf(
        peer_asn, v4net.ip(1), {lbd_address: LBD_ASN}, extra=extra, neighbor_lines=neighbor_lines
    )
    router = frr(r1, config)
    return Topo(me, v4net, v6net, router)


def path_of(router: Frr, prefix: str) -> dict[str, Any]:
    paths = router.route(prefix).get("paths", [])
    assert len(paths) == 1, paths
    path: dict[str, Any] = paths[0]
    return path


def wait_gone(router: Frr, prefix: str, timeout: float = 10) -> None:
    family = "ipv6" if ":" in prefix else "ipv4"
    wait_for(lambda: prefix not in router.routes(family), timeout, 0.1, f"withdrawal of {prefix} at FRR")


def test_ebgp_ipv4_communities_then_service_deleted(lab: Lab, frr: FrrFactory) -> None:
    t = setup(lab, frr)
    net, router = t.v4, t.router
    vip = AddressPlan().v4_prefix()
    base = [
        peer_doc("r1", net.ip(1)),
        pool_doc("pool", vip.prefix),
        adv_doc("adv", "pool", communities=["64512:100", "no-export", "large:64512:1:2"]),
    ]
    lbd = start_lbd(lab, t.me, [*base, service_doc("web", vip.ip(0))])
    router.wait_established(net.ip(2))
    router.wait_route(vip.prefix)
    path = path_of(router, vip.prefix)
    assert path["aspath"]["string"] == str(LBD_ASN)
    assert path["origin"] == "IGP"
    assert path["nexthops"][0]["ip"] == net.ip(2)
    assert path["community"]["string"] == "64512:100 no-export"
    assert path["largeCommunity"]["string"] == "64512:1:2"
    assert lbd.summary()["r1"]["prefixes_sent"] == 1

    lbd.reload(base)
    wait_gone(router, vip.prefix)
    assert router.neighbor_state(net.ip(2)) == "Established"


def test_ibgp_local_pref(lab: Lab, frr: FrrFactory) -> None:
    t = setup(lab, frr, peer_asn=LBD_ASN)
    net, router = t.v4, t.router
    vip = AddressPlan().v4_prefix()
    start_lbd(
        lab,
        t.me,
        [
            peer_doc("r1", net.ip(1), peer_asn=LBD_ASN),
            pool_doc("pool", vip.prefix),
            adv_doc("adv", "pool", localPref=150),
            service_doc("web", vip.ip(0)),
        ],
    )
    router.wait_established(net.ip(2))
    router.wait_route(vip.prefix)
    path = path_of(router, vip.prefix)
    assert path["aspath"]["string"] == "Local"
    assert path["locPrf"] == 150
    assert router.neighbor(net.ip(2))["nbrInternalLink"] is True


def test_ipv6_session(lab: Lab, frr: FrrFactory) -> None:
    t = setup(lab, frr, v6=True)
    net, router = t.v6, t.router
    vip = AddressPlan().v6_prefix()
    start_lbd(
        lab,
        t.me,
        [
            peer_doc("r1", net.ip(1)),
            pool_doc("pool", vip.prefix),
            adv_doc("adv", "pool", communities=["64512:6"]),
            service_doc("web", vip.ip(0)),
        ],
    )
    router.wait_established(net.ip(2))
    router.wait_route(vip.prefix)
    path = path_of(router, vip.prefix)
    hops = {h["ip"] for h in path["nexthops"]}
    assert net.ip(2) in hops
    assert path["community"]["string"] == "64512:6"


def test_dual_stack_on_one_ipv4_session(lab: Lab, frr: FrrFactory) -> None:
    t = setup(lab, frr, dual=True)
    v4net, v6net, router = t.v4, t.v6, t.router
    plan = AddressPlan()
    vip4, vip6 = plan.v4_prefix(), plan.v6_prefix()
    start_lbd(
        lab,
        t.me,
        [
            peer_doc("r1", v4net.ip(1), dualStackAddressFamily=True),
            pool_doc("pool", vip4.prefix, vip6.prefix),
            adv_doc("adv", "pool"),
            service_doc("web", vip4.ip(0), vip6.ip(0)),
        ],
    )
    router.wait_established(v4net.ip(2))
    router.wait_route(vip4.prefix)
    router.wait_route(vip6.prefix)
    assert path_of(router, vip4.prefix)["nexthops"][0]["ip"] == v4net.ip(2)
    # The IPv6 prefix carries lbd's own IPv6 address on the link: FRR can use the route.
    v6_path = path_of(router, vip6.prefix)
    assert v6net.ip(2) in {h["ip"] for h in v6_path["nexthops"]}
    # zebra resolves the next hop asynchronously (nexthop tracking): valid once it has.
    wait_for(lambda: path_of(router, vip6.prefix).get("valid"), 5, 0.1, f"FRR to find {vip6.prefix} usable")


def test_aggregate_withdrawn_only_with_its_last_service(lab: Lab, frr: FrrFactory) -> None:
    t = setup(lab, frr)
    net, router = t.v4, t.router
    block = AddressPlan().v4_prefix(28)
    a, b = block.ip(1), block.ip(2)
    base = [
        peer_doc("r1", net.ip(1)),
        pool_doc("pool", block.prefix),
        adv_doc("adv", "pool", aggregationLength=28),
    ]
    lbd = start_lbd(lab, t.me, [*base, service_doc("a", a), service_doc("b", b)])
    router.wait_established(net.ip(2))
    router.wait_route(block.prefix)
    updates_before = router.neighbor(net.ip(2))["messageStats"]["updatesRecv"]
    lbd.reload([*base, service_doc("b", b)])
    # Give a withdrawal time to arrive (several keepalive intervals) before concluding there was none.
    time.sleep(1.0)
    assert block.prefix in router.routes()
    assert router.neighbor(net.ip(2))["messageStats"]["updatesRecv"] == updates_before
    assert lbd.query("bgp routes", prefix=block.prefix)[0]["services"] == ["default/b"]
    lbd.reload(base)
    wait_gone(router, block.prefix)


def test_route_refresh_is_answered(lab: Lab, frr: FrrFactory) -> None:
    t = setup(lab, frr)
    net, router = t.v4, t.router
    vip = AddressPlan().v4_prefix()
    lbd = start_lbd(
        lab,
        t.me,
        [
            peer_doc("r1", net.ip(1)),
            pool_doc("pool", vip.prefix),
            adv_doc("adv", "pool"),
            service_doc("w", vip.ip(0)),
        ],
    )
    router.wait_established(net.ip(2))
    router.wait_route(vip.prefix)
    neighbor = router.neighbor(net.ip(2))
    assert neighbor["neighborCapabilities"]["routeRefresh"]
    before = neighbor["messageStats"]["updatesRecv"]
    router.vtysh(f"clear bgp ipv4 unicast {net.ip(2)} soft in")
    wait_for(
        lambda: router.neighbor(net.ip(2))["messageStats"]["updatesRecv"] > before,
        5,
        0.1,
        "lbd's UPDATE in answer to FRR's ROUTE-REFRESH",
    )
    stats = router.neighbor(net.ip(2))["messageStats"]
    assert stats["routeRefreshSent"] >= 1
    assert lbd.query("bgp neighbor", address=net.ip(1))["counters"]["route_refresh_received"] >= 1
    assert vip.prefix in router.routes()
    assert router.neighbor_state(net.ip(2)) == "Established"


def test_asn_mismatch_notification_seen_by_frr(lab: Lab, frr: FrrFactory) -> None:
    # bgpd logs every NOTIFICATION it receives with `log-neighbor-changes` (or neighbor-event debugs).
    t = setup(lab, frr, extra="debug bgp neighbor-events")
    net, router = t.v4, t.router
    # lbd expects AS 65000; FRR is AS 64513: lbd refuses FRR's OPEN with Bad Peer AS (RFC 4271 §6.2).
    lbd = start_lbd(lab, t.me, [peer_doc("r1", net.ip(1), peer_asn=65000)])
    # FRR handles the connection lbd dialed with a temporary peer, so its `show bgp neighbors` state
    # does not keep the NOTIFICATION; its log does.
    line = f"NOTIFICATION: received from neighbor {net.ip(2)} 2/2 (OPEN Message Error/Bad Peer AS)"
    wait_for(lambda: line in router.procs["bgpd"].text(), 15, 0.2, f"FRR to log {line!r}")
    assert router.neighbor_state(net.ip(2)) != "Established"
    assert (lbd.query("bgp neighbor", address=net.ip(1))["last_error"] or "").startswith(
        "NOTIFICATION sent 2/2"
    )
