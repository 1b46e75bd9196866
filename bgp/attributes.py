"""Path attributes (RFC 4271 §4.3, §5) and their codec with RFC 7606 error handling.

Decoding never raises: `decode_attributes` reports how bad the worst problem was as a `Handling`, from
"use it" to "reset the session", following the per-attribute rules of RFC 7606 §7.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from bgp.errors import BgpError, ErrorCode, UpdateSubcode
from bgp.families import SUPPORTED_FAMILIES, Address, Family, Prefix
from bgp.prefixes import PrefixError, decode_prefixes, encode_prefixes

# RFC 4271 §4.3: Attribute Flags.
OPTIONAL = 0x80
TRANSITIVE = 0x40
PARTIAL = 0x20
EXTENDED_LENGTH = 0x10

# Attribute type codes (RFC 4271 §5, RFC 1997, RFC 4456, RFC 4760, RFC 6793, RFC 8092).
ORIGIN = 1
AS_PATH = 2
NEXT_HOP = 3
MULTI_EXIT_DISC = 4
LOCAL_PREF = 5
ATOMIC_AGGREGATE = 6
AGGREGATOR = 7
COMMUNITIES = 8
ORIGINATOR_ID = 9
CLUSTER_LIST = 10
MP_REACH_NLRI = 14
MP_UNREACH_NLRI = 15
AS4_PATH = 17
AS4_AGGREGATOR = 18
LARGE_COMMUNITY = 32

# RFC 6793 §9: the 2-octet stand-in for a 4-octet AS number.
AS_TRANS = 23456

# RFC 4271 §4.3: ORIGIN values.
ORIGIN_IGP = 0
ORIGIN_EGP = 1
ORIGIN_INCOMPLETE = 2

# RFC 4271 §4.3 (AS_SET, AS_SEQUENCE), RFC 5065 §3 (confederation segments).
AS_SET = 1
AS_SEQUENCE = 2
AS_CONFED_SEQUENCE = 3
AS_CONFED_SET = 4


class Handling(enum.IntEnum):
    """RFC 7606 §2 error-handling approaches, ordered by severity (a message gets the worst one)."""

    OK = 0
    ATTRIBUTE_DISCARD = 1
    TREAT_AS_WITHDRAW = 2
    SESSION_RESET = 3


@dataclass(frozen=True, slots=True)
class Origin:
    value: int = ORIGIN_IGP


@dataclass(frozen=True, slots=True)
class AsPathSegment:
    type: int
    asns: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class AsPath:
    segments: tuple[AsPathSegment, ...] = ()


@dataclass(frozen=True, slots=True)
class NextHop:
    address: IPv4Address


@dataclass(frozen=True, slots=True)
class MultiExitDisc:
    value: int


@dataclass(frozen=True, slots=True)
class LocalPref:
    value: int


@dataclass(frozen=True, slots=True)
class AtomicAggregate:
    pass


@dataclass(frozen=True, slots=True)
class Aggregator:
    asn: int
    address: IPv4Address


@dataclass(frozen=True, slots=True)
class Communities:
    """RFC 1997: 32-bit values (high 16 bits AS, low 16 bits value)."""

    values: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class OriginatorId:
    address: IPv4Address


@dataclass(frozen=True, slots=True)
class ClusterList:
    ids: tuple[IPv4Address, ...]


@dataclass(frozen=True, slots=True)
class MpReach:
    """RFC 4760 §3: next hops are one address, or IPv6 global + link-local (RFC 2545 §3)."""

    afi: int
    safi: int
    next_hops: tuple[Address, ...]
    nlri: tuple[Prefix, ...]


@dataclass(frozen=True, slots=True)
class MpUnreach:
    """RFC 4760 §4; with no prefixes it is the End-of-RIB marker of its family (RFC 4724 §2)."""

    afi: int
    safi: int
    withdrawn: tuple[Prefix, ...]


@dataclass(frozen=True, slots=True)
class As4Path:
    segments: tuple[AsPathSegment, ...]


@dataclass(frozen=True, slots=True)
class As4Aggregator:
    asn: int
    address: IPv4Address


@dataclass(frozen=True, slots=True)
class LargeCommunities:
    """RFC 8092 §3: (global administrator, local data 1, local data 2), 32 bits each."""

    values: tuple[tuple[int, int, int], ...]


@dataclass(frozen=True, slots=True)
class UnknownAttribute:
    flags: int
    type_code: int
    value: bytes


Attribute = (
    Origin
    | AsPath
    | NextHop
    | MultiExitDisc
    | LocalPref
    | AtomicAggregate
    | Aggregator
    | Communities
    | OriginatorId
    | ClusterList
    | MpReach
    | MpUnreach
    | As4Path
    | As4Aggregator
    | LargeCommunities
    | UnknownAttribute
)

_WELL_KNOWN = TRANSITIVE
_OPT_TRANS = OPTIONAL | TRANSITIVE
_OPT_NON_TRANS = OPTIONAL

# Type code and the Optional/Transitive flags each known attribute must carry (RFC 4271 §5, RFC 7606 §3c).
_KINDS: dict[type, tuple[int, int]] = {
    Origin: (ORIGIN, _WELL_KNOWN),
    AsPath: (AS_PATH, _WELL_KNOWN),
    NextHop: (NEXT_HOP, _WELL_KNOWN),
    MultiExitDisc: (MULTI_EXIT_DISC, _OPT_NON_TRANS),
    LocalPref: (LOCAL_PREF, _WELL_KNOWN),
    AtomicAggregate: (ATOMIC_AGGREGATE, _WELL_KNOWN),
    Aggregator: (AGGREGATOR, _OPT_TRANS),
    Communities: (COMMUNITIES, _OPT_TRANS),
    OriginatorId: (ORIGINATOR_ID, _OPT_NON_TRANS),
    ClusterList: (CLUSTER_LIST, _OPT_NON_TRANS),
    MpReach: (MP_REACH_NLRI, _OPT_NON_TRANS),
    MpUnreach: (MP_UNREACH_NLRI, _OPT_NON_TRANS),
    As4Path: (AS4_PATH, _OPT_TRANS),
    As4Aggregator: (AS4_AGGREGATOR, _OPT_TRANS),
    LargeCommunities: (LARGE_COMMUNITY, _OPT_TRANS),
}
_FLAGS_OF: dict[int, int] = dict(_KINDS.values())


def type_code(attr: Attribute) -> int:
    return attr.type_code if isinstance(attr, UnknownAttribute) else _KINDS[type(attr)][0]


def _segments(segments: tuple[AsPathSegment, ...], four_octet: bool) -> bytes:
    out = bytearray()
    for seg in segments:
        # RFC 4271 §4.3: a segment holds at most 255 ASes; longer runs are split into several segments.
        for i in range(0, max(len(seg.asns), 1), 255):
            chunk = seg.asns[i : i + 255]
            out += bytes((seg.type, len(chunk)))
            for asn in chunk:
                # RFC 6793 §4.2.2: a 2-octet AS_PATH carries AS_TRANS for ASes above 65535.
                out += asn.to_bytes(4, "big") if four_octet else min_as(asn).to_bytes(2, "big")
    return bytes(out)


def min_as(asn: int) -> int:
    """The AS number as a 2-octet field holds it (RFC 6793 §9)."""
    return asn if asn <= 0xFFFF else AS_TRANS


def _path_length(segments: tuple[AsPathSegment, ...]) -> int:
    # RFC 4271 §9.1.2.2: an AS_SET counts as one AS; RFC 5065 §5.3: confederation segments count zero.
    return sum(len(s.asns) if s.type == AS_SEQUENCE else 1 if s.type == AS_SET else 0 for s in segments)


def merge_as4_path(as_path: AsPath, as4_path: As4Path | None) -> AsPath:
    """The real AS path from an OLD speaker's AS_PATH (with AS_TRANS) and AS4_PATH (RFC 6793 §4.2.3)."""
    if as4_path is None:
        return as_path
    # RFC 6793 §6: confederation segments in AS4_PATH are discarded.
    four = tuple(s for s in as4_path.segments if s.type in (AS_SET, AS_SEQUENCE))
    missing = _path_length(as_path.segments) - _path_length(four)
    if missing < 0:
        return as_path  # §4.2.3: AS4_PATH longer than AS_PATH is ignored
    lead: list[AsPathSegment] = []
    for seg in as_path.segments:
        if missing <= 0:
            break
        if seg.type == AS_SEQUENCE:
            lead.append(AsPathSegment(AS_SEQUENCE, seg.asns[:missing]))
            missing -= len(lead[-1].asns)
        else:
            lead.append(seg)
            missing -= 1 if seg.type == AS_SET else 0
    return AsPath((*lead, *four))


def _value(attr: Attribute, four_octet: bool) -> bytes:
    if isinstance(attr, Origin):
        return bytes((attr.value,))
    if isinstance(attr, AsPath):
        return _segments(attr.segments, four_octet)
    if isinstance(attr, As4Path):
        return _segments(attr.segments, True)
    if isinstance(attr, NextHop | OriginatorId):
        return attr.address.packed
    if isinstance(attr, MultiExitDisc | LocalPref):
        return attr.value.to_bytes(4, "big")
    if isinstance(attr, AtomicAggregate):
        return b""
    if isinstance(attr, Aggregator):
        asn = attr.asn.to_bytes(4, "big") if four_octet else min_as(attr.asn).to_bytes(2, "big")
        return asn + attr.address.packed
    if isinstance(attr, As4Aggregator):
        return attr.asn.to_bytes(4, "big") + attr.address.packed
    if isinstance(attr, Communities):
        return b"".join(v.to_bytes(4, "big") for v in attr.values)
    if isinstance(attr, ClusterList):
        return b"".join(a.packed for a in attr.ids)
    if isinstance(attr, LargeCommunities):
        return b"".join(
            a.to_bytes(4, "big") + b.to_bytes(4, "big") + c.to_bytes(4, "big") for a, b, c in attr.values
        )
    if isinstance(attr, MpReach):
        nh = b"".join(a.packed for a in attr.next_hops)
        # RFC 4760 §3: AFI, SAFI, Length of Next Hop, Next Hop, Reserved (1 octet), NLRI.
        head = attr.afi.to_bytes(2, "big") + bytes((attr.safi, len(nh))) + nh + b"\x00"
        return head + encode_prefixes(attr.nlri)
    if isinstance(attr, MpUnreach):
        return attr.afi.to_bytes(2, "big") + bytes((attr.safi,)) + encode_prefixes(attr.withdrawn)
    return attr.value


def frame_attribute(flags: int, code: int, value: bytes) -> bytes:
    """Flags, type, length (RFC 4271 §4.3): the Extended Length bit only when the value needs it."""
    if len(value) > 255:
        return bytes((flags | EXTENDED_LENGTH, code)) + len(value).to_bytes(2, "big") + value
    return bytes((flags & ~EXTENDED_LENGTH, code, len(value))) + value


def encode_attribute(attr: Attribute, four_octet_as: bool) -> bytes:
    if isinstance(attr, UnknownAttribute):
        return frame_attribute(attr.flags, attr.type_code, attr.value)
    code, flags = _KINDS[type(attr)]
    return frame_attribute(flags, code, _value(attr, four_octet_as))


def encode_attributes(attrs: tuple[Attribute, ...], four_octet_as: bool) -> bytes:
    return b"".join(encode_attribute(a, four_octet_as) for a in attrs)


@dataclass(frozen=True, slots=True)
class AttributeResult:
    """The attributes that survived, the worst handling needed, and what was wrong."""

    attributes: tuple[Attribute, ...]
    handling: Handling
    error: BgpError | None
    problems: tuple[str, ...]


class _Malformed(Exception):
    def __init__(self, handling: Handling, subcode: int, reason: str) -> None:
        super().__init__(reason)
        self.handling = handling
        self.subcode = subcode
        self.reason = reason


def _decode_segments(value: bytes, width: int, handling: Handling, name: str) -> tuple[AsPathSegment, ...]:
    # RFC 7606 §7.2 / RFC 6793 §6: unknown segment type, zero-length segment or overrun is malformed.
    segs: list[AsPathSegment] = []
    pos = 0
    while pos < len(value):
        if pos + 2 > len(value):
            raise _Malformed(handling, UpdateSubcode.MALFORMED_AS_PATH, f"{name} segment header truncated")
        stype, count = value[pos], value[pos + 1]
        if stype not in (AS_SET, AS_SEQUENCE, AS_CONFED_SEQUENCE, AS_CONFED_SET) or count == 0:
            raise _Malformed(handling, UpdateSubcode.MALFORMED_AS_PATH, f"{name} segment type/length invalid")
        end = pos + 2 + count * width
        if end > len(value):
            raise _Malformed(handling, UpdateSubcode.MALFORMED_AS_PATH, f"{name} segment overruns")
        asns = tuple(int.from_bytes(value[i : i + width], "big") for i in range(pos + 2, end, width))
        segs.append(AsPathSegment(stype, asns))
        pos = end
    return tuple(segs)


def _fixed(value: bytes, size: int, handling: Handling, name: str) -> None:
    if len(value) != size:
        raise _Malformed(
            handling, UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, f"{name} length {len(value)} != {size}"
        )


def _multiple(value: bytes, size: int, handling: Handling, name: str) -> None:
    if not value or len(value) % size:
        raise _Malformed(
            handling, UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, f"{name} length {len(value)} invalid"
        )


_TAW = Handling.TREAT_AS_WITHDRAW
_DISCARD = Handling.ATTRIBUTE_DISCARD
_RESET = Handling.SESSION_RESET

# RFC 7606 §7: what a malformed instance of each attribute costs.
_MALFORMED_HANDLING: dict[int, Handling] = {
    ORIGIN: _TAW,  # §7.1
    AS_PATH: _TAW,  # §7.2
    NEXT_HOP: _TAW,  # §7.3
    MULTI_EXIT_DISC: _TAW,  # §7.4
    LOCAL_PREF: _TAW,  # §7.5
    ATOMIC_AGGREGATE: _DISCARD,  # §7.6
    AGGREGATOR: _DISCARD,  # §7.7
    COMMUNITIES: _TAW,  # §7.8
    ORIGINATOR_ID: _TAW,  # §7.9
    CLUSTER_LIST: _TAW,  # §7.10
    MP_REACH_NLRI: _RESET,  # §7.11 (NLRI that cannot be parsed; a bad next hop is only treat-as-withdraw)
    MP_UNREACH_NLRI: _RESET,  # §7.11
    AS4_PATH: _DISCARD,  # RFC 6793 §6
    AS4_AGGREGATOR: _DISCARD,  # RFC 6793 §6
    LARGE_COMMUNITY: _TAW,  # RFC 8092 §6
}


def _next_hops(afi: int, value: bytes) -> tuple[Address, ...]:
    if afi == 1 and len(value) == 4:
        return (IPv4Address(value),)
    if len(value) == 16:
        return (IPv6Address(value),)
    if len(value) == 32:
        return IPv6Address(value[:16]), IPv6Address(value[16:])
    # RFC 7606 §7.11: the next hop precedes the NLRI, so the NLRI can still be withdrawn.
    raise _Malformed(_TAW, UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, f"MP_REACH next hop length {len(value)}")


def _decode_mp_reach(flags: int, value: bytes, families: frozenset[Family]) -> Attribute:
    if len(value) < 5 or len(value) < 5 + value[3]:
        raise _Malformed(_RESET, UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, "MP_REACH_NLRI truncated")
    afi, safi, nhlen = int.from_bytes(value[0:2], "big"), value[2], value[3]
    if (afi, safi) not in families:
        # RFC 4760 §7 leaves families not negotiated to local policy: we keep them opaque and ignore them.
        return UnknownAttribute(flags, MP_REACH_NLRI, value)
    try:
        nlri = decode_prefixes(value[5 + nhlen :], afi)
    except PrefixError as exc:
        raise _Malformed(_RESET, UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, f"MP_REACH_NLRI: {exc}") from None
    return MpReach(afi, safi, _next_hops(afi, value[4 : 4 + nhlen]), nlri)


def _decode_mp_unreach(flags: int, value: bytes, families: frozenset[Family]) -> Attribute:
    if len(value) < 3:
        raise _Malformed(_RESET, UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, "MP_UNREACH_NLRI truncated")
    afi, safi = int.from_bytes(value[0:2], "big"), value[2]
    if (afi, safi) not in families:
        return UnknownAttribute(flags, MP_UNREACH_NLRI, value)
    try:
        return MpUnreach(afi, safi, decode_prefixes(value[3:], afi))
    except PrefixError as exc:
        raise _Malformed(_RESET, UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, f"MP_UNREACH_NLRI: {exc}") from None


def _decode_one(
    flags: int, code: int, value: bytes, ctx_four: bool, families: frozenset[Family]
) -> Attribute:
    bad = _MALFORMED_HANDLING.get(code)
    if bad is None:
        if not flags & OPTIONAL:
            # RFC 4271 §6.3: Unrecognized Well-known Attribute.
            raise _Malformed(
                _RESET, UpdateSubcode.UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE, f"unknown well-known {code}"
            )
        return UnknownAttribute(flags & ~EXTENDED_LENGTH, code, value)
    if flags & (OPTIONAL | TRANSITIVE) != _FLAGS_OF[code]:
        # RFC 7606 §3c: a flags conflict gets the attribute's own error handling.
        raise _Malformed(bad, UpdateSubcode.ATTRIBUTE_FLAGS_ERROR, f"attribute {code} flags {flags:#x}")
    if code == ORIGIN:
        _fixed(value, 1, bad, "ORIGIN")
        if value[0] > ORIGIN_INCOMPLETE:
            raise _Malformed(bad, UpdateSubcode.INVALID_ORIGIN_ATTRIBUTE, f"ORIGIN value {value[0]}")
        return Origin(value[0])
    if code == AS_PATH:
        return AsPath(_decode_segments(value, 4 if ctx_four else 2, bad, "AS_PATH"))
    if code == AS4_PATH:
        return As4Path(_decode_segments(value, 4, bad, "AS4_PATH"))
    if code == NEXT_HOP:
        _fixed(value, 4, bad, "NEXT_HOP")
        return NextHop(IPv4Address(value))
    if code in (MULTI_EXIT_DISC, LOCAL_PREF):
        _fixed(value, 4, bad, "MED/LOCAL_PREF")
        n = int.from_bytes(value, "big")
        return MultiExitDisc(n) if code == MULTI_EXIT_DISC else LocalPref(n)
    if code == ATOMIC_AGGREGATE:
        _fixed(value, 0, bad, "ATOMIC_AGGREGATE")
        return AtomicAggregate()
    if code == AGGREGATOR:
        width = 4 if ctx_four else 2
        _fixed(value, width + 4, bad, "AGGREGATOR")
        return Aggregator(int.from_bytes(value[:width], "big"), IPv4Address(value[width:]))
    if code == AS4_AGGREGATOR:
        _fixed(value, 8, bad, "AS4_AGGREGATOR")
        return As4Aggregator(int.from_bytes(value[:4], "big"), IPv4Address(value[4:]))
    if code == COMMUNITIES:
        _multiple(value, 4, bad, "COMMUNITIES")
        return Communities(tuple(int.from_bytes(value[i : i + 4], "big") for i in range(0, len(value), 4)))
    if code == ORIGINATOR_ID:
        _fixed(value, 4, bad, "ORIGINATOR_ID")
        return OriginatorId(IPv4Address(value))
    if code == CLUSTER_LIST:
        _multiple(value, 4, bad, "CLUSTER_LIST")
        return ClusterList(tuple(IPv4Address(value[i : i + 4]) for i in range(0, len(value), 4)))
    if code == LARGE_COMMUNITY:
        _multiple(value, 12, bad, "LARGE_COMMUNITY")
        return LargeCommunities(
            tuple(
                (
                    int.from_bytes(value[i : i + 4], "big"),
                    int.from_bytes(value[i + 4 : i + 8], "big"),
                    int.from_bytes(value[i + 8 : i + 12], "big"),
                )
                for i in range(0, len(value), 12)
            )
        )
    if code == MP_REACH_NLRI:
        return _decode_mp_reach(flags & ~EXTENDED_LENGTH, value, families)
    return _decode_mp_unreach(flags & ~EXTENDED_LENGTH, value, families)


def decode_attributes(
    data: bytes, four_octet_as: bool, families: frozenset[Family] = SUPPORTED_FAMILIES, ebgp: bool = False
) -> AttributeResult:
    """Path attributes from the UPDATE's attribute field; the worst RFC 7606 handling wins."""
    attrs: list[Attribute] = []
    problems: list[str] = []
    handling = Handling.OK
    error: BgpError | None = None
    seen: set[int] = set()

    def note(h: Handling, subcode: int, reason: str, data: bytes = b"") -> None:
        nonlocal handling, error
        problems.append(reason)
        if h > handling:
            handling = h
            error = BgpError(ErrorCode.UPDATE_MESSAGE, subcode, data, reason)

    pos = 0
    while pos < len(data):
        flags = data[pos]
        head = 4 if flags & EXTENDED_LENGTH else 3
        if pos + head > len(data):
            # RFC 7606 §4: too few octets left for an attribute header.
            note(_TAW, UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, "attribute header truncated")
            break
        code = data[pos + 1]
        length = int.from_bytes(data[pos + 2 : pos + head], "big")
        if pos + head + length > len(data):
            # RFC 7606 §4: the last attribute overruns the Total Path Attribute Length.
            note(_TAW, UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, f"attribute {code} overruns the attributes")
            break
        raw = data[pos : pos + head + length]
        value = data[pos + head : pos + head + length]
        pos += head + length
        if code in seen:
            # RFC 7606 §3g: repeated MP attributes reset the session; others keep the first instance.
            if code in (MP_REACH_NLRI, MP_UNREACH_NLRI):
                note(_RESET, UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, f"attribute {code} repeated")
            else:
                note(_DISCARD, UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, f"attribute {code} repeated")
            continue
        seen.add(code)
        try:
            attr = _decode_one(flags, code, value, four_octet_as, families)
        except _Malformed as exc:
            note(exc.handling, exc.subcode, exc.reason, raw)
            continue
        if isinstance(attr, LocalPref) and ebgp:
            # RFC 4271 §5.1.5 / RFC 7606 §7.5: LOCAL_PREF from an external peer is ignored.
            problems.append("LOCAL_PREF from an external peer ignored")
            continue
        if isinstance(attr, As4Path | As4Aggregator) and four_octet_as:
            # RFC 6793 §4.1: a NEW speaker ignores AS4_PATH/AS4_AGGREGATOR from another NEW speaker.
            problems.append("AS4 attribute from a 4-octet speaker ignored")
            continue
        attrs.append(attr)
    return AttributeResult(tuple(attrs), handling, error, tuple(problems))
