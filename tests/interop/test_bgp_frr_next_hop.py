"""A configured next hop (NodeConfig `spec.bgp.nextHops`) against FRR 8.4: the IPv6 routes of a dual-stack
IPv4 session carry the configured second global IPv6 address of lbd's interface, not the one lbd would
have found itself, with lbd's link-local address beside it (RFC 2545 §3); FRR marks the route valid.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.interop.test_bgp_frr import path_of, setup
from tests.interop.test_bgp_frr_gtsm import node_doc
from tests.interop.test_bgp_harness import adv_doc, peer_doc, pool_doc, service_doc, start_lbd
from tests.lab import AddressPlan, Lab, wait_for
from tests.lab.fixtures import FrrFactory

pytestmark = pytest.mark.lab


def interface_of(addresses: list[dict[str, Any]], address: str) -> tuple[str, str]:
    """The interface holding `address` (from `ip -j addr`) and its link-local IPv6 address."""
    for link in addresses:
        infos = link.get("addr_info", [])
        if any(a["local"] == address for a in infos):
            link_local = next(a["local"] for a in infos if a["family"] == "inet6" and a["scope"] == "link")
            return str(link["ifname"]), str(link_local)
    raise AssertionError(f"no interface holds {address}")


def test_configured_ipv6_next_hop_on_an_ipv4_session(lab: Lab, frr: FrrFactory) -> None:
    t = setup(lab, frr, dual=True)
    v4net, v6net, router = t.v4, t.v6, t.router
    # Wait for the veth's link-local address to leave DAD: it is the second next hop FRR gets.
    wait_for(
        lambda: any(
            a["family"] == "inet6" and a["scope"] == "link" and not a.get("tentative")
            for link in t.me.ip_json("addr", "show")
            for a in link.get("addr_info", [])
        ),
        5,
        0.1,
        "lbd's link-local address",
    )
    ifname, link_local = interface_of(t.me.ip_json("addr", "show"), v4net.ip(2))
    # A second global address on lbd's interface (::3, beside ::2 that lbd would pick on its own).
    configured = v6net.ip(3)
    t.me.add_addr(ifname, v6net.iface(3))
    plan = AddressPlan()
    vip4, vip6 = plan.v4_prefix(), plan.v6_prefix()
    lbd = start_lbd(
        lab,
        t.me,
        [
            peer_doc("r1", v4net.ip(1), dualStackAddressFamily=True),
            pool_doc("pool", vip4.prefix, vip6.prefix),
            adv_doc("adv", "pool"),
            service_doc("web", vip4.ip(0), vip6.ip(0)),
            node_doc(nextHops=[{"peer": "r1", "ipv6": configured}]),
        ],
    )
    router.wait_established(v4net.ip(2))
    router.wait_route(vip4.prefix)
    router.wait_route(vip6.prefix)
    # The IPv4 route keeps the session's address; the IPv6 one has exactly the configured global next
    # hop and lbd's link-local one.
    assert [h["ip"] for h in path_of(router, vip4.prefix)["nexthops"]] == [v4net.ip(2)]
    hops = {(h["scope"], h["ip"]) for h in path_of(router, vip6.prefix)["nexthops"]}
    assert hops == {("global", configured), ("link-local", link_local)}
    # zebra resolves the next hop asynchronously (nexthop tracking): valid once it has.
    wait_for(lambda: path_of(router, vip6.prefix).get("valid"), 5, 0.1, f"FRR to find {vip6.prefix} usable")

    view = lbd.query("bgp neighbor", peer="r1")["next_hops"]
    assert view["ipv4"] == v4net.ip(2) and view["ipv6"] == [configured, link_local]
    assert view["configured_ipv6"] == configured and view["warnings"] == []
    # Without the configuration lbd would have sent another address of the interface: the configured
    # one is what made the difference.
    assert view["interface_ipv6"] not in (None, configured)
