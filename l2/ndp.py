"""Neighbor Solicitation and Advertisement (RFC 4861 §4.3, §4.4) in Ethernet frames.

Frames come straight from an AF_PACKET socket, so the kernel has checked nothing: the decoder does the
RFC 4861 §7.1 validity checks itself, checksum and hop limit included. Decoders never raise; an invalid
message is an `NdpDrop` the caller counts.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from ipaddress import IPv6Address

from l2.ethernet import ETHERTYPE_IPV6, HEADER, HEADER_LENGTH, ipv6_multicast_mac

# RFC 8200 §3: version/traffic class/flow label, payload length, next header, hop limit, addresses.
_IPV6 = struct.Struct("!IHBB16s16s")
IPV6_LENGTH = _IPV6.size
# RFC 4443 §2.1 / IANA: ICMPv6 is next header 58.
NEXT_HEADER_ICMPV6 = 58
# RFC 4861 §4.3 and §4.4: type, code, checksum, 32 bits of flags/reserved, target address.
_MESSAGE = struct.Struct("!BBHI16s")
MESSAGE_LENGTH = _MESSAGE.size
# Where the target address sits in an Ethernet frame (no extension headers), for a lookup before decoding.
TARGET = slice(HEADER_LENGTH + IPV6_LENGTH + 8, HEADER_LENGTH + IPV6_LENGTH + 24)
# RFC 4861 §7.1.1 / §7.1.2: "The IP Hop Limit field has a value of 255, i.e., the packet could not
# possibly have been forwarded by a router."
HOP_LIMIT = 255
# RFC 4861 §4.4: Router, Solicited and Override are the top three bits of the flags word.
_ROUTER = 0x80000000
_SOLICITED = 0x40000000
_OVERRIDE = 0x20000000

ALL_NODES = IPv6Address("ff02::1")
UNSPECIFIED = IPv6Address("::")
_SOLICITED_NODE_PREFIX = IPv6Address("ff02::1:ff00:0").packed[:13]


class Kind(enum.IntEnum):
    """RFC 4861 §4.3 / §4.4 ICMPv6 types."""

    SOLICITATION = 135
    ADVERTISEMENT = 136


class Option(enum.IntEnum):
    """RFC 4861 §4.6.1 link-layer address options."""

    SOURCE_LINK_LAYER = 1
    TARGET_LINK_LAYER = 2


class NdpDrop(enum.Enum):
    TRUNCATED = "shorter than the headers it announces"
    NOT_NDP = "not an ICMPv6 Neighbor Solicitation or Advertisement"
    HOP_LIMIT = "hop limit is not 255 (RFC 4861 §7.1)"
    BAD_CHECKSUM = "ICMPv6 checksum invalid (RFC 4861 §7.1)"
    BAD_CODE = "ICMP code is not 0 (RFC 4861 §7.1)"
    MULTICAST_TARGET = "target address is multicast (RFC 4861 §7.1)"
    BAD_OPTION = "an option has length 0 or runs past the message (RFC 4861 §7.1)"
    DAD_WITH_SOURCE_LLA = "unspecified source with a source link-layer option (RFC 4861 §7.1.1)"
    DAD_NOT_SOLICITED_NODE = "unspecified source not sent to a solicited-node group (RFC 4861 §7.1.1)"
    SOLICITED_TO_MULTICAST = "multicast advertisement with the Solicited flag (RFC 4861 §7.1.2)"


@dataclass(frozen=True, slots=True)
class NdpPacket:
    """One NS or NA with the IPv6 header fields that matter. `link_layer` is the source (NS) or target
    (NA) link-layer address option, None when absent."""

    kind: Kind
    source: IPv6Address
    destination: IPv6Address
    hop_limit: int
    target: IPv6Address
    link_layer: bytes | None = None
    router: bool = False
    solicited: bool = False
    override: bool = False


def solicited_node(address: IPv6Address) -> IPv6Address:
    """RFC 4291 §2.7.1: ff02::1:ff00:0/104 plus the low-order 24 bits of the address."""
    return IPv6Address(_SOLICITED_NODE_PREFIX + address.packed[13:])


def checksum(source: IPv6Address, destination: IPv6Address, message: bytes) -> int:
    """RFC 4443 §2.3: one's complement sum over the RFC 8200 §8.1 pseudo-header and the message."""
    data = source.packed + destination.packed + struct.pack("!IxxxB", len(message), NEXT_HEADER_ICMPV6)
    data += message + (b"\0" if len(message) % 2 else b"")
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def encode_frame(packet: NdpPacket, *, source_mac: bytes, destination_mac: bytes | None = None) -> bytes:
    """The packet as an Ethernet frame; a multicast destination gets its RFC 2464 §7 MAC by default."""
    flags = (
        (_ROUTER if packet.router else 0)
        | (_SOLICITED if packet.solicited else 0)
        | (_OVERRIDE if packet.override else 0)
    )
    options = b""
    if packet.link_layer is not None:
        kind = Option.SOURCE_LINK_LAYER if packet.kind is Kind.SOLICITATION else Option.TARGET_LINK_LAYER
        # RFC 4861 §4.6.1: type, length in units of 8 octets, the Ethernet address.
        options = bytes((kind, 1)) + packet.link_layer
    message = _MESSAGE.pack(packet.kind, 0, 0, flags, packet.target.packed) + options
    cksum = checksum(packet.source, packet.destination, message)
    message = message[:2] + cksum.to_bytes(2, "big") + message[4:]
    if destination_mac is None:
        if not packet.destination.is_multicast:
            raise ValueError("a unicast destination needs its MAC")
        destination_mac = ipv6_multicast_mac(packet.destination)
    ipv6 = _IPV6.pack(
        6 << 28,
        len(message),
        NEXT_HEADER_ICMPV6,
        packet.hop_limit,
        packet.source.packed,
        packet.destination.packed,
    )
    return HEADER.pack(destination_mac, source_mac, ETHERTYPE_IPV6) + ipv6 + message


def decode_frame(frame: bytes) -> NdpPacket | NdpDrop:
    """An Ethernet frame to its NS or NA after the RFC 4861 §7.1.1 / §7.1.2 validity checks."""
    if len(frame) < HEADER_LENGTH + IPV6_LENGTH:
        return NdpDrop.TRUNCATED
    _, _, ethertype = HEADER.unpack_from(frame)
    _, payload_length, next_header, hop_limit, src, dst = _IPV6.unpack_from(frame, HEADER_LENGTH)
    if ethertype != ETHERTYPE_IPV6 or next_header != NEXT_HEADER_ICMPV6:
        return NdpDrop.NOT_NDP
    start = HEADER_LENGTH + IPV6_LENGTH
    # Ethernet may pad short frames: the payload length says where the message ends.
    message = frame[start : start + payload_length]
    if len(message) < payload_length or payload_length < MESSAGE_LENGTH:
        return NdpDrop.TRUNCATED
    kind, code, _, flags, target = _MESSAGE.unpack_from(message)
    if kind not in (Kind.SOLICITATION, Kind.ADVERTISEMENT):
        return NdpDrop.NOT_NDP
    if hop_limit != HOP_LIMIT:
        return NdpDrop.HOP_LIMIT
    source, destination = IPv6Address(src), IPv6Address(dst)
    if checksum(source, destination, message) != 0:
        return NdpDrop.BAD_CHECKSUM
    if code != 0:
        return NdpDrop.BAD_CODE
    target_address = IPv6Address(target)
    if target_address.is_multicast:
        return NdpDrop.MULTICAST_TARGET
    link_layer = _link_layer_option(message[MESSAGE_LENGTH:], kind)
    if isinstance(link_layer, NdpDrop):
        return link_layer
    packet = NdpPacket(
        Kind(kind),
        source,
        destination,
        hop_limit,
        target_address,
        link_layer,
        router=bool(flags & _ROUTER),
        solicited=bool(flags & _SOLICITED),
        override=bool(flags & _OVERRIDE),
    )
    if packet.kind is Kind.SOLICITATION and source == UNSPECIFIED:
        if link_layer is not None:
            return NdpDrop.DAD_WITH_SOURCE_LLA
        if destination != solicited_node(target_address):
            return NdpDrop.DAD_NOT_SOLICITED_NODE
    if packet.kind is Kind.ADVERTISEMENT and destination.is_multicast and packet.solicited:
        return NdpDrop.SOLICITED_TO_MULTICAST
    return packet


def _link_layer_option(options: bytes, kind: int) -> bytes | NdpDrop | None:
    """The NS source / NA target link-layer address among `options`. RFC 4861 §4.6: every option has a
    non-zero length; unknown options are skipped (§4.6 "silently ignore")."""
    wanted = Option.SOURCE_LINK_LAYER if kind == Kind.SOLICITATION else Option.TARGET_LINK_LAYER
    found: bytes | None = None
    offset = 0
    while offset + 2 <= len(options):
        length = options[offset + 1] * 8
        if length == 0 or offset + length > len(options):
            return NdpDrop.BAD_OPTION
        if options[offset] == wanted and length >= 8 and found is None:
            found = options[offset + 2 : offset + 8]
        offset += length
    if offset != len(options):
        return NdpDrop.BAD_OPTION
    return found
