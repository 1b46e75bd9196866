"""lbd under Kubernetes answering ARP: the emulator and `lbd kube` in one namespace, a Linux client on
the same link. The client's arping is what counts.

- a LoadBalancer Service with an L2Advertisement: the client resolves its address to lbd's MAC, and a
  ServiceL2Status names the node and the interface;
- an L2Advertisement naming no interface: the status names the interfaces lbd found eligible (eth0,
  not lo), as MetalLB's does;
- deleting the Service: no more answers, and the status object is gone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.interop import kube_lab
from tests.interop.kube_lab import NODE, NS, ctl, metallb
from tests.lab import AddressPlan, Lab, arping, wait_for

pytestmark = pytest.mark.lab


def test_service_address_is_answered_by_arp_and_released_on_delete(lab: Lab, tmp_path: Path) -> None:
    plan = AddressPlan()
    lan = plan.v4_lan()
    vip_pool = plan.v4_prefix(30)
    me = lab.netns("lbd")
    client = lab.netns("client")
    lab.link(me, client, a_addrs=[lan.iface(1)], b_addrs=[lan.iface(2)])
    objects = [
        kube_lab.node(),
        metallb("IPAddressPool", "blue", {"addresses": [vip_pool.prefix]}),
        metallb("L2Advertisement", "l2", {"interfaces": ["eth0"]}),
    ]
    _, lbd = kube_lab.start(lab, me, objects, tmp_path)
    kube_lab.create(me, kube_lab.service("web"))
    (address,) = wait_for(lambda: kube_lab.ingress(me, "web"), 15, message="status.loadBalancer.ingress")
    assert address == vip_pool.ip(0)
    mac = wait_for(lambda: arping(client, "eth0", address), 15, message="an ARP answer for the VIP")
    assert mac == me.mac("eth0")

    def status() -> list[dict[str, object]]:
        objs = ctl(me, "list", "metallb.io/v1beta1", "ServiceL2Status", NS)
        return [o["status"] for o in objs if o.get("status")]

    (published,) = wait_for(status, 10, message="the ServiceL2Status")
    assert published == {
        "node": NODE,
        "serviceName": "web",
        "serviceNamespace": "default",
        "interfaces": [{"name": "eth0"}],
    }
    events = wait_for(lambda: [e for e in kube_lab.events(me, "web") if e[0] == "nodeAssigned"], 10)
    assert events == [("nodeAssigned", f'announcing from node "{NODE}" with protocol "layer2"')]

    # An advertisement naming no interface (every eligible one): the status lists what link tracking
    # found on the node, not nothing.
    ctl(me, "delete", "metallb.io/v1beta1", "L2Advertisement", "l2", NS)
    kube_lab.create(me, [metallb("L2Advertisement", "any", {})])
    wait_for(
        lambda: [s["interfaces"] for s in status()] == [[{"name": "eth0"}]] and status(),
        10,
        message="the status to name the eligible interfaces",
    )

    ctl(me, "delete", "v1", "Service", "web", "default")
    wait_for(lambda: arping(client, "eth0", address) is None, 15, message="the answers to stop")
    wait_for(lambda: not ctl(me, "list", "metallb.io/v1beta1", "ServiceL2Status", NS), 10)
    assert lbd.stop() == 0
