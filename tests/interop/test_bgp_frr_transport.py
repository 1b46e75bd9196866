"""Transport behaviour against FRR 8.4: TCP-MD5 right and wrong, eBGP multihop through a router,
hold timer expiry when FRR goes silent, BFD taking the session down (and back up) with FRR's bfdd."""

from __future__ import annotations

import time

import pytest

from tests.interop.test_bgp_frr import path_of, setup
from tests.interop.test_bgp_harness import (
    LBD_ASN,
    PEER_ASN,
    adv_doc,
    bfd_profile_doc,
    frr_conf,
    peer_doc,
    pool_doc,
    secret_doc,
    service_doc,
    start_lbd,
)
from tests.lab import AddressPlan, Lab, cut, restore, wait_for
from tests.lab.fixtures import FrrFactory

pytestmark = pytest.mark.lab


def test_md5_password_from_secret_matches(lab: Lab, frr: FrrFactory) -> None:
    t = setup(lab, frr, neighbor_lines="password lab-only-secret")
    net, router = t.v4, t.router
    vip = AddressPlan().v4_prefix()
    lbd = start_lbd(
        lab,
        t.me,
        [
            peer_doc("r1", net.ip(1), passwordSecret={"name": "md5", "namespace": "metallb-system"}),
            secret_doc("md5", "lab-only-secret"),
            pool_doc("pool", vip.prefix),
            adv_doc("adv", "pool"),
            service_doc("web", vip.ip(0)),
        ],
    )
    router.wait_established(net.ip(2))
    router.wait_route(vip.prefix)
    assert lbd.query("bgp neighbor", address=net.ip(1))["configured"]["md5"] is True


def test_md5_wrong_password_never_connects(lab: Lab, frr: FrrFactory) -> None:
    t = setup(lab, frr, neighbor_lines="password lab-only-secret")
    net, router = t.v4, t.router
    lbd = start_lbd(lab, t.me, [peer_doc("r1", net.ip(1), password="not-the-secret")])
    # Both sides dial every second or so; signed segments with the wrong key are dropped by the kernel.
    time.sleep(4.0)
    neighbor = router.neighbor(net.ip(2))
    assert neighbor["bgpState"] != "Established"
    assert neighbor["messageStats"]["opensRecv"] == 0
    assert lbd.summary()["r1"]["msgs_in"] == 0


def test_ebgp_multihop_through_a_router(lab: Lab, frr: FrrFactory) -> None:
    plan = AddressPlan()
    left, right = plan.v4_link(), plan.v4_link()
    me, rt, r1 = lab.netns("lbd"), lab.netns("rt", router=True), lab.netns("r1")
    lab.link(me, rt, a_addrs=[left.iface(2)], b_addrs=[left.iface(1)])
    lab.link(rt, r1, a_addrs=[right.iface(1)], b_addrs=[right.iface(2)])
    me.add_route(right.prefix, via=left.ip(1))
    r1.add_route(left.prefix, via=right.ip(1))
    lbd_ip, frr_ip = left.ip(2), right.ip(2)
    router = frr(r1, frr_conf(PEER_ASN, frr_ip, {lbd_ip: LBD_ASN}, neighbor_lines="ebgp-multihop 255"))
    vip = plan.v4_prefix()
    start_lbd(
        lab,
        me,
        [
            peer_doc("r1", frr_ip, ebgpMultiHop=True),
            pool_doc("pool", vip.prefix),
            adv_doc("adv", "pool"),
            service_doc("web", vip.ip(0)),
        ],
    )
    router.wait_established(lbd_ip)
    router.wait_route(vip.prefix)
    path = path_of(router, vip.prefix)
    assert path["nexthops"][0]["ip"] == lbd_ip
    assert path["aspath"]["string"] == str(LBD_ASN)


def test_hold_timer_expires_when_frr_goes_silent(lab: Lab, frr: FrrFactory) -> None:
    t = setup(lab, frr)
    net, router = t.v4, t.router
    vip = AddressPlan().v4_prefix()
    docs = [
        peer_doc("r1", net.ip(1), holdTime="3s", keepaliveTime="1s"),
        pool_doc("pool", vip.prefix),
        adv_doc("adv", "pool"),
        service_doc("web", vip.ip(0)),
    ]
    lbd = start_lbd(lab, t.me, docs)
    router.wait_established(net.ip(2))
    lbd.wait_state("r1", "Established")
    assert lbd.query("bgp neighbor", address=net.ip(1))["negotiated"]["hold_time"] == 3
    cut(router.ns)
    cut_at = time.monotonic()
    # Negotiated hold time 3 s: expiry at most 3 s after the cut; 3 s of margin for a loaded machine.
    wait_for(lambda: lbd.summary()["r1"]["state"] != "Established", 6, 0.05, "lbd's hold timer to expire")
    detected = time.monotonic() - cut_at
    assert detected <= 6
    assert (lbd.query("bgp neighbor", address=net.ip(1))["last_error"] or "").startswith(
        "NOTIFICATION sent 4/0"
    )
    restore(router.ns)
    # Back up, the route is sent again in full.
    router.wait_established(net.ip(2), timeout=20)
    router.wait_route(vip.prefix)


FRR_BFD = """!
bfd
 profile fast
  receive-interval 100
  transmit-interval 100
  detect-multiplier 3
 !
!"""


def test_bfd_down_takes_the_session_down_long_before_the_hold_timer(lab: Lab, frr: FrrFactory) -> None:
    t = setup(lab, frr, extra=FRR_BFD, neighbor_lines="bfd profile fast")
    net, router = t.v4, t.router
    vip = AddressPlan().v4_prefix()
    docs = [
        peer_doc("r1", net.ip(1), bfdProfile="fast"),
        bfd_profile_doc("fast", 100, 3),
        pool_doc("pool", vip.prefix),
        adv_doc("adv", "pool"),
        service_doc("web", vip.ip(0)),
    ]
    lbd = start_lbd(lab, t.me, docs, bfd=True)
    router.wait_established(net.ip(2))
    router.wait_route(vip.prefix)
    wait_for(
        lambda: [p for p in router.bfd_peers() if p.get("peer") == net.ip(2) and p.get("status") == "up"],
        10,
        0.1,
        "FRR's BFD session with lbd up",
    )
    cut(router.ns)
    cut_at = time.monotonic()
    # BFD detects in 3 x 100 ms; the hold timer would take 9 s. 2 s bounds detection plus a loaded loop.
    wait_for(lambda: lbd.summary()["r1"]["state"] != "Established", 5, 0.05, "BFD to take BGP down")
    assert time.monotonic() - cut_at < 2.0
    neighbor = lbd.query("bgp neighbor", address=net.ip(1))
    assert (neighbor["last_error"] or "").startswith("NOTIFICATION sent 6/10")  # RFC 9384 Cease/BFD Down
    assert neighbor["configured"]["bfd_blocked"] is True
    restore(router.ns)
    router.wait_established(net.ip(2), timeout=20)
    router.wait_route(vip.prefix)
    assert lbd.query("bgp neighbor", address=net.ip(1))["configured"]["bfd_blocked"] is False
