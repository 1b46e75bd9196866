"""The membership engine on a UDP socket: feed it datagrams and timer ticks, send what it queues.

One socket, one `loop.call_at` timer re-armed whenever the engine's next deadline moves, all times from
the loop's monotonic clock. The daemon gets the live set (always including this node) through
`on_change`, called after every change, and `live()`; it hands this node's healthy services to
`publish_health` and hears each member's through `on_health` (see docs/membership.md).

Run alone to try a configuration (one JSON line per event on stdout, stops with a leave on SIGTERM):

    python -m lbd.net.membership_udp --node node-a examples/standalone-three-node/
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any

import structlog

from lbd.config import Membership as MembershipSettings
from lbd.config import load_paths
from lbd.control.server import View
from lbd.membership import (
    Drop,
    Event,
    MemberDown,
    MemberHealth,
    MemberLeft,
    Membership,
    MemberSuspect,
    MemberUp,
    Timers,
)
from lbd.membership.core import MIN_KEY_LENGTH
from lbd.metrics import Metrics, Sample

log = structlog.get_logger("lbd.membership")

# DSCP CS6 (network control): heartbeats should not wait behind bulk traffic in a congested queue.
TOS_CS6 = 0xC0
_RECV_BUFFER = 1 << 20
# Larger than any datagram of ours (MAX_RELAYS keeps them under 1280 bytes): a longer one is not ours.
_DATAGRAM_MAX = 2048
# Datagrams read per wake-up, so a flood on the port cannot keep the loop from everything else.
_MAX_BATCH = 256


class StartError(Exception):
    """Membership cannot start: `field` names the NodeConfig setting at fault (spec.membership...)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"NodeConfig spec.membership.{field}: {message}")
        self.field = field


class MembershipService:
    """Membership among the speakers of `settings.peers`; see docs/membership.md."""

    def __init__(
        self,
        *,
        node: str,
        settings: MembershipSettings,
        metrics: Metrics | None,
        on_change: Callable[[frozenset[str]], None],
        on_event: Callable[[Event], None] | None = None,
        on_health: Callable[[str, frozenset[bytes]], None] | None = None,
    ) -> None:
        self._node = node
        self._settings = settings
        self._metrics = metrics
        self._on_change = on_change
        self._on_event = on_event
        self._on_health = on_health
        self._healthy: frozenset[bytes] = frozenset()
        self._timers = Timers(settings.heartbeat_interval, settings.failure_timeout)
        self._core: Membership | None = None
        self._sock: socket.socket | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._deadline: float | None = None
        self._mapped = False
        self._live = frozenset({node})
        self._settled: asyncio.Event | None = None
        if metrics is not None:
            metrics.add_provider(self._samples)

    async def start(self) -> None:
        """Bind, greet every peer, and return once every peer answered or the settle time passed (so the
        first election does not take over the addresses of members not heard yet).

        Raises StartError naming the setting when the key cannot be read or the address not bound."""
        loop = asyncio.get_running_loop()
        peers = self._settings.peers
        key = load_key(self._settings) if peers else os.urandom(32)
        try:
            # Wall clock in microseconds: grows across restarts, so peers see a new incarnation.
            core = Membership(
                self._node, peers, key, self._timers, loop.time(), incarnation=time.time_ns() // 1000
            )
        except ValueError as exc:
            raise StartError("peers", str(exc)) from exc
        core.set_health(self._healthy, loop.time())
        if peers:
            address, port = self._settings.bind_address, self._settings.bind_port
            try:
                sock = _bind(address, port, peers_v6=_any_v6(peers))
            except OSError as exc:
                raise StartError("bindAddress", f"cannot bind {address} port {port}: {exc}") from exc
            self._mapped = sock.family == socket.AF_INET6
            self._sock = sock
            loop.add_reader(sock.fileno(), self._readable)
        self._core = core
        self._settled = asyncio.Event()
        log.info(
            "membership started",
            node=self._node,
            incarnation=self._core.incarnation,
            peers=[p.name for p in peers],
            bind=f"{self._settings.bind_address}:{self._settings.bind_port}",
        )
        self._pump()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._settled.wait(), self._timers.settle_time + 1.0)

    async def stop(self) -> None:
        """Tell every peer we leave (they drop us at once rather than after the failure timeout)."""
        core = self._core
        if core is None:
            return
        core.leave(asyncio.get_running_loop().time())
        self._send(core)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        log.info("membership stopped", node=self._node)

    async def close(self) -> None:
        """The daemon's BackgroundService protocol (`lbd.daemon.wiring`): the same as `stop`."""
        await self.stop()

    def live(self) -> frozenset[str]:
        return self._live

    def publish_health(self, healthy: frozenset[bytes]) -> None:
        """This node's healthy services (`lbd.membership.service_id` of each); a change goes out to every
        live member at once. May be called before `start`."""
        self._healthy = healthy
        core = self._core
        if core is not None:
            core.set_health(healthy, asyncio.get_running_loop().time())
            self._pump()

    def views(self) -> Mapping[str, View]:
        return {"members": self._view}

    # --- event loop side -------------------------------------------------------------------------

    def _readable(self) -> None:
        if self._receive():
            self._pump()

    def _receive(self) -> bool:
        """Feed the engine every datagram waiting in the socket; True if there was any.

        All of them, not one per wake-up as asyncio's datagram transport reads: after a stall of this
        loop, asyncio runs reader callbacks before expired timers, so every heartbeat that arrived
        meanwhile is counted before the failure timer judges anyone silent."""
        core, sock = self._core, self._sock
        if core is None or sock is None:
            return False
        now = asyncio.get_running_loop().time()
        got = False
        for _ in range(_MAX_BATCH):
            try:
                data, addr = sock.recvfrom(_DATAGRAM_MAX)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                # ICMP port unreachable from a stopped peer, reported on the next call: expected.
                log.debug("membership receive failed", error=str(exc))
                continue
            core.datagram_received(data, (str(addr[0]), int(addr[1])), now)
            got = True
        return got

    def _fire(self) -> None:
        self._timer = None
        self._deadline = None
        if self._core is not None:
            self._core.handle_timer(asyncio.get_running_loop().time())
            self._pump()

    def _pump(self) -> None:
        core = self._core
        if core is None:
            return
        loop = asyncio.get_running_loop()
        self._send(core)
        while (event := core.next_event()) is not None:
            self._report(event)
        live = core.live()
        if live != self._live:
            self._live = live
            log.info("membership live set", live=sorted(live))
            try:
                self._on_change(live)
            except Exception:
                # The daemon's bug must not stop the heartbeats that keep the cluster's view right.
                log.exception("membership on_change failed")
        if self._settled is not None and not self._settled.is_set() and core.settled(loop.time()):
            self._settled.set()
        deadline = core.get_timer()
        if deadline != self._deadline:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = loop.call_at(deadline, self._fire) if deadline is not None else None
            self._deadline = deadline

    def _send(self, core: Membership) -> None:
        sock = self._sock
        for data, (host, port) in core.datagrams_to_send():
            if sock is None:
                continue
            target = f"::ffff:{host}" if self._mapped and ":" not in host else host
            try:
                # A full send buffer drops this one datagram; heartbeats are periodic and relayed.
                sock.sendto(data, (target, port))
            except OSError as exc:
                log.debug("membership send failed", peer=host, error=str(exc))

    def _report(self, event: Event) -> None:
        if isinstance(event, MemberUp):
            log.info(
                "membership member up",
                member=event.name,
                incarnation=event.incarnation,
                previous=event.previous.value,
            )
        elif isinstance(event, MemberSuspect):
            log.info("membership member suspect", member=event.name, silent=round(event.silent, 4))
        elif isinstance(event, MemberDown):
            log.warning("membership member down", member=event.name, silent=round(event.silent, 4))
        elif isinstance(event, MemberHealth):
            log.info(
                "membership member health",
                member=event.name,
                version=event.version,
                healthy=len(event.healthy),
            )
            if self._on_health is not None:
                try:
                    self._on_health(event.name, event.healthy)
                except Exception:
                    log.exception("membership on_health failed")
        else:
            log.info("membership member left", member=event.name)
        if self._on_event is not None:
            self._on_event(event)

    # --- status and metrics ----------------------------------------------------------------------

    def _view(self, _args: Mapping[str, Any]) -> list[dict[str, Any]]:
        """One row per member, then one for this node (its incarnation, and the drops of datagrams that
        name no member). Times in milliseconds: `last_heard_ms` on any path, `last_direct_ms` directly."""
        core = self._core
        if core is None:
            return []
        now = asyncio.get_running_loop().time()
        rows: list[dict[str, Any]] = [
            {
                "name": m.name,
                "address": m.address,
                "port": m.port,
                "state": m.state.value,
                "incarnation": m.incarnation,
                "last_heard_ms": _ms(m.silent),
                "last_direct_ms": _ms(m.silent_direct),
                "rtt_ms": _ms(m.rtt),
                "received": m.counters.received,
                "sent": m.counters.sent,
                "probes": m.counters.probes_sent,
                "answers": m.counters.answers_sent,
                "suspicions": m.counters.suspicions,
                "downs": m.counters.downs,
                "replays": m.counters.replays,
                "bad_mac": m.counters.bad_mac,
                "health_version": m.health_version,
                "healthy": len(m.healthy),
            }
            for m in core.members(now)
        ]
        rows.append(
            {
                "name": self._node,
                "address": str(self._settings.bind_address),
                "port": self._settings.bind_port,
                "state": "self",
                "incarnation": core.incarnation,
                "replays": core.drops[Drop.REPLAY],
                "bad_mac": core.drops[Drop.BAD_MAC],
                "unknown_source": core.drops[Drop.UNKNOWN_SOURCE],
                "malformed": core.drops[Drop.MALFORMED],
                "wrong_identity": core.drops[Drop.WRONG_IDENTITY],
                "health_version": core.health_version,
                "healthy": len(self._healthy),
            }
        )
        return rows

    def _samples(self) -> Iterable[Sample]:
        core = self._core
        if core is None:
            return
        now = asyncio.get_running_loop().time()
        for m in core.members(now):
            labels = {"member": m.name}
            yield Sample("lbd_membership_member_up", labels, 1.0 if m.state.live else 0.0)
            yield Sample("lbd_membership_member_down_events_total", labels, float(m.counters.downs))
        for drop in Drop:
            yield Sample("lbd_membership_datagrams_dropped_total", {"reason": drop.value}, core.drops[drop])


def load_key(settings: MembershipSettings) -> bytes:
    """The shared key: inline, or the file's bytes without a trailing line break. StartError names the
    setting when there is none, the file cannot be read, or the key is too short."""
    if settings.key is not None:
        field, key = "key", settings.key.encode()
    elif settings.key_file is not None:
        field = "keyFile"
        try:
            key = Path(settings.key_file).read_bytes().removesuffix(b"\n").removesuffix(b"\r")
        except OSError as exc:
            raise StartError(field, f"cannot read {settings.key_file}: {exc.strerror or exc}") from exc
    else:
        raise StartError("key", "membership peers need a shared key (key or keyFile)")
    if len(key) < MIN_KEY_LENGTH:
        raise StartError(field, f"the key must be at least {MIN_KEY_LENGTH} bytes, it has {len(key)}")
    return key


def _any_v6(peers: Iterable[Any]) -> bool:
    return any(isinstance(p.address, IPv6Address) and p.address.ipv4_mapped is None for p in peers)


def _bind(address: IPv4Address | IPv6Address, port: int, *, peers_v6: bool) -> socket.socket:
    """IPv4 socket for an IPv4 address; a dual-stack IPv6 socket for an IPv6 address or for the
    unspecified address when some peer is IPv6 (IPv4 peers then appear as ::ffff:a.b.c.d)."""
    dual = address.is_unspecified and (peers_v6 or address.version == 6)
    family = socket.AF_INET6 if address.version == 6 or dual else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECV_BUFFER)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if dual else 1)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, TOS_CS6)
            if dual:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, TOS_CS6)
            sock.bind(("::" if dual else str(address), port))
        else:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, TOS_CS6)
            sock.bind((str(address), port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


# --- standalone runner -----------------------------------------------------------------------------


def _print(record: Mapping[str, Any]) -> None:
    # The monotonic clock is shared by all namespaces, so a test can compare with its own kill time.
    sys.stdout.write(json.dumps({"t": time.monotonic(), **record}) + "\n")
    sys.stdout.flush()


def _event_record(event: Event) -> dict[str, Any]:
    kinds = {
        MemberUp: "up",
        MemberSuspect: "suspect",
        MemberDown: "down",
        MemberLeft: "left",
        MemberHealth: "health",
    }
    record: dict[str, Any] = {"event": kinds[type(event)], "member": event.name}
    if isinstance(event, MemberUp):
        record["incarnation"] = event.incarnation
        record["previous"] = event.previous.value
    elif isinstance(event, MemberHealth):
        record["version"] = event.version
        record["healthy"] = sorted(i.hex() for i in event.healthy)
    return record


async def _run(node: str, settings: MembershipSettings) -> None:
    service = MembershipService(
        node=node,
        settings=settings,
        metrics=None,
        on_change=lambda live: _print({"event": "live", "live": sorted(live)}),
        on_event=lambda event: _print(_event_record(event)),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await service.start()
    _print({"event": "started", "live": sorted(service.live())})
    await stop.wait()
    await service.stop()
    _print({"event": "stopped"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run lbd's membership layer alone (JSON lines out).")
    parser.add_argument("--node", required=True, help="this node's name (its NodeConfig's nodeName)")
    parser.add_argument("paths", nargs="+", help="configuration files or directories")
    args = parser.parse_args(argv)
    result = load_paths(args.paths)
    if result.config is None:
        for error in result.errors:
            print(error, file=sys.stderr)
        return 2
    node_config = result.config.node_config(args.node)
    if node_config is None:
        print(f"no NodeConfig for node {args.node!r}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_run(args.node, node_config.membership))
    except StartError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
