"""ARP over Ethernet (RFC 826): decode requests, encode replies and gratuitous announcements.

Decoders never raise: a frame the sender got wrong is an `ArpDrop` the caller counts. Only Ethernet /
IPv4 ARP exists for us; anything else on the ARP EtherType is dropped.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from ipaddress import IPv4Address

from l2.ethernet import BROADCAST, ETHERTYPE_ARP, HEADER, HEADER_LENGTH, ZERO_MAC

# RFC 826 "Packet format": ar$hrd, ar$pro, ar$hln, ar$pln, ar$op, ar$sha, ar$spa, ar$tha, ar$tpa.
_BODY = struct.Struct("!HHBBH6s4s6s4s")
LENGTH = _BODY.size
# Where ar$tpa sits in an Ethernet frame, for a lookup before decoding.
TARGET_IP = slice(HEADER_LENGTH + 24, HEADER_LENGTH + 28)
# EtherType through ar$op of an Ethernet/IPv4 request and of its reply, as on the wire.
_REQUEST_START = struct.pack("!HHHBBH", ETHERTYPE_ARP, 1, 0x0800, 6, 4, 1)
_REPLY_START = struct.pack("!HHHBBH", ETHERTYPE_ARP, 1, 0x0800, 6, 4, 2)
_OP_END = HEADER_LENGTH + 8
# RFC 826 ar$hrd: 1 is Ethernet (IANA ARP hardware type); ar$pro takes the EtherType of IPv4.
_HTYPE_ETHERNET = 1
_PTYPE_IPV4 = 0x0800


class Op(enum.IntEnum):
    """RFC 826 ar$op."""

    REQUEST = 1
    REPLY = 2


class ArpDrop(enum.Enum):
    TRUNCATED = "shorter than Ethernet header + 28-byte ARP body"
    NOT_ARP = "EtherType is not ARP"
    NOT_ETHERNET_IPV4 = "hardware/protocol type or lengths are not Ethernet/IPv4"
    BAD_OPCODE = "opcode is neither request nor reply"


@dataclass(frozen=True, slots=True)
class ArpPacket:
    op: Op
    sender_mac: bytes
    sender_ip: IPv4Address
    target_mac: bytes
    target_ip: IPv4Address

    @property
    def is_gratuitous(self) -> bool:
        """RFC 5227 §3 (announcement) and RFC 5944 §4.6: the sender names its own address as target."""
        return self.sender_ip == self.target_ip

    def encode(self) -> bytes:
        return _BODY.pack(
            _HTYPE_ETHERNET,
            _PTYPE_IPV4,
            6,
            4,
            self.op,
            self.sender_mac,
            self.sender_ip.packed,
            self.target_mac,
            self.target_ip.packed,
        )


def decode_frame(frame: bytes) -> ArpPacket | ArpDrop:
    """An Ethernet frame carrying ARP (trailing padding allowed) to its ARP packet."""
    if len(frame) < HEADER_LENGTH + LENGTH:
        return ArpDrop.TRUNCATED
    _, _, ethertype = HEADER.unpack_from(frame)
    if ethertype != ETHERTYPE_ARP:
        return ArpDrop.NOT_ARP
    hrd, pro, hln, pln, op, sha, spa, tha, tpa = _BODY.unpack_from(frame, HEADER_LENGTH)
    if hrd != _HTYPE_ETHERNET or pro != _PTYPE_IPV4 or hln != 6 or pln != 4:
        return ArpDrop.NOT_ETHERNET_IPV4
    if op not in (Op.REQUEST, Op.REPLY):
        return ArpDrop.BAD_OPCODE
    return ArpPacket(Op(op), sha, IPv4Address(spa), tha, IPv4Address(tpa))


def encode_frame(destination: bytes, packet: ArpPacket) -> bytes:
    """The packet in an Ethernet frame from its sender MAC. Not padded to 60 bytes: the kernel's own
    ARP frames are not either, and NICs pad short frames on transmit."""
    return HEADER.pack(destination, packet.sender_mac, ETHERTYPE_ARP) + packet.encode()


def reply_to(frame: bytes, mac: bytes) -> bytes | None:
    """The reply to an Ethernet/IPv4 ARP request asking for an address, or None for any other frame (a
    reply, a gratuitous packet, anything malformed). RFC 826 "Packet Reception": swap sender and target,
    put our hardware address as sender, set ar$op to reply, and send it to the requester's hardware
    address. Built on the raw bytes, as it is the responder's per-request path: the same result as
    `decode_frame`, then `encode_frame` of the swapped packet."""
    if len(frame) < HEADER_LENGTH + LENGTH or frame[12:_OP_END] != _REQUEST_START:
        return None
    sha, spa, tpa = frame[22:28], frame[28:32], frame[38:42]
    # RFC 5227 §3 announcements and other gratuitous requests (sender IP = target IP) ask nothing.
    if spa == tpa:
        return None
    return sha + mac + _REPLY_START + mac + tpa + sha + spa


def gratuitous(address: IPv4Address, mac: bytes) -> tuple[bytes, bytes]:
    """Two broadcast frames announcing `address` at `mac`: an RFC 5227 §3 ARP Announcement (request,
    sender IP = target IP, target MAC zero) and a gratuitous reply whose target MAC equals the sender
    MAC. Linux (net/ipv4/arp.c `arp_is_garp`) treats a reply as gratuitous only in that form, and only
    gratuitous packets override a neighbour entry updated less than `locktime` ago."""
    request = ArpPacket(Op.REQUEST, mac, address, ZERO_MAC, address)
    reply = ArpPacket(Op.REPLY, mac, address, mac, address)
    return encode_frame(BROADCAST, request), encode_frame(BROADCAST, reply)
