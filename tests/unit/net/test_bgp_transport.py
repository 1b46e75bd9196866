"""BGP transport on loopback: TCP-MD5 match and mismatch, TTL/GTSM options, listener accept rules."""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from lbd.net.bgp_md5 import PasswordError, md5sig
from lbd.net.bgp_transport import (
    IP_MINTTL,
    IPV6_MINHOPCOUNT,
    BgpStream,
    Listener,
    TransportOptions,
    connecting_socket,
    dial,
    ttl_for,
)

LOOPBACK = "127.0.0.1"


class Sink:
    """Collects what a stream receives."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.lost = asyncio.Event()

    def on_data(self, data: bytes) -> None:
        self.data += data

    def on_lost(self, exc: Exception | None) -> None:
        self.lost.set()


async def _listener(passwords: dict[str, str], accepted: list[BgpStream], sink: Sink) -> Listener:
    def accept(stream: BgpStream) -> bool:
        accepted.append(stream)
        stream.bind(sink.on_data, sink.on_lost)
        return True

    listener = Listener(0, accept, addresses=(LOOPBACK,))
    listener.set_passwords(passwords)
    await listener.start()
    return listener


def test_md5sig_layout() -> None:
    raw = md5sig("192.0.2.1", "secret")
    assert len(raw) == 216  # sizeof(struct tcp_md5sig)
    assert struct.unpack_from("=H", raw)[0] == socket.AF_INET
    assert raw[4:8] == bytes([192, 0, 2, 1])
    assert struct.unpack_from("=H", raw, 130)[0] == 6  # tcpm_keylen
    assert raw[136:142] == b"secret"
    v6 = md5sig("2001:db8::1", None)
    assert struct.unpack_from("=H", v6)[0] == socket.AF_INET6
    assert struct.unpack_from("=H", v6, 130)[0] == 0
    with pytest.raises(PasswordError):
        md5sig("192.0.2.1", "x" * 81)


async def test_md5_matching_password_connects_and_carries_data() -> None:
    accepted: list[BgpStream] = []
    server_sink, client_sink = Sink(), Sink()
    listener = await _listener({LOOPBACK: "s3cret"}, accepted, server_sink)
    try:
        client = BgpStream(client_sink.on_data, client_sink.on_lost)
        await dial(TransportOptions(LOOPBACK, listener.port, password="s3cret", connect_timeout=2), client)
        client.send(b"hello")
        async with asyncio.timeout(2):
            while bytes(server_sink.data) != b"hello":
                await asyncio.sleep(0.01)
        assert accepted[0].remote == LOOPBACK and accepted[0].local_port == listener.port
        accepted[0].send(b"back")
        async with asyncio.timeout(2):
            while bytes(client_sink.data) != b"back":
                await asyncio.sleep(0.01)
        client.close()
        async with asyncio.timeout(2):
            await server_sink.lost.wait()
    finally:
        await listener.close()


@pytest.mark.parametrize("password", ["wrong", None])
async def test_md5_mismatch_never_completes(password: str | None) -> None:
    accepted: list[BgpStream] = []
    listener = await _listener({LOOPBACK: "s3cret"}, accepted, Sink())
    try:
        with pytest.raises(TimeoutError):
            await dial(
                TransportOptions(LOOPBACK, listener.port, password=password, connect_timeout=1.0), BgpStream()
            )
        assert accepted == []
    finally:
        await listener.close()


async def test_removed_password_accepts_unsigned_peers() -> None:
    accepted: list[BgpStream] = []
    listener = await _listener({LOOPBACK: "s3cret"}, accepted, Sink())
    try:
        listener.set_passwords({})
        client = BgpStream()
        await dial(TransportOptions(LOOPBACK, listener.port, connect_timeout=2), client)
        async with asyncio.timeout(2):
            while not accepted:
                await asyncio.sleep(0.01)
        client.close()
    finally:
        await listener.close()


async def test_listener_closes_unknown_peers() -> None:
    listener = Listener(0, lambda stream: False, addresses=(LOOPBACK,))
    await listener.start()
    try:
        sink = Sink()
        await dial(
            TransportOptions(LOOPBACK, listener.port, connect_timeout=2),
            BgpStream(sink.on_data, sink.on_lost),
        )
        async with asyncio.timeout(2):
            await sink.lost.wait()
        assert sink.data == b""
    finally:
        await listener.close()


async def test_connect_refused_raises_oserror() -> None:
    probe = socket.socket()
    probe.bind((LOOPBACK, 0))
    port = probe.getsockname()[1]
    probe.close()
    with pytest.raises(ConnectionRefusedError):
        await dial(TransportOptions(LOOPBACK, port, connect_timeout=2), BgpStream())


def test_ttl_rules() -> None:
    assert ttl_for(ibgp=False, multihop=False) == 1
    assert ttl_for(ibgp=False, multihop=True) == 255
    assert ttl_for(ibgp=True, multihop=False) is None


def test_ipv4_socket_options() -> None:
    sock = connecting_socket(TransportOptions("192.0.2.1", ttl=1, min_ttl=254, source=LOOPBACK))
    try:
        assert sock.getsockopt(socket.IPPROTO_IP, socket.IP_TTL) == 1
        assert sock.getsockopt(socket.IPPROTO_IP, IP_MINTTL) == 254
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        assert sock.getsockname()[0] == LOOPBACK
    finally:
        sock.close()


def test_default_ttl_is_left_alone() -> None:
    plain = connecting_socket(TransportOptions("192.0.2.1"))
    reference = socket.socket()
    try:
        assert plain.getsockopt(socket.IPPROTO_IP, socket.IP_TTL) == reference.getsockopt(
            socket.IPPROTO_IP, socket.IP_TTL
        )
        assert plain.getsockopt(socket.IPPROTO_IP, IP_MINTTL) == 0
    finally:
        plain.close()
        reference.close()


def test_ipv6_socket_options() -> None:
    sock = connecting_socket(TransportOptions("2001:db8::1", ttl=255, min_ttl=255))
    try:
        assert sock.family == socket.AF_INET6
        assert sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS) == 255
        assert sock.getsockopt(socket.IPPROTO_IPV6, IPV6_MINHOPCOUNT) == 255
    finally:
        sock.close()


def test_addresses_are_normalized() -> None:
    assert TransportOptions("2001:DB8:0::1", source="2001:db8::0:2").peer == "2001:db8::1"
    assert TransportOptions("2001:DB8:0::1", source="2001:db8::0:2").source == "2001:db8::2"
