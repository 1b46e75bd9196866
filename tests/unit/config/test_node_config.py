"""lbd.io/v1alpha1 NodeConfig: defaults, every field, and each rule passing and failing."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from lbd.config import LogLevel
from tests.unit.config.helpers import find, parse


def node_config(spec: str, name: str = "node-a") -> str:
    return (
        f"apiVersion: lbd.io/v1alpha1\nkind: NodeConfig\nmetadata: {{name: {name}}}\nspec: {{{spec}}}\n---\n"
    )


def test_defaults() -> None:
    result = parse(node_config(""))
    assert result.config is not None
    nc = result.config.node_config("node-a")
    assert nc is not None
    assert nc.node_name == "node-a"
    assert nc.interfaces == ()
    assert nc.control_socket == "/run/lbd/lbd.sock"
    assert str(nc.metrics_address) == "127.0.0.1:7472"
    assert nc.log_level is LogLevel.INFO
    assert nc.load_balancer_class is None
    assert nc.membership.bind_port == 7946
    assert nc.membership.heartbeat_interval == pytest.approx(0.05)
    assert nc.membership.failure_timeout == pytest.approx(0.15)
    assert nc.local_delivery.enabled is False
    assert nc.local_delivery.dummy_interface == "lbd0"


def test_every_field() -> None:
    result = parse(
        node_config(
            "nodeName: worker-1, interfaces: [eth0, eth1], controlSocket: /run/lbd/a.sock, "
            "metricsAddress: '[::1]:9000', logLevel: debug, loadBalancerClass: example.com/lbd, "
            "membership: {bindAddress: 192.0.2.1, bindPort: 7000, key: 0123456789abcdef, "
            "heartbeatInterval: 20ms, failureTimeout: 100ms, "
            "peers: [{name: worker-2, address: 192.0.2.2}, "
            "{name: worker-3, address: '2001:db8::3', port: 7001}]}, "
            "localDelivery: {enabled: true, dummyInterface: vip0}"
        )
    )
    assert result.errors == (), [str(e) for e in result.errors]
    assert result.config is not None
    nc = result.config.node_config("worker-1")
    assert nc is not None and nc.name == "node-a"
    assert nc.interfaces == ("eth0", "eth1")
    assert (nc.metrics_address.host, nc.metrics_address.port) == ("::1", 9000)
    assert str(nc.metrics_address) == "[::1]:9000"
    assert nc.log_level is LogLevel.DEBUG
    assert nc.load_balancer_class == "example.com/lbd"
    m = nc.membership
    assert (m.bind_address, m.bind_port, m.key) == (ip_address("192.0.2.1"), 7000, "0123456789abcdef")
    assert [(p.name, str(p.address), p.port) for p in m.peers] == [
        ("worker-2", "192.0.2.2", 7000),
        ("worker-3", "2001:db8::3", 7001),
    ]
    assert m.heartbeat_interval == pytest.approx(0.02)
    assert m.failure_timeout == pytest.approx(0.1)
    assert nc.local_delivery.enabled and nc.local_delivery.dummy_interface == "vip0"


KEY = "key: 0123456789abcdef"
PEER = "peers: [{name: b, address: 192.0.2.2}]"
B2 = "{name: b, address: 192.0.2.2}"

CASES = [
    (
        "metricsAddress host:port",
        "metricsAddress: ':9100'",
        "metricsAddress: localhost",
        "spec.metricsAddress",
        "host:port",
    ),
    (
        "metricsAddress port range",
        "metricsAddress: '0.0.0.0:65535'",
        "metricsAddress: '0.0.0.0:65536'",
        "spec.metricsAddress",
        "1..65535",
    ),
    (
        "logLevel values",
        "logLevel: none",
        "logLevel: verbose",
        "spec.logLevel",
        "all, debug, info, warn, error, none",
    ),
    (
        "controlSocket absolute",
        "controlSocket: /tmp/x.sock",
        "controlSocket: x.sock",
        "spec.controlSocket",
        "absolute path",
    ),
    (
        "interfaces are interface names",
        "interfaces: [eth0]",
        "interfaces: ['eth0/1']",
        "spec.interfaces[0]",
        "interface name",
    ),
    (
        "loadBalancerClass qualified name",
        "loadBalancerClass: lbd",
        "loadBalancerClass: 'a b'",
        "spec.loadBalancerClass",
        "class",
    ),
    (
        "membership key length",
        f"membership: {{{KEY}}}",
        "membership: {key: short}",
        "spec.membership.key",
        "at least 16 bytes",
    ),
    (
        "membership key xor keyFile",
        f"membership: {{{KEY}}}",
        f"membership: {{{KEY}, keyFile: /etc/k}}",
        "spec.membership.keyFile",
        "mutually exclusive",
    ),
    (
        "membership peers need a key",
        f"membership: {{keyFile: /etc/lbd/key, {PEER}}}",
        f"membership: {{{PEER}}}",
        "spec.membership.key",
        "required when there are peers",
    ),
    (
        "membership peer names unique",
        f"membership: {{{KEY}, peers: [{{name: b, address: 192.0.2.2}}, {{name: c, address: 192.0.2.3}}]}}",
        f"membership: {{{KEY}, peers: [{{name: b, address: 192.0.2.2}}, {{name: b, address: 192.0.2.3}}]}}",
        "spec.membership.peers[1].name",
        "duplicate member name",
    ),
    (
        "membership peer addresses unique",
        f"membership: {{{KEY}, peers: [{B2}, {{name: c, address: 192.0.2.2, port: 1}}]}}",
        f"membership: {{{KEY}, peers: [{{name: b, address: 192.0.2.2}}, {{name: c, address: 192.0.2.2}}]}}",
        "spec.membership.peers[1].address",
        "duplicate member address",
    ),
    (
        "membership peer is not this node",
        f"membership: {{{KEY}, {PEER}}}",
        f"membership: {{{KEY}, peers: [{{name: node-a, address: 192.0.2.2}}]}}",
        "spec.membership.peers[0].name",
        "is this node",
    ),
    (
        "membership peer address is an IP",
        f"membership: {{{KEY}, {PEER}}}",
        f"membership: {{{KEY}, peers: [{{name: b, address: node-b}}]}}",
        "spec.membership.peers[0].address",
        "not an IPv4 or IPv6",
    ),
    (
        "heartbeat 10ms..10s",
        "membership: {heartbeatInterval: 10ms}",
        "membership: {heartbeatInterval: 5ms}",
        "spec.membership.heartbeatInterval",
        "between 10ms and 10s",
    ),
    (
        "failureTimeout >= 2 heartbeats",
        "membership: {heartbeatInterval: 50ms, failureTimeout: 100ms}",
        "membership: {heartbeatInterval: 50ms, failureTimeout: 99ms}",
        "spec.membership.failureTimeout",
        "at least twice",
    ),
    (
        "durations are Go durations",
        "membership: {failureTimeout: 1s}",
        "membership: {failureTimeout: 1 second}",
        "spec.membership.failureTimeout",
        "invalid duration",
    ),
    (
        "dummy interface name",
        "localDelivery: {enabled: true, dummyInterface: vip0}",
        "localDelivery: {dummyInterface: 'a:b'}",
        "spec.localDelivery.dummyInterface",
        "interface name",
    ),
    (
        "dummy interface is not an L2 interface",
        "interfaces: [eth0], localDelivery: {dummyInterface: vip0}",
        "interfaces: [eth0], localDelivery: {dummyInterface: eth0}",
        "spec.localDelivery.dummyInterface",
        "also listed",
    ),
    ("unknown fields", "logLevel: info", "loglevel: info", "spec.loglevel", "unknown field"),
]


@pytest.mark.parametrize(
    ("good", "bad", "field", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_node_config_rule(good: str, bad: str, field: str, fragment: str) -> None:
    ok = parse(node_config(good))
    assert ok.errors == (), [str(e) for e in ok.errors]
    failed = parse(node_config(bad))
    assert failed.config is None
    assert find(failed.errors, field, fragment) is not None, [str(e) for e in failed.errors]


def test_node_names_unique_across_node_configs() -> None:
    good = parse(node_config("", "a") + node_config("", "b"))
    assert good.config is not None and sorted(good.config.node_configs) == ["a", "b"]
    bad = parse(node_config("", "a") + node_config("nodeName: a", "b"))
    assert find(bad.errors, "spec.nodeName", "already has NodeConfig") is not None
