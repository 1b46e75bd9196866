"""The responder: answers owned VIPs on chosen, eligible links only; bursts on takeover; stops at once."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from l2 import BURST, AnswerStarted, AnswerStopped, Interface, Owned, Responder, arp, ndp
from l2.ethernet import BROADCAST, parse_mac

MAC0 = parse_mac("02:00:00:00:00:01")
MAC1 = parse_mac("02:00:00:00:00:02")
CLIENT_MAC = parse_mac("02:00:00:00:00:99")
CLIENT = IPv4Address("203.0.113.9")
CLIENT6 = IPv6Address("fd00::9")
VIP = IPv4Address("198.51.100.1")
VIP6 = IPv6Address("2001:db8:ffff::1")
OTHER = IPv4Address("198.51.100.2")

ETH0 = Interface(1, "eth0", MAC0, True, True, True, False, False, False, IPv6Address("fe80::1"))
ETH1 = Interface(2, "eth1", MAC1, True, True, True, False, False, False, IPv6Address("fe80::2"))


def who_has(target: IPv4Address, sender: IPv4Address = CLIENT) -> bytes:
    return arp.encode_frame(BROADCAST, arp.ArpPacket(arp.Op.REQUEST, CLIENT_MAC, sender, bytes(6), target))


def solicit(target: IPv6Address, *, destination: IPv6Address | None = None, **changes: object) -> bytes:
    packet = ndp.NdpPacket(
        ndp.Kind.SOLICITATION,
        CLIENT6,
        destination or ndp.solicited_node(target),
        255,
        target,
        CLIENT_MAC,
    )
    packet = replace(packet, **changes)  # type: ignore[arg-type]
    return ndp.encode_frame(
        packet, source_mac=CLIENT_MAC, destination_mac=None if packet.destination.is_multicast else MAC0
    )


def responder(*owned: Owned, interfaces: tuple[Interface, ...] = (ETH0, ETH1)) -> Responder:
    r = Responder()
    r.set_interfaces(interfaces, 0.0)
    r.set_owned(owned, 0.0)
    r.transmits()
    r.events()
    return r


def test_answers_owned_vip_on_chosen_interface_only() -> None:
    r = responder(Owned(VIP, "ns/a", ("eth0",)))
    r.receive("eth0", who_has(VIP), 1.0)
    [out] = r.transmits()
    assert out.interface == "eth0"
    assert arp.decode_frame(out.frame) == arp.ArpPacket(arp.Op.REPLY, MAC0, VIP, CLIENT_MAC, CLIENT)
    assert out.frame[:6] == CLIENT_MAC
    r.receive("eth1", who_has(VIP), 1.0)  # not chosen for this VIP
    r.receive("eth0", who_has(OTHER), 1.0)  # not ours
    assert r.transmits() == []
    assert (r.counters[VIP].requests, r.counters[VIP].responses) == (1, 1)
    assert OTHER not in r.counters


def test_all_interfaces_means_every_eligible_one() -> None:
    r = responder(Owned(VIP, "ns/a", (), all_interfaces=True))
    r.receive("eth1", who_has(VIP), 1.0)
    [out] = r.transmits()
    assert arp.decode_frame(out.frame).sender_mac == MAC1  # type: ignore[union-attr]


def test_gratuitous_and_reply_packets_are_not_questions() -> None:
    r = responder(Owned(VIP, "ns/a", ("eth0",)))
    for frame in arp.gratuitous(VIP, CLIENT_MAC):
        r.receive("eth0", frame, 1.0)
    assert r.transmits() == []


def test_probe_with_zero_sender_is_answered() -> None:
    r = responder(Owned(VIP, "ns/a", ("eth0",)))
    r.receive("eth0", who_has(VIP, sender=IPv4Address("0.0.0.0")), 1.0)
    [out] = r.transmits()
    assert arp.decode_frame(out.frame).target_ip == IPv4Address("0.0.0.0")  # type: ignore[union-attr]


def test_takeover_burst_first_round_in_the_same_call_then_on_timer() -> None:
    r = Responder()
    r.set_interfaces([ETH0], 10.0)
    r.set_owned([Owned(VIP, "ns/a", ("eth0",))], 10.0)
    assert r.events() == [AnswerStarted(VIP, "eth0", MAC0)]
    first = r.transmits()
    assert [arp.decode_frame(t.frame) for t in first] == [
        arp.ArpPacket(arp.Op.REQUEST, MAC0, VIP, bytes(6), VIP),
        arp.ArpPacket(arp.Op.REPLY, MAC0, VIP, MAC0, VIP),
    ]
    times = [10.0]
    while (due := r.get_timer()) is not None:
        r.handle_timer(due)
        assert len(r.transmits()) == 2
        times.append(due)
    assert times == pytest.approx([10.0 + t for t in BURST])
    assert times[-1] - times[0] > 1.0
    assert r.counters[VIP].gratuitous == 2 * len(BURST)


def test_late_timer_does_not_bunch_rounds() -> None:
    r = responder(Owned(VIP, "ns/a", ("eth0",)))
    r.handle_timer(0.5)  # round 1 was due at 0.05
    assert r.get_timer() == pytest.approx(0.5 + BURST[2] - BURST[1])


def test_release_stops_at_once() -> None:
    r = responder(Owned(VIP, "ns/a", ("eth0",)))
    r.set_owned([], 0.01)
    assert r.events() == [AnswerStopped(VIP, "eth0", "released")]
    assert r.get_timer() is None
    r.receive("eth0", who_has(VIP), 0.02)
    assert r.transmits() == []


def test_reapply_same_state_sends_nothing() -> None:
    owned = Owned(VIP, "ns/a", ("eth0",))
    r = responder(owned)
    r.set_owned([owned], 0.01)
    assert r.transmits() == [] and r.events() == []


def test_reannounce_restarts_the_burst_of_answered_vips_only() -> None:
    r = responder(Owned(VIP, "ns/a", ("eth0",)), Owned(VIP6, "ns/b", ("eth0",)))
    while (due := r.get_timer()) is not None:
        r.handle_timer(due)
    r.transmits()
    r.reannounce([VIP, OTHER], 5.0)  # OTHER is not owned: nothing for it
    assert [arp.decode_frame(t.frame).sender_ip for t in r.transmits()] == [VIP, VIP]
    assert r.events() == []
    times = [5.0]
    while (due := r.get_timer()) is not None:
        r.handle_timer(due)
        assert {arp.decode_frame(t.frame).sender_ip for t in r.transmits()} == {VIP}
        times.append(due)
    assert times == pytest.approx([5.0 + t for t in BURST])


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"up": False}, "down"),
        ({"carrier": False}, "no carrier"),
        ({"enslaved": True}, "enslaved"),
        ({"noarp": True}, "NOARP"),
    ],
)
def test_ineligible_link_stops_and_recovery_bursts(change: dict[str, bool], reason: str) -> None:
    r = responder(Owned(VIP, "ns/a", ("eth0",)))
    r.set_interfaces([replace(ETH0, **change), ETH1], 1.0)  # type: ignore[arg-type]
    assert r.events() == [AnswerStopped(VIP, "eth0", reason)]
    r.receive("eth0", who_has(VIP), 1.0)
    assert r.transmits() == []
    r.set_interfaces([ETH0, ETH1], 2.0)
    assert r.events() == [AnswerStarted(VIP, "eth0", MAC0)]
    assert len(r.transmits()) == 2
    assert r.get_timer() == pytest.approx(2.0 + BURST[1])


def test_interface_gone_and_mac_change() -> None:
    r = responder(Owned(VIP, "ns/a", ("eth0",)))
    r.set_interfaces([replace(ETH0, mac=CLIENT_MAC)], 1.0)
    assert r.events() == [AnswerStarted(VIP, "eth0", CLIENT_MAC)]
    assert len(r.transmits()) == 2
    r.set_interfaces([], 2.0)
    assert r.events() == [AnswerStopped(VIP, "eth0", "interface gone")]


def test_link_created_again_under_the_same_name_bursts_again() -> None:
    r = responder(Owned(VIP, "ns/a", ("eth0",)))
    r.set_interfaces([replace(ETH0, index=7), ETH1], 1.0)
    assert r.events() == [AnswerStarted(VIP, "eth0", MAC0)]
    assert len(r.transmits()) == 2
    assert [a.index for a in r.answering()] == [7]


def test_ipv6_answers_multicast_and_unicast_nud() -> None:
    r = responder(Owned(VIP6, "ns/a", ("eth0",)))
    assert r.groups() == frozenset({(1, ndp.solicited_node(VIP6))})
    for destination in (ndp.solicited_node(VIP6), VIP6):
        r.receive("eth0", solicit(VIP6, destination=destination), 1.0)
        [out] = r.transmits()
        assert out.frame[:6] == CLIENT_MAC
        assert ndp.decode_frame(out.frame) == ndp.NdpPacket(
            ndp.Kind.ADVERTISEMENT,
            VIP6,
            CLIENT6,
            255,
            VIP6,
            MAC0,
            solicited=True,
            override=True,
        )
    assert r.counters[VIP6].responses == 2


def test_unicast_nud_without_option_answers_the_frame_source() -> None:
    r = responder(Owned(VIP6, "ns/a", ("eth0",)))
    r.receive("eth0", solicit(VIP6, destination=VIP6, link_layer=None), 1.0)
    [out] = r.transmits()
    assert out.frame[:6] == CLIENT_MAC


def test_ipv6_dad_is_defended_to_all_nodes() -> None:
    r = responder(Owned(VIP6, "ns/a", ("eth0",)))
    r.receive("eth0", solicit(VIP6, source=ndp.UNSPECIFIED, link_layer=None), 1.0)
    [out] = r.transmits()
    packet = ndp.decode_frame(out.frame)
    assert isinstance(packet, ndp.NdpPacket)
    assert (packet.destination, packet.solicited, packet.override) == (ndp.ALL_NODES, False, True)


def test_ipv6_drops_hop_limit_below_255_and_foreign_targets() -> None:
    r = responder(Owned(VIP6, "ns/a", ("eth0",)))
    r.receive("eth0", solicit(VIP6, hop_limit=254), 1.0)
    r.receive("eth0", solicit(IPv6Address("2001:db8:ffff::2")), 1.0)
    r.receive("eth1", solicit(VIP6), 1.0)
    # Sent to another node's address although naming our VIP: not a resolution we take part in.
    r.receive("eth0", solicit(VIP6, destination=IPv6Address("fd00::5")), 1.0)
    assert r.transmits() == []
    assert r.dropped == {ndp.NdpDrop.HOP_LIMIT: 1}


def test_ipv6_takeover_sends_unsolicited_na_with_override() -> None:
    r = Responder()
    r.set_interfaces([ETH0], 0.0)
    r.set_owned([Owned(VIP6, "ns/a", ("eth0",))], 0.0)
    [out] = r.transmits()
    assert out.frame[:6] == bytes.fromhex("333300000001")
    assert ndp.decode_frame(out.frame) == ndp.NdpPacket(
        ndp.Kind.ADVERTISEMENT, VIP6, ndp.ALL_NODES, 255, VIP6, MAC0, override=True
    )


def test_ipv6_needs_link_local() -> None:
    r = responder(Owned(VIP6, "ns/a", ("eth0",)), interfaces=(replace(ETH0, link_local=None),))
    assert r.answering() == [] and r.groups() == frozenset()
    r = responder(Owned(VIP, "ns/a", ("eth0",)), interfaces=(replace(ETH0, link_local=None),))
    assert [a.interface for a in r.answering()] == ["eth0"]


def test_loopback_and_non_broadcast() -> None:
    lo = Interface(9, "lo", bytes(6), True, True, False, False, True, False, IPv6Address("::1"))
    r = responder(
        Owned(VIP, "ns/a", (), all_interfaces=True), interfaces=(lo, replace(ETH1, broadcast=False))
    )
    assert r.answering() == []


def test_burst_must_start_at_zero() -> None:
    with pytest.raises(ValueError, match="starts at 0"):
        Responder((0.1, 0.2))


# --- properties ----------------------------------------------------------------------------------

VIPS = (VIP, OTHER, VIP6, IPv6Address("2001:db8:ffff::2"))
LINKS = st.sampled_from(
    [
        ETH0,
        ETH1,
        replace(ETH0, up=False),
        replace(ETH1, carrier=False),
        replace(ETH0, mac=CLIENT_MAC),
        replace(ETH1, link_local=None),
        replace(ETH0, enslaved=True),
    ]
)
OWNED = st.builds(
    Owned,
    st.sampled_from(VIPS),
    st.just("ns/a"),
    st.lists(st.sampled_from(["eth0", "eth1", "eth9"]), max_size=2).map(tuple),
    st.booleans(),
)
STEP = st.one_of(
    st.tuples(st.just("owned"), st.lists(OWNED, max_size=3)),
    st.tuples(st.just("links"), st.lists(LINKS, max_size=2, unique_by=lambda i: i.name)),
    st.tuples(st.just("timer"), st.floats(0, 2)),
    st.tuples(st.just("frame"), st.sampled_from([who_has(VIP), who_has(OTHER), solicit(VIP6)])),
    st.tuples(st.just("junk"), st.binary(max_size=90)),
)


@given(st.lists(STEP, max_size=25))
def test_only_owned_vips_on_eligible_selected_links_are_ever_answered(
    steps: list[tuple[str, object]],
) -> None:
    r = Responder()
    now = 0.0
    for kind, value in steps:
        now += 0.01
        if kind == "owned":
            r.set_owned(value, now)  # type: ignore[arg-type]
        elif kind == "links":
            r.set_interfaces(value, now)  # type: ignore[arg-type]
        elif kind == "timer":
            now += value  # type: ignore[operator]
            r.handle_timer(now)
        else:
            for name in ("eth0", "eth1"):
                r.receive(name, value, now)  # type: ignore[arg-type]
        owned = {o.address: o for o in r.owned}
        answering = {(a.owned.address, a.interface) for a in r.answering()}
        for transmit in r.transmits():
            packet = arp.decode_frame(transmit.frame)
            address = packet.sender_ip if isinstance(packet, arp.ArpPacket) else None
            if address is None:
                advert = ndp.decode_frame(transmit.frame)
                assert isinstance(advert, ndp.NdpPacket) and advert.kind is ndp.Kind.ADVERTISEMENT
                address = advert.target
            assert (address, transmit.interface) in answering
        for address, name in answering:
            o = owned[address]
            assert o.all_interfaces or name in o.interfaces
        # Like aioquic's, the timer may lie in the past after another input (the adapter then fires
        # at once); once it has been handled, nothing due may be left over.
        if kind == "timer":
            timer = r.get_timer()
            assert timer is None or timer > now - 1e-9
