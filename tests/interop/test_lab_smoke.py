"""The lab works end to end: real routers peer across namespaces and see each other's routes."""

from __future__ import annotations

import pytest

from tests.lab import AddressPlan, Lab
from tests.lab.fixtures import FrrFactory, GoBgpFactory

pytestmark = pytest.mark.lab


def frr_config(asn: int, router_id: str, neighbors: dict[str, int]) -> str:
    lines = [
        "frr defaults traditional",
        "log stdout informational",
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
    return "\n".join([*lines, "!", ""])


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
    detail = router.route(announced)
    assert detail["paths"][0]["community"]["string"] == "64513:100"
