"""GTSM (RFC 5082) against FRR 8.4 `neighbor X ttl-security hops 1`, switched on in lbd by its NodeConfig
(`spec.bgp.ttlSecurity`), and lbd's listener taken from the same NodeConfig.

With both sides on, the session comes up and FRR holds the route. With only FRR on, FRR's minimum TTL
254 drops lbd's TTL-1 segments: FRR never receives an OPEN. With only lbd on, lbd drops FRR's TTL-1
segments the same way: FRR's OPENs never get an answer.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.interop.test_bgp_frr import setup
from tests.interop.test_bgp_harness import adv_doc, peer_doc, pool_doc, service_doc, start_lbd
from tests.lab import AddressPlan, Lab, Netns
from tests.lab.fixtures import FrrFactory

pytestmark = pytest.mark.lab

# Both sides dial every second (FRR `timers connect 1`, lbd connectTime 1s): 4 s is four attempts each.
ATTEMPTS = 4.0


def node_doc(**bgp: Any) -> dict[str, Any]:
    # The test runner's node is named "lbd".
    return {
        "apiVersion": "lbd.io/v1alpha1",
        "kind": "NodeConfig",
        "metadata": {"name": "lbd"},
        "spec": {"bgp": bgp},
    }


def docs(peer: str, *extra: dict[str, Any]) -> list[dict[str, Any]]:
    vip = AddressPlan().v4_prefix()
    return [
        peer_doc("r1", peer, connectTime="1s"),
        pool_doc("pool", vip.prefix),
        adv_doc("adv", "pool"),
        service_doc("web", vip.ip(0)),
        *extra,
    ]


def test_gtsm_on_both_sides_establishes(lab: Lab, frr: FrrFactory) -> None:
    t = setup(lab, frr, neighbor_lines="ttl-security hops 1")
    net, router = t.v4, t.router
    vip = AddressPlan().v4_prefix()
    lbd = start_lbd(lab, t.me, docs(net.ip(1), node_doc(ttlSecurity=True, listenAddresses=[net.ip(2)])))
    router.wait_established(net.ip(2))
    router.wait_route(vip.prefix)
    assert lbd.summary()["r1"]["state"] == "Established"


def min_ttl_drops(ns: Netns) -> int:
    """The kernel's count of TCP segments dropped for a TTL under the socket's IP_MINTTL."""
    out = ns.run(["nstat", "-az", "TcpExtTCPMinTTLDrop"]).stdout
    return int(next(line.split()[1] for line in out.splitlines() if line.startswith("TcpExtTCPMinTTLDrop")))


def test_frr_gtsm_drops_lbd_without_it(lab: Lab, frr: FrrFactory) -> None:
    t = setup(lab, frr, neighbor_lines="ttl-security hops 1")
    net, router = t.v4, t.router
    lbd = start_lbd(lab, t.me, docs(net.ip(1)))
    time.sleep(ATTEMPTS)
    neighbor = router.neighbor(net.ip(2))
    assert neighbor["bgpState"] != "Established" and neighbor["connectionsEstablished"] == 0
    # lbd's TTL-1 segments never pass FRR's minimum TTL 254: FRR never sees an OPEN.
    assert neighbor["messageStats"]["opensRecv"] == 0
    assert min_ttl_drops(router.ns) > 0
    assert lbd.summary()["r1"]["state"] != "Established"


def test_lbd_gtsm_drops_frr_without_it(lab: Lab, frr: FrrFactory) -> None:
    t = setup(lab, frr)
    net, router = t.v4, t.router
    lbd = start_lbd(lab, t.me, docs(net.ip(1), node_doc(ttlSecurity=True)))
    time.sleep(ATTEMPTS)
    neighbor = router.neighbor(net.ip(2))
    # FRR sends with TTL 1 to an eBGP neighbor: lbd's kernel drops those segments (minimum TTL 254), so
    # no connection gets past OpenConfirm.
    assert neighbor["bgpState"] != "Established" and neighbor["connectionsEstablished"] == 0
    assert min_ttl_drops(t.me) > 0
    assert lbd.summary()["r1"]["state"] != "Established"
