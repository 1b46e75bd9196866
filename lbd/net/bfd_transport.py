"""asyncio adapter for the BFD engine: sockets and timers for every session of the process.

`Service` runs inside the BFD worker process (`lbd.net.bfd_worker`), on that process's own event loop;
`lbd.net.bfd_manager.BFDManager` is its face in the main process. docs/bfd-design.md explains the split.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import structlog

from bfd import Channel, Demux, Diag, DropReason, Profile, Session, State, StateChanged, decode_control
from bfd.events import EchoChanged, PollCompleted
from lbd.net import bfd_sockets as sockets
from lbd.net.bfd_echo import EchoPort

log = structlog.get_logger("lbd.bfd")

# Datagrams read per readiness callback: bounded so one flooded socket cannot monopolise the BFD loop.
_READ_BURST = 256
# After removal a session keeps announcing AdminDown for this long (RFC 5880 §6.8.16 asks for at least a
# Detection Time; RFC 5882 §3.2 has the peer keep BGP up on AdminDown, unlike on a timeout).
_REMOVAL_GRACE = 1.5
_IFNAME_TTL = 1.0


@dataclass(frozen=True, slots=True)
class SessionKey:
    """Where a session runs: single hop (RFC 5881) on `interface`, or multihop (RFC 5883)."""

    peer: str
    local: str | None = None
    multihop: bool = False
    interface: str | None = None

    def __post_init__(self) -> None:
        # Received packets name their source in canonical form; keys must match it.
        object.__setattr__(self, "peer", sockets.normalize(self.peer))
        if self.local is not None:
            object.__setattr__(self, "local", sockets.normalize(self.local))


@dataclass(frozen=True, slots=True)
class Ports:
    """UDP ports; only tests change them, so two managers can share one network namespace."""

    control: int = sockets.CONTROL_PORT
    multihop: int = sockets.MULTIHOP_PORT
    echo: int = sockets.ECHO_PORT


@dataclass(slots=True)
class Counters:
    control_in: int = 0
    control_out: int = 0
    echo_in: int = 0
    echo_out: int = 0
    up_events: int = 0
    down_events: int = 0
    dropped: int = 0
    send_errors: int = 0


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A consistent snapshot of one session, for `lbd` views and tests."""

    key: SessionKey
    state: State
    diag: int
    remote_state: State
    local_discriminator: int
    remote_discriminator: int
    tx_interval: float
    detection_time: float | None
    echo_active: bool
    polling: bool
    counters: Counters


class _Entry:
    __slots__ = ("counters", "dest", "key", "session", "sock", "timer")

    def __init__(self, key: SessionKey, session: Session, sock: socket.socket, dest: tuple[str, int]) -> None:
        self.key = key
        self.session = session
        self.sock = sock
        self.dest = dest
        self.counters = Counters()
        self.timer: asyncio.TimerHandle | None = None


class Service:
    """Every BFD session of the process, with their sockets and timers, on one event loop."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        deliver: Callable[[SessionKey, StateChanged], None],
        ports: Ports,
        listen: str | None,
        seed: int | None,
    ) -> None:
        self._loop = loop
        self._deliver = deliver
        self._ports = ports
        self._listen = listen
        self._rng = random.Random(seed)
        self._demux: Demux[SessionKey] = Demux(self._rng.getrandbits)
        self._entries: dict[SessionKey, _Entry] = {}
        self._retiring: dict[SessionKey, _Entry] = {}
        # Received packets are matched to sessions per (peer, multihop), then per local address (None:
        # sessions that accept any): O(1) per packet however many sessions there are, also for many
        # sessions to one peer from different local addresses. Includes retiring sessions until they
        # are destroyed.
        self._by_peer: dict[tuple[str, bool], dict[str | None, list[SessionKey]]] = {}
        self._listeners: dict[tuple[socket.AddressFamily, bool], socket.socket] = {}
        self._echo: dict[str, EchoPort] = {}
        # ifindex -> (name, when looked up): one if_indextoname syscall per interface and second
        # instead of one per packet; an interface renamed meanwhile is seen within a second.
        self._ifnames: dict[int, tuple[str | None, float]] = {}
        self.unmatched: dict[DropReason, int] = {}

    # --- commands from the manager ---------------------------------------------------------------

    def add(self, key: SessionKey, profile: Profile) -> None:
        if key in self._entries:
            raise ValueError(f"BFD session {key} already exists")
        if key in self._retiring:
            self._destroy(self._retiring.pop(key))
        family = sockets.family_of(key.peer)
        self._listener(family, key.multihop)
        sock = sockets.sending_socket(family, key.local, None if key.multihop else key.interface, self._rng)
        discr = self._demux.add(key)
        now = self._loop.time()
        session = Session(
            _usable(key, profile), discr, multihop=key.multihop, random=self._rng.random, now=now
        )
        port = self._ports.multihop if key.multihop else self._ports.control
        entry = _Entry(key, session, sock, (key.peer, port))
        self._entries[key] = entry
        self._by_peer.setdefault((key.peer, key.multihop), {}).setdefault(key.local, []).append(key)
        log.info("bfd session added", peer=key.peer, local=key.local, multihop=key.multihop, discr=discr)
        self._pump(entry)

    def set_profile(self, key: SessionKey, profile: Profile) -> None:
        entry = self._entries[key]
        entry.session.set_profile(_usable(key, profile), self._loop.time())
        self._pump(entry)

    def remove(self, key: SessionKey) -> None:
        entry = self._entries.pop(key)
        entry.session.admin_down(self._loop.time())
        self._pump(entry)
        self._retiring[key] = entry
        self._loop.call_later(_REMOVAL_GRACE, self._retire, key, entry)

    def snapshot(self) -> list[SessionInfo]:
        return [_info(e) for e in self._entries.values()]

    def counters(self) -> list[tuple[SessionKey, Counters]]:
        return [(e.key, replace(e.counters)) for e in self._entries.values()]

    def close(self) -> None:
        for entry in [*self._entries.values(), *self._retiring.values()]:
            self._destroy(entry)
        self._entries.clear()
        self._retiring.clear()
        for sock in self._listeners.values():
            self._loop.remove_reader(sock.fileno())
            sock.close()
        self._listeners.clear()
        for port in self._echo.values():
            port.close()
        self._echo.clear()

    # --- I/O ------------------------------------------------------------------------------------

    def _listener(self, family: socket.AddressFamily, multihop: bool) -> None:
        if (family, multihop) in self._listeners:
            return
        port = self._ports.multihop if multihop else self._ports.control
        listen = self._listen if self._listen and sockets.family_of(self._listen) == family else None
        sock = sockets.listening_socket(family, port, listen)
        self._listeners[(family, multihop)] = sock
        self._loop.add_reader(sock.fileno(), self._readable, sock, multihop)

    def _readable(self, sock: socket.socket, multihop: bool) -> None:
        for _ in range(_READ_BURST):
            try:
                received = sockets.receive(sock)
            except BlockingIOError:
                return
            except OSError as error:
                log.warning("bfd receive failed", error=str(error))
                return
            self._control(received, multihop)

    def _control(self, received: sockets.Received, multihop: bool) -> None:
        packet = decode_control(received.data)
        if isinstance(packet, DropReason):
            self._unmatched(packet, received)
            return
        key = self._path(received, multihop)
        found = DropReason.NO_SESSION if key is None else self._demux.lookup(packet, key)
        if isinstance(found, DropReason):
            self._unmatched(found, received)
            return
        assert key is not None
        entry = self._entries.get(key) or self._retiring.get(key)
        if entry is None:
            return
        result = entry.session.receive_control(packet, self._loop.time(), received.ttl)
        if result is None:
            entry.counters.control_in += 1
        else:
            entry.counters.dropped += 1
            log.debug("bfd packet dropped", peer=received.peer, reason=result.name)
        self._pump(entry)

    def _path(self, received: sockets.Received, multihop: bool) -> SessionKey | None:
        """The session key a packet from `received.peer` to `received.local` arrived for."""
        by_local = self._by_peer.get((received.peer, multihop))
        if by_local is None:
            return None
        candidates: Iterable[SessionKey]
        if received.local is None:
            # No destination in the ancillary data: any session to this peer may be the one.
            candidates = itertools.chain.from_iterable(by_local.values())
        else:
            candidates = itertools.chain(by_local.get(received.local, ()), by_local.get(None, ()))
        ifname: str | None = None
        for key in candidates:
            if key.interface is not None and not multihop:
                if ifname is None:
                    ifname = self._ifname(received.ifindex)
                if ifname != key.interface:
                    continue
            return key
        return None

    def _ifname(self, ifindex: int) -> str | None:
        now = self._loop.time()
        cached = self._ifnames.get(ifindex)
        if cached is not None and now - cached[1] < _IFNAME_TTL:
            return cached[0]
        try:
            name: str | None = socket.if_indextoname(ifindex)
        except OSError:
            name = None
        self._ifnames[ifindex] = (name, now)
        return name

    def _unmatched(self, reason: DropReason, received: sockets.Received) -> None:
        self.unmatched[reason] = self.unmatched.get(reason, 0) + 1
        log.debug("bfd packet dropped", peer=received.peer, reason=reason.name)

    def _echo_port(self, entry: _Entry) -> EchoPort | None:
        interface = entry.key.interface
        if interface is None or entry.key.local is None:
            return None
        port = self._echo.get(interface)
        if port is None:
            port = EchoPort(interface, self._ports.echo)
            self._echo[interface] = port
            self._loop.add_reader(port.fileno(), self._echo_readable, port)
        return port

    def _echo_readable(self, port: EchoPort) -> None:
        for _ in range(_READ_BURST):
            try:
                frame = port.receive()
            except BlockingIOError:
                return
            if frame is None:
                continue
            key = self._demux.session_for_echo(frame.my_discriminator)
            entry = None if key is None else self._entries.get(key)
            if entry is None:
                continue
            if entry.session.receive_echo(frame.payload, self._loop.time()) is None:
                entry.counters.echo_in += 1
            self._pump(entry)

    # --- driving the engine ---------------------------------------------------------------------

    def _pump(self, entry: _Entry) -> None:
        session = entry.session
        now = self._loop.time()
        for datagram in session.packets_to_send(now):
            if datagram.channel is Channel.CONTROL:
                try:
                    entry.sock.sendto(datagram.data, entry.dest)
                    entry.counters.control_out += 1
                except OSError as error:
                    # BFD tolerates loss by design; a send error is one more lost packet.
                    entry.counters.send_errors += 1
                    log.debug("bfd send failed", peer=entry.key.peer, error=str(error))
            else:
                self._send_echo(entry, datagram.data)
        while (event := session.next_event()) is not None:
            self._event(entry, event)
        if entry.timer is not None:
            entry.timer.cancel()
            entry.timer = None
        deadline = session.get_timer()
        if deadline is not None:
            entry.timer = self._loop.call_at(deadline, self._fire, entry)

    def _fire(self, entry: _Entry) -> None:
        entry.timer = None
        entry.session.handle_timer(self._loop.time())
        self._pump(entry)

    def _send_echo(self, entry: _Entry, payload: bytes) -> None:
        port = self._echo_port(entry)
        if port is None or entry.key.local is None:
            entry.counters.send_errors += 1
            return
        try:
            port.send(entry.key.local, entry.key.peer, payload)
            entry.counters.echo_out += 1
        except OSError as error:
            entry.counters.send_errors += 1
            log.debug("bfd echo send failed", peer=entry.key.peer, error=str(error))

    def _event(self, entry: _Entry, event: StateChanged | PollCompleted | EchoChanged) -> None:
        key = entry.key
        if self._entries.get(key) is not entry:
            # A session being removed says AdminDown to its peer; its owner asked for that, not told.
            return
        fields = {"peer": key.peer, "local": key.local, "multihop": key.multihop}
        if isinstance(event, StateChanged):
            if event.new is State.UP:
                entry.counters.up_events += 1
            elif event.old is State.UP:
                entry.counters.down_events += 1
            diag = Diag(event.diag).name if event.diag in Diag._value2member_map_ else event.diag
            log.info("bfd session state", old=event.old.name, new=event.new.name, diag=diag, **fields)
            self._deliver(key, event)
        elif isinstance(event, PollCompleted):
            log.info("bfd timers negotiated", tx=event.tx_interval, detection=event.detection_time, **fields)
        else:
            log.info("bfd echo", active=event.active, **fields)

    def _retire(self, key: SessionKey, entry: _Entry) -> None:
        if self._retiring.get(key) is entry:
            del self._retiring[key]
            self._destroy(entry)

    def _destroy(self, entry: _Entry) -> None:
        if entry.timer is not None:
            entry.timer.cancel()
        entry.sock.close()
        self._demux.remove(entry.key)
        path = (entry.key.peer, entry.key.multihop)
        by_local = self._by_peer.get(path, {})
        keys = by_local.get(entry.key.local, [])
        if entry.key in keys:
            keys.remove(entry.key)
        if not keys:
            by_local.pop(entry.key.local, None)
        if not by_local:
            self._by_peer.pop(path, None)


def _usable(key: SessionKey, profile: Profile) -> Profile:
    """`profile`, without echo where lbd cannot run it: echo is single hop only (RFC 5883 §3), and
    `EchoPort` needs an IPv4 session with a known interface and local address."""
    capable = (
        not key.multihop
        and key.interface is not None
        and key.local is not None
        and sockets.family_of(key.peer) == socket.AF_INET
    )
    if profile.echo_mode and not capable:
        log.warning("bfd echo mode unavailable for this session; using control packets only", peer=key.peer)
        return replace(profile, echo_mode=False)
    return profile


def _info(entry: _Entry) -> SessionInfo:
    s = entry.session
    return SessionInfo(
        key=entry.key,
        state=s.state,
        diag=s.diag,
        remote_state=s.remote_state,
        local_discriminator=s.local_discriminator,
        remote_discriminator=s.remote_discriminator,
        tx_interval=s.tx_interval,
        detection_time=s.detection_time,
        echo_active=s.echo_active,
        polling=s.polling,
        counters=replace(entry.counters),
    )
