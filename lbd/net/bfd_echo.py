"""The BFD Echo function's link-layer I/O (RFC 5880 §6.4, RFC 5881 §4), IPv4 single hop only.

An echo packet is addressed to ourselves and handed to the peer's MAC, so the peer's forwarding plane
(not its BFD process) sends it straight back: that is what makes echo test the data path. A UDP socket
cannot do this (the kernel would deliver a packet to our own address locally), so echoes go out and
come back through an AF_PACKET socket, as FRR bfdd does; the returning packet is recognised by its TTL,
decremented exactly once by the peer. The peer needs IPv4 forwarding on; for the echoes the peer sends
us, so do we (see docs/bfd-design.md).
"""

from __future__ import annotations

import ctypes
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

from lbd.net.bfd_sockets import TOS_CS6, TTL

ETH_P_IP = 0x0800
SO_ATTACH_FILTER = 26
PACKET_OUTGOING = 4
_IP = struct.Struct("!BBHHHBBH4s4s")
_UDP = struct.Struct("!HHHH")
# Our echo payload's first bytes are version, length, reserved, then My Discriminator (bfd.packet).
_DISCRIMINATOR_OFFSET = 4


@dataclass(frozen=True, slots=True)
class EchoFrame:
    my_discriminator: int
    payload: bytes


def _filter(port: int) -> bytes:
    """Classic BPF over the IP header (SOCK_DGRAM): accept unfragmented UDP to `port`, drop the rest,
    so a busy interface costs the BFD thread nothing but its own echoes."""
    program = [
        (0x30, 0, 0, 9),  # ldb [9]            protocol
        (0x15, 0, 6, socket.IPPROTO_UDP),  # jeq UDP, else drop
        (0x28, 0, 0, 6),  # ldh [6]            flags and fragment offset
        (0x45, 4, 0, 0x1FFF),  # jset offset -> drop
        (0xB1, 0, 0, 0),  # ldxb 4*([0]&0xf)   IP header length
        (0x48, 0, 0, 2),  # ldh [x+2]          UDP destination port
        (0x15, 0, 1, port),  # jeq port, else drop
        (0x06, 0, 0, 0xFFFF),  # ret accept
        (0x06, 0, 0, 0),  # ret drop
    ]
    return b"".join(struct.pack("=HBBI", *insn) for insn in program)


def _checksum(header: bytes) -> int:
    total: int = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def neighbour_mac(address: str) -> bytes | None:
    """The peer's MAC from this namespace's IPv4 neighbour table (it answered our control packets)."""
    try:
        lines = Path("/proc/net/arp").read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        # IP address, HW type, Flags (0x2 = complete), HW address, Mask, Device
        if len(fields) >= 4 and fields[0] == address and int(fields[2], 16) & 0x2:
            return bytes.fromhex(fields[3].replace(":", ""))
    return None


class EchoPort:
    """One AF_PACKET socket per interface, sending our echoes and catching them on their way back."""

    def __init__(self, interface: str, port: int) -> None:
        self._interface = interface
        self._port = port
        self._ip_id = 0
        self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
        try:
            program = _filter(port)
            instructions = ctypes.create_string_buffer(program)
            fprog = struct.pack("HL", len(program) // 8, ctypes.addressof(instructions))
            self._sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
            self._sock.bind((interface, ETH_P_IP))
            self._sock.setblocking(False)
        except OSError:
            self._sock.close()
            raise

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        self._sock.close()

    def send(self, local: str, peer: str, payload: bytes) -> None:
        mac = neighbour_mac(peer)
        if mac is None:
            raise OSError(f"no neighbour entry for {peer} on {self._interface}")
        self._ip_id = (self._ip_id + 1) & 0xFFFF
        src = socket.inet_aton(local)
        udp = _UDP.pack(self._port, self._port, _UDP.size + len(payload), 0) + payload
        header = _IP.pack(
            0x45, TOS_CS6, _IP.size + len(udp), self._ip_id, 0, TTL, socket.IPPROTO_UDP, 0, src, src
        )
        header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
        self._sock.sendto(header + udp, (self._interface, ETH_P_IP, 0, 0, mac))

    def receive(self) -> EchoFrame | None:
        """One of our echoes back from the peer, or None for anything else the filter let through."""
        data, address = self._sock.recvfrom(2048)
        if address[2] == PACKET_OUTGOING or len(data) < _IP.size + _UDP.size:
            return None
        version_ihl, _tos, _length, _id, _frag, ttl, _proto, _sum, src, dst = _IP.unpack_from(data)
        header_length = (version_ihl & 0x0F) * 4
        # Sent with TTL 255 by us to ourselves; the peer's one forwarding hop makes it 254.
        if version_ihl >> 4 != 4 or ttl != TTL - 1 or src != dst:
            return None
        payload = data[header_length + _UDP.size :]
        if len(payload) < _DISCRIMINATOR_OFFSET + 4:
            return None
        (discriminator,) = struct.unpack_from("!I", payload, _DISCRIMINATOR_OFFSET)
        return EchoFrame(discriminator, bytes(payload))
