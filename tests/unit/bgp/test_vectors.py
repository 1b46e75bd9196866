"""Exact wire bytes for every message type, computed by hand from RFC 4271 §4 and the RFCs cited.

Each vector is checked both ways (encode gives these bytes, decode gives the message), so the encoder is
not only checked against our own decoder.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_network

import pytest

from bgp import (
    CodecContext,
    FourOctetAs,
    GracefulRestart,
    GrFamily,
    Keepalive,
    Message,
    Multiprotocol,
    Notification,
    Open,
    RouteRefresh,
    RouteRefreshCap,
    UnknownCapability,
    Update,
    decode,
    encode,
)
from bgp.attributes import (
    AsPath,
    AsPathSegment,
    Communities,
    LargeCommunities,
    LocalPref,
    MpReach,
    MpUnreach,
    NextHop,
    Origin,
)
from bgp.codec import UpdateResult

M = "ff" * 16


def hx(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


OPEN_BASIC = Open(
    my_as=64512,
    hold_time=90,
    bgp_id=IPv4Address("192.0.2.1"),
    capabilities=(Multiprotocol(1, 1), RouteRefreshCap(), FourOctetAs(64512)),
)
# RFC 4271 §4.2 + RFC 5492 §4: version 4, AS 0xfc00, hold 0x005a, id c0000201, opt len 0x14, then each
# capability in its own parameter type 2: MP (RFC 4760 §8), route refresh (RFC 2918), 4-octet AS (RFC 6793).
OPEN_BASIC_HEX = M + "0031 01 04 fc00 005a c0000201 14 0206 01040001 0001 0202 0200 0206 4104 0000fc00"

OPEN_GR = Open(
    my_as=23456,
    hold_time=0,
    bgp_id=IPv4Address("203.0.113.9"),
    capabilities=(FourOctetAs(4200000000), GracefulRestart(True, 120, (GrFamily(2, 1, True),))),
)
# RFC 6793: My AS = AS_TRANS 0x5ba0, capability value fa56ea00; RFC 4724 §3: R bit + 120 s = 0x8078,
# AFI 2 SAFI 1, F bit 0x80.
OPEN_GR_HEX = M + "002f 01 04 5ba0 0000 cb007109 12 0206 4104 fa56ea00 0208 4006 8078 0002 01 80"

UPDATE_V4 = Update(
    attributes=(
        Origin(0),
        AsPath((AsPathSegment(2, (64512,)),)),
        NextHop(IPv4Address("192.0.2.1")),
        Communities((0xFDE80064,)),
    ),
    nlri=(ip_network("198.51.100.0/24"),),
)
# RFC 4271 §4.3: withdrawn len 0, attr len 0x1b; ORIGIN IGP, AS_PATH SEQUENCE(64512) 4-octet (RFC 6793),
# NEXT_HOP, COMMUNITIES 65000:100 (RFC 1997, optional transitive 0xc0); NLRI /24 = 18 c63364.
UPDATE_V4_HEX = M + "0036 02 0000 001b 40010100 4002060201 0000fc00 400304c0000201 c00804fde80064 18c63364"

UPDATE_V6 = Update(
    attributes=(
        Origin(0),
        AsPath(()),
        LocalPref(100),
        MpReach(2, 1, (IPv6Address("2001:db8::1"),), (ip_network("2001:db8:1::/48"),)),
    )
)
# RFC 4760 §3: MP_REACH_NLRI optional non-transitive (0x80), 1-octet length (RFC 4271 §4.3): AFI 2, SAFI 1,
# NH length 16, next hop, reserved 0, NLRI /48 = 30 20010db80001.
UPDATE_V6_HEX = (
    M + "0044 02 0000 002d 40010100 400200 40050400000064 "
    "800e1c 0002 01 10 20010db8000000000000000000000001 00 30 20010db80001"
)

UPDATE_WITHDRAW = Update(withdrawn=(ip_network("198.51.100.0/24"), ip_network("203.0.113.128/25")))
UPDATE_WITHDRAW_HEX = M + "0020 02 0009 18c63364 19cb007180 0000"

UPDATE_MP_UNREACH = Update(attributes=(MpUnreach(2, 1, (ip_network("2001:db8::/32"),)),))
UPDATE_MP_UNREACH_HEX = M + "0022 02 0000 000b 800f 08 0002 01 20 20010db8"

UPDATE_LARGE = Update(
    attributes=(Origin(2), AsPath(()), NextHop(IPv4Address("192.0.2.1")), LargeCommunities(((64512, 1, 2),))),
    nlri=(ip_network("0.0.0.0/0"),),
)
# RFC 8092 §3: LARGE_COMMUNITY type 32, optional transitive, 12 octets per community; default route NLRI 00.
UPDATE_LARGE_HEX = M + "0035 02 0000 001d 40010102 400200 400304c0000201 c0200c 0000fc00 00000001 00000002 00"

NOTIFICATION_SHUTDOWN = Notification(6, 2, hx("03 627965"))
NOTIFICATION_SHUTDOWN_HEX = M + "0019 03 06 02 03627965"

VECTORS: list[tuple[Message, str]] = [
    (Keepalive(), M + "0013 04"),
    (OPEN_BASIC, OPEN_BASIC_HEX),
    (OPEN_GR, OPEN_GR_HEX),
    (UPDATE_V4, UPDATE_V4_HEX),
    (UPDATE_V6, UPDATE_V6_HEX),
    (UPDATE_WITHDRAW, UPDATE_WITHDRAW_HEX),
    (UPDATE_MP_UNREACH, UPDATE_MP_UNREACH_HEX),
    (UPDATE_LARGE, UPDATE_LARGE_HEX),
    (Update(), M + "0017 02 0000 0000"),  # RFC 4724 §2 End-of-RIB for IPv4 unicast
    (NOTIFICATION_SHUTDOWN, NOTIFICATION_SHUTDOWN_HEX),
    (Notification(4, 0), M + "0015 03 0400"),
    (RouteRefresh(2, 1), M + "0017 05 0002 00 01"),  # RFC 2918 §3
    (Open(65001, 180, IPv4Address("198.51.100.7"), (UnknownCapability(73, b"ab"),)), None),
]


@pytest.mark.parametrize(("msg", "wire"), [v for v in VECTORS if v[1] is not None])
def test_encode_gives_the_hand_computed_bytes(msg: Message, wire: str) -> None:
    assert encode(msg).hex() == hx(wire).hex()


@pytest.mark.parametrize(("msg", "wire"), [v for v in VECTORS if v[1] is not None])
def test_decode_gives_the_message(msg: Message, wire: str) -> None:
    got = decode(hx(wire))
    if isinstance(msg, Update):
        assert isinstance(got, UpdateResult)
        assert got.problems == ()
        assert got.update == msg
    else:
        assert got == msg


def test_unknown_capability_round_trips() -> None:
    msg = VECTORS[-1][0]
    assert decode(encode(msg)) == msg


def test_two_octet_context_uses_as_trans_in_as_path() -> None:
    # RFC 6793 §4.2.2: towards an OLD speaker, ASes above 65535 become AS_TRANS (0x5ba0) in AS_PATH.
    upd = Update(attributes=(AsPath((AsPathSegment(2, (4200000000, 65001)),)),))
    wire = encode(upd, CodecContext(four_octet_as=False))
    assert wire[19:].hex() == hx("0000 0009 40020602025ba0fde9").hex()


def test_shutdown_communication_helpers() -> None:
    # RFC 8203 §2: length octet then UTF-8.
    n = Notification.cease(2, "maintenance ü")
    assert n.data == bytes((14,)) + "maintenance ü".encode()
    assert n.shutdown_communication() == "maintenance ü"
    assert Notification.cease(2, "x" * 300).data[0] == 255  # RFC 9003 §2: at most 255 octets
    assert Notification.cease(2, "é" * 200).shutdown_communication() == "é" * 127  # cut on a character
    assert Notification.cease(10).data == b""  # RFC 9384 BFD Down carries no text
    assert Notification(6, 2, b"\x05ab").shutdown_communication() is None  # RFC 8203 §4: length overrun
