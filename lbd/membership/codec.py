"""Wire format of the membership protocol: one authenticated UDP datagram per message.

All integers are big-endian. A datagram is a fixed header, zero or more relay entries and an
HMAC-SHA256 tag (RFC 2104, with SHA-256 from FIPS 180-4) over everything before it:

    offset  size  field
    0       2     magic "LM"
    2       1     version (2; 1 had no health block and is not accepted)
    3       1     kind: 1 heartbeat, 2 leave
    4       1     flags: bit 0 "answer at once" (a probe or a handshake step)
    5       1     number of relay entries
    6       8     sender id      (first 8 bytes of SHA-256 over the member name)
    14      8     receiver id
    22      8     sender incarnation (microseconds of wall clock at start: grows across restarts)
    30      8     sender sequence number (microseconds since the incarnation began, strictly growing)
    38      8     echo incarnation: the receiver's incarnation as last heard by the sender (0: never)
    46      8     echo sequence: the receiver's last sequence number heard by the sender
    54      4     echo hold: microseconds between hearing that sequence number and sending this datagram
    58      20*n  relay entries: member id (8), its incarnation (8), age of the sender's last direct
                  contact with it in microseconds (4)
    58+20n  22    health block header (below)
    80+20n  8*k   health entries of this page
    ...     32    HMAC-SHA256(shared key, all bytes above)

Health block (version 2): which health-checked services are healthy on the sender, as 8-byte service
ids (first 8 bytes of SHA-256 over "namespace/name"). The set is numbered by a version that grows with
every change within an incarnation and is sent in pages only until the receiver echoes that version, so
a steady heartbeat carries the 22-byte header alone:

    0       4     health version of the sender's set (0: none yet)
    4       8     digest: first 8 bytes of SHA-256 over the set's ids, sorted and concatenated
    12      2     total ids in the set
    14      2     offset of this page's first id in the sorted set
    16      2     k, ids in this page (offset + k <= total)
    18      4     echo: the version of the receiver's set that the sender holds (0: none)

The receiver id binds a datagram to its destination (it cannot be reflected to another member); the echo
fields prove the sender heard the receiver's current incarnation (freshness after a restart) and give
the round-trip time.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import struct
from dataclasses import dataclass

MAGIC = b"LM"
VERSION = 2
ID_SIZE = 8
MAC_SIZE = 32
FLAG_ANSWER = 0x01
MAX_U32 = 0xFFFFFFFF
MAX_U64 = 0xFFFFFFFFFFFFFFFF
# Relay entries per datagram: keeps a heartbeat under 1280 bytes (the IPv6 minimum MTU) at any size.
MAX_RELAYS = 50
# The largest datagram we send: the IPv6 minimum MTU less the IPv6 and UDP headers, never fragmented.
MAX_DATAGRAM = 1280 - 40 - 8
# Ids in one health set (the u16 "total" field); a larger set is cut, see Membership.set_health.
MAX_HEALTH = 0xFFFF

_HEADER = struct.Struct("!2sBBBB8s8sQQQQI")
_RELAY = struct.Struct("!8sQI")
_HEALTH = struct.Struct("!I8sHHHI")
HEADER_SIZE = _HEADER.size
RELAY_SIZE = _RELAY.size
HEALTH_HEADER_SIZE = _HEALTH.size
HEALTH_ID_SIZE = ID_SIZE


class Kind(enum.IntEnum):
    HEARTBEAT = 1
    LEAVE = 2


class DecodeError(ValueError):
    """A datagram that is not ours or is damaged: counted and dropped, never answered."""


class BadMac(DecodeError):
    """Well formed, but the tag does not match: another key, or forged."""


@dataclass(frozen=True, slots=True)
class Relay:
    """What the sender last heard directly from one other member."""

    member: bytes
    incarnation: int
    age_us: int


@dataclass(frozen=True, slots=True)
class HealthPage:
    """One page of the sender's health set, and the version of the receiver's set the sender holds."""

    version: int = 0
    digest: bytes = bytes(ID_SIZE)
    total: int = 0
    offset: int = 0
    ids: tuple[bytes, ...] = ()
    echo: int = 0


@dataclass(frozen=True, slots=True)
class Message:
    kind: Kind
    answer: bool
    sender: bytes
    receiver: bytes
    incarnation: int
    seq: int
    echo_incarnation: int
    echo_seq: int
    echo_hold_us: int
    relays: tuple[Relay, ...] = ()
    health: HealthPage = HealthPage()


def health_room(relays: int) -> int:
    """Health ids that fit in a datagram with `relays` relay entries, within MAX_DATAGRAM."""
    used = HEADER_SIZE + relays * RELAY_SIZE + HEALTH_HEADER_SIZE + MAC_SIZE
    return max(0, (MAX_DATAGRAM - used) // HEALTH_ID_SIZE)


def health_digest(ids: tuple[bytes, ...]) -> bytes:
    return hashlib.sha256(b"".join(ids)).digest()[:ID_SIZE]


def service_id(key: str) -> bytes:
    """The id of a health-checked service (`namespace/name`) in health sets."""
    return hashlib.sha256(key.encode()).digest()[:ID_SIZE]


def member_id(name: str) -> bytes:
    return hashlib.sha256(name.encode()).digest()[:ID_SIZE]


def encode(message: Message, key: bytes) -> bytes:
    if len(message.relays) > MAX_RELAYS:
        raise ValueError(f"at most {MAX_RELAYS} relay entries")
    page = message.health
    if page.offset + len(page.ids) > page.total or page.total > MAX_HEALTH:
        raise ValueError("a health page must lie inside its set")
    if len(page.ids) > health_room(len(message.relays)):
        raise ValueError("the health page does not fit in one datagram")
    parts = [
        _HEADER.pack(
            MAGIC,
            VERSION,
            message.kind,
            FLAG_ANSWER if message.answer else 0,
            len(message.relays),
            message.sender,
            message.receiver,
            message.incarnation,
            message.seq,
            message.echo_incarnation,
            message.echo_seq,
            min(message.echo_hold_us, MAX_U32),
        )
    ]
    parts.extend(_RELAY.pack(r.member, r.incarnation, min(r.age_us, MAX_U32)) for r in message.relays)
    parts.append(_HEALTH.pack(page.version, page.digest, page.total, page.offset, len(page.ids), page.echo))
    parts.extend(page.ids)
    body = b"".join(parts)
    return body + hmac.new(key, body, hashlib.sha256).digest()


def decode(data: bytes, key: bytes) -> Message:
    """The message in `data`, or DecodeError/BadMac. The tag is checked before any field is trusted."""
    if len(data) < HEADER_SIZE + MAC_SIZE:
        raise DecodeError("short datagram")
    if data[:2] != MAGIC:
        raise DecodeError("bad magic")
    body, tag = data[:-MAC_SIZE], data[-MAC_SIZE:]
    if not hmac.compare_digest(tag, hmac.new(key, body, hashlib.sha256).digest()):
        raise BadMac("bad MAC")
    (_, version, kind, flags, count, sender, receiver, inc, seq, echo_inc, echo_seq, hold) = (
        _HEADER.unpack_from(body)
    )
    if version != VERSION:
        raise DecodeError(f"version {version}")
    if kind not in (Kind.HEARTBEAT, Kind.LEAVE):
        raise DecodeError(f"kind {kind}")
    at = HEADER_SIZE + count * RELAY_SIZE
    if len(body) < at + HEALTH_HEADER_SIZE:
        raise DecodeError("length does not match the relay count")
    relays = tuple(Relay(*_RELAY.unpack_from(body, HEADER_SIZE + i * RELAY_SIZE)) for i in range(count))
    version, digest, total, offset, k, echo = _HEALTH.unpack_from(body, at)
    at += HEALTH_HEADER_SIZE
    if len(body) != at + k * HEALTH_ID_SIZE:
        raise DecodeError("length does not match the health page")
    if offset + k > total:
        raise DecodeError("health page outside its set")
    ids = tuple(body[at + i * HEALTH_ID_SIZE : at + (i + 1) * HEALTH_ID_SIZE] for i in range(k))
    health = HealthPage(version, digest, total, offset, ids, echo)
    return Message(
        Kind(kind),
        bool(flags & FLAG_ANSWER),
        sender,
        receiver,
        inc,
        seq,
        echo_inc,
        echo_seq,
        hold,
        relays,
        health,
    )
