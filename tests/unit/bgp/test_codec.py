"""Header, OPEN and UPDATE error outcomes: the NOTIFICATION RFC 4271 §6 names, or the RFC 7606 handling."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from bgp import BgpError, CodecContext, Handling, MessageReader, Open, Update, decode, encode
from bgp.attributes import As4Path, AsPath, AsPathSegment, Origin, merge_as4_path
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
