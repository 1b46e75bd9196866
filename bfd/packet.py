"""BFD wire formats: the RFC 5880 §4.1 control packet and lbd's echo packet.

Decoders never raise on bad input: a packet the peer got wrong is a `DropReason` the caller counts and
logs (RFC 5880 §6.8.6 says such packets are discarded, nothing more). The checks here are the ones that
need nothing but the bytes; those that need a session (TTL, discriminator, authentication in use) live
in `bfd.session` and `bfd.demux` and return the same `DropReason` type.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

# RFC 5880 §4.1: "Version (Vers): ... This document defines protocol version 1."
VERSION = 1
# RFC 5880 §4.1: the mandatory section is 24 bytes.
MANDATORY_LENGTH = 24
# RFC 5880 §6.8.6: "less than the minimum correct value (24 if the A bit is clear, or 26 if the A bit is
# set)"; the two extra bytes are Auth Type and Auth Len.
MINIMUM_AUTH_LENGTH = MANDATORY_LENGTH + 2

_MANDATORY = struct.Struct("!BBBBIIIII")

# RFC 5880 §4.1 flag bits of the second byte, after the two State bits.
_POLL = 0x20
_FINAL = 0x10
_CONTROL_PLANE_INDEPENDENT = 0x08
_AUTH_PRESENT = 0x04
_DEMAND = 0x02
_MULTIPOINT = 0x01

MAX_U32 = 0xFFFFFFFF


class State(enum.IntEnum):
    """RFC 5880 §4.1 "State (Sta)"."""

    ADMIN_DOWN = 0
    DOWN = 1
    INIT = 2
    UP = 3


class Diag(enum.IntEnum):
    """RFC 5880 §4.1 "Diagnostic (Diag)"; values 9-31 are reserved and kept as plain ints."""

    NONE = 0
    CONTROL_DETECTION_TIME_EXPIRED = 1
    ECHO_FUNCTION_FAILED = 2
    NEIGHBOR_SIGNALED_SESSION_DOWN = 3
    FORWARDING_PLANE_RESET = 4
    PATH_DOWN = 5
    CONCATENATED_PATH_DOWN = 6
    ADMINISTRATIVELY_DOWN = 7
    REVERSE_CONCATENATED_PATH_DOWN = 8


class DropReason(enum.Enum):
    """Why a received packet was discarded. Control-packet reasons cite RFC 5880 §6.8.6."""

    TRUNCATED = "shorter than the mandatory section"
    BAD_VERSION = "version is not 1"
    LENGTH_TOO_SMALL = "Length field below 24 (26 with the A bit)"
    LENGTH_EXCEEDS_PAYLOAD = "Length field larger than the datagram"
    BAD_AUTH_SECTION = "authentication section length inconsistent with Length"
    ZERO_DETECT_MULT = "Detect Mult is zero"
    MULTIPOINT = "M bit set"
    ZERO_MY_DISCRIMINATOR = "My Discriminator is zero"
    POLL_AND_FINAL = "both P and F set"
    NO_SESSION = "Your Discriminator matches no session"
    ZERO_YOUR_DISCRIMINATOR = "Your Discriminator is zero but State is not Down or AdminDown"
    WRONG_PEER = "Your Discriminator names a session with a different peer"
    AUTH_NOT_IN_USE = "A bit set but the session has no authentication"
    TTL_TOO_LOW = "TTL or hop limit below the minimum (RFC 5881 §5, RFC 5883 §2)"
    ECHO_MALFORMED = "echo packet not in lbd's format"
    ECHO_NOT_OURS = "echo packet names no session or an echo we did not send"


@dataclass(frozen=True, slots=True)
class AuthSection:
    """RFC 5880 §4.1 optional authentication section, kept opaque: lbd configures no authentication."""

    auth_type: int
    data: bytes


@dataclass(frozen=True, slots=True)
class ControlPacket:
    """An RFC 5880 §4.1 BFD control packet. Intervals are in microseconds, as on the wire."""

    state: State
    diag: int
    detect_mult: int
    my_discriminator: int
    your_discriminator: int
    desired_min_tx_us: int
    required_min_rx_us: int
    required_min_echo_rx_us: int
    poll: bool = False
    final: bool = False
    control_plane_independent: bool = False
    demand: bool = False
    multipoint: bool = False
    auth: AuthSection | None = None
    version: int = VERSION


def encode_control(packet: ControlPacket) -> bytes:
    """Serialise `packet`; the Length field is computed from the sections present."""
    auth = b""
    if packet.auth is not None:
        # RFC 5880 §4.1: "Auth Len: The length, in bytes, of the authentication section, including the
        # Auth Type and Auth Len fields."
        auth = bytes((packet.auth.auth_type, len(packet.auth.data) + 2)) + packet.auth.data
    flags = (
        (packet.state << 6)
        | (_POLL if packet.poll else 0)
        | (_FINAL if packet.final else 0)
        | (_CONTROL_PLANE_INDEPENDENT if packet.control_plane_independent else 0)
        | (_AUTH_PRESENT if packet.auth is not None else 0)
        | (_DEMAND if packet.demand else 0)
        | (_MULTIPOINT if packet.multipoint else 0)
    )
    return (
        _MANDATORY.pack(
            (packet.version << 5) | (packet.diag & 0x1F),
            flags,
            packet.detect_mult,
            MANDATORY_LENGTH + len(auth),
            packet.my_discriminator,
            packet.your_discriminator,
            packet.desired_min_tx_us,
            packet.required_min_rx_us,
            packet.required_min_echo_rx_us,
        )
        + auth
    )


def decode_control(data: bytes) -> ControlPacket | DropReason:
    """Parse a control packet, applying the RFC 5880 §6.8.6 checks that need no session."""
    if len(data) < MANDATORY_LENGTH:
        return DropReason.TRUNCATED
    (vers_diag, flags, detect_mult, length, my_discr, your_discr, min_tx, min_rx, min_echo_rx) = (
        _MANDATORY.unpack_from(data)
    )
    # RFC 5880 §6.8.6: "If the version number is not correct (1), the packet MUST be discarded."
    if vers_diag >> 5 != VERSION:
        return DropReason.BAD_VERSION
    has_auth = bool(flags & _AUTH_PRESENT)
    # RFC 5880 §6.8.6: minimum Length is 24, or 26 with the A bit.
    if length < (MINIMUM_AUTH_LENGTH if has_auth else MANDATORY_LENGTH):
        return DropReason.LENGTH_TOO_SMALL
    # RFC 5880 §6.8.6: "If the Length field is greater than the payload of the encapsulating protocol,
    # the packet MUST be discarded."
    if length > len(data):
        return DropReason.LENGTH_EXCEEDS_PAYLOAD
    # RFC 5880 §6.8.6: "If the Detect Mult field is zero, the packet MUST be discarded."
    if detect_mult == 0:
        return DropReason.ZERO_DETECT_MULT
    # RFC 5880 §6.8.6: "If the Multipoint (M) bit is nonzero, the packet MUST be discarded."
    if flags & _MULTIPOINT:
        return DropReason.MULTIPOINT
    # RFC 5880 §6.8.6: "If the My Discriminator field is zero, the packet MUST be discarded."
    if my_discr == 0:
        return DropReason.ZERO_MY_DISCRIMINATOR
    # RFC 5880 §6.8.7: "A BFD Control packet MUST NOT have both the Poll (P) and Final (F) bits set";
    # such a packet cannot be answered meaningfully, so it is dropped (as FRR bfdd does).
    if flags & _POLL and flags & _FINAL:
        return DropReason.POLL_AND_FINAL
    auth: AuthSection | None = None
    if has_auth:
        auth_type, auth_len = data[MANDATORY_LENGTH], data[MANDATORY_LENGTH + 1]
        # RFC 5880 §4.1: Auth Len covers Auth Type and Auth Len themselves, and the section ends the
        # packet as described by Length.
        if auth_len < 2 or MANDATORY_LENGTH + auth_len != length:
            return DropReason.BAD_AUTH_SECTION
        auth = AuthSection(auth_type, bytes(data[MANDATORY_LENGTH + 2 : length]))
    diag = vers_diag & 0x1F
    return ControlPacket(
        state=State(flags >> 6),
        diag=Diag(diag) if diag in Diag._value2member_map_ else diag,
        detect_mult=detect_mult,
        my_discriminator=my_discr,
        your_discriminator=your_discr,
        desired_min_tx_us=min_tx,
        required_min_rx_us=min_rx,
        required_min_echo_rx_us=min_echo_rx,
        poll=bool(flags & _POLL),
        final=bool(flags & _FINAL),
        control_plane_independent=bool(flags & _CONTROL_PLANE_INDEPENDENT),
        demand=bool(flags & _DEMAND),
        auth=auth,
        version=VERSION,
    )


# RFC 5880 §6.4 leaves the echo packet's contents to the sender ("the payload of an Echo packet is a
# local matter"). lbd uses the same 24-byte layout as FRR bfdd (version, length, reserved, My
# Discriminator, then two 64-bit words), so an FRR peer that inspects echoes sees a familiar packet; the
# words carry a sequence number (to reject stale or forged echoes) and the send time in microseconds.
_ECHO = struct.Struct("!BBHIQQ")
ECHO_LENGTH = _ECHO.size


@dataclass(frozen=True, slots=True)
class EchoPacket:
    """lbd's echo packet: our discriminator, a per-session sequence number and the send time (µs)."""

    my_discriminator: int
    sequence: int
    sent_at_us: int


def encode_echo(packet: EchoPacket) -> bytes:
    return _ECHO.pack(VERSION, ECHO_LENGTH, 0, packet.my_discriminator, packet.sequence, packet.sent_at_us)


def decode_echo(data: bytes) -> EchoPacket | DropReason:
    if len(data) < ECHO_LENGTH:
        return DropReason.ECHO_MALFORMED
    version, length, _reserved, my_discr, sequence, sent_at_us = _ECHO.unpack_from(data)
    if version != VERSION or length != ECHO_LENGTH or my_discr == 0:
        return DropReason.ECHO_MALFORMED
    return EchoPacket(my_discr, sequence, sent_at_us)
