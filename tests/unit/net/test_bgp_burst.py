"""A 100,000-route burst to one peer does not hold up the event loop: BFD Down on another session
sends its Cease while the burst is still being produced.

lbd's side is a BgpSpeaker on 127.0.0.1 with two peers; the peers are minimal BGP sinks (OPEN with hold
time 0 and KEEPALIVE on accept, then they only read), so the measured loop does nothing but lbd's work.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, IPv6Network

from bfd import Profile, State
from bgp import events as ev
from bgp.capabilities import FourOctetAs, Multiprotocol
from bgp.codec import CodecContext, MessageReader, UpdateResult, encode
from bgp.fsm import State as BgpState
from bgp.messages import Keepalive, Notification, Open
from bgp.route import Route
from lbd.net.bgp_peers import PeerSettings
from lbd.net.bgp_session_config import NextHops, SessionSetup, session_config
from lbd.net.bgp_speaker import BgpSpeaker, PeerDriver
from tests.unit.net.test_bgp_speaker import A, B, FakeBfd, settings, until

C = "127.0.0.3"
COUNT = 100_000
# RFC 2545 next hop for the IPv6 routes (the session itself runs over IPv4 loopback, never a next hop).
NEXT_HOP = NextHops(v6=IPv6Address("2001:db8::1"))


async def config_of(s: PeerSettings, restarting: bool) -> SessionSetup:
    return SessionSetup(session_config(s, restarting, NEXT_HOP))


@dataclass
class Sink:
    """A peer that opens the session (no keepalives: hold time 0) and keeps what it receives."""

    address: str
    data: bytearray = field(default_factory=bytearray)
    server: asyncio.Server | None = None
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, self.address, 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        caps = (Multiprotocol(1, 1), Multiprotocol(2, 1), FourOctetAs(64513))
        writer.write(encode(Open(64513, 0, IPv4Address("192.0.2.2"), caps)) + encode(Keepalive()))
        while chunk := await reader.read(1 << 16):
            self.data += chunk

    def messages(self) -> list[object]:
        ctx = CodecContext(four_octet_as=True, families=frozenset({(1, 1), (2, 1)}))
        return list(MessageReader(ctx).feed(bytes(self.data)))

    async def close(self) -> None:
        for writer in self.writers:
            writer.close()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def test_bfd_down_cease_goes_out_while_a_large_burst_is_produced() -> None:
    loop = asyncio.get_running_loop()
    big, other = Sink(B), Sink(C)
    bfd = FakeBfd()
    # Stamped in the speaker's event hook: when the Cease went out, and whether the burst was still on.
    cease_at: list[tuple[float, bool]] = []

    def on_event(driver: PeerDriver, event: ev.Event) -> None:
        if driver.name == "other" and isinstance(event, ev.NotificationSent):
            cease_at.append((loop.time(), speaker.drivers["big"].session.more_to_send))

    speaker = BgpSpeaker(config_of=config_of, on_event=on_event, listen_port=None, bfd=bfd)  # type: ignore[arg-type]
    try:
        big_port, other_port = await big.start(), await other.start()
        await speaker.configure(
            {
                "big": settings("big", B, big_port, dual_stack=True),
                "other": settings(
                    "other",
                    C,
                    other_port,
                    my_asn=64512,
                    peer_asn=64513,
                    router_id=IPv4Address("192.0.2.1"),
                    source_address=A,
                    bfd=Profile(),
                ),
            }
        )
        await until(lambda: all(d.session.state == BgpState.ESTABLISHED for d in speaker.drivers.values()))
        bfd.fire(State.DOWN, State.UP)
        base = int(IPv6Address("2001:db8:1::"))
        routes = [Route(IPv6Network((base + i, 128))) for i in range(COUNT)]

        speaker.drivers["big"].set_routes(routes)
        # The burst has started (one slice is out) and continues slice by slice; BFD Down for the other
        # session arrives now, as the BFD manager's callback would, from the loop.
        assert speaker.drivers["big"].session.more_to_send
        asked = loop.time()
        loop.call_soon(bfd.fire, State.UP, State.DOWN)
        await until(lambda: cease_at)
        sent, burst_on = cease_at[0]
        # Without slicing, the whole table would be packed before the BFD callback runs.
        assert burst_on, "the Cease waited for the whole burst"
        assert sent - asked < 0.05, f"Cease {1000 * (sent - asked):.1f} ms after BFD Down"

        # The burst completes: every prefix reaches the peer, then End-of-RIB for both families.
        await until(lambda: not speaker.drivers["big"].session.more_to_send)
        await until(lambda: len(big.data) >= 17 * COUNT)
        await asyncio.sleep(0.1)  # the last End-of-RIB bytes
        updates = [m for m in big.messages() if isinstance(m, UpdateResult)]
        announced = [p for u in updates for p in u.update.announced()]
        assert len(announced) == COUNT and announced[0] == routes[0].prefix
        assert [u.update.end_of_rib() for u in updates if u.update.end_of_rib()] == [(1, 1), (2, 1)]
        (cease,) = [m for m in other.messages() if isinstance(m, Notification)]
        assert (cease.code, cease.subcode) == (6, 10)
    finally:
        await speaker.close("test over")
        await big.close()
        await other.close()
