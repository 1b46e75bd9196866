"""lbd under Kubernetes against FRR 8.4: an API-server emulator and `lbd kube` (controller + speaker,
announcers from the daemon wiring, so the real BGP announcer) in one namespace, FRR in another. What
FRR's BGP table shows is what counts.

- a LoadBalancer Service gets an address in its status, and FRR receives the /32 from lbd;
- the API server stops answering (SIGSTOP) for a while: FRR keeps the route the whole time, and once
  the API is back a Service created meanwhile is announced too (catch-up) without the first route ever
  leaving FRR's table;
- deleting the Service withdraws the route.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.interop import kube_lab
from tests.interop.kube_lab import NODE, ctl, metallb
from tests.lab import AddressPlan, Lab, wait_for
from tests.lab.daemon import status
from tests.lab.fixtures import FrrFactory
from tests.lab.frr import Frr

pytestmark = pytest.mark.lab


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
    peer = {
        "myASN": 64500,
        "peerASN": 64501,
        "peerAddress": link.ip(2),
        "holdTime": "9s",
        "connectTime": "1s",
    }
    objects = [
        kube_lab.node(),
        metallb("IPAddressPool", "blue", {"addresses": [pool.prefix]}),
        metallb("BGPPeer", "frr", peer, version="v1beta2"),
        metallb("BGPAdvertisement", "bgp", {}),
    ]
    api, lbd = kube_lab.start(lab, me, objects, tmp_path)
    router.wait_established(link.ip(1), timeout=20)

    # A LoadBalancer Service: the controller writes its address, the speaker sends it to FRR.
    kube_lab.create(me, kube_lab.service("web"))
    (address,) = wait_for(lambda: kube_lab.ingress(me, "web"), 10, message="status.loadBalancer.ingress")
    assert address == pool.ip(0)
    paths = router.wait_route(f"{address}/32", timeout=15)
    assert paths[0]["nexthops"][0]["ip"] == link.ip(1)
    reasons = wait_for(
        lambda: kube_lab.events(me, "web") if len(kube_lab.events(me, "web")) >= 2 else None, 10
    )
    assert ("IPAllocated", f'Assigned IP "{address}"') in reasons
    # `lbd status` in the pod (here: the process's socket) shows what FRR shows.
    socket = lab.path("lbd-kube.sock")
    (session,) = status(socket, "bgp", "summary")
    assert session["state"] == "Established" and session["prefixes_sent"] == 1
    (row,) = status(socket, "services")
    assert (row["service"], row["ips"], row["bgp_peers"]) == ("default/web", [address], ["frr"])
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
    kube_lab.create(me, kube_lab.service("late"))
    (second,) = wait_for(lambda: kube_lab.ingress(me, "late"), 15, message="the second Service's address")
    router.wait_route(f"{second}/32", timeout=15)
    assert f"{address}/32" in router.routes()

    # Delete: withdrawn.
    ctl(me, "delete", "v1", "Service", "web", "default")
    wait_for(lambda: f"{address}/32" not in router.routes(), 15, message="the withdrawal at FRR")
    assert f"{second}/32" in router.routes()
    assert lbd.stop() == 0
