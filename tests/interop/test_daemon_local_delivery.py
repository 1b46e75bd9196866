"""`lbd run` in a namespace: control socket, reloads, health checks and local delivery against real
Linux clients.

The node has two segments. On `eth1` (the LAN of the VIPs) lbd's ARP/NDP responder answers for them and
a client reaches a small TCP server on the node through the VIPs as any client would. On `eth0` no
L2Advertisement applies: a second client routes the VIPs via the node, and the node's kernel must
answer neither ARP nor NDP for them there, because answering is the elected responder's job alone.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.lab import AddressPlan, Lab, Netns, wait_for
from tests.lab.client import arping, ndisc6, neigh_mac
from tests.lab.daemon import GREETER, greeting, run_lbd, status
from tests.lab.proc import Proc
from tests.lab.requirements import require_tools

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
PYTHON = str(REPO / ".venv" / "bin" / "python")
PORT = 8080


def documents(v4: str, v6: str, *, checked: bool, extra: bool = True) -> list[dict[str, Any]]:
    web: dict[str, Any] = {"name": "web", "namespace": "default"}
    if checked:
        web["annotations"] = {
            "lbd.io/health-check": f"tcp:127.0.0.1:{PORT}",
            "lbd.io/health-check-interval": "200ms",
        }
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "lbd.io/v1alpha1",
            "kind": "NodeConfig",
            "metadata": {"name": "node-a"},
            "spec": {"localDelivery": {"enabled": True, "dummyInterface": "lbd0"}},
        },
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": "lan"},
            "spec": {"addresses": [f"{v4}/32", f"{v6}/128"]},
        },
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "L2Advertisement",
            "metadata": {"name": "lan"},
            "spec": {"interfaces": ["eth1"]},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": web,
            "spec": {"type": "LoadBalancer", "loadBalancerIP": v4, "ports": [{"port": PORT}]},
        },
    ]
    if extra:
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "web6", "namespace": "default"},
                "spec": {
                    "type": "LoadBalancer",
                    "ipFamilies": ["IPv6"],
                    "loadBalancerIP": v6,
                    "ports": [{"port": PORT}],
                },
            }
        )
    return docs


def human_status(socket: Path, view: str) -> str:
    argv = [PYTHON, "-m", "lbd.cli", "status", view, "--socket", str(socket)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=10, check=True, cwd=REPO).stdout


def global_addrs(ns: Netns, ifname: str) -> set[str]:
    links = ns.ip_json("-j", "addr", "show", "dev", ifname) if ifname in links_of(ns) else []
    return {a["local"] for link in links for a in link.get("addr_info", []) if a.get("scope") == "global"}


def links_of(ns: Netns) -> set[str]:
    return {link["ifname"] for link in ns.ip_json("-j", "link", "show")}


def alive_and(proc: Proc, predicate: Callable[[], bool]) -> bool:
    """`predicate()`, but a dead process ends the wait at once with its log (ProcessDied)."""
    proc.check_alive()
    return predicate()


def greeted(ns: Netns, address: str) -> Callable[[], bool]:
    return lambda: connect(ns, address) == "hello from node-a"


def connect(ns: Netns, address: str) -> str:
    return greeting(ns, address, PORT, timeout=2.0) or "failed: no answer"


def test_local_delivery_health_reload_and_stop(lab: Lab) -> None:
    require_tools("arping", "ndisc6")
    plan = AddressPlan()
    probe4, probe6, lan4, lan6 = plan.v4_lan(), plan.v6_lan(), plan.v4_lan(), plan.v6_lan()
    node, probe, client = lab.netns("node"), lab.netns("probe"), lab.netns("client")
    lab.link(
        node, probe, a_addrs=[probe4.iface(1), probe6.iface(1)], b_addrs=[probe4.iface(2), probe6.iface(2)]
    )
    lab.link(node, client, a_addrs=[lan4.iface(1), lan6.iface(1)], b_addrs=[lan4.iface(2), lan6.iface(2)])
    vip4, vip6 = lan4.ip(20), lan6.ip(20)
    probe.add_route(f"{vip4}/32", via=probe4.ip(1))
    probe.add_route(f"{vip6}/128", via=probe6.ip(1))

    # Control: with Linux defaults, a local address on another link IS answered on eth0, so the ARP
    # assertions below can fail.
    node.ip("link", "add", "probe0", "type", "ifb")
    node.add_addr("probe0", f"{vip4}/32")
    assert arping(probe, "eth0", vip4) == node.mac("eth0")
    node.ip("link", "del", "probe0")

    config = lab.artifacts / "config"
    config.mkdir()
    (config / "lbd.yaml").write_text(yaml.safe_dump_all(documents(vip4, vip6, checked=True)))
    socket = lab.path("lbd.sock")
    lbd = run_lbd(lab, node, config, "node-a", socket, "--metrics", "127.0.0.1:7472", "--log-level", "debug")
    wait_for(lambda: alive_and(lbd, socket.exists), 15, message="lbd control socket")
    summary = status(socket)
    assert summary["node"] == "node-a" and summary["announcers"][0] == "local-delivery"
    assert node.run(["sysctl", "-n", "net.ipv4.conf.all.arp_ignore"]).stdout.strip() == "1"
    assert node.run(["sysctl", "-n", "net.ipv4.conf.all.arp_announce"]).stdout.strip() == "2"

    # web's health check fails (no server yet): only web6 is delivered locally.
    wait_for(
        lambda: global_addrs(node, "lbd0") == {vip6},
        10,
        message=lambda: f"lbd0: {global_addrs(node, 'lbd0')}",
    )
    services = {row["service"]: row for row in status(socket, "services")}
    assert services["default/web"]["healthy"] is False and services["default/web"]["l2_owner"] is None

    server = lab.spawn(node, [sys.executable, "-c", GREETER, "hello from node-a", str(PORT)], name="server")
    wait_for(
        lambda: alive_and(server, lambda: global_addrs(node, "lbd0") == {vip4, vip6}),
        10,
        message="web healthy",
    )
    assert status(socket, "local-delivery")["addresses"] == [vip4, vip6]
    # The human tables of every view render (the responder's own `l2` view among them).
    for view in ("summary", "services", "config", "l2", "local-delivery", "members"):
        text = human_status(socket, view)
        print(f"$ lbd status {view}\n{text}")
        assert text.strip()
    assert vip4 in human_status(socket, "l2") and vip6 in human_status(socket, "services")

    # On the VIPs' LAN the responder answers and a plain client connects.
    for vip in (vip4, vip6):
        wait_for(greeted(client, vip), 10, message=f"TCP to {vip}")
        assert neigh_mac(client, vip) == node.mac("eth1")
    # Through the router-like path on eth0 the VIPs are delivered too...
    for vip in (vip4, vip6):
        wait_for(greeted(probe, vip), 5, message=f"routed {vip}")
    # ... but there the kernel answers neither ARP nor NDP for them (no responder covers eth0),
    assert arping(probe, "eth0", vip4, count=2, timeout=2) is None
    assert ndisc6(probe, "eth0", vip6) is None
    # while the node's own addresses still resolve (the sysctls did not silence eth0).
    assert arping(probe, "eth0", probe4.ip(1)) == node.mac("eth0")

    # A bad update is rejected whole and the VIPs stay; a good one (web6 gone) removes its address.
    bad = {"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool", "metadata": {"name": "x"}}
    (config / "lbd.yaml").write_text(yaml.safe_dump({**bad, "spec": {"addresses": ["nope"]}}))
    lbd.signal(signal.SIGHUP)
    wait_for(lambda: status(socket, "config")["rejected"] is not None, 10, message="rejected update")
    assert global_addrs(node, "lbd0") == {vip4, vip6}
    (config / "lbd.yaml").write_text(yaml.safe_dump_all(documents(vip4, vip6, checked=True, extra=False)))
    wait_for(lambda: global_addrs(node, "lbd0") == {vip4}, 10, message="file change removes web6's VIP")
    assert status(socket, "config")["rejected"] is None

    metrics = node.run(["curl", "-s", "http://127.0.0.1:7472/metrics"]).stdout
    announced = (
        f'metallb_speaker_announced{{ip="{vip4}",node="node-a",protocol="layer2",service="default/web"}} 1.0'
    )
    assert announced in metrics
    assert "metallb_k8s_client_config_stale_bool 0.0" in metrics

    # Graceful stop: the address and the link lbd created are gone, the socket removed, exit 0.
    assert lbd.stop(timeout=10) == 0
    assert "lbd0" not in links_of(node)
    assert not socket.exists()
    assert connect(probe, vip4).startswith("failed")
