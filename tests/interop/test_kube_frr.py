"""lbd under Kubernetes against FRR 8.4: an API-server emulator and `lbd kube` (controller + speaker,
announcers from the daemon wiring, so the real BGP announcer) in one namespace, FRR in another. What
FRR's BGP table shows is what counts.

- a LoadBalancer Service gets an address in its status, and FRR receives the /32 from lbd;
- deleting the Service withdraws the route;
- the API server stops answering (SIGSTOP) for a while: FRR keeps the route the whole time, and once
  the API is back a Service created meanwhile is announced too (catch-up) without the first route ever
  leaving FRR's table.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.lab import AddressPlan, Lab, Netns, wait_for
from tests.lab.fixtures import FrrFactory
from tests.lab.frr import Frr

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
PYTHON = str(REPO / ".venv/bin/python")
ENV = {"PYTHONPATH": str(REPO)}
API = "http://127.0.0.1:6443"
NS = "metallb-system"
# Unique per test process: the BGP announcer keeps its restart marker under /run/lbd/bgp/<node>, and
# /run is shared by every namespace.
NODE = f"kube{os.getpid()}"


def _objects(peer_address: str, pool: str) -> list[dict[str, Any]]:
    meta = {"namespace": NS}
    return [
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": NODE},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        },
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": "blue", **meta},
            "spec": {"addresses": [pool]},
        },
        {
            "apiVersion": "metallb.io/v1beta2",
            "kind": "BGPPeer",
            "metadata": {"name": "frr", **meta},
            "spec": {
                "myASN": 64500,
                "peerASN": 64501,
                "peerAddress": peer_address,
                "holdTime": "9s",
                "connectTime": "1s",
            },
        },
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "BGPAdvertisement",
            "metadata": {"name": "bgp", **meta},
            "spec": {},
        },
    ]


def _service(name: str) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}]},
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{name}-{NODE}",
                "namespace": "default",
                "labels": {"kubernetes.io/service-name": name},
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": True}, "nodeName": NODE}],
        },
    ]


def _ctl(ns: Netns, *args: str, stdin: str | None = None) -> Any:
    out = ns.run(
        [PYTHON, "-m", "tests.kube_emulator.ctl", "--server", API, *args], input=stdin, env=ENV, timeout=20
    )
    return json.loads(out.stdout)


def _ingress(ns: Netns, name: str) -> list[str]:
    svc = _ctl(ns, "get", "v1", "Service", name, "default")
    return [i["ip"] for i in svc.get("status", {}).get("loadBalancer", {}).get("ingress", [])]


def _frr_config(asn: int, router_id: str, neighbor: str, remote_as: int) -> str:
    return "\n".join(
        [
            "frr defaults traditional",
            f"router bgp {asn}",
            f" bgp router-id {router_id}",
            " no bgp ebgp-requires-policy",
            f" neighbor {neighbor} remote-as {remote_as}",
            f" neighbor {neighbor} timers 3 9",
            f" neighbor {neighbor} timers connect 1",
            "!",
            "",
        ]
    )


def test_service_route_reaches_frr_survives_api_outage_and_is_withdrawn(
    lab: Lab, frr: FrrFactory, tmp_path: Path
) -> None:
    plan = AddressPlan()
    link = plan.v4_link()
    pool = plan.v4_prefix(29)
    me = lab.netns("lbd")
    r1 = lab.netns("r1")
    lab.link(me, r1, a_addrs=[link.iface(1)], b_addrs=[link.iface(2)])
    router: Frr = frr(r1, _frr_config(64501, link.ip(2), link.ip(1), 64500))

    seed = tmp_path / "objects.json"
    seed.write_text(json.dumps(_objects(link.ip(2), pool.prefix)))
    kubeconfig = tmp_path / "kubeconfig"
    emulator_args = ["--port", "6443", "--crds", str(REPO / "deploy" / "crds.yaml"), "--load", str(seed)]
    emulator_args += ["--kubeconfig", str(kubeconfig)]
    api = lab.spawn(
        me,
        [PYTHON, "-m", "tests.kube_emulator", *emulator_args, "--bookmark-interval", "1"],
        name="apiserver",
        env=ENV,
        cwd=REPO,
    )
    wait_for(kubeconfig.exists, 10, message="the emulator writing its kubeconfig")
    lbd_args = ["--kubeconfig", str(kubeconfig), "--node", NODE, "--liveness", "nodes", "--metrics", "off"]
    lbd_args += ["--lease-duration", "2", "--renew-deadline", "1.5", "--retry-period", "0.3"]
    lbd = lab.spawn(
        me,
        [PYTHON, "-m", "lbd.cli", "kube", *lbd_args],
        name="lbd",
        env=ENV,
        cwd=REPO,
    )
    router.wait_established(link.ip(1), timeout=20)

    # A LoadBalancer Service: the controller writes its address, the speaker sends it to FRR.
    _ctl(me, "create", "-", stdin=json.dumps(_service("web")))
    (address,) = wait_for(lambda: _ingress(me, "web"), 10, message="status.loadBalancer.ingress")
    assert address == pool.ip(0)
    paths = router.wait_route(f"{address}/32", timeout=15)
    assert paths[0]["nexthops"][0]["ip"] == link.ip(1)
    events = _ctl(me, "list", "v1", "Event", "default")
    reasons = sorted((e["reason"], e["message"]) for e in events if e["involvedObject"]["name"] == "web")
    assert ("IPAllocated", f'Assigned IP "{address}"') in reasons
    assert ("nodeAssigned", f'announcing from node "{NODE}" with protocol "bgp"') in reasons

    # The API server stops answering for 4 s; FRR must keep the route all along.
    api.signal(signal.SIGSTOP)
    lost_at: float | None = None
    end = time.monotonic() + 4.0
    try:
        while time.monotonic() < end:
            if f"{address}/32" not in router.routes():
                lost_at = time.monotonic()
                break
            time.sleep(0.2)
    finally:
        api.signal(signal.SIGCONT)
    assert lost_at is None, "FRR lost the route while the API server was unreachable"
    lbd.check_alive()

    # Catch-up: a second Service is announced, and the first route never left FRR's table.
    _ctl(me, "create", "-", stdin=json.dumps(_service("late")))
    (second,) = wait_for(lambda: _ingress(me, "late"), 15, message="the second Service's address")
    router.wait_route(f"{second}/32", timeout=15)
    assert f"{address}/32" in router.routes()

    # Delete: withdrawn.
    _ctl(me, "delete", "v1", "Service", "web", "default")
    wait_for(lambda: f"{address}/32" not in router.routes(), 15, message="the withdrawal at FRR")
    assert f"{second}/32" in router.routes()
    lbd.stop()
    api.stop()
    assert os.path.exists(str(kubeconfig))
