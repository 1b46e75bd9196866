"""`lbd run`: the standalone daemon's event loop around DaemonCore.

Theory of operation. Everything that can change what this node announces only raises a flag and wakes
one worker task: a reload request (SIGHUP, a file change), a health-check flip, a membership change
(the live set, or a member's health set). A local health-check flip is also handed to membership at
once, so the other nodes can re-elect without waiting for this node's worker.
The worker handles a pending reload first (files are read in a thread, the result is offered to
DaemonCore, which accepts or rejects it whole), then recomputes the desired state once and pushes it to
every announcer in `wiring` order, one at a time. Flags raised meanwhile coalesce into one more pass,
so announcers never see two states at once and never fall behind by more than one.

systemd (docs/standalone.md): READY=1 once the first config is pushed and the control socket and the
metrics endpoint are up; RELOADING=1 ... READY=1 around every reload; WATCHDOG=1 from the loop itself;
STOPPING=1 on SIGTERM/SIGINT, after which announcers are closed in reverse order (BGP Cease and L2
silence before local addresses go) and the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import structlog

from lbd.allocator.requests import State
from lbd.config import DEFAULT_NAMESPACE, Config, FileCache, NodeConfig, ParseResult
from lbd.control import ControlServer
from lbd.control.client import DEFAULT_SOCKET
from lbd.daemon.announcer import Announcer, StatusSource
from lbd.daemon.core import DaemonCore
from lbd.daemon.event_log import ServiceEventLog
from lbd.daemon.file_watch import FileWatcher
from lbd.daemon.health import healthy_ids
from lbd.daemon.probes import HealthMonitor
from lbd.daemon.state import load_allocations, save_allocations, state_file
from lbd.daemon.views import DaemonViews, Status, samples
from lbd.daemon.wiring import (
    BackgroundService,
    HealthPublisher,
    Wiring,
    build_announcers,
    build_services,
)
from lbd.logsetup import configure
from lbd.malloc_tuning import trim
from lbd.metrics import Metrics
from lbd.metrics_http import MetricsServer, start_metrics_server
from lbd.net.bfd_manager import BFDManager
from lbd.net.bfd_views import BfdViews
from lbd.net.membership_udp import StartError as MembershipStartError
from lbd.sdnotify import Notifier

log = structlog.get_logger("lbd.daemon")


@dataclass(frozen=True, slots=True)
class Options:
    """`socket`, `metrics` and `log_level` None: take them from this node's NodeConfig (or defaults).
    `metrics` "off" serves no metrics endpoint. `state_dir` None keeps no allocations across restarts."""

    paths: tuple[str, ...]
    node: str
    namespace: str = DEFAULT_NAMESPACE
    socket: str | None = None
    metrics: str | None = None
    log_level: str | None = None
    state_dir: str | None = None
    poll_interval: float = 1.0
    settle: float = 0.2


class StartupError(Exception):
    """The daemon cannot start (no valid config, socket taken, metrics address in use, membership key
    or address unusable)."""


def parse_host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{text!r}: expected HOST:PORT or [V6]:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


@contextlib.contextmanager
def gc_paused(*, collect: bool) -> Iterator[None]:
    """No automatic collection while a configuration is loaded and pushed, then what survives is frozen.

    Loading and reconciling allocate millions of long-lived objects at scale; each automatic full
    collection on the way walks all of them (100,000 services: ~1.5 s a pass, several passes), and
    afterwards every full collection would walk them again. Frozen objects are left out of later
    collections (they are still freed by reference counting). `collect` first frees the cyclic
    garbage made since the last freeze, which a reload's small change keeps cheap.
    """
    gc.disable()
    try:
        yield
    finally:
        freeze_and_resume_gc(collect=collect)


def freeze_and_resume_gc(*, collect: bool) -> None:
    if collect:
        gc.collect()
    gc.freeze()
    gc.enable()


class Daemon:
    def __init__(
        self,
        options: Options,
        *,
        announcers: Callable[[Wiring], list[Announcer]] = build_announcers,
        services: Callable[[Wiring], list[BackgroundService]] = build_services,
        notifier: Notifier | None = None,
        clock: Callable[[], float] = time.time,
        bfd: BFDManager | None = None,
    ) -> None:
        self.options = options
        # Each file's parse, kept between reloads: a change to one file parses that file only.
        self._files = FileCache(options.namespace)
        self._state = state_file(options.state_dir, options.node) if options.state_dir else None
        remembered = load_allocations(self._state) if self._state is not None else {}
        self.core = DaemonCore(options.node, clock, remembered)
        self.monitor = HealthMonitor(self._health_changed)
        self.status = Status(options.node, options.paths, clock())
        self.status.checks = self.monitor.checks
        self.status.health = self.monitor.states
        self.metrics = Metrics()
        # The worker process logs JSON lines like the daemon (a NodeConfig logLevel applies to the
        # daemon only: the worker's level is fixed when it starts).
        self.bfd = bfd if bfd is not None else BFDManager(log_level=options.log_level or "info")
        self.notifier = notifier if notifier is not None else Notifier()
        self.watcher = FileWatcher(options.paths, self.request_reload, options.poll_interval, options.settle)
        self.announcers: list[Announcer] = []
        self.services: list[BackgroundService] = []
        self.control: ControlServer | None = None
        self.ready = asyncio.Event()
        self.pushes = 0
        self._build_announcers = announcers
        self._build_services = services
        self._wake = asyncio.Event()
        self._reload = self._dirty = self._stopping = False
        self._bfd_started = False
        self._started_with = NodeConfig("", options.node)
        self._metrics_runner: MetricsServer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._event_log = ServiceEventLog()
        # Each member's health set as membership last reported it (absent: not heard yet).
        self.peer_health: dict[str, frozenset[bytes]] = {}

    # --- triggers (any thread-free callback on the loop) ----------------------------------------

    def request_reload(self) -> None:
        self._reload = True
        self._wake.set()

    def request_stop(self) -> None:
        self._stopping = True
        self._wake.set()

    def mark_dirty(self) -> None:
        self._dirty = True
        self._wake.set()

    def set_live_nodes(self, nodes: frozenset[str]) -> None:
        """Membership's callback: the live speaker nodes. This node is live as long as it runs."""
        live = frozenset(nodes) | {self.options.node}
        if live != self.status.live_nodes:
            log.info("membersChanged", live=sorted(live))
            self.status.live_nodes = live
            self.mark_dirty()

    def set_member_health(self, member: str, healthy: frozenset[bytes]) -> None:
        """Membership's callback: `member`'s health set changed."""
        if self.peer_health.get(member) != healthy:
            log.info("memberHealthChanged", member=member, healthy=len(healthy))
            self.peer_health[member] = healthy
            self.mark_dirty()

    def _health_changed(self) -> None:
        self._publish_health()
        self.mark_dirty()

    def _publish_health(self) -> None:
        healthy = healthy_ids(self.monitor.states)
        for service in self.services:
            if isinstance(service, HealthPublisher):
                service.publish_health(healthy)

    # --- lifetime ---------------------------------------------------------------------------------

    async def run(self) -> int:
        """Run until SIGTERM/SIGINT or `request_stop`; 0 after a clean stop."""
        loop = asyncio.get_running_loop()
        # At once: a SIGHUP's default action would kill a daemon that is still starting.
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        loop.add_signal_handler(signal.SIGTERM, self.request_stop)
        loop.add_signal_handler(signal.SIGINT, self.request_stop)
        # No automatic collection while the configuration is loaded and first pushed (see gc_paused).
        gc.disable()
        try:
            if not self._accept(await self._load(), initial=True):
                raise StartupError("the configuration is invalid; nothing started (errors logged above)")
            try:
                await self._start()
                await self._push()
                # Start-up garbage is a few hundred objects (100,000 services: 464), not worth a full
                # collection over millions of objects that would hold the first BGP session back.
                freeze_and_resume_gc(collect=False)
                # What loading freed goes back to the system (the peak is behind us).
                trim()
                self.notifier.ready(self._status_line())
                log.info("daemonReady", node=self.options.node, socket=self.status.socket)
                self.ready.set()
                await self._work()
            finally:
                await self._shutdown()
        finally:
            gc.enable()
            for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        return 0

    async def _start(self) -> None:
        config = self.core.config
        assert config is not None  # run() accepted one
        node_config = self.core.node_config
        socket_path = self.options.socket or (node_config.control_socket if node_config else DEFAULT_SOCKET)
        self.control = ControlServer(socket_path, DaemonViews(self.core, self.status).views())
        try:
            await self.control.start()
        except (FileExistsError, OSError) as exc:
            self.control = None
            raise StartupError(f"control socket {socket_path}: {exc}") from exc
        self.status.socket = socket_path
        metrics = self.options.metrics
        if metrics is None:
            metrics = str(node_config.metrics_address) if node_config else "127.0.0.1:7472"
        self.status.metrics = metrics
        self.metrics.add_provider(lambda: samples(self.core, self.status))
        self.metrics.add_provider(self.bfd.metric_samples)
        if metrics != "off":
            try:
                host, port = parse_host_port(metrics)
                self._metrics_runner = await start_metrics_server(self.metrics, host, port)
            except (OSError, ValueError) as exc:
                raise StartupError(f"metrics address {metrics}: {exc}") from exc
        await self._start_bfd_if_needed(config)
        self._started_with = node_config or NodeConfig("", self.options.node)
        wiring = Wiring(
            node=self.options.node,
            metrics=self.metrics,
            bfd=self.bfd,
            membership=node_config.membership if node_config else None,
            on_members=self.set_live_nodes,
            on_health=self.set_member_health,
        )
        self.announcers = self._build_announcers(wiring)
        self.services = self._build_services(wiring)
        for source in (*self.announcers, *self.services, BfdViews(self.bfd)):
            if isinstance(source, StatusSource):
                for name, view in source.views().items():
                    self.control.add_view(name, view)
        for service in self.services:
            try:
                await service.start()
            except MembershipStartError as exc:
                raise StartupError(str(exc)) from exc
        self.status.announcers = tuple(a.name for a in self.announcers)
        loaded = self.core.loaded
        self.monitor.update(loaded.checks if loaded else {})
        self._tasks.append(asyncio.create_task(self.watcher.run(), name="file-watch"))
        self._tasks.append(asyncio.create_task(self.notifier.run_watchdog(), name="watchdog"))

    async def _work(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            if self._reload:
                self._reload = False
                with gc_paused(collect=True):
                    await self._reload_files()
                    if self._dirty:
                        self._dirty = False
                        await self._push()
                self.notifier.ready(self._status_line())
            if self._dirty:
                self._dirty = False
                await self._push()

    async def _shutdown(self) -> None:
        self.notifier.stopping()
        log.info("daemonStopping")
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.monitor.close()
        # Reverse order: peers and the segment hear the withdrawal before local addresses disappear.
        for announcer in reversed(self.announcers):
            try:
                await announcer.close()
            except Exception:
                log.exception("announcerCloseFailed", announcer=announcer.name)
        for service in reversed(self.services):
            try:
                await service.close()
            except Exception:
                log.exception("serviceCloseFailed", service=type(service).__name__)
        if self._bfd_started:
            await self.bfd.stop()
        if self.control is not None:
            await self.control.close()
        if self._metrics_runner is not None:
            await self._metrics_runner.cleanup()
        self.notifier.close()
        log.info("daemonStopped")

    # --- config ---------------------------------------------------------------------------------

    async def _load(self) -> ParseResult:
        return await asyncio.to_thread(self._files.load, self.options.paths)

    async def _reload_files(self) -> None:
        self.notifier.reloading()
        log.info("configReloading", paths=list(self.options.paths))
        result = await self._load()
        self.watcher.rebase()
        if not self._accept(result, initial=False):
            return
        config = self.core.config
        assert config is not None
        loaded = self.core.loaded
        self.monitor.update(loaded.checks if loaded else {})
        await self._start_bfd_if_needed(config)
        node_config = self.core.node_config
        if self.options.log_level is None and node_config is not None:
            configure(node_config.log_level.value)
        self._warn_start_only(node_config)
        self.mark_dirty()

    def _warn_start_only(self, node_config: NodeConfig | None) -> None:
        """Settings read once at start: say so when a reload changes them, instead of ignoring it."""
        before, now = self._started_with, node_config or NodeConfig("", self.options.node)
        fields = {
            "controlSocket": (before.control_socket, now.control_socket),
            "metricsAddress": (before.metrics_address, now.metrics_address),
            "membership": (before.membership, now.membership),
        }
        # A command-line option overrides the NodeConfig: a change there changes nothing.
        if self.options.socket is not None:
            del fields["controlSocket"]
        if self.options.metrics is not None:
            del fields["metricsAddress"]
        for name, (old, new) in fields.items():
            if old != new:
                log.warning("restartNeeded", field=f"NodeConfig spec.{name}", node=self.options.node)

    def _accept(self, result: ParseResult, *, initial: bool) -> bool:
        errors = self.core.offer(result)
        if not initial:
            self.status.updates += 1
        for warning in result.warnings:
            log.warning(
                "configWarning",
                kind=warning.kind,
                name=warning.name,
                field=warning.field,
                error=warning.message,
                source=warning.source,
            )
        if errors:
            if not initial:
                self.status.update_errors += 1
            for error in errors:
                log.error(
                    "configRejected",
                    kind=error.kind,
                    name=error.name,
                    field=error.field,
                    error=error.message,
                    source=error.source,
                )
            if not initial:
                log.error("configStale", generation=self.core.store.generation, errors=len(errors))
            return False
        if initial and self.options.log_level is None:
            node_config = self.core.node_config
            if node_config is not None:
                configure(node_config.log_level.value)
        config = self.core.config
        assert config is not None
        log.info(
            "configLoaded",
            generation=self.core.store.generation,
            pools=len(config.pools),
            peers=len(config.peers),
            services=len(result.world.services),
        )
        return True

    async def _start_bfd_if_needed(self, config: Config) -> None:
        if self._bfd_started or not any(p.bfd_profile for p in config.peers.values()):
            return
        await self.bfd.start()
        self._bfd_started = True
        log.info("bfdStarted", pid=self.bfd.worker_pid)

    # --- desired state --------------------------------------------------------------------------

    async def _push(self) -> None:
        config = self.core.config
        # Checks removed by a reload leave the set here; publishing an unchanged set costs nothing.
        self._publish_health()
        desired = self.core.compute(self.monitor.states, self.status.live_nodes, self.peer_health)
        if config is None or desired is None:
            return
        lines = self._event_log.update(desired)
        lines.allocations.write()
        if lines.addresses_changed and self._state is not None:
            save_allocations(self._state, self.core.allocations)
        for announcer in self.announcers:
            try:
                await announcer.apply(config, desired)
            except Exception:
                # Our bug in one announcer must not keep the others from converging.
                log.exception("announcerFailed", announcer=announcer.name)
        lines.announcements.write()
        self.pushes += 1

    def _status_line(self) -> str:
        desired = self.core.desired
        if desired is None:
            return "no configuration"
        allocated = sum(1 for a in desired.allocations.services if a.state is State.ALLOCATED)
        routes = sum(len(p.routes) for p in desired.bgp)
        stale = ", running on an older config (update rejected)" if self.core.store.last_rejection else ""
        return f"{allocated} services, {len(desired.l2)} L2 addresses, {routes} BGP routes{stale}"
