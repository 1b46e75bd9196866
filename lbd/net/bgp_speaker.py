"""asyncio adapter for the BGP engine: one `Session` per peer, driven by TCP streams and one timer.

Theory of operation. `PeerDriver` owns a `bgp.Session` and feeds it everything with the loop's
monotonic `now`: bytes from its streams, connections made and lost, the single timer the session asks
for (`get_timer`, re-armed with `loop.call_at` after every input). After every input it *pumps*: writes
`data_to_send()` to the right stream (a large table comes a slice per pump, the next pump scheduled
with `call_soon` while `more_to_send`), then drains `next_event()`: `ConnectRequested` starts a dial
(the session decides when and how often: ConnectRetry, backoff), `CloseConnection` closes one stream
(collision loser, NOTIFICATION sent, hold timer expired), state changes go to the owner's hooks.
Inbound connections come from the shared `Listener`, which hands each one to the driver of its remote
address; both connections of a collision are given to the session, which picks the survivor
(RFC 4271 §6.8).

`BgpSpeaker` holds the drivers of every configured peer: it adds, replaces (Cease "Other
Configuration Change", RFC 4486) and removes (Cease "Peer De-configured") them as the configuration
changes, keeps the listener's MD5 keys equal to the peers' passwords, and couples BFD: when the BFD
session of a peer goes Down the BGP session is stopped with Cease "BFD Down" (RFC 9384) and is not
started again until BFD is Up.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import replace

import structlog

from bfd import State as BfdState
from bfd import StateChanged as BfdStateChanged
from bgp.config import SessionConfig
from bgp.errors import CeaseSubcode
from bgp.events import CloseConnection, ConnectRequested, Event
from bgp.families import Prefix
from bgp.route import Route
from bgp.session import Session, parse_address
from lbd.net.bfd_manager import BFDManager
from lbd.net.bfd_transport import SessionKey
from lbd.net.bgp_peers import PeerSettings, kernel_source
from lbd.net.bgp_restart import RestartMarker
from lbd.net.bgp_session_config import SessionSetup
from lbd.net.bgp_transport import BGP_PORT, BgpStream, Listener, dial, set_hop_options

log = structlog.get_logger("lbd.bgp")

# How long `close` waits for the Cease NOTIFICATIONs to leave before cutting the connections.
_FLUSH_TIMEOUT = 1.0
_DIAL_SLACK = 1.0

EventHook = Callable[["PeerDriver", Event], None]


class PeerDriver:
    """One peer: its engine session, its TCP streams and its timer. Call from the event loop only."""

    def __init__(
        self,
        settings: PeerSettings,
        config: SessionConfig,
        on_event: EventHook,
        warnings: tuple[str, ...] = (),
    ) -> None:
        self.settings = settings
        # What the session's creation found wrong in its configuration (for the logs and views).
        self.warnings = warnings
        self.session = Session(config)
        self._on_event = on_event
        self._streams: dict[int, BgpStream] = {}
        # Closed by the session, still flushing (a NOTIFICATION) and waiting for the peer's FIN.
        self._closing: dict[int, BgpStream] = {}
        self._dials: dict[int, asyncio.Task[None]] = {}
        self._timer: asyncio.TimerHandle | None = None
        # The next slice of a large UPDATE burst, scheduled after the loop's other ready callbacks.
        self._more: asyncio.Handle | None = None
        self._ids = itertools.count(1)
        self.bfd_blocked = False
        self.stopped = False

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    @property
    def name(self) -> str:
        return self.settings.name

    # --- inputs -------------------------------------------------------------------------------

    def start(self) -> None:
        self.stopped = False
        self.session.start(self._now())
        self._pump()

    def stop(self, subcode: int, message: str = "") -> None:
        """Administrative stop: NOTIFICATION Cease(subcode) to the peer, session Idle until `start`."""
        self.stopped = True
        self.session.stop(self._now(), subcode, message)
        for task in self._dials.values():
            task.cancel()
        self._dials.clear()
        self._pump()

    def set_routes(self, routes: Iterable[Route]) -> None:
        """The whole set of routes for this peer; the session sends the difference."""
        self.session.set_routes(self._now(), routes)
        self._pump()

    def change_routes(self, announce: Sequence[Route], withdraw: Sequence[Prefix]) -> None:
        """Add or replace `announce`, remove `withdraw`: O(changes), for callers that track them."""
        self.session.change_routes(self._now(), announce, withdraw)
        self._pump()

    def accept(self, stream: BgpStream) -> bool:
        """An inbound connection from this peer's address (passive opening, RFC 4271 §8.2.1.1)."""
        if self.stopped or self.bfd_blocked:
            return False
        transport = self.settings.transport()
        sock = stream.socket
        if sock is not None:
            set_hop_options(sock, transport.ttl, transport.min_ttl)
        self._attach(next(self._ids), stream, outbound=False)
        return True

    def _attach(self, conn_id: int, stream: BgpStream, *, outbound: bool) -> None:
        self._streams[conn_id] = stream
        stream.bind(lambda data: self._data(conn_id, data), lambda exc: self._lost(conn_id, exc))
        local, remote = parse_address(stream.local), parse_address(stream.remote)
        self.session.connection_made(self._now(), conn_id, local, remote, outbound)
        self._pump()

    def _data(self, conn_id: int, data: bytes) -> None:
        if conn_id in self._streams:
            self.session.data_received(self._now(), conn_id, data)
            self._pump()

    def _lost(self, conn_id: int, exc: Exception | None) -> None:
        self._closing.pop(conn_id, None)
        if self._streams.pop(conn_id, None) is not None:
            self.session.connection_lost(self._now(), conn_id)
            self._pump()

    def _on_timer(self) -> None:
        self._timer = None
        self.session.handle_timer(self._now())
        self._pump()

    async def _dial(self, conn_id: int, timeout: float) -> None:
        stream = BgpStream()
        # The session times the attempt out itself (and asks again); ours only bounds a forgotten dial.
        options = replace(self.settings.transport(), connect_timeout=timeout + _DIAL_SLACK)
        try:
            await dial(options, stream)
        except (OSError, TimeoutError) as error:
            self._dials.pop(conn_id, None)
            reason = str(error) or type(error).__name__
            log.debug("bgpConnectFailed", peer=self.name, error=reason)
            self.session.connect_failed(self._now(), reason)
            self._pump()
            return
        self._dials.pop(conn_id, None)
        if self.stopped or self.bfd_blocked:
            stream.abort()
            return
        self._attach(conn_id, stream, outbound=True)

    # --- outputs ------------------------------------------------------------------------------

    def _pump(self) -> None:
        for conn_id, data in self.session.data_to_send():
            stream = self._streams.get(conn_id)
            if stream is not None:
                stream.send(data)
        while (event := self.session.next_event()) is not None:
            if isinstance(event, ConnectRequested):
                # A new request supersedes an attempt still pending (the session timed it out).
                for task in self._dials.values():
                    task.cancel()
                self._dials.clear()
                if not self.bfd_blocked:
                    conn_id = next(self._ids)
                    self._dials[conn_id] = asyncio.get_running_loop().create_task(
                        self._dial(conn_id, event.timeout), name=f"bgp-dial-{self.name}"
                    )
            elif isinstance(event, CloseConnection):
                stream = self._streams.pop(event.conn_id, None)
                if stream is not None:
                    self._closing[event.conn_id] = stream
                    stream.close()
            self._on_event(self, event)
        self._rearm()
        if self.session.more_to_send and self._more is None:
            # A big table is produced a slice per turn of the loop: a BFD Down or a Cease for another
            # session waits for one slice (a few ms), not for the whole table.
            self._more = asyncio.get_running_loop().call_soon(self._continue)

    def _continue(self) -> None:
        self._more = None
        self._pump()

    def _rearm(self) -> None:
        deadline = self.session.get_timer()
        if self._timer is not None:
            if deadline is not None and self._timer.when() == deadline:
                return
            self._timer.cancel()
            self._timer = None
        if deadline is not None:
            self._timer = asyncio.get_running_loop().call_at(deadline, self._on_timer)

    async def close(self) -> None:
        """Let the last NOTIFICATION leave, then drop every connection, dial and timer."""
        streams = [*self._streams.values(), *self._closing.values()]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_FLUSH_TIMEOUT):
                while any(s.write_buffer_size for s in streams):
                    await asyncio.sleep(0.01)
        for stream in streams:
            stream.close()
        self._streams.clear()
        self._closing.clear()
        for task in self._dials.values():
            task.cancel()
        await asyncio.gather(*self._dials.values(), return_exceptions=True)
        self._dials.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._more is not None:
            self._more.cancel()
            self._more = None


ConfigFactory = Callable[[PeerSettings, bool], Awaitable[SessionSetup]]


class BgpSpeaker:
    """Every BGP session of this process, the listener they share, and their BFD coupling."""

    def __init__(
        self,
        *,
        config_of: ConfigFactory,
        on_event: EventHook,
        listen_port: int | None = BGP_PORT,
        listen_addresses: tuple[str, ...] = ("0.0.0.0", "::"),
        bfd: BFDManager | None = None,
        marker: RestartMarker | None = None,
    ) -> None:
        self._config_of = config_of
        self._on_event = on_event
        self._drivers: dict[str, PeerDriver] = {}
        self._by_address: dict[str, PeerDriver] = {}
        self._bfd = bfd
        self._bfd_keys: dict[str, SessionKey] = {}
        self.marker = marker
        self._listener: Listener | None = None
        self._started = False
        self.listen(listen_port, listen_addresses)
        self._unsubscribe = bfd.subscribe(self._bfd_changed) if bfd is not None else None

    @property
    def drivers(self) -> Mapping[str, PeerDriver]:
        return self._drivers

    @property
    def listen_port(self) -> int | None:
        return self._listener.port if self._listener is not None else None

    def listen(self, port: int | None, addresses: tuple[str, ...] = ("0.0.0.0", "::")) -> None:
        """Where `start` listens for the peers' connections (None: nowhere, dial only)."""
        if self._started:
            raise RuntimeError("the listener is chosen before start")
        self._listener = Listener(port, self._accept, addresses=addresses) if port is not None else None

    async def start(self) -> None:
        self._started = True
        if self._listener is None:
            return
        try:
            await self._listener.start()
        except OSError as error:
            # Dialing still works; peers configured passive-only will not come up, and the log says why.
            log.error("bgpListenFailed", port=self._listener.port, error=str(error))

    async def configure(self, settings: Mapping[str, PeerSettings]) -> None:
        """Converge the set of sessions: new peers start, changed ones restart, removed ones stop."""
        for name in [n for n in self._drivers if n not in settings]:
            await self._remove(name, CeaseSubcode.PEER_DECONFIGURED)
        for name, wanted in settings.items():
            driver = self._drivers.get(name)
            if driver is not None and driver.settings != wanted:
                await self._remove(name, CeaseSubcode.OTHER_CONFIGURATION_CHANGE)
                driver = None
            if driver is None:
                await self._add(wanted)
        if self._listener is not None:
            self._listener.set_passwords({s.address: s.password for s in settings.values() if s.password})

    async def close(self, message: str) -> None:
        """Cease "Administrative Shutdown" with `message` (RFC 8203) to every peer, then let go."""
        for driver in self._drivers.values():
            driver.stop(CeaseSubcode.ADMINISTRATIVE_SHUTDOWN, message)
        await asyncio.gather(*(d.close() for d in self._drivers.values()))
        for name in list(self._drivers):
            await self._drop_bfd(name)
        self._drivers.clear()
        self._by_address.clear()
        if self._listener is not None:
            await self._listener.close()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    async def _add(self, settings: PeerSettings) -> None:
        restarting = self.marker is not None and self.marker.restarting(settings.name)
        setup = await self._config_of(settings, restarting)
        for warning in setup.warnings:
            log.warning("bgpSessionConfigWarning", peer=settings.name, reason=warning)
        driver = PeerDriver(settings, setup.config, self._on_event, setup.warnings)
        self._drivers[settings.name] = driver
        self._by_address[settings.address] = driver
        if settings.bfd is not None and self._bfd is not None:
            local = settings.source_address or kernel_source(settings.address, settings.port)
            key = SessionKey(peer=settings.address, local=local, multihop=settings.ebgp_multihop)
            try:
                await self._bfd.add_session(key, settings.bfd)
            except (OSError, ValueError) as error:
                log.error("bfdSessionFailed", peer=settings.name, error=str(error))
            else:
                self._bfd_keys[settings.name] = key
        driver.start()

    async def _remove(self, name: str, subcode: int) -> None:
        driver = self._drivers.pop(name)
        if self._by_address.get(driver.settings.address) is driver:
            del self._by_address[driver.settings.address]
        driver.stop(subcode)
        await driver.close()
        await self._drop_bfd(name)

    async def _drop_bfd(self, name: str) -> None:
        key = self._bfd_keys.pop(name, None)
        if key is not None and self._bfd is not None:
            with contextlib.suppress(Exception):
                await self._bfd.remove_session(key)

    def _accept(self, stream: BgpStream) -> bool:
        driver = self._by_address.get(stream.remote)
        if driver is None:
            log.info("bgpConnectionRefused", remote=stream.remote, reason="not a configured peer")
            return False
        return driver.accept(stream)

    def _bfd_changed(self, key: SessionKey, event: BfdStateChanged) -> None:
        name = next((n for n, k in self._bfd_keys.items() if k == key), None)
        driver = self._drivers.get(name) if name is not None else None
        if driver is None:
            return
        if event.old is BfdState.UP and event.new is not BfdState.UP:
            # RFC 5882 §4.3: BFD Down takes the session down; it stays down until BFD comes back.
            log.info("bgpBfdDown", peer=driver.name, diag=int(event.diag))
            driver.bfd_blocked = True
            driver.stop(CeaseSubcode.BFD_DOWN, "BFD down")
        elif event.new is BfdState.UP and driver.bfd_blocked:
            log.info("bgpBfdUp", peer=driver.name)
            driver.bfd_blocked = False
            driver.start()
