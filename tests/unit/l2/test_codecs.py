"""ARP (RFC 826) and NS/NA (RFC 4861 §4.3-4.4, §7.1) codecs, against frames Linux 6.18 sent in the lab."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

from hypothesis import given
from hypothesis import strategies as st

from l2 import arp, ndp
from l2.ethernet import BROADCAST, format_mac, ipv6_multicast_mac, parse_mac

# `ping 192.0.2.9` from 192.0.2.1 (16:e4:01:82:bd:44): who-has 192.0.2.9 tell 192.0.2.1.
LINUX_ARP_REQUEST = bytes.fromhex(
    "ffffffffffff16e40182bd440806000108000604000116e40182bd44c0000201000000000000c0000209"
)
# `ping fd00::9` from fd00::1: NS to ff02::1:ff00:9 with the source link-layer option.
LINUX_NS = bytes.fromhex(
    "3333ff00000916e40182bd4486dd6000000000203afffd000000000000000000000000000001ff02000000000000"
    "00000001ff0000098700a9df00000000fd000000000000000000000000000009010116e40182bd44"
)
# The solicited NA Linux sent from fd00::2 (6a:37:29:fc:24:18) to fd00::1: S and O set, target option.
LINUX_NA = bytes.fromhex(
    "16e40182bd446a3729fc241886dd6000000000203afffd000000000000000000000000000002fd0000000000000000"
    "000000000000018800665060000000fd00000000000000000000000000000202016a3729fc2418"
)
# Linux DAD for its link-local: unspecified source, solicited-node destination, a nonce option (type 14).
LINUX_DAD = bytes.fromhex(
    "3333fffc24186a3729fc241886dd6000000000203aff00000000000000000000000000000000ff0200000000000000"
    "000001fffc24188700dc7700000000fe80000000000000683729fffefc24180e01eef31c80abd2"
)
MAC_A = parse_mac("16:e4:01:82:bd:44")
MAC_B = parse_mac("6a:37:29:fc:24:18")


def test_linux_arp_request_decodes() -> None:
    packet = arp.decode_frame(LINUX_ARP_REQUEST)
    assert packet == arp.ArpPacket(
        arp.Op.REQUEST, MAC_A, IPv4Address("192.0.2.1"), bytes(6), IPv4Address("192.0.2.9")
    )
    assert arp.encode_frame(BROADCAST, packet) == LINUX_ARP_REQUEST


def test_padded_arp_frame_decodes() -> None:
    assert isinstance(arp.decode_frame(LINUX_ARP_REQUEST + bytes(18)), arp.ArpPacket)


def test_reply_swaps_sender_and_target() -> None:
    frame = arp.reply_to(LINUX_ARP_REQUEST + bytes(18), MAC_B)  # padded, as on the wire
    assert frame is not None and frame[:6] == MAC_A and frame[6:12] == MAC_B
    assert arp.decode_frame(frame) == arp.ArpPacket(
        arp.Op.REPLY, MAC_B, IPv4Address("192.0.2.9"), MAC_A, IPv4Address("192.0.2.1")
    )


def test_gratuitous_pair_is_what_linux_accepts_inside_locktime() -> None:
    vip = IPv4Address("198.51.100.7")
    request, reply = (arp.decode_frame(f) for f in arp.gratuitous(vip, MAC_B))
    assert request == arp.ArpPacket(arp.Op.REQUEST, MAC_B, vip, bytes(6), vip)
    # net/ipv4/arp.c arp_is_garp: a reply is gratuitous only if target MAC == sender MAC.
    assert reply == arp.ArpPacket(arp.Op.REPLY, MAC_B, vip, MAC_B, vip)
    assert all(f[:6] == BROADCAST for f in arp.gratuitous(vip, MAC_B))


def test_arp_drops() -> None:
    assert arp.decode_frame(LINUX_ARP_REQUEST[:41]) is arp.ArpDrop.TRUNCATED
    assert (
        arp.decode_frame(LINUX_ARP_REQUEST[:12] + b"\x86\xdd" + LINUX_ARP_REQUEST[14:]) is arp.ArpDrop.NOT_ARP
    )
    ipx = LINUX_ARP_REQUEST[:16] + b"\x81\x37" + LINUX_ARP_REQUEST[18:]
    assert arp.decode_frame(ipx) is arp.ArpDrop.NOT_ETHERNET_IPV4
    rarp = LINUX_ARP_REQUEST[:20] + b"\x00\x03" + LINUX_ARP_REQUEST[22:]
    assert arp.decode_frame(rarp) is arp.ArpDrop.BAD_OPCODE


@given(st.binary(max_size=80))
def test_arp_decoder_never_raises(data: bytes) -> None:
    assert isinstance(arp.decode_frame(data), arp.ArpPacket | arp.ArpDrop)


def test_no_reply_to_replies_gratuitous_or_other_frames() -> None:
    vip = IPv4Address("198.51.100.7")
    assert all(arp.reply_to(f, MAC_A) is None for f in arp.gratuitous(vip, MAC_B))
    assert arp.reply_to(LINUX_ARP_REQUEST[:41], MAC_A) is None
    assert arp.reply_to(LINUX_NS, MAC_A) is None


ARP_REQUESTS = st.builds(
    lambda sha, spa, tha, tpa: arp.encode_frame(
        BROADCAST, arp.ArpPacket(arp.Op.REQUEST, sha, IPv4Address(spa), tha, IPv4Address(tpa))
    ),
    st.binary(min_size=6, max_size=6),
    st.integers(0, 2**32 - 1),
    st.binary(min_size=6, max_size=6),
    st.integers(0, 2**32 - 1),
)


@given(st.one_of(ARP_REQUESTS, st.binary(max_size=80)), st.binary(min_size=6, max_size=6))
def test_raw_reply_is_the_decoded_reply(frame: bytes, mac: bytes) -> None:
    """`reply_to` on raw bytes agrees with decoding the request and encoding the swapped packet."""
    packet = arp.decode_frame(frame)
    reply = arp.reply_to(frame, mac)
    if not isinstance(packet, arp.ArpPacket) or packet.op is not arp.Op.REQUEST or packet.is_gratuitous:
        assert reply is None
        return
    swapped = arp.ArpPacket(arp.Op.REPLY, mac, packet.target_ip, packet.sender_mac, packet.sender_ip)
    assert reply == arp.encode_frame(packet.sender_mac, swapped)


def test_linux_ns_decodes() -> None:
    assert ndp.decode_frame(LINUX_NS) == ndp.NdpPacket(
        ndp.Kind.SOLICITATION,
        IPv6Address("fd00::1"),
        IPv6Address("ff02::1:ff00:9"),
        255,
        IPv6Address("fd00::9"),
        MAC_A,
    )


def test_linux_dad_decodes_and_skips_unknown_option() -> None:
    packet = ndp.decode_frame(LINUX_DAD)
    assert isinstance(packet, ndp.NdpPacket)
    assert packet.source == ndp.UNSPECIFIED and packet.link_layer is None
    assert packet.destination == ndp.solicited_node(packet.target)


def test_encoded_na_is_byte_identical_to_linux() -> None:
    packet = ndp.NdpPacket(
        ndp.Kind.ADVERTISEMENT,
        IPv6Address("fd00::2"),
        IPv6Address("fd00::1"),
        255,
        IPv6Address("fd00::2"),
        MAC_B,
        solicited=True,
        override=True,
    )
    assert ndp.encode_frame(packet, source_mac=MAC_B, destination_mac=MAC_A) == LINUX_NA
    assert ndp.decode_frame(LINUX_NA) == packet


def test_multicast_destination_gets_its_mac() -> None:
    packet = ndp.NdpPacket(
        ndp.Kind.ADVERTISEMENT,
        IPv6Address("fe80::1"),
        ndp.ALL_NODES,
        255,
        IPv6Address("2001:db8::1"),
        MAC_B,
        override=True,
    )
    frame = ndp.encode_frame(packet, source_mac=MAC_B)
    assert frame[:6] == bytes.fromhex("333300000001") == ipv6_multicast_mac(ndp.ALL_NODES)
    assert ndp.decode_frame(frame) == packet


def test_solicited_node_group() -> None:
    assert ndp.solicited_node(IPv6Address("2001:db8::abcd:1234:5678")) == IPv6Address("ff02::1:ff34:5678")


def _with(frame: bytes, offset: int, value: bytes) -> bytes:
    return frame[:offset] + value + frame[offset + len(value) :]


def test_ndp_drops() -> None:
    # Hop limit 254: forwarded by a router (RFC 4861 §7.1.1).
    assert ndp.decode_frame(_with(LINUX_NS, 21, b"\xfe")) is ndp.NdpDrop.HOP_LIMIT
    assert ndp.decode_frame(_with(LINUX_NS, 56, b"\x00\x00")) is ndp.NdpDrop.BAD_CHECKSUM
    assert ndp.decode_frame(LINUX_NS[:-1]) is ndp.NdpDrop.TRUNCATED
    assert ndp.decode_frame(_with(LINUX_NS, 54, b"\x80")) is ndp.NdpDrop.NOT_NDP  # echo request


def _resum(packet: ndp.NdpPacket, options: bytes | None = None, code: int = 0) -> bytes:
    """`packet` encoded, its options replaced and checksum fixed, so that only the tested rule fails."""
    frame = ndp.encode_frame(packet, source_mac=MAC_A, destination_mac=MAC_B)
    message = bytearray(frame[54:78] + (options if options is not None else frame[78:]))
    message[1] = code
    message[2:4] = b"\0\0"
    message[2:4] = ndp.checksum(packet.source, packet.destination, bytes(message)).to_bytes(2, "big")
    return _with(frame[:54], 18, len(message).to_bytes(2, "big")) + bytes(message)


NS = ndp.NdpPacket(
    ndp.Kind.SOLICITATION, IPv6Address("fd00::1"), IPv6Address("fd00::9"), 255, IPv6Address("fd00::9"), MAC_A
)


def test_ndp_rules_with_valid_checksums() -> None:
    assert ndp.decode_frame(_resum(NS)) == NS
    assert ndp.decode_frame(_resum(NS, code=1)) is ndp.NdpDrop.BAD_CODE
    assert ndp.decode_frame(_resum(NS, options=b"\x01\x00" + bytes(6))) is ndp.NdpDrop.BAD_OPTION
    assert ndp.decode_frame(_resum(NS, options=b"\x01\x02" + bytes(6))) is ndp.NdpDrop.BAD_OPTION
    multicast_target = ndp.NdpPacket(
        ndp.Kind.SOLICITATION, NS.source, NS.destination, 255, IPv6Address("ff02::1"), MAC_A
    )
    assert ndp.decode_frame(_resum(multicast_target)) is ndp.NdpDrop.MULTICAST_TARGET
    dad = ndp.NdpPacket(
        ndp.Kind.SOLICITATION, ndp.UNSPECIFIED, ndp.solicited_node(NS.target), 255, NS.target, MAC_A
    )
    assert ndp.decode_frame(_resum(dad)) is ndp.NdpDrop.DAD_WITH_SOURCE_LLA
    dad_unicast = ndp.NdpPacket(ndp.Kind.SOLICITATION, ndp.UNSPECIFIED, NS.target, 255, NS.target)
    assert ndp.decode_frame(_resum(dad_unicast)) is ndp.NdpDrop.DAD_NOT_SOLICITED_NODE
    solicited_multicast = ndp.NdpPacket(
        ndp.Kind.ADVERTISEMENT, NS.source, ndp.ALL_NODES, 255, NS.target, MAC_A, solicited=True
    )
    assert ndp.decode_frame(_resum(solicited_multicast)) is ndp.NdpDrop.SOLICITED_TO_MULTICAST


@given(st.binary(max_size=120))
def test_ndp_decoder_never_raises(data: bytes) -> None:
    assert isinstance(ndp.decode_frame(data), ndp.NdpPacket | ndp.NdpDrop)


@given(st.binary(min_size=0, max_size=64))
def test_ndp_decoder_never_raises_on_any_message_after_valid_headers(tail: bytes) -> None:
    assert isinstance(ndp.decode_frame(LINUX_NS[:54] + tail), ndp.NdpPacket | ndp.NdpDrop)


def test_mac_text() -> None:
    assert format_mac(MAC_A) == "16:e4:01:82:bd:44"
    assert parse_mac("16:E4:01:82:BD:44") == MAC_A
