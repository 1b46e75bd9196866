"""The daemon's metric samples and config description, from a DaemonCore without any I/O."""

from __future__ import annotations

from typing import Any

from lbd.daemon.core import DaemonCore
from lbd.daemon.views import Status, describe, samples
from tests.unit.daemon.helpers import NODE, l2, parsed, pool, service


def values(core: DaemonCore) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status = Status(NODE, ("cfg",), 0.0, updates=3, update_errors=1)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for s in samples(core, status)}


def bgp_docs() -> list[dict[str, Any]]:
    spec = {"myASN": 64500, "peerASN": 64501, "peerAddress": "192.0.2.1", "passwordSecret": {"name": "md5"}}
    peer = {
        "apiVersion": "metallb.io/v1beta2",
        "kind": "BGPPeer",
        "metadata": {"name": "r1", "namespace": "metallb-system"},
        "spec": spec,
    }
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "md5", "namespace": "metallb-system"},
        "type": "kubernetes.io/basic-auth",
        "stringData": {"password": "very-secret"},
    }
    adv = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "BGPAdvertisement",
        "metadata": {"name": "bgp", "namespace": "metallb-system"},
        "spec": {"ipAddressPools": ["routed"]},
    }
    return [peer, secret, adv]


def test_allocator_and_announcement_samples() -> None:
    buggy = pool("edge", "192.0.2.254-192.0.3.1")
    buggy["spec"]["avoidBuggyIPs"] = True
    core = DaemonCore(NODE, lambda: 0.0)
    docs = [pool(), buggy, pool("routed", "203.0.113.0/30"), l2(), *bgp_docs()]
    docs += [service("a", ip="192.0.2.200"), service("b", ip="203.0.113.1")]
    assert core.offer(parsed(*docs)) == ()
    core.compute({})
    got = values(core)
    assert got[("metallb_allocator_addresses_total", (("pool", "vips"),))] == 11
    # .254, .255, .0, .1 minus the two that end in .255 and .0
    assert got[("metallb_allocator_addresses_total", (("pool", "edge"),))] == 2
    assert got[("metallb_allocator_addresses_in_use_total", (("pool", "vips"),))] == 1
    assert got[("metallb_allocator_addresses_in_use_total", (("pool", "routed"),))] == 1
    layer2 = (("ip", "192.0.2.200"), ("node", NODE), ("protocol", "layer2"), ("service", "default/a"))
    assert got[("metallb_speaker_announced", layer2)] == 1
    bgp = (("ip", "203.0.113.1"), ("node", NODE), ("protocol", "bgp"), ("service", "default/b"))
    assert got[("metallb_speaker_announced", bgp)] == 1
    assert got[("metallb_k8s_client_config_stale_bool", ())] == 0
    assert got[("metallb_k8s_client_config_loaded_bool", ())] == 1
    assert got[("metallb_k8s_client_updates_total", ())] == 3


def test_describe_shows_no_secret() -> None:
    core = DaemonCore(NODE, lambda: 0.0)
    assert core.offer(parsed(pool("routed", "203.0.113.0/30"), *bgp_docs())) == ()
    assert core.config is not None
    doc = describe(core.config)
    assert doc["BGPPeer"]["r1"]["md5"] is True
    assert "very-secret" not in repr(doc)


def test_nothing_loaded_yet() -> None:
    got = values(DaemonCore(NODE, lambda: 0.0))
    assert got[("metallb_k8s_client_config_loaded_bool", ())] == 0
    assert not any(name == "metallb_allocator_addresses_total" for name, _ in got)
