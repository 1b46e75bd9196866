"""Decoding path attributes with RFC 7606 error handling.

Decoding never raises: `decode_attributes` reports how bad the worst problem was as a `Handling`, from
"use it" to "reset the session", following the per-attribute rules of RFC 7606 §7.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from bgp.attributes import (
    AGGREGATOR,
    AS4_AGGREGATOR,
    AS4_PATH,
    AS_CONFED_SEQUENCE,
    AS_CONFED_SET,
    AS_PATH,
    AS_SEQUENCE,
    AS_SET,
    ATOMIC_AGGREGATE,
    CLUSTER_LIST,
    COMMUNITIES,
    EXTENDED_LENGTH,
    FLAGS_OF,
    LARGE_COMMUNITY,
    LOCAL_PREF,
    MP_REACH_NLRI,
    MP_UNREACH_NLRI,
    MULTI_EXIT_DISC,
    NEXT_HOP,
    OPTIONAL,
    ORIGIN,
    ORIGIN_INCOMPLETE,
    ORIGINATOR_ID,
    TRANSITIVE,
    Aggregator,
    As4Aggregator,
    As4Path,
    AsPath,
    AsPathSegment,
    AtomicAggregate,
    Attribute,
    ClusterList,
    Communities,
    Handling,
    LargeCommunities,
    LocalPref,
    MpReach,
    MpUnreach,
    MultiExitDisc,
    NextHop,
    Origin,
    OriginatorId,
    UnknownAttribute,
)
from bgp.errors import BgpError, ErrorCode, UpdateSubcode
from bgp.families import SUPPORTED_FAMILIES, Address, Family
from bgp.prefixes import PrefixError, decode_prefixes


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
    if flags & (OPTIONAL | TRANSITIVE) != FLAGS_OF[code]:
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
