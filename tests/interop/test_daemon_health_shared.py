"""Three `lbd run` daemons on one LAN with membership, L2, local delivery and a TCP health check: when
the owner's server stops, its check fails, the other nodes learn it from the membership heartbeats, and
the next healthy node in the election order takes the VIP over, as a Linux client sees it (ARP and a TCP
exchange with the server behind the VIP). When the server comes back, the election decides again: the
VIP returns to the node first in the hash order, the original owner (MetalLB-compatible, no stickiness).

Timing: the check probes every 200 ms and turns unhealthy after 2 failures, so the owner notices within
2 x 200 ms of the stop; the change reaches the others in one datagram sent at once (at worst the next
50 ms heartbeat). The margin on top covers the reconcile, the gratuitous ARP and a loaded test machine.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import yaml

from tests.interop.test_daemon_failover import (
    PORT,
    PYTHON,
    answer,
    documents,
    started,
)
from tests.lab import AddressPlan, Lab, Netns, wait_for
from tests.lab.client import arping, neigh_mac, resolve
from tests.lab.daemon import GREETER, delivered, run_lbd, status
from tests.lab.proc import Proc

pytestmark = pytest.mark.lab

NODES = ("node-a", "node-b", "node-c")
INTERVAL = 0.2
FAILURES = 2
HEARTBEAT = 0.05
# Scheduling on a shared 2-core machine (several daemons, the client's tools, other agents' tests).
MARGIN = 1.5
BUDGET = INTERVAL * FAILURES + HEARTBEAT + MARGIN


def health_checked(addresses: dict[str, str], vip: str) -> list[dict[str, Any]]:
    docs = documents(addresses, vip)
    (web,) = [d for d in docs if d["kind"] == "Service"]
    web["metadata"]["annotations"] = {
        "lbd.io/health-check": f"tcp:127.0.0.1:{PORT}",
        "lbd.io/health-check-interval": f"{int(INTERVAL * 1000)}ms",
        "lbd.io/health-check-timeout": "100ms",
        "lbd.io/health-check-failures": str(FAILURES),
    }
    return docs


def owners(sockets: dict[str, Any]) -> set[str | None]:
    """The L2 owner of the one service as each running daemon sees it."""
    return {status(sock, "services")[0]["l2_owner"] for sock in sockets.values()}


def settled_on(nodes: dict[str, Netns], sockets: dict[str, Any], owner: str, vip: str) -> bool:
    """Every daemon elects `owner`, and only the owner accepts the VIP's traffic."""
    return owners(sockets) == {owner} and all(
        delivered(ns) == ({vip} if name == owner else set()) for name, ns in nodes.items()
    )


def test_failed_check_moves_the_vip_to_a_healthy_node(lab: Lab) -> None:
    plan = AddressPlan()
    lan = plan.v4_lan()
    switch = lab.switch("sw")
    nodes = {name: lab.netns(name.replace("-", "")) for name in NODES}
    addresses = {name: lan.ip(i + 1) for i, name in enumerate(NODES)}
    for i, ns in enumerate(nodes.values()):
        lab.attach(ns, switch, addrs=[lan.iface(i + 1)])
    client = lab.netns("client")
    lab.attach(client, switch, addrs=[lan.iface(10)])
    vip = lan.ip(20)

    config = lab.artifacts / "config"
    config.mkdir()
    (config / "lbd.yaml").write_text(yaml.safe_dump_all(health_checked(addresses, vip)))
    sockets = {name: lab.path(f"{name}.sock") for name in NODES}
    servers: dict[str, Proc] = {}
    procs: dict[str, Proc] = {}
    for name, ns in nodes.items():
        servers[name] = lab.spawn(ns, [PYTHON, "-c", GREETER, name, str(PORT)], name="server")
        procs[name] = run_lbd(
            lab, ns, config, name, sockets[name], "--metrics", "off", "--log-level", "debug"
        )
    for name in NODES:
        wait_for(started(procs[name], sockets[name]), 15, message=f"{name} control socket")

    # Every node healthy and heard: all agree on the hash order's first node.
    wait_for(lambda: len(owners(sockets)) == 1 and None not in owners(sockets), 15, message="one owner")
    (first,) = owners(sockets)
    assert isinstance(first, str)
    wait_for(lambda: settled_on(nodes, sockets, first, vip), 10, message=f"only {first} delivers")
    members = {m["name"]: m for m in status(sockets[first], "members")}
    assert all(members[n]["healthy"] == 1 for n in NODES if n != first)
    assert wait_for(lambda: answer(client, vip), 10, message="client reaches the VIP") == first
    assert resolve(client, vip) == nodes[first].mac("eth0")

    # The owner's server stops: its check fails, every node hears it, the next healthy node takes over.
    stopped = time.monotonic()
    servers[first].stop()

    def new_owner() -> str | None:
        # `ip addr` in the namespaces: cheap enough to poll every 20 ms, unlike `lbd status`.
        taking = [n for n, ns in nodes.items() if n != first and delivered(ns) == {vip}]
        return taking[0] if len(taking) == 1 else None

    second = wait_for(new_owner, BUDGET + 5, 0.02, message="a healthy node takes the VIP")
    taken_over = time.monotonic() - stopped
    # The takeover's gratuitous ARP updates the entry the client's kernel already holds.
    wait_for(
        lambda: neigh_mac(client, vip) == nodes[second].mac("eth0"),
        BUDGET + 5,
        0.02,
        message="the client's neighbour entry moves to the new owner",
    )
    moved = time.monotonic() - stopped
    print(
        f"VIP on {second} {taken_over * 1000:.0f} ms and in the client's ARP cache {moved * 1000:.0f} ms "
        f"after {first}'s server stopped (budget {BUDGET * 1000:.0f} ms)"
    )
    assert moved <= BUDGET
    assert arping(client, "eth0", vip) == nodes[second].mac("eth0")
    assert not delivered(nodes[first])
    assert owners(sockets) == {second}
    assert wait_for(lambda: answer(client, vip) == second, 10, message="client reaches the new owner")

    # The server comes back: one success makes the check pass and the election, which prefers the first
    # node in the hash order, gives the VIP back to it.
    servers[first] = lab.spawn(nodes[first], [PYTHON, "-c", GREETER, first, str(PORT)], name="server-again")
    wait_for(lambda: settled_on(nodes, sockets, first, vip), BUDGET + 5, message=f"{first} owns it again")
    assert wait_for(lambda: answer(client, vip) == first, 10, message="client reaches it again")
    assert arping(client, "eth0", vip) == nodes[first].mac("eth0")

    for name in NODES:
        assert procs[name].stop(timeout=10) == 0
