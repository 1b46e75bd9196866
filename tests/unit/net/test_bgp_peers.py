"""Peer settings from configuration: defaults, passwords from Secrets, router ID, ignored fields."""

from __future__ import annotations

import textwrap
from ipaddress import IPv4Address

import yaml

from bfd import Profile
from lbd.config import Config, parse_objects
from lbd.net.bgp_peers import peer_settings, router_id

BASE = """
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool, namespace: metallb-system}
spec: {addresses: [198.51.100.0/24]}
---
apiVersion: v1
kind: Secret
metadata: {name: bgp-secret, namespace: metallb-system}
type: kubernetes.io/basic-auth
stringData: {password: from-secret}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: fast, namespace: metallb-system}
spec: {receiveInterval: 100, transmitInterval: 100, detectMultiplier: 3}
"""


def config(peers: str) -> Config:
    docs = list(yaml.safe_load_all(textwrap.dedent(BASE) + "---\n" + textwrap.dedent(peers)))
    result = parse_objects(docs, "test.yaml")
    assert result.config is not None, result.errors
    return result.config


def no_route(peer: str, port: int) -> str | None:
    return None


def test_full_peer() -> None:
    cfg = config(
        """
        apiVersion: metallb.io/v1beta2
        kind: BGPPeer
        metadata: {name: r1, namespace: metallb-system}
        spec:
          myASN: 64512
          peerASN: 64513
          peerAddress: 192.0.2.1
          peerPort: 1179
          sourceAddress: 192.0.2.2
          holdTime: 9s
          connectTime: 2s
          passwordSecret: {name: bgp-secret, namespace: metallb-system}
          bfdProfile: fast
          ebgpMultiHop: true
          enableGracefulRestart: true
          vrf: red
        """
    )
    settings, problems = peer_settings(cfg, "node-a", ["r1"], no_route)
    s = settings["r1"]
    assert (s.address, s.port, s.my_asn, s.peer_asn, s.ibgp) == ("192.0.2.1", 1179, 64512, 64513, False)
    assert (s.hold_time, s.keepalive_time, s.connect_time) == (9.0, 3.0, 2.0)
    assert s.password == "from-secret"
    assert s.graceful_restart and s.ebgp_multihop
    assert s.bfd == Profile(receive_interval_ms=100, transmit_interval_ms=100, detect_multiplier=3)
    # The configured source address is the natural router ID when none is configured.
    assert s.router_id == IPv4Address("192.0.2.2")
    transport = s.transport()
    assert (transport.peer, transport.port, transport.source) == ("192.0.2.1", 1179, "192.0.2.2")
    assert (transport.ttl, transport.password) == (255, "from-secret")
    assert [p.message for p in problems] == ["vrf 'red' is ignored: the session runs in the default VRF"]


def test_defaults_direct_ebgp_and_ibgp() -> None:
    cfg = config(
        """
        apiVersion: metallb.io/v1beta1
        kind: BGPPeer
        metadata: {name: a, namespace: metallb-system}
        spec: {myASN: 64512, peerASN: 64513, peerAddress: 192.0.2.1, password: inline}
        ---
        apiVersion: metallb.io/v1beta1
        kind: BGPPeer
        metadata: {name: b, namespace: metallb-system}
        spec: {myASN: 64512, peerASN: 64512, peerAddress: "2001:DB8::1"}
        """
    )
    settings, problems = peer_settings(cfg, "node-a", ["a", "b"], lambda peer, port: "192.0.2.2")
    a, b = settings["a"], settings["b"]
    assert problems == []
    assert (a.hold_time, a.keepalive_time, a.connect_time, a.bfd) == (None, None, None, None)
    assert a.password == "inline" and a.transport().ttl == 1
    assert b.ibgp and b.transport().ttl is None and b.address == "2001:db8::1"
    assert a.router_id == b.router_id == IPv4Address("192.0.2.2")


def test_only_named_peers_and_unnumbered_refused() -> None:
    cfg = config(
        """
        apiVersion: metallb.io/v1beta2
        kind: BGPPeer
        metadata: {name: a, namespace: metallb-system}
        spec: {myASN: 64512, peerASN: 64513, peerAddress: 192.0.2.1}
        ---
        apiVersion: metallb.io/v1beta2
        kind: BGPPeer
        metadata: {name: unnumbered, namespace: metallb-system}
        spec: {myASN: 64512, peerASN: 64513, interface: eth1}
        """
    )
    settings, problems = peer_settings(cfg, "node-a", ["unnumbered"], no_route)
    assert settings == {}
    assert [p.peer for p in problems] == ["unnumbered"]


def test_router_id_configured_wins_and_fallback_is_stable() -> None:
    cfg = config(
        """
        apiVersion: metallb.io/v1beta1
        kind: BGPPeer
        metadata: {name: a, namespace: metallb-system}
        spec: {myASN: 64512, peerASN: 64513, peerAddress: 192.0.2.1, routerID: 203.0.113.9}
        """
    )
    assert router_id("n", cfg.peers.values(), no_route) == IPv4Address("203.0.113.9")
    v6 = config(
        """
        apiVersion: metallb.io/v1beta1
        kind: BGPPeer
        metadata: {name: a, namespace: metallb-system}
        spec: {myASN: 64512, peerASN: 64513, peerAddress: "2001:db8::1"}
        """
    )
    first = router_id("node-a", v6.peers.values(), no_route)
    assert (
        first
        == router_id("node-a", v6.peers.values(), no_route)
        != router_id("node-b", v6.peers.values(), no_route)
    )
    assert int(first) != 0
