"""`lbd run` with a BGP peer (FRR 8.4 with BFD): a client behind the router reaches a server on the lbd
node through the advertised VIP, a failing health check withdraws the route and the local address, and
a graceful stop sends Cease.

Topology: client (.2) -- (.1) r1 FRR, forwarding (.1) -- (.2) node, running `lbd run`.
FRR's zebra installs the VIP route learnt from lbd, so the client's packets reach the node, where local
delivery makes the kernel accept them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.interop.test_bgp_harness import LBD_ASN, PEER_ASN, adv_doc, frr_conf, peer_doc, pool_doc
from tests.lab import AddressPlan, Lab, Netns, wait_for
from tests.lab.daemon import GREETER, delivered, greeting, run_lbd, status
from tests.lab.fixtures import FrrFactory

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
PYTHON = str(REPO / ".venv" / "bin" / "python")
PORT = 8080

BFD = """
bfd
 profile fast
  receive-interval 100
  transmit-interval 100
 !
!
"""


def documents(router: str, vip: str) -> list[dict[str, Any]]:
    checked = {
        "lbd.io/health-check": f"tcp:127.0.0.1:{PORT}",
        "lbd.io/health-check-interval": "200ms",
        "lbd.io/health-check-failures": "1",
    }
    return [
        {
            "apiVersion": "lbd.io/v1alpha1",
            "kind": "NodeConfig",
            "metadata": {"name": "node-a"},
            "spec": {"localDelivery": {"enabled": True}},
        },
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "BFDProfile",
            "metadata": {"name": "fast"},
            "spec": {"receiveInterval": 100, "transmitInterval": 100},
        },
        peer_doc("r1", router, bfdProfile="fast"),
        pool_doc("vips", f"{vip}/32"),
        adv_doc("vips", "vips", communities=["64512:100"]),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": "default", "annotations": checked},
            "spec": {"type": "LoadBalancer", "loadBalancerIP": vip, "ports": [{"port": PORT}]},
        },
    ]


def greeted(ns: Netns, vip: str) -> Callable[[], bool]:
    return lambda: greeting(ns, vip, PORT) == "hello"


def test_bgp_route_delivers_health_withdraws_stop_sends_cease(lab: Lab, frr: FrrFactory) -> None:
    plan = AddressPlan()
    uplink, downlink, vips = plan.v4_link(), plan.v4_link(), plan.v4_prefix()
    node, r1, client = lab.netns("node"), lab.netns("r1", router=True), lab.netns("client")
    lab.link(r1, node, a_addrs=[uplink.iface(1)], b_addrs=[uplink.iface(2)])
    lab.link(r1, client, a_addrs=[downlink.iface(1)], b_addrs=[downlink.iface(2)])
    client.add_route("default", via=downlink.ip(1))
    node.add_route(str(downlink.prefix), via=uplink.ip(1))
    vip = vips.ip(0)

    neighbor_lines = "bfd\nbfd profile fast"
    router = frr(
        r1,
        frr_conf(PEER_ASN, uplink.ip(1), {uplink.ip(2): LBD_ASN}, extra=BFD, neighbor_lines=neighbor_lines),
    )
    config = lab.artifacts / "config"
    config.mkdir()
    (config / "lbd.yaml").write_text(yaml.safe_dump_all(documents(uplink.ip(1), vip)))
    socket = lab.path("lbd.sock")
    lab.spawn(node, [sys.executable, "-c", GREETER, "hello", str(PORT)], name="server")
    lbd = run_lbd(
        lab, node, config, "node-a", socket, "--metrics", "off", "--state-dir", str(lab.path("state"))
    )
    router.wait_established(uplink.ip(2), timeout=20)
    router.wait_route(f"{vip}/32")
    assert "64512:100" in json.dumps(router.route(f"{vip}/32"))
    wait_for(lambda: delivered(node) == {vip}, 10, message="VIP on lbd0")
    wait_for(greeted(client, vip), 10, message="client reaches the server through the BGP route")
    (row,) = status(socket, "bgp summary")
    assert row["state"] == "Established" and row["prefixes_sent"] == 1
    wait_for(
        lambda: [p.get("status") for p in router.bfd_peers() if p.get("peer") == uplink.ip(2)] == ["up"],
        10,
        message="BFD up at FRR",
    )
    # `lbd status bfd peers` shows the session FRR sees, with FRR's discriminator as the remote one.
    (frr_peer,) = [p for p in router.bfd_peers() if p.get("peer") == uplink.ip(2)]
    (bfd_row,) = status(socket, "bfd peers", uplink.ip(1))
    assert bfd_row["state"] == "up" and bfd_row["remote_state"] == "up"
    assert bfd_row["remote_discriminator"] == frr_peer["id"]
    assert bfd_row["local_discriminator"] == frr_peer["remote-id"]
    assert bfd_row["control_in"] > 0 and bfd_row["control_out"] > 0

    # The server goes away: its check fails, the route is withdrawn and the address leaves lbd0.
    server = next(p for p in lab.procs if p.name == "server")
    server.stop()
    wait_for(lambda: f"{vip}/32" not in router.routes(), 10, message="route withdrawn on health failure")
    wait_for(lambda: delivered(node) == set(), 5, message="VIP removed from lbd0")
    # Health-checked services are judged as Local (docs/standalone.md): only this node could serve.
    assert status(socket, "services")[0]["bgp_reason"] == "noLocalEndpoints"

    # It comes back: route and address return.
    lab.spawn(node, [sys.executable, "-c", GREETER, "hello", str(PORT)], name="server2")
    router.wait_route(f"{vip}/32")
    wait_for(greeted(client, vip), 10, message="client reaches the server again")

    # Graceful stop: FRR receives a NOTIFICATION (Cease) and drops the session at once, well inside
    # the 9 s hold time. (FRR's lastResetDueTo then reads "BFD down received": lbd's BFD session goes
    # AdminDown right after the Cease and FRR records that as the later reason.)
    before = router.neighbor(uplink.ip(2))["messageStats"]["notificationsRecv"]
    assert lbd.stop(timeout=10) == 0
    wait_for(lambda: router.neighbor_state(uplink.ip(2)) != "Established", 5, message="session down at FRR")
    assert router.neighbor(uplink.ip(2))["messageStats"]["notificationsRecv"] > before
    assert "bgpNotificationSent" in lbd.text() and "Cease 2" in lbd.text()
    assert delivered(node) == set()
