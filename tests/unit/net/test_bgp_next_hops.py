"""NodeConfig spec.bgp.nextHops: parsing and errors, per-peer over node-wide resolution, the engine
configuration it gives, the warning for a next hop this node does not hold, and the `bgp neighbor` view."""

from __future__ import annotations

import textwrap
import time
from dataclasses import replace
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest
import yaml
from structlog.testing import capture_logs

from bgp.families import IPV4_UNICAST, IPV6_UNICAST
from lbd.config import parse_objects
from lbd.config.model import NextHopSetting, NodeBgp
from lbd.daemon.core import DaemonCore
from lbd.metrics import Metrics
from lbd.net.bgp_announcer import BgpAnnouncer
from lbd.net.bgp_peers import peer_settings
from lbd.net.bgp_session_config import (
    IFA_F_DADFAILED,
    RT_SCOPE_LINK,
    RT_SCOPE_UNIVERSE,
    AddressEntry,
    NextHops,
    build_session_config,
    foreign_next_hops,
    interface_hops,
    session_config,
)
from tests.unit.net.test_bgp_announcer import DOCS
from tests.unit.net.test_bgp_node_settings import node_doc, parse
from tests.unit.net.test_bgp_speaker import A, B, settings

V4 = IPv4Address("192.0.2.10")
V6 = IPv6Address("2001:db8::10")
SECOND_PEER = """
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: c, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64514, peerAddress: 127.0.0.3, ebgpMultiHop: true}
"""


def test_every_field_and_per_peer_over_node_wide_resolution() -> None:
    text = (
        "{nextHops: [{ipv4: 192.0.2.10, ipv6: '2001:db8::10'},"
        " {peer: b, ipv6: '2001:db8::b'}, {peer: c, ipv4: 192.0.2.12}]}"
    )
    result = parse(node_doc(text))
    assert result.errors == (), [str(e) for e in result.errors]
    assert result.config is not None
    nc = result.config.node_config("node-a")
    assert nc is not None
    assert nc.bgp.next_hops == (
        NextHopSetting(None, V4, V6),
        NextHopSetting("b", None, IPv6Address("2001:db8::b")),
        NextHopSetting("c", IPv4Address("192.0.2.12"), None),
    )
    # A peer's own entry wins for the families it sets; the node-wide entry fills the others.
    assert nc.bgp.next_hops_for("b") == (V4, IPv6Address("2001:db8::b"))
    assert nc.bgp.next_hops_for("c") == (IPv4Address("192.0.2.12"), V6)
    assert nc.bgp.next_hops_for("other") == (V4, V6)
    assert NodeBgp().next_hops_for("b") == (None, None)


@pytest.mark.parametrize(
    ("entry", "field", "fragment"),
    [
        ("{ipv4: '2001:db8::1'}", "spec.bgp.nextHops[0].ipv4", "not an IPv4 address"),
        ("{ipv6: 192.0.2.1}", "spec.bgp.nextHops[0].ipv6", "not an IPv6 address"),
        ("{ipv4: 192.0.2.300}", "spec.bgp.nextHops[0].ipv4", "192.0.2.300"),
        ("{ipv4: 0.0.0.0}", "spec.bgp.nextHops[0].ipv4", "unspecified"),
        ("{ipv6: '::'}", "spec.bgp.nextHops[0].ipv6", "unspecified"),
        ("{ipv4: 127.0.0.1}", "spec.bgp.nextHops[0].ipv4", "loopback"),
        ("{ipv6: '::1'}", "spec.bgp.nextHops[0].ipv6", "loopback"),
        ("{ipv4: 224.0.0.5}", "spec.bgp.nextHops[0].ipv4", "multicast"),
        ("{ipv6: 'ff02::1'}", "spec.bgp.nextHops[0].ipv6", "multicast"),
        ("{ipv4: 255.255.255.255}", "spec.bgp.nextHops[0].ipv4", "reserved"),
        ("{ipv6: '::ffff:192.0.2.1'}", "spec.bgp.nextHops[0].ipv6", "IPv4-mapped"),
        ("{ipv6: 'fe80::1'}", "spec.bgp.nextHops[0].ipv6", "link-local"),
        ("{ipv6: 'fe80::1%eth0'}", "spec.bgp.nextHops[0].ipv6", "zone"),
        ("{peer: b}", "spec.bgp.nextHops[0]", "needs ipv4, ipv6 or both"),
        ("{peer: b, ipv4: 192.0.2.1, nextHop: 192.0.2.1}", "spec.bgp.nextHops[0].nextHop", "unknown field"),
        ("{ipv4: 192.0.2.1}, {ipv6: '2001:db8::1'}", "spec.bgp.nextHops[1].peer", "every peer"),
        ("{peer: b, ipv4: 192.0.2.1}, {peer: b, ipv6: '2001:db8::1'}", "spec.bgp.nextHops[1].peer", "'b'"),
        ("{peer: 7, ipv4: 192.0.2.1}", "spec.bgp.nextHops[0].peer", "string"),
    ],
)
def test_errors_name_object_and_field(entry: str, field: str, fragment: str) -> None:
    result = parse(node_doc(f"{{nextHops: [{entry}]}}"))
    assert result.config is None
    messages = [str(e) for e in result.errors]
    assert any(m.startswith("NodeConfig node-a ") and field in m and fragment in m for m in messages), (
        messages
    )


def test_peer_settings_carry_the_resolved_next_hops_and_report_unknown_peers() -> None:
    text = (
        "{nextHops: [{ipv6: '2001:db8::10'}, {peer: b, ipv4: 192.0.2.10}, {peer: nobody, ipv4: 192.0.2.9}]}"
    )
    docs = textwrap.dedent(DOCS) + SECOND_PEER + node_doc(text)
    result = parse_objects(list(yaml.safe_load_all(docs)), "test.yaml")
    assert result.config is not None, [str(e) for e in result.errors]
    found, problems = peer_settings(result.config, "node-a", ["b", "c"], source=lambda _a, _p: "192.0.2.9")
    assert (found["b"].next_hop_v4, found["b"].next_hop_v6) == (V4, V6)
    assert (found["c"].next_hop_v4, found["c"].next_hop_v6) == (None, V6)
    assert [(p.peer, p.message) for p in problems] == [
        ("nobody", "NodeConfig spec.bgp.nextHops names no such BGPPeer")
    ]


def test_configured_next_hops_override_the_interface_ones_but_not_the_link_local_one() -> None:
    hops = NextHops(IPv4Address("192.0.2.2"), IPv6Address("2001:db8::2"), IPv6Address("fe80::2"))
    s = settings("b", B, 179, ebgp_multihop=False, dual_stack=True, next_hop_v6=V6)
    config = session_config(s, False, hops)
    assert (config.next_hop_v4_override, config.next_hop_v6_override) == (None, V6)
    # The looked-up ones stay as they were (the view shows both); the engine prefers the override.
    assert (config.next_hop_v4, config.next_hop_v6, config.next_hop_v6_link_local) == hops_tuple(hops)
    assert session_config(replace(s, next_hop_v4=V4), False, hops).next_hop_v4_override == V4


def hops_tuple(h: NextHops) -> tuple[object, object, object]:
    return h.v4, h.v6, h.v6_link_local


ETH = [
    AddressEntry(2, RT_SCOPE_UNIVERSE, 0, ip_address("192.0.2.1")),
    # rtnetlink lists IPv6 addresses newest first: ::10 was added after ::1.
    AddressEntry(2, RT_SCOPE_UNIVERSE, 0, ip_address("2001:db8::10")),
    AddressEntry(2, RT_SCOPE_UNIVERSE, 0, ip_address("2001:db8::1")),
    AddressEntry(2, RT_SCOPE_LINK, 0, ip_address("fe80::1")),
    AddressEntry(3, RT_SCOPE_UNIVERSE, 0, ip_address("192.0.2.10")),
    AddressEntry(3, RT_SCOPE_UNIVERSE, IFA_F_DADFAILED, ip_address("2001:db8::bad")),
]


def test_interface_hops_and_next_hops_this_node_does_not_hold() -> None:
    # The oldest global IPv6 address: one added later does not move the next hop.
    assert interface_hops(ETH, "192.0.2.1") == NextHops(
        IPv4Address("192.0.2.1"), IPv6Address("2001:db8::1"), IPv6Address("fe80::1")
    )
    assert interface_hops(ETH, "192.0.2.10") == NextHops(IPv4Address("192.0.2.10"), None, None)
    assert interface_hops(ETH, "192.0.2.99") == NextHops()
    s = settings("b", B, 179, dual_stack=True)
    # On another interface of this node: fine (a loopback-held service address, for instance).
    held = session_config(replace(s, next_hop_v4=V4, next_hop_v6=V6), False)
    assert held.families == {IPV4_UNICAST, IPV6_UNICAST}
    assert foreign_next_hops(held, ETH) == ()
    # Not an address of this node, or one whose duplicate address detection failed: a warning each.
    foreign = session_config(
        replace(s, next_hop_v4=IPv4Address("192.0.2.99"), next_hop_v6=IPv6Address("2001:db8::bad")), False
    )
    assert foreign_next_hops(foreign, ETH) == (
        "configured next hop 192.0.2.99 is not an address of this node",
        "configured next hop 2001:db8::bad is not an address of this node",
    )
    # A family the session does not carry is not checked: its next hop is never sent.
    v4_only = replace(foreign, families=frozenset({IPV4_UNICAST}))
    assert foreign_next_hops(v4_only, ETH) == (
        "configured next hop 192.0.2.99 is not an address of this node",
    )


async def test_build_session_config_checks_configured_next_hops_against_this_node() -> None:
    # An IPv4-only session with a configured next hop looks up the node's addresses (loopback here).
    s = settings("b", B, 179, next_hop_v4=IPv4Address("192.0.2.254"))
    setup = await build_session_config(s, False)
    assert setup.config.next_hop_v4_override == IPv4Address("192.0.2.254")
    assert setup.warnings == ("configured next hop 192.0.2.254 is not an address of this node",)
    # 127.0.0.1 is held by lo (config validation refuses loopback; the check itself does not care).
    ok = await build_session_config(replace(s, next_hop_v4=IPv4Address(A)), False)
    assert ok.warnings == ()


async def test_neighbor_view_shows_next_hops_and_the_warning() -> None:
    text = "{nextHops: [{peer: b, ipv4: 192.0.2.77}]}"
    core = DaemonCore("node-a", time.time)
    assert core.offer(parse(node_doc(text))) == ()
    desired = core.compute({})
    assert desired is not None and core.config is not None
    announcer = BgpAnnouncer(node="node-a", metrics=Metrics(process_metrics=False), listen_port=None)
    try:
        with capture_logs() as logs:
            await announcer.apply(core.config, desired)
        warning = "configured next hop 192.0.2.77 is not an address of this node"
        assert [(e["peer"], e["reason"]) for e in logs if e["event"] == "bgpSessionConfigWarning"] == [
            ("b", warning)
        ]
        doc = announcer.views()["bgp neighbor"]({"peer": "b"})
        assert doc["next_hops"] == {
            # Not Established (nothing listens at 127.0.0.2:1): no route carries a next hop yet.
            "ipv4": None,
            "ipv6": [],
            "configured_ipv4": "192.0.2.77",
            "configured_ipv6": None,
            # The session's own address on lo, which the configured one replaces.
            "interface_ipv4": "127.0.0.1",
            "interface_ipv6": None,
            "link_local_ipv6": None,
            "warnings": [warning],
        }
    finally:
        await announcer.close()


async def test_a_changed_next_hop_replaces_the_session_and_others_stay() -> None:
    core = DaemonCore("node-a", time.time)
    docs = textwrap.dedent(DOCS) + SECOND_PEER
    assert core.offer(parse_objects(list(yaml.safe_load_all(docs + node_doc("{}"))), "t.yaml")) == ()
    desired = core.compute({})
    assert desired is not None and core.config is not None
    announcer = BgpAnnouncer(node="node-a", metrics=Metrics(process_metrics=False), listen_port=None)
    try:
        await announcer.apply(core.config, desired)
        before = dict(announcer.speaker.drivers)
        # Cease "Other Configuration Change" to b (RFC 4486) and a new session; c is not touched.
        text = "{nextHops: [{peer: b, ipv4: 192.0.2.77}]}"
        assert core.offer(parse_objects(list(yaml.safe_load_all(docs + node_doc(text))), "t.yaml")) == ()
        changed = core.compute({})
        assert changed is not None and core.config is not None
        await announcer.apply(core.config, changed)
        after = announcer.speaker.drivers
        assert after["b"] is not before["b"] and after["c"] is before["c"]
        assert after["b"].session.config.next_hop_v4_override == IPv4Address("192.0.2.77")
    finally:
        await announcer.close()


def test_an_entry_for_a_peer_that_does_not_exist_is_a_validation_warning() -> None:
    result = parse(node_doc("{nextHops: [{peer: b, ipv4: 192.0.2.11}, {peer: nope, ipv4: 192.0.2.12}]}"))
    assert result.errors == () and result.config is not None
    assert [(w.kind, w.field) for w in result.warnings] == [("NodeConfig", "spec.bgp.nextHops[1].peer")]
    assert "'nope' does not exist" in result.warnings[0].message
