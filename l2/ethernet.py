"""Ethernet II framing shared by the ARP and NDP codecs: the 14-byte header and MAC address helpers."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv6Address

# IEEE 802.3 Ethernet II header: destination, source, EtherType.
HEADER = struct.Struct("!6s6sH")
HEADER_LENGTH = HEADER.size
# EtherTypes: RFC 826 "ether_type$ADDRESS_RESOLUTION", RFC 2464 §3 for IPv6.
ETHERTYPE_ARP = 0x0806
ETHERTYPE_IPV6 = 0x86DD
BROADCAST = b"\xff" * 6
ZERO_MAC = bytes(6)


@dataclass(frozen=True, slots=True)
class EthernetHeader:
    destination: bytes
    source: bytes
    ethertype: int

    def encode(self) -> bytes:
        return HEADER.pack(self.destination, self.source, self.ethertype)


def decode_header(frame: bytes) -> EthernetHeader | None:
    """The frame's header, or None when the frame is shorter than one."""
    if len(frame) < HEADER_LENGTH:
        return None
    destination, source, ethertype = HEADER.unpack_from(frame)
    return EthernetHeader(destination, source, ethertype)


def ipv6_multicast_mac(group: IPv6Address) -> bytes:
    """RFC 2464 §7: 33:33 followed by the last four bytes of the IPv6 multicast address."""
    return b"\x33\x33" + group.packed[12:]


def format_mac(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def parse_mac(text: str) -> bytes:
    """`aa:bb:cc:dd:ee:ff` (any case) to six bytes; ValueError on anything else."""
    parts = text.split(":")
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        raise ValueError(f"not a MAC address: {text!r}")
    return bytes(int(p, 16) for p in parts)
