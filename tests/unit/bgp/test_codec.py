"""Header, OPEN and UPDATE error outcomes: the NOTIFICATION RFC 4271 §6 names, or the RFC 7606 handling."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, ip_network

import pytest

from bgp import BgpError, CodecContext, Handling, MessageReader, Notification, Open, Update, decode, encode
from bgp.attributes import (
    As4Path,
    AsPath,
    AsPathSegment,
    MpReach,
    MpUnreach,
    Origin,
    UnknownAttribute,
    merge_as4_path,
)
from bgp.capabilities import GracefulRestart, Multiprotocol, UnknownCapability, decode_parameters
from bgp.codec import UpdateResult, decode_update, frame

M = b"\xff" * 16
ORIGIN = bytes.fromhex("40010100")
AS_PATH_EMPTY = bytes.fromhex("400200")
NEXT_HOP = bytes.fromhex("400304c0000201")
NLRI = bytes.fromhex("18c63364")


def update_body(attrs: bytes, nlri: bytes = NLRI, withdrawn: bytes = b"") -> bytes:
    return len(withdrawn).to_bytes(2, "big") + withdrawn + len(attrs).to_bytes(2, "big") + attrs + nlri


def outcome(attrs: bytes, nlri: bytes = NLRI, ctx: CodecContext | None = None) -> UpdateResult:
    return decode_update(update_body(attrs, nlri), ctx or CodecContext())


def err(code: int, subcode: int, data: bytes = b"") -> BgpError:
    return BgpError(code, subcode, data)


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        # RFC 4271 §6.1: marker not all ones -> 1/1.
        (b"\x00" * 16 + b"\x00\x13\x04", err(1, 1)),
        # Length outside 19..4096 -> 1/2 with the length field as data.
        (M + b"\x00\x12\x04", err(1, 2, b"\x00\x12")),
        (M + b"\x10\x01\x02", err(1, 2, b"\x10\x01")),
        # KEEPALIVE must be exactly 19, OPEN at least 29, NOTIFICATION at least 21.
        (M + b"\x00\x14\x04\x00", err(1, 2, b"\x00\x14")),
        (M + b"\x00\x1c\x01" + b"\x00" * 9, err(1, 2, b"\x00\x1c")),
        (M + b"\x00\x14\x03\x06", err(1, 2, b"\x00\x14")),
        # ROUTE-REFRESH must be exactly 23 (RFC 2918 §3).
        (M + b"\x00\x18\x05" + b"\x00\x01\x00\x01\x00", err(1, 2, b"\x00\x18")),
        # Unknown type -> 1/3 with the type as data.
        (M + b"\x00\x13\x09", err(1, 3, b"\x09")),
    ],
)
def test_header_errors(wire: bytes, expected: BgpError) -> None:
    with pytest.raises(BgpError) as info:
        MessageReader().feed(wire)
    assert info.value == expected


def test_reader_frames_split_and_joined_messages() -> None:
    keepalive = M + b"\x00\x13\x04"
    reader = MessageReader()
    stream = keepalive * 3
    got = [m for i in range(0, len(stream), 7) for m in reader.feed(stream[i : i + 7])]
    assert len(got) == 3
    assert reader.next_message() is None


def open_body(version: int = 4, params: bytes = b"\x00") -> bytes:
    return bytes((version,)) + b"\xfc\x00\x00\x5a\xc0\x00\x02\x01" + params


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # RFC 4271 §6.2: unsupported version -> 2/1, data = largest supported version (2 octets).
        (open_body(3), err(2, 1, b"\x00\x04")),
        # Unknown optional parameter type (1 = deprecated authentication) -> 2/4.
        (open_body(params=b"\x03\x01\x01\x00"), err(2, 4)),
        # Parameters longer than the message.
        (open_body(params=b"\x08\x02\x02"), err(2, 0)),
        # Trailing octets after the parameters.
        (open_body(params=b"\x00\x00"), err(2, 0)),
        # Malformed multiprotocol capability (length 3).
        (open_body(params=b"\x05\x02\x03\x01\x03\x00\x01\x00"), err(2, 0)),
    ],
)
def test_open_errors(body: bytes, expected: BgpError) -> None:
    with pytest.raises(BgpError) as info:
        decode(frame(1, body))
    assert info.value == expected


def test_extended_optional_parameters_rfc9072() -> None:
    # RFC 9072 §2: 255, 255, 2-octet length; each parameter with a 2-octet length.
    cap = b"\x01\x04\x00\x02\x00\x01"
    params = b"\xff\xff" + (3 + len(cap)).to_bytes(2, "big") + b"\x02" + len(cap).to_bytes(2, "big") + cap
    msg = decode(frame(1, open_body(params=params)))
    assert isinstance(msg, Open)
    assert msg.capabilities == (Multiprotocol(2, 1),)


def test_large_capability_set_uses_extended_parameters_and_round_trips() -> None:
    caps = tuple(UnknownCapability(200 + i % 50, bytes(40)) for i in range(10))
    msg = Open(64512, 90, IPv4Address("192.0.2.1"), caps)
    wire = encode(msg)
    assert wire[28:30] == b"\xff\xff"
    assert decode(wire) == msg


def test_graceful_restart_capability_without_families() -> None:
    caps, used = decode_parameters(bytes.fromhex("06 0204 4002 0000"))
    assert caps == (GracefulRestart(False, 0, ()),)
    assert used == 7


# RFC 7606 outcomes, per attribute -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attrs", "handling", "subcode"),
    [
        # §7.1 ORIGIN with a bad length or an undefined value.
        (b"\x40\x01\x02\x00\x00" + AS_PATH_EMPTY + NEXT_HOP, Handling.TREAT_AS_WITHDRAW, 5),
        (b"\x40\x01\x01\x07" + AS_PATH_EMPTY + NEXT_HOP, Handling.TREAT_AS_WITHDRAW, 6),
        # §7.2 AS_PATH segment overrun / zero-length segment / unknown type.
        (ORIGIN + b"\x40\x02\x04\x02\x02\x00\x01" + NEXT_HOP, Handling.TREAT_AS_WITHDRAW, 11),
        (ORIGIN + b"\x40\x02\x02\x02\x00" + NEXT_HOP, Handling.TREAT_AS_WITHDRAW, 11),
        (ORIGIN + b"\x40\x02\x06\x09\x01\x00\x00\x00\x01" + NEXT_HOP, Handling.TREAT_AS_WITHDRAW, 11),
        # §7.3 NEXT_HOP length.
        (ORIGIN + AS_PATH_EMPTY + b"\x40\x03\x03\xc0\x00\x02", Handling.TREAT_AS_WITHDRAW, 5),
        # §7.4 MED length, §7.5 LOCAL_PREF length.
        (ORIGIN + AS_PATH_EMPTY + NEXT_HOP + b"\x80\x04\x02\x00\x00", Handling.TREAT_AS_WITHDRAW, 5),
        (ORIGIN + AS_PATH_EMPTY + NEXT_HOP + b"\x40\x05\x02\x00\x00", Handling.TREAT_AS_WITHDRAW, 5),
        # §7.6 ATOMIC_AGGREGATE with a value, §7.7 AGGREGATOR of the wrong size: attribute discard.
        (ORIGIN + AS_PATH_EMPTY + NEXT_HOP + b"\x40\x06\x01\x00", Handling.ATTRIBUTE_DISCARD, 5),
        (ORIGIN + AS_PATH_EMPTY + NEXT_HOP + b"\xc0\x07\x07" + bytes(7), Handling.ATTRIBUTE_DISCARD, 5),
        # §7.8 COMMUNITIES not a multiple of 4; RFC 8092 §6 LARGE_COMMUNITY not a multiple of 12.
        (ORIGIN + AS_PATH_EMPTY + NEXT_HOP + b"\xc0\x08\x03" + bytes(3), Handling.TREAT_AS_WITHDRAW, 9),
        (ORIGIN + AS_PATH_EMPTY + NEXT_HOP + b"\xc0\x20\x08" + bytes(8), Handling.TREAT_AS_WITHDRAW, 9),
        # §3c: flags conflicting with the type take the attribute's own handling.
        (b"\xc0\x01\x01\x00" + AS_PATH_EMPTY + NEXT_HOP, Handling.TREAT_AS_WITHDRAW, 4),
        # §3d: missing well-known attribute (NEXT_HOP with IPv4 NLRI).
        (ORIGIN + AS_PATH_EMPTY, Handling.TREAT_AS_WITHDRAW, 3),
        # §3g: a repeated ordinary attribute keeps the first; a repeated MP attribute resets.
        (ORIGIN + ORIGIN + AS_PATH_EMPTY + NEXT_HOP, Handling.ATTRIBUTE_DISCARD, 1),
        (ORIGIN + AS_PATH_EMPTY + NEXT_HOP + b"\x80\x0f\x03\x00\x02\x01" * 2, Handling.SESSION_RESET, 1),
        # §4: attribute overrunning the attribute field / a truncated attribute header.
        (ORIGIN + AS_PATH_EMPTY + NEXT_HOP + b"\xc0\x08\x08\x00", Handling.TREAT_AS_WITHDRAW, 5),
        (ORIGIN + AS_PATH_EMPTY + NEXT_HOP + b"\xc0\x08", Handling.TREAT_AS_WITHDRAW, 1),
        # §7.11 MP_REACH whose NLRI cannot be parsed: session reset; bad next-hop length: withdraw.
        (
            ORIGIN + AS_PATH_EMPTY + NEXT_HOP + b"\x80\x0e\x07\x00\x02\x01\x00\x00\x81\x00",
            Handling.SESSION_RESET,
            9,
        ),
        (
            ORIGIN + AS_PATH_EMPTY + NEXT_HOP + b"\x80\x0e\x06\x00\x02\x01\x01\x00\x00",
            Handling.TREAT_AS_WITHDRAW,
            9,
        ),
        # RFC 4271 §6.3: an unrecognized well-known attribute.
        (ORIGIN + AS_PATH_EMPTY + NEXT_HOP + b"\x40\x63\x00", Handling.SESSION_RESET, 2),
        # RFC 6793 §6: malformed AS4_PATH is discarded (from an OLD speaker: 2-octet context below).
        (ORIGIN + AS_PATH_EMPTY + NEXT_HOP + b"\xc0\x11\x01\x02", Handling.ATTRIBUTE_DISCARD, 11),
    ],
)
def test_rfc7606_handling(attrs: bytes, handling: Handling, subcode: int) -> None:
    got = outcome(attrs, ctx=CodecContext(four_octet_as=False))
    assert got.handling == handling, got.problems
    assert got.error is not None
    assert (got.error.code, got.error.subcode) == (3, subcode)


def test_unknown_optional_attribute_is_kept_and_no_nlri_needs_no_mandatory_attributes() -> None:
    got = outcome(b"\xc0\x63\x02ab", nlri=b"")
    assert got.handling == Handling.OK
    assert got.update.attributes[0].type_code == 0x63  # type: ignore[union-attr]


def test_inconsistent_lengths_reset_the_session() -> None:
    # RFC 7606 §5.3 / RFC 4271 §6.3: Withdrawn Routes Length or Total Attribute Length overrun -> 3/1.
    assert decode_update(b"\x00\x09\x00", CodecContext()).handling == Handling.SESSION_RESET
    assert decode_update(b"\x00\x00\x00\x09\x00", CodecContext()).handling == Handling.SESSION_RESET
    bad_nlri = decode_update(update_body(ORIGIN + AS_PATH_EMPTY + NEXT_HOP, nlri=b"\x21\x00"), CodecContext())
    assert bad_nlri.handling == Handling.SESSION_RESET
    assert bad_nlri.error == BgpError(3, 10)


def test_as4_path_from_old_speaker_kept_and_from_new_speaker_ignored() -> None:
    as4 = b"\xc0\x11\x06\x02\x01\xfa\x56\xea\x00"
    attrs = ORIGIN + b"\x40\x02\x04\x02\x01\x5b\xa0" + NEXT_HOP + as4
    old = outcome(attrs, ctx=CodecContext(four_octet_as=False))
    assert old.handling == Handling.OK
    assert AsPath((AsPathSegment(2, (23456,)),)) in old.update.attributes
    assert As4Path((AsPathSegment(2, (4200000000,)),)) in old.update.attributes
    new = outcome(ORIGIN + AS_PATH_EMPTY + NEXT_HOP + as4)
    assert not any(isinstance(a, As4Path) for a in new.update.attributes)
    assert Origin(0) in new.update.attributes


def test_local_pref_from_external_peer_is_ignored() -> None:
    got = outcome(
        ORIGIN + AS_PATH_EMPTY + NEXT_HOP + b"\x40\x05\x04\x00\x00\x00\x64", ctx=CodecContext(ebgp=True)
    )
    assert got.handling == Handling.OK
    assert len(got.update.attributes) == 3


def test_families_not_negotiated_stay_opaque() -> None:
    mp = b"\x80\x0e\x1c\x00\x02\x01\x10" + bytes(16) + b"\x00\x30" + bytes(6)
    got = outcome(ORIGIN + AS_PATH_EMPTY + mp, nlri=b"", ctx=CodecContext(families=frozenset({(1, 1)})))
    assert got.handling == Handling.OK
    assert got.update.announced() == ()


def test_as4_path_merge_rfc6793() -> None:
    seq, aset = 2, 1
    # OLD speaker 65001 received a path through 4200000000 and 4200000001: AS_TRANS twice in AS_PATH.
    as_path = AsPath((AsPathSegment(seq, (65001, 23456, 23456)),))
    as4 = As4Path((AsPathSegment(seq, (4200000000, 4200000001)),))
    upd = Update(attributes=(as_path, as4))
    assert upd.as_path() == AsPath(
        (AsPathSegment(seq, (65001,)), AsPathSegment(seq, (4200000000, 4200000001)))
    )
    # An AS4_PATH longer than AS_PATH is ignored; an AS_SET counts as one AS.
    assert merge_as4_path(AsPath((AsPathSegment(seq, (1,)),)), as4) == AsPath((AsPathSegment(seq, (1,)),))
    with_set = AsPath((AsPathSegment(aset, (1, 2, 3)), AsPathSegment(seq, (23456,))))
    merged = merge_as4_path(with_set, As4Path((AsPathSegment(seq, (4200000000,)),)))
    assert merged == AsPath((AsPathSegment(aset, (1, 2, 3)), AsPathSegment(seq, (4200000000,))))
    assert Update().as_path() is None
    assert Update(attributes=(as_path,)).as_path() == as_path


@pytest.mark.parametrize(
    ("attrs", "nlri", "handling"),
    [
        # RFC 7606 §7.11: MP attributes too short to locate their NLRI reset the session.
        (b"\x80\x0e\x03\x00\x02\x01", b"", Handling.SESSION_RESET),
        (b"\x80\x0f\x02\x00\x02", b"", Handling.SESSION_RESET),
        # MP_UNREACH with an unparseable prefix resets; one of a family not negotiated stays opaque.
        (b"\x80\x0f\x05\x00\x02\x01\x81\x00", b"", Handling.SESSION_RESET),
        (b"\x80\x0f\x04\x00\x19\x46\x00", b"", Handling.OK),
    ],
)
def test_mp_attribute_outcomes(attrs: bytes, nlri: bytes, handling: Handling) -> None:
    assert outcome(attrs, nlri).handling == handling


def test_classic_prefix_overrunning_its_field_resets() -> None:
    got = decode_update(update_body(ORIGIN + AS_PATH_EMPTY + NEXT_HOP, nlri=b"\x18\xc6\x33"), CodecContext())
    assert (got.handling, got.error) == (Handling.SESSION_RESET, BgpError(3, 10))


def test_update_accessors() -> None:
    p4, p6 = ip_network("198.51.100.0/24"), ip_network("2001:db8::/32")
    upd = Update(
        withdrawn=(p4,),
        attributes=(MpReach(2, 1, (), (p6,)), MpUnreach(2, 1, (p6,))),
        nlri=(p4,),
    )
    assert upd.announced() == (p4, p6)
    assert upd.withdrawals() == (p4, p6)
    assert upd.end_of_rib() is None
    # The End-of-RIB of a family we did not negotiate is still recognised.
    assert Update(attributes=(UnknownAttribute(0x80, 15, b"\x00\x19\x46"),)).end_of_rib() == (25, 70)
    assert Update(attributes=(Origin(0),)).end_of_rib() is None


def test_decode_checks_the_frame_and_encode_refuses_oversized_messages() -> None:
    with pytest.raises(BgpError) as info:
        decode(M + b"\x00")
    assert info.value == BgpError(1, 2)
    with pytest.raises(BgpError) as info:
        decode(M + b"\x00\x13\x04" + b"\x00")
    assert info.value == BgpError(1, 2, b"\x00\x13")
    assert len(encode(Update())) == 23
    too_many = Update(withdrawn=tuple(IPv4Network((i << 8, 24)) for i in range(1100)))
    with pytest.raises(ValueError):
        encode(too_many)


def test_shutdown_communication_that_is_not_utf8_is_ignored() -> None:
    assert Notification(6, 2, b"\x02\xff\xfe").shutdown_communication() is None
    assert Notification(6, 3, b"\x02ab").shutdown_communication() is None


@pytest.mark.parametrize(
    "params",
    [
        "05 0203 010100",  # multiprotocol of length 1
        "05 0203 020100",  # route refresh with a value
        "05 0203 410100",  # 4-octet AS of length 1
        "05 0203 400100",  # graceful restart of length 1
        "03 0201 01",  # capability header truncated
        "04 0202 0105",  # capability longer than its parameter
        "02 0203",  # parameter longer than the parameters
        "01 02",  # parameter header truncated
        "ff ff 00",  # RFC 9072 extended length truncated
    ],
)
def test_malformed_capabilities_are_2_0(params: str) -> None:
    # RFC 4271 §6.2: a recognized but malformed optional parameter -> subcode 0 (Unspecific).
    with pytest.raises(BgpError) as info:
        decode_parameters(bytes.fromhex(params))
    assert (info.value.code, info.value.subcode) == (2, 0)


def test_parameters_need_a_length_octet_and_errors_compare_by_value() -> None:
    with pytest.raises(BgpError):
        decode_parameters(b"")
    assert BgpError(1, 1) != "x"
    assert "BgpError(1, 2" in repr(BgpError(1, 2))
