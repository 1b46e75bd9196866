"""Two of our sessions talking through in-memory transfers on a fake clock; exact timer values."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

import pytest

from bgp import (
    BgpError,
    CloseConnection,
    ConnectRequested,
    Established,
    GracefulRestart,
    GracefulRestartConfig,
    Handling,
    Keepalive,
    Notification,
    NotificationReceived,
    NotificationSent,
    Open,
    PeerRestarting,
    PeerRoutesReceived,
    Route,
    RouteRefresh,
    RouteRefreshRequested,
    RoutesNotSent,
    Session,
    State,
    StateChanged,
    Update,
    encode,
)
from bgp.attributes import AsPath, AsPathSegment, LocalPref, MpReach, MpUnreach, NextHop
from bgp.capabilities import FourOctetAs, Multiprotocol, RouteRefreshCap
from bgp.codec import UpdateResult, frame
from bgp.session import parse_address
from tests.unit.bgp.helpers import A_ADDR, B_ADDR, Pair, config, decode_all, drain

P1 = ip_network("198.51.100.1/32")
P2 = ip_network("198.51.100.2/32")
P6 = ip_network("2001:db8:5::/64")


def pair(a_kw: dict[str, object] | None = None, b_kw: dict[str, object] | None = None) -> Pair:
    a = Session(config(64512, 64513, "192.0.2.1", **(a_kw or {})))
    b = Session(config(64513, 64512, "192.0.2.2", passive=True, **(b_kw or {})))
    return Pair(a, b)


def established(a_kw: dict[str, object] | None = None, b_kw: dict[str, object] | None = None) -> Pair:
    p = pair(a_kw, b_kw)
    p.a.start(0.0)
    p.b.start(0.0)
    p.connect()
    p.transfer()
    assert p.a.state == p.b.state == State.ESTABLISHED
    p.events_a.clear()
    p.events_b.clear()
    return p


def sent_notifications(events: list[object]) -> list[Notification]:
    return [e.notification for e in events if isinstance(e, NotificationSent)]


def received_updates(events: list[object]) -> list[UpdateResult]:
    return [e.result for e in events if isinstance(e, PeerRoutesReceived) and e.end_of_rib is None]


def test_full_handshake_states_and_events() -> None:
    p = pair()
    p.a.start(0.0)
    p.b.start(0.0)
    p.collect()
    assert p.events_a == [ConnectRequested(0.0, 30.0), StateChanged(State.IDLE, State.CONNECT, "started")]
    assert p.b.state == State.ACTIVE
    assert p.b.get_timer() is None  # passive: listens, never dials
    p.connect()
    assert p.a.state == State.OPEN_SENT
    assert p.a.get_timer() == 240.0  # RFC 4271 §8.2.2: large hold timer in OpenSent
    p.transfer()
    states = [(e.old, e.new) for e in p.events_a if isinstance(e, StateChanged)]
    assert states[-3:] == [
        (State.CONNECT, State.OPEN_SENT),
        (State.OPEN_SENT, State.OPEN_CONFIRM),
        (State.OPEN_CONFIRM, State.ESTABLISHED),
    ]
    est = next(e for e in p.events_a if isinstance(e, Established))
    assert est.hold_time == 90.0
    assert est.keepalive_time == 30.0
    assert est.negotiated.four_octet_as and est.negotiated.route_refresh
    assert est.negotiated.families == {(1, 1), (2, 1)}
    # RFC 4724 §2: End-of-RIB for both families after the (empty) initial update.
    eors = [e.end_of_rib for e in p.events_b if isinstance(e, PeerRoutesReceived)]
    assert sorted(eors) == [(1, 1), (2, 1)]
    assert p.a.get_timer() == 30.0
    c = p.a.counters
    assert (c.opens_sent, c.opens_received, c.keepalives_sent, c.keepalives_received) == (1, 1, 1, 1)
    assert c.updates_sent == 2


def test_keepalives_at_a_third_of_the_negotiated_hold_time() -> None:
    # Peer offers 9 s: negotiated hold = min(90, 9) = 9, keepalive = 3 (RFC 4271 §4.2, §10).
    p = established(b_kw={"hold_time": 9})
    for t in (3.0, 6.0, 9.0):
        assert p.a.get_timer() == t
        p.tick(t)
        out = p.a.data_to_send()
        assert list(decode_all([d for _, d in out])) == [Keepalive()]
        for cid, data in out:
            p.b.data_received(t, cid, data)
        for cid, data in p.b.data_to_send():
            p.a.data_received(t, cid, data)
    assert p.a.state == State.ESTABLISHED


def test_hold_timer_expiry_sends_4_0_at_the_exact_time_and_restarts_after_backoff() -> None:
    p = established(a_kw={"hold_time": 9}, b_kw={"hold_time": 9})
    # Only a's keepalives are delivered to b; b's never reach a.
    for t in (3.0, 6.0):
        p.tick(t)
        p.a.data_to_send()
    p.tick(8.999)
    assert p.a.state == State.ESTABLISHED
    p.tick(9.0)
    assert sent_notifications(p.events_a) == [Notification(4, 0)]
    assert CloseConnection(1, "hold timer expired") in p.events_a
    assert p.a.state == State.IDLE
    assert p.a.get_timer() == 11.0  # first failure: connect_retry (2 s) before the automatic restart
    p.tick(11.0)
    assert ConnectRequested(11.0, 30.0) in p.events_a
    assert p.a.state == State.CONNECT


def test_open_sent_hold_timer_four_minutes() -> None:
    p = pair()
    p.a.start(0.0)
    p.a.connection_made(0.0, 1, A_ADDR, B_ADDR, outbound=True)
    p.tick(239.9)
    assert p.a.state == State.OPEN_SENT
    p.tick(240.0)
    assert sent_notifications(p.events_a) == [Notification(4, 0)]


def test_connect_retry_backoff_doubles_and_caps() -> None:
    s = Session(config(connect_retry=2.0, connect_retry_max=10.0, connect_time=5.0))
    s.start(0.0)
    drain(s)
    now = 0.0
    delays = []
    for _ in range(5):
        s.connect_failed(now)
        assert s.state == State.ACTIVE
        deadline = s.get_timer()
        assert deadline is not None
        delays.append(deadline - now)
        now = deadline
        s.handle_timer(now)
        assert s.state == State.CONNECT
        assert isinstance(drain(s)[-2], ConnectRequested)
    assert delays == [2.0, 4.0, 8.0, 10.0, 10.0]
    # A dial that never completes times out after connect_time and counts as a failure too.
    assert s.get_timer() == now + 5.0
    s.handle_timer(now + 5.0)
    assert s.state == State.ACTIVE
    assert s.get_timer() == now + 5.0 + 10.0


def crossed_dials(a_id: str, b_id: str) -> Pair:
    """a (AS 64512) and b (AS 64513) dial each other at once: connection 1 is a's, 2 is b's."""
    a = Session(config(64512, 64513, a_id))
    b = Session(config(64513, 64512, b_id))
    p = Pair(a, b)
    a.start(0.0)
    b.start(0.0)
    a.connection_made(0.0, 1, A_ADDR, B_ADDR, outbound=True)
    b.connection_made(0.0, 1, B_ADDR, A_ADDR, outbound=False)
    b.connection_made(0.0, 2, B_ADDR, A_ADDR, outbound=True)
    a.connection_made(0.0, 2, A_ADDR, B_ADDR, outbound=False)
    p.transfer()
    return p


def test_connection_collision_keeps_the_connection_of_the_higher_bgp_identifier() -> None:
    # RFC 4271 §6.8: a (192.0.2.1) < b (192.0.2.2): the connection a initiated (1) is closed by both.
    p = crossed_dials("192.0.2.1", "192.0.2.2")
    a, b = p.a, p.b
    assert a.state == b.state == State.ESTABLISHED
    for evs in (p.events_a, p.events_b):
        est = [e for e in evs if isinstance(e, Established)]
        assert [e.conn_id for e in est] == [2]
        assert [e.conn_id for e in evs if isinstance(e, CloseConnection)] == [1]
    collision = Notification(6, 7)
    assert collision in sent_notifications(p.events_a) + sent_notifications(p.events_b)


def test_peer_closing_our_only_connection_for_a_collision_waits_for_our_dial() -> None:
    # Both sides dial at once and the peer (FRR does this) resolves the collision before our dial is
    # reported: it keeps the connection we initiated (our identifier is higher) and sends Cease 7 on
    # the one it initiated, the only one we know of yet. The session must carry on in our dial.
    a = Session(config(64512, 64513, "192.0.2.9", connect_time=5.0))
    b = Session(config(64513, 64512, "192.0.2.2"))
    a.start(0.0)
    b.start(0.0)
    drain(a)
    b.connection_made(0.0, 1, B_ADDR, A_ADDR, outbound=True)
    a.connection_made(0.0, 1, A_ADDR, B_ADDR, outbound=False)
    for conn_id, data in b.data_to_send():
        a.data_received(0.1, conn_id, data)
    assert a.state == State.OPEN_CONFIRM
    a.data_received(0.2, 1, encode(Notification(6, 7)))
    events = drain(a)
    assert CloseConnection(1, "NOTIFICATION 6/7") in events
    assert a.state == State.CONNECT
    assert a.get_timer() == 0.2 + 5.0  # ConnectRetry, not the idle hold of a failed session
    # Our dial completes: the session is established over it at once.
    a.connection_made(0.3, 2, A_ADDR, B_ADDR, outbound=True)
    b.connection_made(0.3, 2, B_ADDR, A_ADDR, outbound=False)
    for _ in range(5):
        for src, dst in ((a, b), (b, a)):
            for conn_id, data in src.data_to_send():
                if conn_id == 2:
                    dst.data_received(0.4, conn_id, data)
    assert a.state == State.ESTABLISHED
    assert [e.conn_id for e in drain(a) if isinstance(e, Established)] == [2]


def test_a_collision_cease_when_established_is_a_failure_like_any_notification() -> None:
    p = established()
    p.b.data_received(1.0, 1, encode(Notification(6, 7)))
    assert p.b.state == State.IDLE


def test_collision_with_equal_identifiers_keeps_the_larger_as_connection() -> None:
    # RFC 6286 §2.3: a (AS 64512) and b (AS 64513) share 192.0.2.9: b's connection (2) survives.
    p = crossed_dials("192.0.2.9", "192.0.2.9")
    assert p.a.state == p.b.state == State.ESTABLISHED
    for evs in (p.events_a, p.events_b):
        assert [e.conn_id for e in evs if isinstance(e, Established)] == [2]


def test_third_connection_and_inbound_when_not_accepted_are_refused() -> None:
    s = Session(config(accept_inbound=False))
    s.start(0.0)
    s.connection_made(0.0, 7, A_ADDR, B_ADDR, outbound=False)
    assert CloseConnection(7, "inbound connections not accepted") in drain(s)
    # Also during the idle hold, whose automatic restart stays armed.
    s.connection_made(0.0, 1, A_ADDR, B_ADDR, outbound=True)
    s.data_received(1.0, 1, encode(Notification(6, 2)))
    assert s.state == State.IDLE and s.get_timer() == 3.0
    drain(s)
    s.connection_made(2.0, 8, A_ADDR, B_ADDR, outbound=False)
    assert drain(s) == [CloseConnection(8, "inbound connections not accepted")]
    assert s.state == State.IDLE and s.get_timer() == 3.0
    s2 = Session(config())
    s2.start(0.0)
    for cid in (1, 2, 3):
        s2.connection_made(0.0, cid, A_ADDR, B_ADDR, outbound=cid == 1)
    assert [e.conn_id for e in drain(s2) if isinstance(e, CloseConnection)] == [3]


def test_idle_session_refuses_connections() -> None:
    s = Session(config())
    s.connection_made(0.0, 1, A_ADDR, B_ADDR, outbound=False)
    assert [e for e in drain(s) if isinstance(e, CloseConnection)] == [CloseConnection(1, "inbound")]
    assert s.data_to_send() == []


def raw_open(p: Pair, msg: Open) -> list[Notification]:
    """Feed `msg` to a fresh session a on connection 1; the NOTIFICATIONs it sent."""
    p.a.start(0.0)
    p.a.connection_made(0.0, 1, A_ADDR, B_ADDR, outbound=True)
    p.a.data_to_send()
    p.a.data_received(0.0, 1, encode(msg))
    return [m for m in decode_all([d for _, d in p.a.data_to_send()]) if isinstance(m, Notification)]


CAPS = (Multiprotocol(1, 1), RouteRefreshCap(), FourOctetAs(64513))


def test_open_validation_errors() -> None:
    rid = IPv4Address("192.0.2.2")
    # RFC 4271 §6.2: wrong AS -> 2/2; hold time 1 or 2 -> 2/6; RFC 6286 §2.2: zero identifier -> 2/3.
    assert raw_open(pair(), Open(64513, 90, rid, (FourOctetAs(64999),))) == [Notification(2, 2)]
    assert raw_open(pair(), Open(64999, 90, rid, ())) == [Notification(2, 2)]
    assert raw_open(pair(), Open(64513, 2, rid, CAPS)) == [Notification(2, 6)]
    assert raw_open(pair(), Open(64513, 90, IPv4Address(0), CAPS)) == [Notification(2, 3)]
    # Our own identifier from an internal peer -> 2/3.
    ibgp = Pair(Session(config(64512, 64512, "192.0.2.1")), Session(config(64512, 64512, "192.0.2.2")))
    assert raw_open(ibgp, Open(64512, 90, IPv4Address("192.0.2.1"), ())) == [Notification(2, 3)]
    # RFC 5492 §5: no common address family -> 2/7 naming what we need.
    v6only = pair(a_kw={"families": frozenset({(2, 1)})})
    note = raw_open(v6only, Open(64513, 90, rid, (Multiprotocol(1, 1),)))
    assert note == [Notification(2, 7, bytes.fromhex("010400020001"))]
    # A peer without any multiprotocol capability speaks IPv4 unicast (RFC 4760 §8).
    ok = pair()
    assert raw_open(ok, Open(64513, 90, rid, ())) == []
    assert ok.a.state == State.OPEN_CONFIRM


def test_dynamic_asn_internal_and_external() -> None:
    rid = IPv4Address("192.0.2.2")
    internal = Pair(Session(config(64512, 0, dynamic_asn="internal")), Session(config()))
    assert raw_open(internal, Open(64512, 90, rid, ())) == []
    external = Pair(Session(config(64512, 0, dynamic_asn="external")), Session(config()))
    assert raw_open(external, Open(64512, 90, rid, ())) == [Notification(2, 2)]


def test_unexpected_messages_are_fsm_errors_with_the_state_subcode() -> None:
    # RFC 6608: KEEPALIVE in OpenSent -> 5/1.
    p = pair()
    p.a.start(0.0)
    p.a.connection_made(0.0, 1, A_ADDR, B_ADDR, outbound=True)
    p.a.data_received(0.0, 1, encode(Keepalive()))
    p.collect()
    assert sent_notifications(p.events_a) == [Notification(5, 1)]
    assert p.a.state == State.IDLE
    # UPDATE in OpenConfirm -> 5/2.
    p = pair()
    assert raw_open(p, Open(64513, 90, IPv4Address("192.0.2.2"), CAPS)) == []
    p.a.data_received(0.0, 1, encode(Update()))
    assert decode_all([d for _, d in p.a.data_to_send()]) == [Notification(5, 2)]
    # OPEN in Established -> 5/3.
    p = established()
    p.a.data_received(0.0, 1, encode(Open(64513, 90, IPv4Address("192.0.2.2"), CAPS)))
    p.collect()
    assert sent_notifications(p.events_a) == [Notification(5, 3)]


def test_garbage_gives_a_header_notification_and_never_raises() -> None:
    p = established()
    p.a.data_received(1.0, 1, b"\x00" * 40)
    p.collect()
    assert sent_notifications(p.events_a) == [Notification(1, 1)]
    assert p.a.state == State.IDLE
    p.a.data_received(1.0, 1, b"more after close")  # unknown connection now: ignored
    assert drain(p.a) == []


def test_notification_received_closes_and_counts() -> None:
    p = established()
    p.now = 5.0
    p.b.stop(5.0, 2, "maintenance window")
    p.transfer()
    got = [e.notification for e in p.events_a if isinstance(e, NotificationReceived)]
    assert [n.shutdown_communication() for n in got] == ["maintenance window"]
    assert p.a.state == State.IDLE and p.b.state == State.IDLE
    assert p.b.get_timer() is None  # manual stop: no automatic restart
    assert p.a.get_timer() == 7.0  # the peer's Cease is a failure for a: restart after 2 s
    assert p.a.counters.notifications_received == 1
    assert p.b.counters.notifications_sent == 1


def test_stop_for_bfd_down_restarts_after_backoff() -> None:
    p = established()
    p.a.stop(4.0, 10, restart=True)
    p.collect()
    assert sent_notifications(p.events_a) == [Notification(6, 10)]  # RFC 9384 BFD Down
    assert p.a.get_timer() == 6.0
    p.tick(6.0)
    assert ConnectRequested(6.0, 30.0) in p.events_a


def test_routes_sent_on_establishment_then_only_differences() -> None:
    p = pair()
    p.a.set_routes(0.0, [Route(P1, communities=(0xFDE80064,)), Route(P2, communities=(0xFDE80064,))])
    assert p.a.data_to_send() == []  # not Established: nothing goes out
    p.a.start(0.0)
    p.b.start(0.0)
    p.connect()
    p.transfer()
    ups = received_updates(p.events_b)
    assert len(ups) == 1  # both prefixes share attributes: one UPDATE
    assert set(ups[0].update.nlri) == {P1, P2}
    assert ups[0].update.attribute(3) == NextHop(IPv4Address("192.0.2.1"))
    assert ups[0].update.attribute(2) == AsPath((AsPathSegment(2, (64512,)),))  # eBGP: our AS
    assert ups[0].update.attribute(5) is None  # no LOCAL_PREF to external peers
    # Only the changed prefix goes out, then only the withdrawal.
    p.events_b.clear()
    p.a.set_routes(1.0, [Route(P1, communities=(0xFDE80064,)), Route(P2, communities=(1,))])
    p.transfer()
    ups = received_updates(p.events_b)
    assert [u.update.nlri for u in ups] == [(P2,)]
    p.events_b.clear()
    p.a.set_routes(2.0, [Route(P1, communities=(0xFDE80064,))])
    p.transfer()
    assert [u.update.withdrawn for u in received_updates(p.events_b)] == [(P2,)]
    p.a.set_routes(3.0, [Route(P1, communities=(0xFDE80064,))])
    assert p.a.data_to_send() == []
    assert p.a.counters.prefixes_announced == 1


def test_route_refresh_is_answered_with_everything() -> None:
    p = established()
    p.a.set_routes(1.0, [Route(P1), Route(P2)])
    p.transfer()
    p.events_a.clear()
    p.events_b.clear()
    p.b.request_refresh(2.0)
    p.transfer()
    assert RouteRefreshRequested(1, 1) in p.events_a
    assert {pfx for u in received_updates(p.events_b) for pfx in u.update.nlri} == {P1, P2}
    assert p.a.counters.route_refresh_received == 1


def test_ibgp_sends_local_pref_and_empty_as_path() -> None:
    a = Session(config(64512, 64512, "192.0.2.1"))
    b = Session(config(64512, 64512, "192.0.2.2", passive=True))
    p = Pair(a, b)
    a.set_routes(0.0, [Route(P1, local_pref=200), Route(P2)])
    a.start(0.0)
    b.start(0.0)
    p.connect()
    p.transfer()
    by_pref = {u.update.attribute(5): u.update for u in received_updates(p.events_b)}
    assert set(by_pref) == {LocalPref(200), LocalPref(100)}
    assert by_pref[LocalPref(200)].attribute(2) == AsPath(())


def test_other_family_needs_a_configured_next_hop() -> None:
    p = established()
    p.a.set_routes(1.0, [Route(P6)])
    p.transfer()
    assert RoutesNotSent((P6,), "no usable global IPv6 next hop (set next_hop_v6)") in p.events_a
    assert received_updates(p.events_b) == []
    gua, lla = IPv6Address("2001:db8::1"), IPv6Address("fe80::1")
    p = established(a_kw={"next_hop_v6": gua, "next_hop_v6_link_local": lla})
    p.a.set_routes(1.0, [Route(P6)])
    p.transfer()
    (up,) = received_updates(p.events_b)
    assert up.update.attribute(14) == MpReach(2, 1, (gua, lla), (P6,))
    # Multihop: no link-local next hop (RFC 2545 §3).
    p = established(a_kw={"next_hop_v6": gua, "next_hop_v6_link_local": lla, "multihop": True})
    p.a.set_routes(1.0, [Route(P6)])
    p.transfer()
    (up,) = received_updates(p.events_b)
    mp = up.update.attribute(14)
    assert isinstance(mp, MpReach) and mp.next_hops == (gua,)
    p.a.set_routes(2.0, [])
    p.transfer()
    assert received_updates(p.events_b)[-1].update.attributes == (MpUnreach(2, 1, (P6,)),)


def test_configured_next_hops_win_over_the_connection_and_interface_addresses() -> None:
    # RFC 4271 §5.1.3: an operator-chosen next hop replaces the connection's address (own family) and
    # the interface's (other family); RFC 2545 §3: the link-local one still accompanies the IPv6 one.
    v4, gua, lla = IPv4Address("192.0.2.77"), IPv6Address("2001:db8::77"), IPv6Address("fe80::1")
    kw: dict[str, object] = {
        "next_hop_v6": IPv6Address("2001:db8::1"),
        "next_hop_v6_link_local": lla,
        "next_hop_v4_override": v4,
        "next_hop_v6_override": gua,
    }
    p = established(a_kw=kw)
    policy = p.a.path_policy
    assert policy is not None and (policy.next_hop_v4, policy.next_hops_v6) == (v4, (gua, lla))
    p.a.set_routes(1.0, [Route(P1), Route(P6)])
    p.transfer()
    ups = [u.update for u in received_updates(p.events_b)]
    assert [u.attribute(3) for u in ups if u.nlri] == [NextHop(v4)]
    assert [u.attribute(14) for u in ups if u.attribute(14)] == [MpReach(2, 1, (gua, lla), (P6,))]
    # Without an override the session's own address is the IPv4 next hop, as before.
    plain = established(a_kw={"next_hop_v6": gua}).a.path_policy
    assert plain is not None and plain.next_hop_v4 == A_ADDR
    assert Session(config()).path_policy is None


def test_ipv6_session_uses_its_own_address_and_never_a_mapped_one() -> None:
    a = Session(config(next_hop_v4=IPv4Address("0.0.0.0")))
    a.start(0.0)
    a.connection_made(0.0, 1, ip_address("2001:db8::a"), ip_address("2001:db8::b"), outbound=True)
    a.data_to_send()
    a.data_received(0.0, 1, encode(Open(64513, 90, IPv4Address("192.0.2.2"), (*CAPS, Multiprotocol(2, 1)))))
    a.data_received(0.0, 1, encode(Keepalive()))
    a.set_routes(0.0, [Route(P1), Route(P6)])
    events = drain(a)
    assert RoutesNotSent((P1,), "no usable IPv4 next hop (set next_hop_v4)") in events
    ups = [m for m in decode_all([d for _, d in a.data_to_send()]) if isinstance(m, UpdateResult)]
    reach = [u.update.attribute(14) for u in ups if u.update.attribute(14)]
    assert reach == [MpReach(2, 1, (IPv6Address("2001:db8::a"),), (P6,))]
    # A dual-stack socket's mapped address is the IPv4 address it maps.
    b = Session(config())
    b.start(0.0)
    b.connection_made(0.0, 1, ip_address("::ffff:192.0.2.1"), ip_address("::ffff:192.0.2.2"), outbound=True)
    b.data_to_send()
    b.data_received(0.0, 1, encode(Open(64513, 90, IPv4Address("192.0.2.2"), CAPS)))
    b.data_received(0.0, 1, encode(Keepalive()))
    est = next(e for e in drain(b) if isinstance(e, Established))
    assert est.local_address == IPv4Address("192.0.2.1")


def test_four_octet_local_as_towards_an_old_speaker() -> None:
    a = Session(config(4200000000, 64513))
    a.set_routes(0.0, [Route(P1)])
    a.start(0.0)
    a.connection_made(0.0, 1, A_ADDR, B_ADDR, outbound=True)
    (opened,) = decode_all([d for _, d in a.data_to_send()])
    assert isinstance(opened, Open) and opened.my_as == 23456  # RFC 6793 §4.2.1 AS_TRANS
    a.data_received(0.0, 1, encode(Open(64513, 90, IPv4Address("192.0.2.2"), ())))  # OLD speaker
    a.data_received(0.0, 1, encode(Keepalive()))
    raw = [d for _, d in a.data_to_send()]
    # RFC 6793 §4.2.2: AS_PATH carries AS_TRANS in 2 octets, AS4_PATH the real AS.
    assert bytes.fromhex("40020402015ba0") in raw[1]
    assert bytes.fromhex("c0110602 01fa56ea00") in raw[1]


def test_graceful_restart_restarting_speaker_sets_r_bit_once() -> None:
    gr = GracefulRestartConfig(enabled=True, restart_time=120, restarting=True)
    p = established(a_kw={"graceful_restart": gr})
    # After the first session, a later OPEN no longer claims a restart.
    p.a.connection_lost(1.0, 1)
    p.b.connection_lost(1.0, 1)
    p.collect()
    p.tick(3.0)
    p.a.connection_made(3.0, 2, A_ADDR, B_ADDR, outbound=True)
    (opened,) = decode_all([d for _, d in p.a.data_to_send()])
    assert isinstance(opened, Open)
    caps = [c for c in opened.capabilities if isinstance(c, GracefulRestart)]
    assert caps == [GracefulRestart(False, 120, tuple(caps[0].families))]
    assert all(f.forwarding for f in caps[0].families)


def test_graceful_restart_helper_accepts_the_restarted_peer() -> None:
    gr = GracefulRestartConfig(enabled=True, restart_time=90)
    p = established(a_kw={"graceful_restart": gr}, b_kw={"graceful_restart": gr})
    # b restarts (a new process): a sees a new inbound connection while still Established.
    b2 = Session(config(64513, 64512, "192.0.2.2", graceful_restart=GracefulRestartConfig(True, 90, True)))
    b2.start(5.0)
    drain(b2)
    b2.connection_made(5.0, 9, B_ADDR, A_ADDR, outbound=True)
    p.a.connection_made(5.0, 9, A_ADDR, B_ADDR, outbound=False)
    for _ in range(4):
        for cid, data in p.a.data_to_send():
            if cid == 9:
                b2.data_received(5.0, cid, data)
        for cid, data in b2.data_to_send():
            p.a.data_received(5.0, cid, data)
    events = drain(p.a)
    assert PeerRestarting(90, "peer restarted (graceful restart)") in events
    assert [e.conn_id for e in events if isinstance(e, Established)] == [9]
    assert [e.conn_id for e in events if isinstance(e, CloseConnection)] == [1]
    assert not any(isinstance(e, NotificationSent) for e in events)  # the old session just goes
    assert p.a.state == State.ESTABLISHED


def test_malformed_update_handling_in_established() -> None:
    p = established()
    # Treat-as-withdraw (ORIGIN value 7): reported, session stays up.
    body = bytes.fromhex("0000 0015 40010107 400200 400304c0000201 c00804fde80064 20c6336401")
    p.a.data_received(1.0, 1, frame(2, body))
    p.collect()
    (res,) = received_updates(p.events_a)
    assert res.handling == Handling.TREAT_AS_WITHDRAW
    assert p.a.state == State.ESTABLISHED
    # Session reset (NLRI length 33): NOTIFICATION 3/10 and Idle.
    p.a.data_received(1.0, 1, frame(2, bytes.fromhex("0000 0000 2100000000")))
    p.collect()
    assert sent_notifications(p.events_a) == [Notification(3, 10)]
    assert p.a.state == State.IDLE


def test_decode_error_object_equality() -> None:
    assert BgpError(1, 2, b"x", "a") == BgpError(1, 2, b"x", "b")
    assert hash(BgpError(1, 2)) == hash(BgpError(1, 2, b"", "other"))


def test_inbound_connection_during_idle_hold_is_accepted() -> None:
    p = established(a_kw={"hold_time": 9}, b_kw={"hold_time": 9})
    p.a.connection_lost(1.0, 1)
    assert p.a.state == State.IDLE
    assert p.a.get_timer() == 3.0
    p.a.connection_made(2.0, 5, A_ADDR, B_ADDR, outbound=False)
    assert p.a.state == State.OPEN_SENT
    assert not any(isinstance(e, CloseConnection) and e.conn_id == 5 for e in drain(p.a))


def test_route_refresh_for_other_family_or_subtype_is_ignored() -> None:
    p = established(a_kw={"families": frozenset({(1, 1)})})
    p.a.set_routes(1.0, [Route(P1)])
    p.transfer()
    p.events_a.clear()
    for msg in (RouteRefresh(2, 1), RouteRefresh(1, 1, subtype=1)):
        p.a.data_received(2.0, 1, encode(msg))
    p.collect()
    assert not any(isinstance(e, RouteRefreshRequested) for e in p.events_a)
    assert p.a.data_to_send() == []
    assert p.a.state == State.ESTABLISHED


def test_sending_an_update_restarts_the_keepalive_timer() -> None:
    # RFC 4271 §8.2.2 Established: each KEEPALIVE or UPDATE sent restarts the KeepaliveTimer.
    p = established(b_kw={"hold_time": 9})
    assert p.a.get_timer() == 3.0
    p.a.set_routes(2.0, [Route(P1)])
    assert p.a.get_timer() == 5.0


@pytest.mark.parametrize(
    "bad",
    [
        {"hold_time": 2},
        {"hold_time": 90.0},
        {"keepalive_time": -1.0},
        {"connect_retry": 0},
        {"local_as": 0},
        {"peer_as": 0},
        {"graceful_restart": GracefulRestartConfig(True, 5000)},
    ],
)
def test_configuration_bugs_fail_loudly(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        config(**bad)  # type: ignore[arg-type]


def test_derived_configuration() -> None:
    assert config(hold_time=0).keepalive == 0
    assert config(hold_time=9).keepalive == 3
    assert config(hold_time=9, keepalive_time=2.0).keepalive == 2.0
    assert parse_address("::ffff:192.0.2.1") == IPv4Address("192.0.2.1")
    assert config(64512, 0, dynamic_asn="external").ebgp
    assert not config(64512, 0, dynamic_asn="internal").ebgp


def test_route_whose_communities_cannot_fit_is_withheld() -> None:
    p = established()
    p.a.set_routes(1.0, [Route(P1, communities=tuple(range(1200))), Route(P2)])
    p.transfer()
    assert RoutesNotSent((P1,), "communities do not fit in a 4096-octet UPDATE") in p.events_a
    assert [u.update.nlri for u in received_updates(p.events_b)] == [(P2,)]


def test_four_octet_as_without_as_trans_in_my_as_is_2_2() -> None:
    # RFC 6793 §4.2.1: a 4-octet AS speaker puts AS_TRANS into My Autonomous System.
    p = Pair(Session(config(64512, 4200000000)), Session(config()))
    assert raw_open(p, Open(64513, 90, IPv4Address("192.0.2.2"), (FourOctetAs(4200000000),))) == [
        Notification(2, 2)
    ]
    p = Pair(Session(config(64512, 4200000000)), Session(config()))
    assert raw_open(p, Open(23456, 90, IPv4Address("192.0.2.2"), (FourOctetAs(4200000000),))) == []


def test_session_over_ipv6_link_local_uses_the_configured_global_next_hop() -> None:
    gua = IPv6Address("2001:db8::a")
    a = Session(config(next_hop_v6=gua))
    a.start(0.0)
    a.connection_made(0.0, 1, ip_address("fe80::a"), ip_address("fe80::b"), outbound=True)
    a.data_to_send()
    a.data_received(0.0, 1, encode(Open(64513, 90, IPv4Address("192.0.2.2"), (*CAPS, Multiprotocol(2, 1)))))
    a.data_received(0.0, 1, encode(Keepalive()))
    a.set_routes(0.0, [Route(P6)])
    ups = [m for m in decode_all([d for _, d in a.data_to_send()]) if isinstance(m, UpdateResult)]
    assert [u.update.attribute(14) for u in ups if u.update.attribute(14)] == [
        MpReach(2, 1, (gua, IPv6Address("fe80::a")), (P6,))
    ]


def test_two_inbound_connections_keep_the_newer() -> None:
    s = Session(config(passive=True))
    s.start(0.0)
    peer_open = encode(Open(64513, 90, IPv4Address("192.0.2.2"), CAPS))
    for cid in (1, 2):
        s.connection_made(0.0, cid, A_ADDR, B_ADDR, outbound=False)
        s.data_received(0.0, cid, peer_open)
    events = drain(s)
    assert [e.conn_id for e in events if isinstance(e, CloseConnection)] == [1]
    s.data_received(0.0, 2, encode(Keepalive()))
    assert s.state == State.ESTABLISHED


def test_change_routes_and_advertised_view() -> None:
    p = established()
    p.a.change_routes(1.0, announce=[Route(P1), Route(P2)])
    p.transfer()
    assert set(p.a.advertised) == {P1, P2}
    p.a.change_routes(2.0, withdraw=[P1])
    p.transfer()
    assert set(p.a.advertised) == {P2}
    assert [u.update.withdrawn for u in received_updates(p.events_b)][-1] == (P1,)


def test_ipv4_not_negotiated_is_withheld_and_refresh_needs_the_capability() -> None:
    a = Session(config(families=frozenset({(2, 1)}), next_hop_v6=IPv6Address("2001:db8::a")))
    a.start(0.0)
    a.connection_made(0.0, 1, A_ADDR, B_ADDR, outbound=True)
    a.data_received(0.0, 1, encode(Open(64513, 90, IPv4Address("192.0.2.2"), (Multiprotocol(2, 1),))))
    a.data_received(0.0, 1, encode(Keepalive()))
    a.set_routes(0.0, [Route(P1)])
    assert RoutesNotSent((P1,), "address family IPv4 unicast not negotiated with the peer") in drain(a)
    a.data_to_send()
    a.request_refresh(1.0, (2, 1))  # the peer did not offer route refresh
    assert a.data_to_send() == []


def test_late_collision_with_an_established_session_keeps_it_without_the_restart_bit() -> None:
    # The peer supports graceful restart but did not restart (R bit clear): RFC 4271 §6.8 applies.
    gr = GracefulRestartConfig(enabled=True, restart_time=90)
    p = established(a_kw={"graceful_restart": gr}, b_kw={"graceful_restart": gr})
    peer_open = Open(64513, 90, IPv4Address("192.0.2.2"), (*CAPS, GracefulRestart(False, 90, ())))
    p.a.connection_made(5.0, 9, A_ADDR, B_ADDR, outbound=False)
    p.a.data_received(5.0, 9, encode(peer_open))
    events = drain(p.a)
    assert [e.conn_id for e in events if isinstance(e, CloseConnection)] == [9]
    assert sent_notifications(events) == [Notification(6, 7)]
    assert p.a.state == State.ESTABLISHED
