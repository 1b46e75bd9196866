"""NOTIFICATION error codes and the exception for errors the peer caused (RFC 4271 §4.5, §6)."""

from __future__ import annotations

import enum


class ErrorCode(enum.IntEnum):
    """RFC 4271 §4.5, RFC 6608 (FSM), RFC 7313 (ROUTE-REFRESH)."""

    MESSAGE_HEADER = 1
    OPEN_MESSAGE = 2
    UPDATE_MESSAGE = 3
    HOLD_TIMER_EXPIRED = 4
    FSM = 5
    CEASE = 6
    ROUTE_REFRESH = 7


class HeaderSubcode(enum.IntEnum):
    """RFC 4271 §6.1."""

    CONNECTION_NOT_SYNCHRONIZED = 1
    BAD_MESSAGE_LENGTH = 2
    BAD_MESSAGE_TYPE = 3


class OpenSubcode(enum.IntEnum):
    """RFC 4271 §6.2, RFC 5492 §5 (capabilities), RFC 9072 §3 (role subcodes start later)."""

    UNSUPPORTED_VERSION = 1
    BAD_PEER_AS = 2
    BAD_BGP_IDENTIFIER = 3
    UNSUPPORTED_OPTIONAL_PARAMETER = 4
    UNACCEPTABLE_HOLD_TIME = 6
    UNSUPPORTED_CAPABILITY = 7


class UpdateSubcode(enum.IntEnum):
    """RFC 4271 §6.3."""

    MALFORMED_ATTRIBUTE_LIST = 1
    UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE = 2
    MISSING_WELL_KNOWN_ATTRIBUTE = 3
    ATTRIBUTE_FLAGS_ERROR = 4
    ATTRIBUTE_LENGTH_ERROR = 5
    INVALID_ORIGIN_ATTRIBUTE = 6
    INVALID_NEXT_HOP_ATTRIBUTE = 8
    OPTIONAL_ATTRIBUTE_ERROR = 9
    INVALID_NETWORK_FIELD = 10
    MALFORMED_AS_PATH = 11


class FsmSubcode(enum.IntEnum):
    """RFC 6608 §4: which state received the unexpected message."""

    UNSPECIFIED = 0
    UNEXPECTED_IN_OPEN_SENT = 1
    UNEXPECTED_IN_OPEN_CONFIRM = 2
    UNEXPECTED_IN_ESTABLISHED = 3


class CeaseSubcode(enum.IntEnum):
    """RFC 4486 §4, RFC 9384 (BFD Down)."""

    MAX_PREFIXES_REACHED = 1
    ADMINISTRATIVE_SHUTDOWN = 2
    PEER_DECONFIGURED = 3
    ADMINISTRATIVE_RESET = 4
    CONNECTION_REJECTED = 5
    OTHER_CONFIGURATION_CHANGE = 6
    CONNECTION_COLLISION_RESOLUTION = 7
    OUT_OF_RESOURCES = 8
    HARD_RESET = 9
    BFD_DOWN = 10


class BgpError(Exception):
    """An error the peer caused; the session answers it with NOTIFICATION(code, subcode, data).

    Raised only by decoders and validators; the session catches it, so it never reaches an event loop.
    """

    def __init__(self, code: int, subcode: int, data: bytes = b"", reason: str = "") -> None:
        super().__init__(reason or f"BGP error {code}/{subcode}")
        self.code = code
        self.subcode = subcode
        self.data = data
        self.reason = reason or f"BGP error {code}/{subcode}"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BgpError):
            return NotImplemented
        return (self.code, self.subcode, self.data) == (other.code, other.subcode, other.data)

    def __hash__(self) -> int:
        return hash((self.code, self.subcode, self.data))

    def __repr__(self) -> str:
        return f"BgpError({self.code}, {self.subcode}, {self.data!r}, {self.reason!r})"
