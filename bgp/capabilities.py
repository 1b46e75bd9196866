"""OPEN optional parameters and capabilities (RFC 5492, RFC 9072) with their codecs."""

from __future__ import annotations

from dataclasses import dataclass

from bgp.errors import BgpError, ErrorCode, OpenSubcode

# RFC 5492 §4: Optional Parameter type 2 carries capabilities.
PARAM_CAPABILITIES = 2
# RFC 9072 §2: a non-extended length of 255 followed by type 255 announces extended parameters.
PARAM_EXTENDED = 255

CAP_MULTIPROTOCOL = 1  # RFC 4760 §8
CAP_ROUTE_REFRESH = 2  # RFC 2918 §3
CAP_GRACEFUL_RESTART = 64  # RFC 4724 §3
CAP_FOUR_OCTET_AS = 65  # RFC 6793 §3


@dataclass(frozen=True, slots=True)
class Multiprotocol:
    """RFC 4760 §8: AFI (2 octets), reserved (1), SAFI (1)."""

    afi: int
    safi: int


@dataclass(frozen=True, slots=True)
class RouteRefreshCap:
    """RFC 2918 §3: empty value."""


@dataclass(frozen=True, slots=True)
class FourOctetAs:
    """RFC 6793 §3: the speaker's 4-octet AS number."""

    asn: int


@dataclass(frozen=True, slots=True)
class GrFamily:
    """RFC 4724 §3: per AFI/SAFI, F bit = forwarding state preserved across the restart."""

    afi: int
    safi: int
    forwarding: bool


@dataclass(frozen=True, slots=True)
class GracefulRestart:
    """RFC 4724 §3: R bit (restart_state), Restart Time in seconds (12 bits), families."""

    restart_state: bool
    restart_time: int
    families: tuple[GrFamily, ...] = ()


@dataclass(frozen=True, slots=True)
class UnknownCapability:
    code: int
    value: bytes


Capability = Multiprotocol | RouteRefreshCap | FourOctetAs | GracefulRestart | UnknownCapability


def _open_error(subcode: int, reason: str, data: bytes = b"") -> BgpError:
    return BgpError(ErrorCode.OPEN_MESSAGE, subcode, data, reason)


def encode_capability(cap: Capability) -> bytes:
    """One capability as code (1), length (1), value (RFC 5492 §4)."""
    if isinstance(cap, Multiprotocol):
        code, value = CAP_MULTIPROTOCOL, cap.afi.to_bytes(2, "big") + bytes((0, cap.safi))
    elif isinstance(cap, RouteRefreshCap):
        code, value = CAP_ROUTE_REFRESH, b""
    elif isinstance(cap, FourOctetAs):
        code, value = CAP_FOUR_OCTET_AS, cap.asn.to_bytes(4, "big")
    elif isinstance(cap, GracefulRestart):
        # RFC 4724 §3: Restart Flags (4 bits, R = most significant) + Restart Time (12 bits).
        head = (0x8000 if cap.restart_state else 0) | (cap.restart_time & 0x0FFF)
        value = head.to_bytes(2, "big") + b"".join(
            f.afi.to_bytes(2, "big") + bytes((f.safi, 0x80 if f.forwarding else 0)) for f in cap.families
        )
        code = CAP_GRACEFUL_RESTART
    else:
        code, value = cap.code, cap.value
    return bytes((code, len(value))) + value


def decode_capability(code: int, value: bytes) -> Capability:
    """One capability's value; a malformed known capability is an OPEN error (RFC 5492 §4)."""
    if code == CAP_MULTIPROTOCOL:
        if len(value) != 4:
            raise _open_error(0, "multiprotocol capability length is not 4")
        return Multiprotocol(int.from_bytes(value[0:2], "big"), value[3])
    if code == CAP_ROUTE_REFRESH:
        if value:
            raise _open_error(0, "route refresh capability has a value")
        return RouteRefreshCap()
    if code == CAP_FOUR_OCTET_AS:
        if len(value) != 4:
            raise _open_error(0, "4-octet AS capability length is not 4")
        return FourOctetAs(int.from_bytes(value, "big"))
    if code == CAP_GRACEFUL_RESTART:
        if len(value) < 2 or (len(value) - 2) % 4:
            raise _open_error(0, "graceful restart capability length is not 2 + 4n")
        head = int.from_bytes(value[0:2], "big")
        families = tuple(
            GrFamily(int.from_bytes(value[i : i + 2], "big"), value[i + 2], bool(value[i + 3] & 0x80))
            for i in range(2, len(value), 4)
        )
        return GracefulRestart(bool(head & 0x8000), head & 0x0FFF, families)
    return UnknownCapability(code, value)


def encode_parameters(capabilities: tuple[Capability, ...]) -> bytes:
    """Optional Parameters Length + parameters (RFC 4271 §4.2), extended form only when needed (RFC 9072).

    Each capability goes in its own parameter as RFC 5492 §4 allows; that keeps each under 255 octets.
    """
    encoded = [encode_capability(c) for c in capabilities]
    short = b"".join(bytes((PARAM_CAPABILITIES, len(e))) + e for e in encoded)
    if len(short) <= 255:
        return bytes((len(short),)) + short
    # RFC 9072 §2: Non-Ext OP Len = 255, Non-Ext OP Type = 255, Extended Opt. Parm. Length (2 octets),
    # then parameters with 2-octet lengths.
    long = b"".join(bytes((PARAM_CAPABILITIES,)) + len(e).to_bytes(2, "big") + e for e in encoded)
    return bytes((255, PARAM_EXTENDED)) + len(long).to_bytes(2, "big") + long


def decode_parameters(data: bytes) -> tuple[tuple[Capability, ...], int]:
    """Parse the Optional Parameters from their length octet on; returns the capabilities and the octets used.

    RFC 4271 §6.2: an unknown parameter type is Unsupported Optional Parameter (2/4); a recognized but
    malformed one (lengths that do not add up, a bad capability value) is subcode 0, Unspecific.
    """
    if not data:
        raise _open_error(0, "OPEN has no optional parameters length")
    length, pos, extended = data[0], 1, False
    if length == 255 and len(data) >= 2 and data[1] == PARAM_EXTENDED:
        # RFC 9072 §2.
        if len(data) < 4:
            raise _open_error(0, "truncated extended optional parameters length")
        length, pos, extended = int.from_bytes(data[2:4], "big"), 4, True
    end = pos + length
    if end > len(data):
        raise _open_error(0, "optional parameters overrun the OPEN message")
    caps: list[Capability] = []
    head = 3 if extended else 2
    while pos < end:
        if pos + head > end:
            raise _open_error(0, "truncated optional parameter header")
        ptype = data[pos]
        plen = int.from_bytes(data[pos + 1 : pos + head], "big")
        pos += head
        if pos + plen > end:
            raise _open_error(0, "optional parameter overruns the parameters")
        if ptype != PARAM_CAPABILITIES:
            raise _open_error(
                OpenSubcode.UNSUPPORTED_OPTIONAL_PARAMETER, f"unsupported optional parameter {ptype}"
            )
        value, pos = data[pos : pos + plen], pos + plen
        i = 0
        while i < len(value):
            if i + 2 > len(value):
                raise _open_error(0, "truncated capability header")
            code, clen = value[i], value[i + 1]
            if i + 2 + clen > len(value):
                raise _open_error(0, "capability overruns its parameter")
            caps.append(decode_capability(code, value[i + 2 : i + 2 + clen]))
            i += 2 + clen
    return tuple(caps), end
