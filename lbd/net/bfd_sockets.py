"""Sockets for BFD: receive with TTL and destination (RFC 5881 §4-5, RFC 5883 §2), send with TTL 255.

Everything here is plain blocking-free socket code; the event loop that drives it is in
`lbd.net.bfd_transport`.
"""

from __future__ import annotations

import functools
import ipaddress
import random
import socket
import struct
from dataclasses import dataclass

# RFC 5881 §4 single hop, RFC 5883 §2 multihop, RFC 5881 §4 echo.
CONTROL_PORT = 3784
MULTIHOP_PORT = 4784
ECHO_PORT = 3785
# RFC 5881 §4: "The source port MUST be in the range 49152 through 65535."
SOURCE_PORTS = (49152, 65535)
TTL = 255
# DSCP CS6 (network control), as FRR bfdd marks BFD, so a congested queue does not eat the heartbeats.
TOS_CS6 = 0xC0

# Linux <linux/in.h>; Python's socket module lacks these two.
IP_PKTINFO = 8
IP_RECVTTL = 12
_CMSG_SPACE = socket.CMSG_SPACE(4) + socket.CMSG_SPACE(20) + 64
_RECV_SIZE = 512
# One listening socket takes every session's packets: with a thousand sessions at 300 ms that is several
# thousand a second, and the default buffer (about 200 KiB, a few hundred datagrams) overflows whenever
# the worker waits a few tens of milliseconds for a CPU, losing packets of many sessions at once.
LISTEN_BUFFER = 8 * 1024 * 1024
SO_RCVBUFFORCE = 33  # Linux <asm-generic/socket.h>: like SO_RCVBUF, but above rmem_max (CAP_NET_ADMIN)
_BIND_ATTEMPTS = 64


@dataclass(frozen=True, slots=True)
class Received:
    data: bytes
    peer: str
    local: str | None
    ifindex: int
    ttl: int


@functools.lru_cache(maxsize=4096)
def normalize(address: str) -> str:
    """One spelling per address, so 2001:DB8::1 and 2001:db8:0::1 name the same peer. Cached: it runs
    for every received packet, and parsing an address costs more than the rest of the lookup."""
    return ipaddress.ip_address(address).compressed


def family_of(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET


def listening_socket(family: socket.AddressFamily, port: int, address: str | None = None) -> socket.socket:
    """A socket receiving control (or echo) packets for every session, with TTL and destination."""
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        _grow_receive_buffer(sock)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
            sock.bind((address or "::", port))
        else:
            sock.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
            sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
            sock.bind((address or "0.0.0.0", port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def _grow_receive_buffer(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, LISTEN_BUFFER)
    except OSError:
        # Without CAP_NET_ADMIN: as much as net.core.rmem_max allows.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, LISTEN_BUFFER)


def sending_socket(
    family: socket.AddressFamily, local: str | None, interface: str | None, rng: random.Random
) -> socket.socket:
    """A per-session socket: fixed random source port in 49152-65535 (RFC 5881 §4), TTL 255 (§5)."""
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, TTL)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, TOS_CS6)
        else:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, TTL)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, TOS_CS6)
        if interface is not None:
            # Single hop: the packet must leave through the link the peer is on, whatever the routes say.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
        _bind_source_port(sock, local or ("::" if family == socket.AF_INET6 else "0.0.0.0"), rng)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def _bind_source_port(sock: socket.socket, address: str, rng: random.Random) -> None:
    low, high = SOURCE_PORTS
    for _ in range(_BIND_ATTEMPTS):
        try:
            sock.bind((address, rng.randint(low, high)))
        except OSError as error:
            if error.errno != 98:  # EADDRINUSE: try another port
                raise
        else:
            return
    raise OSError(98, f"no free BFD source port on {address} after {_BIND_ATTEMPTS} attempts")


def receive(sock: socket.socket) -> Received:
    """One datagram with its ancillary TTL/hop limit and destination; raises BlockingIOError when empty."""
    data, ancillary, _flags, source = sock.recvmsg(_RECV_SIZE, _CMSG_SPACE)
    ttl = -1
    local: str | None = None
    ifindex = 0
    for level, kind, value in ancillary:
        if level == socket.IPPROTO_IP and kind == socket.IP_TTL and len(value) >= 4:
            ttl = struct.unpack("=i", value[:4])[0]
        elif level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(value) >= 12:
            # struct in_pktinfo { int ipi_ifindex; struct in_addr ipi_spec_dst; struct in_addr ipi_addr; }
            ifindex = struct.unpack("=i", value[:4])[0]
            local = socket.inet_ntop(socket.AF_INET, value[8:12])
        elif level == socket.IPPROTO_IPV6 and kind == socket.IPV6_HOPLIMIT and len(value) >= 4:
            ttl = struct.unpack("=i", value[:4])[0]
        elif level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO and len(value) >= 20:
            # struct in6_pktinfo { struct in6_addr ipi6_addr; unsigned int ipi6_ifindex; }
            local = socket.inet_ntop(socket.AF_INET6, value[:16])
            ifindex = struct.unpack("=I", value[16:20])[0]
    return Received(bytes(data), normalize(source[0]), local, ifindex, ttl)
