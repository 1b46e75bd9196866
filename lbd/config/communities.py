"""BGP community values as MetalLB writes them.

`A:B` is a standard community (RFC 1997 §"COMMUNITIES attribute": two 16-bit halves), `large:A:B:C` a large
community (RFC 8092 §3: three 32-bit parts). MetalLB itself only resolves aliases from Community objects;
lbd also knows the IANA well-known names below (an alias of the same name takes precedence).
"""

from __future__ import annotations

from dataclasses import dataclass

_U16 = 0xFFFF
_U32 = 0xFFFF_FFFF


@dataclass(frozen=True, slots=True, order=True)
class StandardCommunity:
    """RFC 1997 community: the high 16 bits are usually an AS number, the low 16 bits a local value."""

    high: int
    low: int

    @property
    def value(self) -> int:
        return (self.high << 16) | self.low

    def __str__(self) -> str:
        return f"{self.high}:{self.low}"


@dataclass(frozen=True, slots=True, order=True)
class LargeCommunity:
    """RFC 8092 §3: Global Administrator, Local Data Part 1, Local Data Part 2."""

    global_admin: int
    local1: int
    local2: int

    def __str__(self) -> str:
        return f"large:{self.global_admin}:{self.local1}:{self.local2}"


BGPCommunity = StandardCommunity | LargeCommunity

# IANA "BGP Well-known Communities" registry entries routers commonly spell by name.
WELL_KNOWN: dict[str, StandardCommunity] = {
    "graceful-shutdown": StandardCommunity(0xFFFF, 0x0000),  # RFC 8326 §5
    "blackhole": StandardCommunity(0xFFFF, 0x029A),  # RFC 7999 §5
    "no-export": StandardCommunity(0xFFFF, 0xFF01),  # RFC 1997
    "no-advertise": StandardCommunity(0xFFFF, 0xFF02),  # RFC 1997
    "no-export-subconfed": StandardCommunity(0xFFFF, 0xFF03),  # RFC 1997
    "local-as": StandardCommunity(0xFFFF, 0xFF03),  # FRR's name for NO_EXPORT_SUBCONFED
    "no-peer": StandardCommunity(0xFFFF, 0xFF04),  # RFC 3765 §4
}


class CommunityFormatError(ValueError):
    """The string has neither the `A:B` nor the `large:A:B:C` shape (it may be an alias)."""


class CommunityValueError(ValueError):
    """The string has a community shape but a part is out of range or not a number."""


def _number(part: str, limit: int, text: str) -> int:
    # Go's strconv.ParseUint accepts only ASCII digits: no sign, no spaces, no underscores.
    if not part or not part.isascii() or not part.isdigit():
        raise CommunityValueError(f"{part!r} in {text!r} is not a decimal number")
    value = int(part)
    if value > limit:
        raise CommunityValueError(f"{part!r} in {text!r} is out of range 0..{limit}")
    return value


def parse_community(text: str) -> BGPCommunity:
    """Parse a literal community (not an alias) the way MetalLB's `community.New` does."""
    parts = text.split(":")
    if len(parts) == 2:
        return StandardCommunity(_number(parts[0], _U16, text), _number(parts[1], _U16, text))
    if len(parts) == 4:
        if parts[0] != "large":
            raise CommunityValueError(f"{text!r}: a large community is large:<uint32>:<uint32>:<uint32>")
        return LargeCommunity(*(_number(p, _U32, text) for p in parts[1:]))
    raise CommunityFormatError(f"{text!r} is not A:B (16-bit halves) nor large:A:B:C (32-bit parts)")


def resolve_community(text: str, aliases: dict[str, BGPCommunity]) -> BGPCommunity:
    """An alias from a Community object, then a literal, then a well-known name."""
    if text in aliases:
        return aliases[text]
    try:
        return parse_community(text)
    except CommunityFormatError:
        if text in WELL_KNOWN:
            return WELL_KNOWN[text]
        raise
