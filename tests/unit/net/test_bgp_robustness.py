"""A peer sending garbage or flapping its connection never disturbs another session nor the event loop."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace

from bgp import events as ev
from bgp.fsm import State as BgpState
from lbd.net.bgp_speaker import BgpSpeaker
from tests.unit.net.test_bgp_speaker import A, B, Recorder, config_of, settings, until

C = "127.0.0.3"
GARBAGE = [
    b"\x00" * 19,  # bad marker
    b"\xff" * 16 + b"\x00\x05\x01",  # length below the header size
    b"\xff" * 16 + b"\x00\x13\x09",  # unknown message type
    # A complete OPEN (AS 64512, id 192.0.2.9) with the forbidden hold time 1 (RFC 4271 §6.2: 2/6).
    b"\xff" * 16 + b"\x00\x1d\x01" + b"\x04\xfc\x00\x00\x01\xc0\x00\x02\x09\x00",
    bytes(range(256)) * 4,
]


async def raw_connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    sock = socket.socket()
    sock.bind((C, 0))
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (A, port))
    return await asyncio.open_connection(sock=sock)


async def test_garbage_and_flapping_peer_leave_the_other_session_alone() -> None:
    errors: list[dict[str, object]] = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: errors.append(context))
    a_events, b_events = Recorder(), Recorder()
    a = BgpSpeaker(config_of=config_of, on_event=a_events, listen_port=0, listen_addresses=(A,))
    b = BgpSpeaker(config_of=config_of, on_event=b_events, listen_port=None)
    try:
        await a.start()
        assert a.listen_port
        # A listens only (its dials go to port 1 and fail); B dials A from 127.0.0.2.
        peer_b = settings("b", B, 1)
        peer_c = replace(settings("c", C, 1), source_address=None)
        await a.configure({"b": peer_b, "c": peer_c})
        await b.configure({"a": replace(settings("a", A, a.listen_port), source_address=B)})
        await until(lambda: a.drivers["b"].session.state == BgpState.ESTABLISHED)
        established = len(a_events.of(ev.Established))

        for junk in GARBAGE * 4:
            reader, writer = await raw_connect(a.listen_port)
            writer.write(junk)
            await writer.drain()
            # The session answers with a NOTIFICATION (or just closes) and lets go of the connection.
            async with asyncio.timeout(5):
                await reader.read()
            writer.close()
        for _ in range(20):
            _, writer = await raw_connect(a.listen_port)
            writer.close()

        assert a.drivers["b"].session.state == BgpState.ESTABLISHED
        assert len(a_events.of(ev.Established)) == established
        sent = {
            (e.notification.code, e.notification.subcode)
            for name, e in a_events.events
            if name == "c" and isinstance(e, ev.NotificationSent)
        }
        assert {(1, 1), (1, 2), (1, 3), (2, 6)} <= sent
        assert errors == []
    finally:
        await a.close("")
        await b.close("")
