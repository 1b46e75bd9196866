"""Path attributes (RFC 4271 §4.3, §5) as dataclasses, and their encoder.

Decoding, with RFC 7606 error handling, is in `bgp.attribute_decoding`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from ipaddress import IPv4Address

from bgp.families import Address, Prefix
from bgp.prefixes import encode_prefixes

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
FLAGS_OF: dict[int, int] = dict(_KINDS.values())


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
    code, flags = (attr.type_code, attr.flags) if isinstance(attr, UnknownAttribute) else _KINDS[type(attr)]
    return frame_attribute(flags, code, _value(attr, four_octet_as))


def encode_attributes(attrs: tuple[Attribute, ...], four_octet_as: bool) -> bytes:
    return b"".join(encode_attribute(a, four_octet_as) for a in attrs)
