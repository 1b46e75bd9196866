"""AF_PACKET sockets for the ARP/NDP responder, one per interface, and IPv6 multicast memberships.

A packet socket sees frames before the kernel's IP stack decides anything, which is what the responder
needs: ARP requests for VIPs that are not local addresses, and unicast Neighbor Solicitations (NUD) for
IPv6 VIPs, which an ICMPv6 socket never sees when the kernel would forward or drop them instead. A
classic BPF filter attached before the socket is bound keeps everything but ARP and ICMPv6 NS in the
kernel, so the event loop wakes only for frames the responder may answer.
"""

from __future__ import annotations

import asyncio
import contextlib
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
    """IPv6 multicast group memberships (solicited-node groups), held on as many sockets as needed.

    Joining through the IPv6 stack, rather than only opening the NIC's MAC filter, makes the kernel
    report the membership with MLD, so switches doing MLD snooping forward the solicitations to us.
    The sockets are unbound UDP sockets: they hold memberships and receive nothing. A socket's
    memberships are charged to its option memory (`net.core.optmem_max`: about 2,300 groups at 128 KiB,
    350 at the older 20 KiB default), so a join refused with ENOMEM/ENOBUFS moves to a new socket.
    """

    __slots__ = ("_joined", "_socks")

    def __init__(self) -> None:
        self._socks: list[socket.socket] = [socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)]
        self._joined: dict[tuple[int, IPv6Address], socket.socket] = {}

    @property
    def joined(self) -> frozenset[tuple[int, IPv6Address]]:
        return frozenset(self._joined)

    @property
    def sockets(self) -> int:
        return len(self._socks)

    def sync(self, wanted: frozenset[tuple[int, IPv6Address]], log: Callable[..., object]) -> None:
        for key in sorted(self._joined.keys() - wanted):
            index, group = key
            # A vanished interface took its memberships with it: leaving may fail, and that is fine.
            with contextlib.suppress(OSError):
                _set(self._joined.pop(key), socket.IPV6_LEAVE_GROUP, index, group)
        for key in sorted(wanted - self._joined.keys()):
            index, group = key
            sock = self._socks[-1]
            try:
                try:
                    _set(sock, socket.IPV6_JOIN_GROUP, index, group)
                except OSError as exc:
                    if exc.errno not in (errno.ENOMEM, errno.ENOBUFS):
                        raise
                    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
                    self._socks.append(sock)
                    _set(sock, socket.IPV6_JOIN_GROUP, index, group)
            except OSError as exc:
                # The link went away between the netlink event and now; the next sync drops it.
                log("multicastMembership", group=str(group), ifindex=index, error=exc.strerror)
                continue
            self._joined[key] = sock

    def close(self) -> None:
        for sock in self._socks:
            sock.close()
        self._socks.clear()
        self._joined.clear()


def _set(sock: socket.socket, option: int, index: int, group: IPv6Address) -> None:
    # struct ipv6_mreq { struct in6_addr ipv6mr_multiaddr; unsigned int ipv6mr_interface; }
    sock.setsockopt(socket.IPPROTO_IPV6, option, group.packed + struct.pack("@I", index))
