"""TCP-MD5 signatures for BGP sessions (RFC 2385), keyed per peer address on a socket.

Linux keeps the keys in the socket (`setsockopt(IPPROTO_TCP, TCP_MD5SIG, struct tcp_md5sig)`): on a
connecting socket before `connect`, on a listening socket for every peer that may dial in (accepted
sockets inherit the key of their peer). A segment without the right signature is dropped by the kernel
before TCP sees it, so a wrong password looks like a silent peer, never like a refused connection.
"""

from __future__ import annotations

import ipaddress
import socket
import struct

# <linux/tcp.h>
TCP_MD5SIG = 14
TCP_MD5SIG_MAXKEYLEN = 80
# struct __kernel_sockaddr_storage is 128 bytes; then u8 flags, u8 prefixlen, u16 keylen,
# int ifindex, u8 key[80].
_SOCKADDR_STORAGE = 128
_TAIL = struct.Struct("=BBHi80s")


class PasswordError(ValueError):
    """The configured password cannot be an RFC 2385 key (too long for the kernel)."""


def md5sig(peer: str, password: str | None) -> bytes:
    """`struct tcp_md5sig` setting (or, with no password, deleting) the key for `peer`."""
    key = password.encode() if password else b""
    if len(key) > TCP_MD5SIG_MAXKEYLEN:
        raise PasswordError(f"a TCP-MD5 password has at most {TCP_MD5SIG_MAXKEYLEN} bytes, not {len(key)}")
    address = ipaddress.ip_address(peer)
    if address.version == 4:
        # struct sockaddr_in: family (host order), port, address, zero padding.
        sockaddr = struct.pack("=HH4s", socket.AF_INET, 0, address.packed)
    else:
        # struct sockaddr_in6: family, port, flowinfo, address, scope id.
        sockaddr = struct.pack("=HHI16sI", socket.AF_INET6, 0, 0, address.packed, 0)
    return sockaddr.ljust(_SOCKADDR_STORAGE, b"\0") + _TAIL.pack(0, 0, len(key), 0, key)


def set_md5(sock: socket.socket, peer: str, password: str | None) -> None:
    """Require (or, with None, stop requiring) RFC 2385 signatures on segments to and from `peer`.

    An IPv4 peer on an IPv6 socket is keyed by its mapped address, as the kernel sees it there."""
    address = ipaddress.ip_address(peer)
    if sock.family == socket.AF_INET6 and address.version == 4:
        peer = f"::ffff:{address}"
    try:
        sock.setsockopt(socket.IPPROTO_TCP, TCP_MD5SIG, md5sig(peer, password))
    except OSError as error:
        # Deleting a key that was never set is not an error for us.
        if password or error.errno != 2:  # ENOENT
            raise
