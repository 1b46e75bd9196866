"""The BGP-4 wire codec: message framing (RFC 4271 §4.1), symmetric encode/decode of each message.

`encode(message, ctx)` and `decode(data, ctx)` are inverses for every message this module produces.
Errors the peer caused come back as `BgpError` (OPEN, NOTIFICATION, KEEPALIVE, ROUTE-REFRESH and header
errors) or, for UPDATE, as an `UpdateResult` carrying the RFC 7606 handling; nothing else is raised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address

from bgp.attribute_decoding import decode_attributes
from bgp.attributes import (
    AS_PATH,
    NEXT_HOP,
    ORIGIN,
    Attribute,
    Handling,
    MpReach,
    encode_attributes,
    type_code,
)
from bgp.capabilities import decode_parameters, encode_parameters
from bgp.errors import BgpError, ErrorCode, HeaderSubcode, OpenSubcode, UpdateSubcode
from bgp.families import SUPPORTED_FAMILIES, Family
from bgp.messages import (
    HEADER_LEN,
    MARKER,
    MAX_MESSAGE_LEN,
    Keepalive,
    Message,
    MessageType,
    Notification,
    Open,
    RouteRefresh,
    Update,
)
from bgp.prefixes import PrefixError, decode_ipv4_prefixes, encode_prefixes

# RFC 4271 §4.2, §4.3, §4.5; RFC 2918 §3: smallest legal total length of each message type.
_MIN_LEN = {
    MessageType.OPEN: 29,
    MessageType.UPDATE: 23,
    MessageType.NOTIFICATION: 21,
    MessageType.KEEPALIVE: 19,
    MessageType.ROUTE_REFRESH: 23,
}


@dataclass(frozen=True, slots=True)
class CodecContext:
    """What the OPEN exchange negotiated that changes the encoding (RFC 6793 §4, RFC 4760 §8).

    `ebgp` makes the decoder ignore LOCAL_PREF (RFC 4271 §5.1.5).
    """

    four_octet_as: bool = True
    families: frozenset[Family] = SUPPORTED_FAMILIES
    ebgp: bool = False


@dataclass(frozen=True, slots=True)
class UpdateResult:
    """A decoded UPDATE and its RFC 7606 handling.

    OK: use `update`. ATTRIBUTE_DISCARD: `update` lacks the discarded attributes, use the rest.
    TREAT_AS_WITHDRAW: every prefix in `update.announced()` is to be treated as withdrawn.
    SESSION_RESET: send `error` as a NOTIFICATION; `update` holds what could be parsed.
    """

    update: Update
    handling: Handling = Handling.OK
    error: BgpError | None = None
    problems: tuple[str, ...] = field(default=())


Inbound = Open | UpdateResult | Notification | Keepalive | RouteRefresh


def frame(msg_type: int, body: bytes) -> bytes:
    """RFC 4271 §4.1 header around `body`."""
    return MARKER + (HEADER_LEN + len(body)).to_bytes(2, "big") + bytes((msg_type,)) + body


def encode_open(msg: Open) -> bytes:
    # RFC 4271 §4.2: Version, My Autonomous System, Hold Time, BGP Identifier, Optional Parameters.
    body = (
        bytes((msg.version,))
        + msg.my_as.to_bytes(2, "big")
        + msg.hold_time.to_bytes(2, "big")
        + msg.bgp_id.packed
        + encode_parameters(msg.capabilities)
    )
    return frame(MessageType.OPEN, body)


def encode_update(msg: Update, ctx: CodecContext) -> bytes:
    # RFC 4271 §4.3: Withdrawn Routes Length, Withdrawn Routes, Total Path Attribute Length, attributes, NLRI.
    withdrawn = encode_prefixes(msg.withdrawn)
    attrs = encode_attributes(msg.attributes, ctx.four_octet_as)
    body = (
        len(withdrawn).to_bytes(2, "big")
        + withdrawn
        + len(attrs).to_bytes(2, "big")
        + attrs
        + encode_prefixes(msg.nlri)
    )
    return frame(MessageType.UPDATE, body)


def encode(msg: Message, ctx: CodecContext | None = None) -> bytes:
    """The message with its header; raises ValueError for a message we built that cannot fit 4096 octets."""
    if isinstance(msg, Open):
        data = encode_open(msg)
    elif isinstance(msg, Update):
        data = encode_update(msg, ctx or CodecContext())
    elif isinstance(msg, Keepalive):
        data = frame(MessageType.KEEPALIVE, b"")
    elif isinstance(msg, Notification):
        data = frame(MessageType.NOTIFICATION, bytes((msg.code, msg.subcode)) + msg.data)
    else:
        # RFC 2918 §3 / RFC 7313 §3: AFI (2), Reserved/Subtype (1), SAFI (1).
        data = frame(MessageType.ROUTE_REFRESH, msg.afi.to_bytes(2, "big") + bytes((msg.subtype, msg.safi)))
    if len(data) > MAX_MESSAGE_LEN:
        raise ValueError(f"message of {len(data)} octets exceeds {MAX_MESSAGE_LEN}")
    return data


def _header_error(subcode: int, data: bytes, reason: str) -> BgpError:
    return BgpError(ErrorCode.MESSAGE_HEADER, subcode, data, reason)


def check_header(header: bytes) -> tuple[int, int]:
    """Validate a 19-octet header (RFC 4271 §6.1); returns (total length, type)."""
    if header[:16] != MARKER:
        raise _header_error(HeaderSubcode.CONNECTION_NOT_SYNCHRONIZED, b"", "marker is not all ones")
    length = int.from_bytes(header[16:18], "big")
    msg_type = header[18]
    if not HEADER_LEN <= length <= MAX_MESSAGE_LEN:
        raise _header_error(HeaderSubcode.BAD_MESSAGE_LENGTH, header[16:18], f"length {length}")
    if msg_type not in _MIN_LEN:
        raise _header_error(HeaderSubcode.BAD_MESSAGE_TYPE, bytes((msg_type,)), f"type {msg_type}")
    minimum = _MIN_LEN[MessageType(msg_type)]
    if length < minimum or (
        msg_type in (MessageType.KEEPALIVE, MessageType.ROUTE_REFRESH) and length != minimum
    ):
        raise _header_error(
            HeaderSubcode.BAD_MESSAGE_LENGTH, header[16:18], f"length {length} for type {msg_type}"
        )
    return length, msg_type


def decode_open(body: bytes) -> Open:
    """RFC 4271 §6.2 syntax checks; semantic checks (AS, hold time, identifier) are the session's."""
    caps, used = decode_parameters(body[9:])
    if 9 + used != len(body):
        raise BgpError(ErrorCode.OPEN_MESSAGE, 0, b"", "OPEN length does not match its parameters")
    version = body[0]
    if version != 4:
        # RFC 4271 §6.2: data = the largest locally supported version number.
        raise BgpError(
            ErrorCode.OPEN_MESSAGE, OpenSubcode.UNSUPPORTED_VERSION, b"\x00\x04", f"version {version}"
        )
    return Open(
        my_as=int.from_bytes(body[1:3], "big"),
        hold_time=int.from_bytes(body[3:5], "big"),
        bgp_id=IPv4Address(body[5:9]),
        capabilities=caps,
        version=version,
    )


def decode_update(body: bytes, ctx: CodecContext) -> UpdateResult:
    """RFC 4271 §6.3 with RFC 7606: never raises; the result says what to do."""

    def reset(reason: str, subcode: int = UpdateSubcode.MALFORMED_ATTRIBUTE_LIST) -> UpdateResult:
        err = BgpError(ErrorCode.UPDATE_MESSAGE, subcode, b"", reason)
        return UpdateResult(Update(), Handling.SESSION_RESET, err, (reason,))

    wlen = int.from_bytes(body[0:2], "big")
    # RFC 7606 §5.3 / RFC 4271 §6.3: lengths that do not add up make the message unparseable.
    if 2 + wlen + 2 > len(body):
        return reset("withdrawn routes length overruns the message")
    alen = int.from_bytes(body[2 + wlen : 4 + wlen], "big")
    if 4 + wlen + alen > len(body):
        return reset("total path attribute length overruns the message")
    try:
        withdrawn = decode_ipv4_prefixes(body[2 : 2 + wlen])
        nlri = decode_ipv4_prefixes(body[4 + wlen + alen :])
    except PrefixError as exc:
        return reset(f"NLRI: {exc}", UpdateSubcode.INVALID_NETWORK_FIELD)
    result = decode_attributes(body[4 + wlen : 4 + wlen + alen], ctx.four_octet_as, ctx.families, ctx.ebgp)
    attrs: tuple[Attribute, ...] = result.attributes
    handling, error, problems = result.handling, result.error, result.problems
    update = Update(withdrawn, attrs, nlri)
    if handling is Handling.SESSION_RESET:
        return UpdateResult(update, handling, error, problems)
    has_mp_reach = any(isinstance(a, MpReach) for a in attrs)
    if (nlri or has_mp_reach) and handling < Handling.TREAT_AS_WITHDRAW:
        # RFC 4271 §6.3 / RFC 7606 §3d: missing well-known mandatory attributes -> treat-as-withdraw.
        present = {type_code(a) for a in attrs}
        needed = [ORIGIN, AS_PATH] + ([NEXT_HOP] if nlri else [])
        missing = [c for c in needed if c not in present]
        if missing:
            reason = f"missing well-known attribute {missing[0]}"
            error = BgpError(
                ErrorCode.UPDATE_MESSAGE,
                UpdateSubcode.MISSING_WELL_KNOWN_ATTRIBUTE,
                bytes((missing[0],)),
                reason,
            )
            handling, problems = Handling.TREAT_AS_WITHDRAW, (*problems, reason)
    return UpdateResult(update, handling, error, problems)


def decode_body(msg_type: int, body: bytes, ctx: CodecContext) -> Inbound:
    """One message body after `check_header` accepted its header."""
    if msg_type == MessageType.OPEN:
        return decode_open(body)
    if msg_type == MessageType.UPDATE:
        return decode_update(body, ctx)
    if msg_type == MessageType.NOTIFICATION:
        return Notification(body[0], body[1], body[2:])
    if msg_type == MessageType.KEEPALIVE:
        return Keepalive()
    return RouteRefresh(int.from_bytes(body[0:2], "big"), body[3], body[2])


def decode(data: bytes, ctx: CodecContext | None = None) -> Inbound:
    """One complete message (header included)."""
    if len(data) < HEADER_LEN:
        raise _header_error(HeaderSubcode.BAD_MESSAGE_LENGTH, b"", "shorter than a header")
    length, msg_type = check_header(data[:HEADER_LEN])
    if length != len(data):
        raise _header_error(HeaderSubcode.BAD_MESSAGE_LENGTH, data[16:18], "length does not match the data")
    return decode_body(msg_type, data[HEADER_LEN:], ctx or CodecContext())


class MessageReader:
    """Frames a TCP byte stream into messages (RFC 4271 §4.1).

    `push` buffers bytes; `next_message` decodes one message with the current `ctx` (which the session
    replaces once the OPEN exchange has negotiated 4-octet AS numbers and families) or returns None when
    the buffer holds no complete message. A header or message error raises `BgpError`; after that the
    stream is out of sync and the reader must not be used again.
    """

    def __init__(self, ctx: CodecContext | None = None) -> None:
        self.ctx = ctx or CodecContext()
        self._buf = bytearray()

    def push(self, data: bytes) -> None:
        self._buf += data

    def next_message(self) -> Inbound | None:
        if len(self._buf) < HEADER_LEN:
            return None
        length, msg_type = check_header(bytes(self._buf[:HEADER_LEN]))
        if len(self._buf) < length:
            return None
        body = bytes(self._buf[HEADER_LEN:length])
        del self._buf[:length]
        return decode_body(msg_type, body, self.ctx)

    def feed(self, data: bytes) -> list[Inbound]:
        """Push `data` and decode every complete message in the buffer."""
        self.push(data)
        out: list[Inbound] = []
        while (msg := self.next_message()) is not None:
            out.append(msg)
        return out
