"""AF_PACKET sockets for the ARP/NDP responder, one per interface, and IPv6 multicast memberships.

A packet socket sees frames before the kernel's IP stack decides anything, which is what the responder
needs: ARP requests for VIPs that are not local addresses, and unicast Neighbor Solicitations (NUD) for
IPv6 VIPs, which an ICMPv6 socket never sees when the kernel would forward or drop them instead. A
classic BPF filter attached before the socket is bound keeps everything but ARP and ICMPv6 NS in the
kernel, so the event loop wakes only for frames the responder may answer.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import socket
import struct
from collections.abc import Callable
from ipaddress import IPv6Address

ETH_P_ALL = 0x0003
SOL_PACKET = 263
# linux/if_packet.h: do not deliver our own transmitted frames back to us (Linux >= 4.20).
PACKET_IGNORE_OUTGOING = 23
PACKET_OUTGOING = 4
SO_ATTACH_FILTER = 26
# Frames read per readiness callback: bounded so a flood on one link cannot starve the loop.
READ_BURST = 64
# A request flood must not be lost to a small default buffer while the loop is busy elsewhere.
RECEIVE_BUFFER = 1 << 20

# linux/filter.h classic BPF opcodes.
_LDH_ABS = 0x28
_LDB_ABS = 0x30
_JEQ_K = 0x15
_RET_K = 0x06
# Accept ARP, and IPv6 whose next header is ICMPv6 (58) with type 135 (Neighbor Solicitation). Offsets
# are into the Ethernet frame: EtherType at 12, IPv6 next header at 14 + 6, ICMPv6 type at 14 + 40.
_FILTER = (
    (_LDH_ABS, 0, 0, 12),
    (_JEQ_K, 5, 0, 0x0806),
    (_JEQ_K, 0, 5, 0x86DD),
    (_LDB_ABS, 0, 0, 20),
    (_JEQ_K, 0, 3, 58),
    (_LDB_ABS, 0, 0, 54),
    (_JEQ_K, 0, 1, 135),
    (_RET_K, 0, 0, 0x40000),
    (_RET_K, 0, 0, 0),
)
_PROGRAM = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *insn) for insn in _FILTER))


def _attach_filter(sock: socket.socket) -> None:
    # struct sock_fprog { unsigned short len; struct sock_filter *filter; }
    fprog = struct.pack("HL", len(_FILTER), ctypes.addressof(_PROGRAM))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


class PacketPort:
    """One interface's AF_PACKET socket on the event loop: frames in through `deliver`, out by `send`."""

    __slots__ = ("_deliver", "_loop", "_sock", "interface", "send_errors")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, interface: str, deliver: Callable[[str, bytes], None]
    ) -> None:
        self.interface = interface
        self._loop = loop
        self._deliver = deliver
        self.send_errors = 0
        # Protocol 0 receives nothing until bind, so no unfiltered frame slips in before the filter.
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            sock.setblocking(False)
            _attach_filter(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            try:
                sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
            except OSError as exc:
                if exc.errno != errno.ENOPROTOOPT:
                    raise
            sock.bind((interface, ETH_P_ALL))
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        loop.add_reader(sock.fileno(), self._readable)

    def send(self, frame: bytes) -> bool:
        try:
            self._sock.send(frame)
        except OSError:
            # Link gone or down, or the queue full: the burst or the asker's retry covers it.
            self.send_errors += 1
            return False
        return True

    def close(self) -> None:
        if self._sock.fileno() >= 0:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()

    def _readable(self) -> None:
        for _ in range(READ_BURST):
            try:
                frame, address = self._sock.recvfrom(2048)
            except BlockingIOError:
                return
            except OSError:
                # ENETDOWN after the link went away or down: the link tracker will close us.
                self._loop.remove_reader(self._sock.fileno())
                return
            if address[2] != PACKET_OUTGOING:
                self._deliver(self.interface, frame)


class Memberships:
    """IPv6 multicast group memberships (solicited-node groups) held on one socket.

    Joining through the IPv6 stack, rather than only opening the NIC's MAC filter, makes the kernel
    report the membership with MLD, so switches doing MLD snooping forward the solicitations to us.
    The socket is an unbound UDP socket: it holds memberships and receives nothing.
    """

    __slots__ = ("_joined", "_sock")

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        self._joined: set[tuple[int, IPv6Address]] = set()

    @property
    def joined(self) -> frozenset[tuple[int, IPv6Address]]:
        return frozenset(self._joined)

    def sync(self, wanted: frozenset[tuple[int, IPv6Address]], log: Callable[..., object]) -> None:
        for index, group in sorted(self._joined - wanted):
            self._set(socket.IPV6_LEAVE_GROUP, index, group, log)
            self._joined.discard((index, group))
        for index, group in sorted(wanted - self._joined):
            if self._set(socket.IPV6_JOIN_GROUP, index, group, log):
                self._joined.add((index, group))

    def _set(self, option: int, index: int, group: IPv6Address, log: Callable[..., object]) -> bool:
        try:
            self._sock.setsockopt(socket.IPPROTO_IPV6, option, group.packed + struct.pack("@I", index))
        except OSError as exc:
            # A vanished interface took its memberships with it (ENODEV, EADDRNOTAVAIL on leave).
            log("multicastMembership", group=str(group), ifindex=index, error=exc.strerror)
            return False
        return True

    def close(self) -> None:
        self._sock.close()
        self._joined.clear()
