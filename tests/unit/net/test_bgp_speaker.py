"""Two BgpSpeakers on loopback (127.0.0.1 dials 127.0.0.2): sessions, routes, Cease codes, BFD coupling."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address, IPv4Network, IPv6Network

import pytest

from bfd import Diag, Profile, State, StateChanged
from bgp import events as ev
from bgp.fsm import State as BgpState
from bgp.route import Route
from lbd.net.bfd_transport import SessionKey
from lbd.net.bgp_peers import PeerSettings
from lbd.net.bgp_session_config import SessionSetup, session_config
from lbd.net.bgp_speaker import BgpSpeaker, PeerDriver

A, B = "127.0.0.1", "127.0.0.2"
ROUTE = Route(IPv4Network("198.51.100.7/32"), communities=(0xFC000064,))


def settings(name: str, address: str, port: int, **changes: object) -> PeerSettings:
    base = PeerSettings(
        name=name,
        address=address,
        port=port,
        my_asn=64512 if address == B else 64513,
        peer_asn=64513 if address == B else 64512,
        dynamic_asn=None,
        ibgp=False,
        router_id=IPv4Address("192.0.2.1" if address == B else "192.0.2.2"),
        hold_time=9.0,
        keepalive_time=3.0,
        connect_time=1.0,
        source_address=A if address == B else None,
        password=None,
        ebgp_multihop=True,  # loopback is not a directly connected link for TTL 1
        graceful_restart=False,
        disable_mp=False,
        dual_stack=False,
        bfd=None,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


async def config_of(s: PeerSettings, restarting: bool) -> SessionSetup:
    return SessionSetup(session_config(s, restarting))


@dataclass
class Recorder:
    events: list[tuple[str, ev.Event]] = field(default_factory=list)

    def __call__(self, driver: PeerDriver, event: ev.Event) -> None:
        self.events.append((driver.name, event))

    def of(self, kind: type) -> list[ev.Event]:
        return [e for _, e in self.events if isinstance(e, kind)]


async def until(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


class FakeBfd:
    """The part of BFDManager the speaker uses, with state changes driven by the test."""

    def __init__(self) -> None:
        self.sessions: dict[SessionKey, Profile] = {}
        self.callbacks: list[Callable[[SessionKey, StateChanged], None]] = []

    async def add_session(self, key: SessionKey, profile: Profile) -> None:
        self.sessions[key] = profile

    async def remove_session(self, key: SessionKey) -> None:
        del self.sessions[key]

    def subscribe(self, callback: Callable[[SessionKey, StateChanged], None]) -> Callable[[], None]:
        self.callbacks.append(callback)
        return lambda: self.callbacks.remove(callback)

    def fire(self, old: State, new: State) -> None:
        for key in self.sessions:
            for callback in self.callbacks:
                callback(key, StateChanged(old, new, Diag.CONTROL_DETECTION_TIME_EXPIRED))


@dataclass
class Pair:
    a: BgpSpeaker
    b: BgpSpeaker
    a_events: Recorder
    b_events: Recorder

    def state(self, speaker: BgpSpeaker, name: str) -> BgpState:
        return speaker.drivers[name].session.state


async def pair(manager: FakeBfd | None = None, **a_changes: object) -> Pair:
    a_events, b_events = Recorder(), Recorder()
    b = BgpSpeaker(config_of=config_of, on_event=b_events, listen_port=0, listen_addresses=(B,))
    await b.start()
    port = b.listen_port
    assert port
    a = BgpSpeaker(config_of=config_of, on_event=a_events, listen_port=None, bfd=manager)  # type: ignore[arg-type]
    await a.start()
    # B never reaches A's (absent) listener: it stays passive in effect, A dials.
    await b.configure({"a": settings("a", A, 1)})
    await a.configure({"b": settings("b", B, port, **a_changes)})
    p = Pair(a, b, a_events, b_events)
    await until(lambda: p.state(a, "b") == BgpState.ESTABLISHED and p.state(b, "a") == BgpState.ESTABLISHED)
    return p


def received_prefixes(recorder: Recorder) -> list[IPv4Network | IPv6Network]:
    out = []
    for event in recorder.of(ev.PeerRoutesReceived):
        assert isinstance(event, ev.PeerRoutesReceived)
        out += list(event.result.update.announced())
    return out


async def test_routes_reach_the_engine_and_close_sends_administrative_shutdown() -> None:
    p = await pair()
    try:
        p.a.drivers["b"].set_routes([ROUTE])
        # The session's own address is 127.0.0.1, which no peer could use: the route is withheld, never
        # sent with a loopback next hop (the interop tests see routes arrive over real links).
        await until(lambda: p.a_events.of(ev.RoutesNotSent))
        withheld = p.a_events.of(ev.RoutesNotSent)[0]
        assert isinstance(withheld, ev.RoutesNotSent) and withheld.prefixes == (ROUTE.prefix,)
        assert received_prefixes(p.b_events) == []
    finally:
        await p.a.close("maintenance")
    await until(lambda: p.b_events.of(ev.NotificationReceived))
    notification = p.b_events.of(ev.NotificationReceived)[0]
    assert isinstance(notification, ev.NotificationReceived)
    assert (notification.notification.code, notification.notification.subcode) == (6, 2)
    assert notification.notification.shutdown_communication() == "maintenance"
    await p.b.close("test over")


async def test_changed_and_removed_peers_get_their_cease_subcodes() -> None:
    p = await pair()
    try:
        await p.a.configure({"b": replace(p.a.drivers["b"].settings, hold_time=12.0)})
        await until(lambda: p.b_events.of(ev.NotificationReceived))
        first = p.b_events.of(ev.NotificationReceived)[0]
        assert isinstance(first, ev.NotificationReceived) and first.notification.subcode == 6
        await until(lambda: p.state(p.a, "b") == BgpState.ESTABLISHED)
        await p.a.configure({})
        await until(lambda: len(p.b_events.of(ev.NotificationReceived)) == 2)
        second = p.b_events.of(ev.NotificationReceived)[1]
        assert isinstance(second, ev.NotificationReceived) and second.notification.subcode == 3
        assert p.a.drivers == {}
    finally:
        await p.a.close("")
        await p.b.close("")


async def test_bfd_down_stops_the_session_until_bfd_is_up() -> None:
    bfd = FakeBfd()
    p = await pair(bfd, bfd=Profile())
    try:
        assert len(bfd.sessions) == 1
        bfd.fire(State.DOWN, State.UP)  # first Up: nothing to do
        bfd.fire(State.UP, State.DOWN)
        await until(lambda: p.b_events.of(ev.NotificationReceived))
        cease = p.b_events.of(ev.NotificationReceived)[0]
        assert isinstance(cease, ev.NotificationReceived)
        assert (cease.notification.code, cease.notification.subcode) == (6, 10)  # RFC 9384 BFD Down
        # Well past A's 1 s connect retry: still down while BFD is.
        await asyncio.sleep(2.5)
        assert p.state(p.a, "b") == BgpState.IDLE
        bfd.fire(State.DOWN, State.UP)
        await until(lambda: p.state(p.a, "b") == BgpState.ESTABLISHED)
    finally:
        await p.a.close("")
        await p.b.close("")
    assert bfd.sessions == {}


async def test_md5_on_both_sides() -> None:
    a_events, b_events = Recorder(), Recorder()
    b = BgpSpeaker(config_of=config_of, on_event=b_events, listen_port=0, listen_addresses=(B,))
    await b.start()
    a = BgpSpeaker(config_of=config_of, on_event=a_events, listen_port=None)
    try:
        await b.configure({"a": settings("a", A, 1, password="s3cret")})
        assert b.listen_port
        await a.configure({"b": settings("b", B, b.listen_port, password="s3cret")})
        await until(lambda: b.drivers["a"].session.state == BgpState.ESTABLISHED)
    finally:
        await a.close("")
        await b.close("")


@pytest.mark.parametrize("password", ["wrong", None])
async def test_md5_mismatch_never_establishes(password: str | None) -> None:
    recorder = Recorder()
    b = BgpSpeaker(config_of=config_of, on_event=recorder, listen_port=0, listen_addresses=(B,))
    await b.start()
    a = BgpSpeaker(config_of=config_of, on_event=recorder, listen_port=None)
    try:
        await b.configure({"a": settings("a", A, 1, password="s3cret")})
        assert b.listen_port
        await a.configure({"b": settings("b", B, b.listen_port, password=password)})
        await asyncio.sleep(1.5)
        assert recorder.of(ev.Established) == []
        assert b.drivers["a"].session.counters.opens_received == 0
    finally:
        await a.close("")
        await b.close("")
