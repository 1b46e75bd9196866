"""PeerSettings -> the engine's SessionConfig: families, timers, graceful restart, next hops."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address, IPv6Address

from bgp.families import IPV4_UNICAST, IPV6_UNICAST
from lbd.net.bgp_session_config import (
    NextHops,
    SessionSetup,
    build_session_config,
    interface_next_hops,
    needs_interface_hops,
    session_config,
)
from tests.unit.net.test_bgp_speaker import A, B, settings

HOPS = NextHops(IPv4Address("192.0.2.2"), IPv6Address("2001:db8::2"), IPv6Address("fe80::2"))


def test_families_follow_the_peer_address_unless_dual_stack() -> None:
    v4 = settings("b", B, 179)
    assert session_config(v4, False).families == {IPV4_UNICAST}
    v6 = replace(v4, address="2001:db8::1")
    assert session_config(v6, False).families == {IPV6_UNICAST}
    dual = replace(v4, dual_stack=True)
    assert session_config(dual, False).families == {IPV4_UNICAST, IPV6_UNICAST}
    assert session_config(replace(dual, disable_mp=True), False).families == {IPV4_UNICAST}


def test_timers_and_graceful_restart() -> None:
    s = settings("b", B, 179, hold_time=9.0, keepalive_time=3.0, connect_time=2.0, graceful_restart=True)
    config = session_config(s, True)
    assert (config.hold_time, config.keepalive_time) == (9, 3.0)
    # connectTime is MetalLB's interval between attempts: fixed, no backoff beyond it.
    assert (config.connect_retry, config.connect_retry_max) == (2.0, 2.0)
    assert config.graceful_restart.enabled and config.graceful_restart.restarting
    defaults = session_config(replace(s, hold_time=None, keepalive_time=None, connect_time=None), False)
    assert defaults.hold_time == 90 and defaults.keepalive_time is None
    assert not defaults.graceful_restart.restarting


def test_next_hops_and_multihop() -> None:
    s = settings("b", B, 179, ebgp_multihop=False)
    config = session_config(s, False, HOPS)
    assert (config.next_hop_v4, config.next_hop_v6, config.next_hop_v6_link_local) == (
        HOPS.v4,
        HOPS.v6,
        HOPS.v6_link_local,
    )
    # RFC 2545 §3: a link-local next hop only means something on a shared link.
    multihop = session_config(replace(s, ebgp_multihop=True), False, HOPS)
    assert multihop.next_hop_v6_link_local is None and multihop.multihop
    assert session_config(replace(s, dynamic_asn="internal", peer_asn=0), False).dynamic_asn == "internal"


async def test_interface_next_hops_of_loopback() -> None:
    hops = await interface_next_hops(A)
    # lo has 127.0.0.1 and ::1 (host scope, never a next hop) and no link-local address.
    assert hops == NextHops(IPv4Address(A), None, None)
    assert await interface_next_hops("192.0.2.254") == NextHops()


async def test_interface_addresses_are_looked_up_only_when_the_session_needs_them() -> None:
    v4 = settings("b", B, 179)
    # An IPv4-only session's next hop is its own address: no rtnetlink lookup.
    assert not needs_interface_hops(v4) and not needs_interface_hops(
        replace(v4, dual_stack=True, disable_mp=True)
    )
    assert await build_session_config(v4, False) == SessionSetup(session_config(v4, False))
    # The other family's next hop, and the IPv6 link-local one (RFC 2545 §3), come from the interface.
    assert needs_interface_hops(replace(v4, dual_stack=True))
    assert needs_interface_hops(replace(v4, address="2001:db8::1", source_address=None))
    dual = replace(v4, dual_stack=True)
    assert (await build_session_config(dual, False)).config.next_hop_v4 == IPv4Address(A)
