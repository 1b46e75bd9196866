"""Two `lbd run` daemons on one LAN with membership, L2 and local delivery: the elected owner serves a
VIP, and when it crashes the other node takes it over, end to end, as a Linux client sees it.

The daemons share one set of files (each picks its own NodeConfig). The client only ever talks to
the VIP: it resolves the VIP with its own kernel and connects to a TCP server that says which node
answered, so the test asserts what the client observed, not what lbd believes.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.lab import AddressPlan, Lab, Netns, wait_for
from tests.lab.client import neigh_mac
from tests.lab.daemon import GREETER, delivered, greeting, run_lbd, status
from tests.lab.proc import Proc

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
PYTHON = str(REPO / ".venv" / "bin" / "python")
PORT = 8080
NODES = ("node-a", "node-b")


def documents(addresses: dict[str, str], vip: str) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for name, address in addresses.items():
        others = [{"name": n, "address": a} for n, a in addresses.items() if n != name]
        membership = {"bindAddress": address, "key": "lab-only-membership-key", "peers": others}
        spec = {"interfaces": ["eth0"], "membership": membership, "localDelivery": {"enabled": True}}
        docs.append(
            {"apiVersion": "lbd.io/v1alpha1", "kind": "NodeConfig", "metadata": {"name": name}, "spec": spec}
        )
    docs += [
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": "lan"},
            "spec": {"addresses": [f"{vip}/32"]},
        },
        {"apiVersion": "metallb.io/v1beta1", "kind": "L2Advertisement", "metadata": {"name": "lan"}},
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"type": "LoadBalancer", "ports": [{"port": PORT}]},
        },
    ]
    return docs


def started(proc: Proc, socket: Path) -> Callable[[], bool]:
    def check() -> bool:
        proc.check_alive()  # a dead daemon ends the wait at once, with its log
        return socket.exists()

    return check


def sees(socket: Path, live: list[str]) -> Callable[[], bool]:
    return lambda: bool(status(socket)["live_nodes"] == live)


def answer(ns: Netns, vip: str) -> str | None:
    return greeting(ns, vip, PORT)


def test_owner_crash_moves_the_vip_and_its_delivery(lab: Lab) -> None:
    plan = AddressPlan()
    lan = plan.v4_lan()
    switch = lab.switch("sw")
    nodes = {name: lab.netns(name.replace("-", "")) for name in NODES}
    addresses = {name: lan.ip(i + 1) for i, name in enumerate(NODES)}
    for name, ns in nodes.items():
        lab.attach(ns, switch, addrs=[lan.iface(NODES.index(name) + 1)])
    client = lab.netns("client")
    lab.attach(client, switch, addrs=[lan.iface(10)])
    vip = lan.ip(20)

    config = lab.artifacts / "config"
    config.mkdir()
    (config / "lbd.yaml").write_text(yaml.safe_dump_all(documents(addresses, vip)))
    sockets = {name: lab.path(f"{name}.sock") for name in NODES}
    procs: dict[str, Proc] = {}
    for name, ns in nodes.items():
        lab.spawn(ns, [sys.executable, "-c", GREETER, name, str(PORT)], name="server")
        procs[name] = run_lbd(
            lab, ns, config, name, sockets[name], "--metrics", "off", "--log-level", "debug"
        )
    for name in NODES:
        wait_for(started(procs[name], sockets[name]), 15, message=f"{name} control socket")
        wait_for(sees(sockets[name], list(NODES)), 10, message=f"{name} sees both nodes live")

    (row,) = status(sockets["node-a"], "services")
    owner = row["l2_owner"]
    (other,) = [n for n in NODES if n != owner]
    assert status(sockets[other], "services")[0]["l2_owner"] == owner
    wait_for(lambda: delivered(nodes[owner]) == {vip} and not delivered(nodes[other]), 10, message="delivery")
    assert wait_for(lambda: answer(client, vip), 10, message="client reaches the VIP") == owner
    assert neigh_mac(client, vip) == nodes[owner].mac("eth0")

    # Crash (no goodbye): the survivor notices through membership, wins the election, answers ARP with
    # gratuitous announcements and starts accepting the VIP's traffic locally.
    crashed = time.monotonic()
    procs[owner].signal(signal.SIGKILL)
    wait_for(lambda: delivered(nodes[other]) == {vip}, 5, message="survivor delivers the VIP")
    taken_over = time.monotonic() - crashed
    assert wait_for(lambda: answer(client, vip) == other, 10, message="client reaches the survivor")
    assert neigh_mac(client, vip) == nodes[other].mac("eth0")
    summary = status(sockets[other])
    assert summary["live_nodes"] == [other] and summary["l2_addresses"] == 1
    print(f"VIP delivered on the survivor {taken_over * 1000:.0f} ms after the owner was killed")

    assert procs[other].stop(timeout=10) == 0
    assert not delivered(nodes[other])
