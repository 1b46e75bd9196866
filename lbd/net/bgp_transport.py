"""TCP for BGP (RFC 4271 §8.2.1): dialing out with the session's socket options, and listening.

Socket options of a BGP connection, set before the first segment so the SYN already carries them:
TCP_NODELAY (a KEEPALIVE must not wait for Nagle), the TTL / hop limit (1 for directly connected
eBGP, 255 with ebgpMultiHop, as FRR and MetalLB do), the minimum accepted TTL for GTSM (RFC 5082) where
configured, and the TCP-MD5 key of the peer (RFC 2385). Listening sockets carry the MD5 key of every
peer that may dial in; accepted connections get the per-peer options once the peer is known.

Nothing here knows BGP messages: `BgpStream` hands raw bytes to whoever `bind`s it (the speaker).
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from lbd.net.bgp_md5 import set_md5

BGP_PORT = 179
# RFC 4271 has no TTL rule; eBGP between directly connected routers conventionally uses 1 so that a
# spoofed session from further away cannot arrive, multihop eBGP needs 255.
DIRECT_EBGP_TTL = 1
MULTIHOP_TTL = 255
# <linux/in.h>, <linux/in6.h>: GTSM (RFC 5082) minimum TTL / hop limit of accepted packets.
IP_MINTTL = 21
IPV6_MINHOPCOUNT = 73
# RFC 5082 §3: a directly connected peer sends with TTL 255, so anything under 254 came from further.
GTSM_TTL = 255
GTSM_MIN_TTL = 254
_LISTEN_BACKLOG = 64
# Seconds a closed connection waits for the peer to close its side (see `BgpStream.close`).
LINGER = 3.0

DataCallback = Callable[[bytes], None]
LostCallback = Callable[[Exception | None], None]


@dataclass(frozen=True, slots=True)
class TransportOptions:
    """How to reach one peer.

    `ttl`: TTL / hop limit of our segments (None: the kernel's default). `min_ttl`: GTSM, the lowest
    TTL accepted from the peer (None: off). `connect_timeout`: seconds to wait for the handshake."""

    peer: str
    port: int = BGP_PORT
    source: str | None = None
    password: str | None = None
    ttl: int | None = None
    min_ttl: int | None = None
    connect_timeout: float = 5.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "peer", normalize(self.peer))
        if self.source is not None:
            object.__setattr__(self, "source", normalize(self.source))


def normalize(address: str) -> str:
    """One spelling per address (the kernel's), so lookups by peer address match."""
    return ipaddress.ip_address(address.split("%", 1)[0]).compressed


def family_of(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET


def ttl_for(*, ibgp: bool, multihop: bool) -> int | None:
    """Outgoing TTL of a session: iBGP keeps the kernel default (peers are often loopbacks away)."""
    if ibgp:
        return None
    return MULTIHOP_TTL if multihop else DIRECT_EBGP_TTL


def set_hop_options(sock: socket.socket, ttl: int | None, min_ttl: int | None) -> None:
    """TTL and GTSM minimum TTL on a connected or connecting socket of either family."""
    if sock.family == socket.AF_INET6:
        if ttl is not None:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
        if min_ttl is not None:
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_MINHOPCOUNT, min_ttl)
    else:
        if ttl is not None:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
        if min_ttl is not None:
            sock.setsockopt(socket.IPPROTO_IP, IP_MINTTL, min_ttl)


def connecting_socket(options: TransportOptions) -> socket.socket:
    """A non-blocking socket with every option of `options` set and the source address bound."""
    sock = socket.socket(family_of(options.peer), socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        set_hop_options(sock, options.ttl, options.min_ttl)
        if options.password:
            set_md5(sock, options.peer, options.password)
        if options.source is not None:
            sock.bind((options.source, 0))
    except BaseException:
        sock.close()
        raise
    return sock


async def dial(options: TransportOptions, stream: BgpStream) -> None:
    """Connect `stream` to the peer; raises OSError (or TimeoutError after `connect_timeout`)."""
    loop = asyncio.get_running_loop()
    sock = connecting_socket(options)
    try:
        async with asyncio.timeout(options.connect_timeout):
            await loop.sock_connect(sock, (options.peer, options.port))
        await loop.create_connection(lambda: stream, sock=sock)
    except BaseException:
        sock.close()
        raise


class BgpStream(asyncio.Protocol):
    """One TCP connection: bytes in to `on_data`, the end to `on_lost`; `send` and `close` out.

    Callbacks are bound by the owner (`bind`) before any data can arrive: at construction for a dialed
    connection, inside the listener's accept callback for an accepted one."""

    def __init__(
        self,
        on_data: DataCallback | None = None,
        on_lost: LostCallback | None = None,
        *,
        accept: Callable[[BgpStream], bool] | None = None,
    ) -> None:
        self._on_data = on_data
        self._on_lost = on_lost
        self._transport: asyncio.Transport | None = None
        self._accept = accept
        self._linger: asyncio.TimerHandle | None = None
        self.local: str = ""
        self.local_port = 0
        self.remote: str = ""
        self.remote_port = 0

    def bind(self, on_data: DataCallback, on_lost: LostCallback) -> None:
        self._on_data, self._on_lost = on_data, on_lost

    @property
    def socket(self) -> socket.socket | None:
        if self._transport is None:
            return None
        sock: socket.socket | None = self._transport.get_extra_info("socket")
        return sock

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        local = transport.get_extra_info("sockname")
        remote = transport.get_extra_info("peername")
        self.local, self.local_port = normalize(local[0]), local[1]
        self.remote, self.remote_port = normalize(remote[0]), remote[1]
        if self._accept is not None and not self._accept(self):
            transport.abort()

    def data_received(self, data: bytes) -> None:
        if self._on_data is not None:
            self._on_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._linger is not None:
            self._linger.cancel()
        if self._on_lost is not None:
            self._on_lost(exc)

    def send(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    @property
    def write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() if self._transport is not None else 0

    def close(self) -> None:
        """Flush what was sent, then close gracefully.

        A NOTIFICATION must reach the peer (RFC 4271 §6). Closing the socket at once would answer
        whatever the peer still sends (its KEEPALIVE, crossing our NOTIFICATION) with a reset, and a
        reset makes the peer's kernel report ECONNRESET before the NOTIFICATION is read. So we only
        shut down our sending side, discard what still arrives, and close when the peer closes, or
        after `LINGER` seconds."""
        transport = self._transport
        if transport is None or transport.is_closing() or self._linger is not None:
            return
        self._on_data = None
        if not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        self._linger = asyncio.get_running_loop().call_later(LINGER, transport.abort)

    def eof_received(self) -> bool:
        return False  # the peer closed too: let the transport close

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()


AcceptCallback = Callable[[BgpStream], bool]


class Listener:
    """Passive opening (RFC 4271 §8.2.1.1): one listening socket per address family on `port`.

    `accept(stream)` decides on every connection by its `remote` address; returning False closes it.
    `set_passwords` keeps the listening sockets' MD5 keys equal to the configured peers' passwords."""

    def __init__(
        self, port: int, accept: AcceptCallback, *, addresses: tuple[str, ...] = ("0.0.0.0", "::")
    ) -> None:
        self._port = port
        self._accept = accept
        self._addresses = addresses
        self._servers: list[asyncio.Server] = []
        self._sockets: list[socket.socket] = []
        self._passwords: dict[str, str] = {}

    @property
    def port(self) -> int:
        return self._port

    @property
    def bound(self) -> list[str]:
        """The addresses listened on (after `start`)."""
        return [normalize(str(sock.getsockname()[0])) for sock in self._sockets]

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for address in self._addresses:
            sock = _listening_socket(address, self._port)
            if sock is None:
                continue
            if self._port == 0:
                # Tests listen on an ephemeral port: the IPv6 socket then uses the same number.
                self._port = sock.getsockname()[1]
            self._sockets.append(sock)
            self._servers.append(await loop.create_server(self._stream, sock=sock))
        for peer, password in self._passwords.items():
            self._key(peer, password)

    def _stream(self) -> BgpStream:
        return BgpStream(accept=self._accept)

    def set_passwords(self, passwords: Mapping[str, str]) -> None:
        wanted = {normalize(peer): password for peer, password in passwords.items()}
        for peer in set(self._passwords) - set(wanted):
            self._key(peer, None)
        for peer, password in wanted.items():
            if self._passwords.get(peer) != password:
                self._key(peer, password)
        self._passwords = wanted

    def _key(self, peer: str, password: str | None) -> None:
        for sock in self._sockets:
            if sock.family == family_of(peer):
                set_md5(sock, peer, password)

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        self._sockets.clear()


def _listening_socket(address: str, port: int) -> socket.socket | None:
    family = family_of(address)
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError:
        return None  # no IPv6 in this kernel: listen on IPv4 alone
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((address, port))
        sock.listen(_LISTEN_BACKLOG)
        sock.setblocking(False)
    except OSError as error:
        sock.close()
        if family == socket.AF_INET6 and error.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
            return None  # IPv6 disabled: listen on IPv4 alone
        raise
    return sock
