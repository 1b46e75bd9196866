"""BgpAnnouncer: the daemon's BGP announcer (`lbd.daemon.announcer.Announcer` + `StatusSource`).

`apply` turns the configuration into per-peer `PeerSettings` (`lbd.net.bgp_peers`), converges the
speaker's sessions to them, and hands each session its desired routes from the reconcile output; the
session itself sends only the difference (and everything again after it comes up). `close` sends
Cease "Administrative Shutdown" to every peer. Status views and metrics are built from the engine's
events as they are drained.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from bgp import events as ev
from bgp.fsm import State
from bgp.session import MessageCounters
from lbd.config import Config
from lbd.config.model import NodeBgp
from lbd.control.server import View, ViewError
from lbd.metrics import Metrics, Sample
from lbd.net.bfd_manager import BFDManager
from lbd.net.bgp_peers import PeerProblem, peer_settings
from lbd.net.bgp_restart import RestartMarker
from lbd.net.bgp_routes import RouteDiff
from lbd.net.bgp_session_config import build_session_config
from lbd.net.bgp_speaker import BgpSpeaker, PeerDriver
from lbd.reconcile import BGPRoute, DesiredState

log = structlog.get_logger("lbd.bgp")

DEFAULT_STATE_ROOT = "/run/lbd/bgp"
SHUTDOWN_MESSAGE = "lbd is shutting down"
# How often the graceful-restart marker is refreshed while a GR session is up (see bgp_restart).
_MARKER_INTERVAL = 1.0


class _FromNodeConfig(enum.Enum):
    TOKEN = 0


# Default of the listener arguments: this node's NodeConfig `spec.bgp` decides (read at the first
# configuration with a BGP peer; a later change takes effect when lbd restarts).
FROM_NODE_CONFIG = _FromNodeConfig.TOKEN


def state_name(state: State) -> str:
    """RFC 4271 spelling, as routers print it: OPEN_SENT -> OpenSent."""
    return "".join(word.title() for word in state.name.split("_"))


def totals(c: MessageCounters) -> tuple[int, int]:
    """Messages received and sent, every type."""
    received = c.opens_received + c.updates_received + c.keepalives_received
    received += c.notifications_received + c.route_refresh_received
    sent = c.opens_sent + c.updates_sent + c.keepalives_sent + c.notifications_sent + c.route_refresh_sent
    return received, sent


@dataclass(slots=True)
class PeerStatus:
    """What the views show of one session, kept up to date from its events (wall-clock times)."""

    state: str = "Idle"
    since: float = field(default_factory=time.time)
    established: ev.Established | None = None
    last_error: str | None = None
    last_reset: str | None = None
    peer_restarts: int = 0
    routes: tuple[BGPRoute, ...] = ()
    driver: PeerDriver | None = None
    given: RouteDiff = field(default_factory=RouteDiff)


class BgpAnnouncer:
    """BGP sessions of this node to every selected BGPPeer, announcing the reconcile core's routes."""

    def __init__(
        self,
        *,
        node: str,
        metrics: Metrics,
        bfd: BFDManager | None = None,
        state_dir: str | os.PathLike[str] | None = None,
        listen_port: int | _FromNodeConfig | None = FROM_NODE_CONFIG,
        listen_addresses: tuple[str, ...] | _FromNodeConfig = FROM_NODE_CONFIG,
    ) -> None:
        """`state_dir` (graceful-restart marker; None: the NodeConfig's, else /run/lbd/bgp/<node>),
        `listen_port` (None: dial only) and `listen_addresses` override the NodeConfig's `spec.bgp`."""
        self._node = node
        self._state_dir = state_dir
        self._listen_port = listen_port
        self._listen_addresses = listen_addresses
        self._marker: RestartMarker | None = None
        self._speaker = BgpSpeaker(
            config_of=build_session_config, on_event=self._event, listen_port=None, bfd=bfd
        )
        self._status: dict[str, PeerStatus] = {}
        self._problems: dict[str, list[str]] = {}
        self._started = False
        # The NodeConfig spec.bgp the listener and marker were set up from (changes need a restart).
        self._node_bgp: NodeBgp | None = None
        self._gr_up: dict[str, float] = {}
        self._marker_task: asyncio.Task[None] | None = None
        metrics.add_provider(self._samples)

    @property
    def name(self) -> str:
        return "bgp"

    @property
    def speaker(self) -> BgpSpeaker:
        return self._speaker

    async def apply(self, config: Config, desired: DesiredState) -> None:
        names = [p.peer for p in desired.bgp]
        settings, problems = peer_settings(config, self._node, names)
        if settings and not self._started:
            # Listen on the BGP port only once there is a peer: a node without BGP binds nothing.
            self._started = True
            self._node_bgp = self._node_settings(config)
            self._prepare(self._node_bgp)
            await self._speaker.start()
            self._marker_task = asyncio.get_running_loop().create_task(self._refresh_marker())
        elif self._node_bgp is not None:
            wanted = self._node_settings(config)
            if wanted != self._node_bgp:
                # ttlSecurity, nextHops reach the sessions through peer_settings; the rest was used at start.
                fixed = ("listen", "listen_port", "listen_addresses", "graceful_restart_state_dir")
                changed = [f for f in fixed if getattr(wanted, f) != getattr(self._node_bgp, f)]
                if changed:
                    log.warning("bgpNodeConfigNeedsRestart", fields=changed)
                self._node_bgp = wanted
        self._report(problems)
        for name in [n for n in self._status if n not in settings]:
            # Metrics come from a provider over the live drivers: a removed peer's series just end.
            del self._status[name]
        for name in settings:
            self._status.setdefault(name, PeerStatus())
        await self._speaker.configure(settings)
        for peer in desired.bgp:
            status = self._status.get(peer.peer)
            driver = self._speaker.drivers.get(peer.peer)
            if status is None or driver is None:
                continue
            status.routes = peer.routes
            if status.driver is not driver:
                # A new session (new peer, or replaced after a configuration change) starts empty.
                status.driver = driver
                driver.set_routes(status.given.full(peer.routes))
            else:
                announce, withdraw = status.given.update(peer.routes)
                if announce or withdraw:
                    driver.change_routes(announce, withdraw)

    def _node_settings(self, config: Config) -> NodeBgp:
        node = config.node_config(self._node)
        return node.bgp if node is not None else NodeBgp()

    def _prepare(self, bgp: NodeBgp) -> None:
        """Listener and restart marker from the NodeConfig, unless the constructor set them."""
        port = bgp.listen_port if bgp.listen else None
        if self._listen_port is not FROM_NODE_CONFIG:
            port = self._listen_port
        addresses = tuple(str(a) for a in bgp.listen_addresses) or ("0.0.0.0", "::")
        if self._listen_addresses is not FROM_NODE_CONFIG:
            addresses = self._listen_addresses
        self._speaker.listen(port, addresses)
        state_dir = self._state_dir or bgp.graceful_restart_state_dir
        self._marker = RestartMarker(Path(state_dir) if state_dir else Path(DEFAULT_STATE_ROOT) / self._node)
        self._speaker.marker = self._marker

    async def close(self) -> None:
        await self._speaker.close(SHUTDOWN_MESSAGE)
        if self._marker_task is not None:
            self._marker_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._marker_task
        # Every peer got Cease and dropped our routes: the next start is not a graceful restart.
        if self._marker is not None:
            self._marker.clear()

    def _report(self, problems: list[PeerProblem]) -> None:
        current: dict[str, list[str]] = {}
        for problem in problems:
            current.setdefault(problem.peer, []).append(problem.message)
        for peer, messages in current.items():
            if self._problems.get(peer) != messages:
                for message in messages:
                    log.warning("bgpPeerConfigIgnored", peer=peer, reason=message)
        self._problems = current

    # --- events -----------------------------------------------------------------------------------

    def _event(self, driver: PeerDriver, event: ev.Event) -> None:
        status = self._status.get(driver.name)
        if status is None:
            return
        if isinstance(event, ev.StateChanged):
            status.state = state_name(event.new)
            log.info(
                "bgpStateChanged",
                peer=driver.name,
                old=state_name(event.old),
                new=status.state,
                reason=event.reason,
            )
            if status.established is not None and status.state != "Established":
                status.established = None
                status.since = time.time()
                self._gr_up.pop(driver.name, None)
                self._write_marker()
        elif isinstance(event, ev.Established):
            status.established = event
            status.since = time.time()
            log.info(
                "bgpEstablished",
                peer=driver.name,
                local=str(event.local_address),
                hold=event.hold_time,
                families=sorted(event.negotiated.families),
            )
            if driver.settings.graceful_restart and event.negotiated.peer_graceful_restart is not None:
                self._gr_up[driver.name] = float(driver.session.config.graceful_restart.restart_time)
                self._write_marker()
            if self._marker is not None:
                self._marker.forget(driver.name)
        elif isinstance(event, ev.NotificationSent):
            n = event.notification
            status.last_error = f"NOTIFICATION sent {n.code}/{n.subcode}: {event.reason}"
            log.info(
                "bgpNotificationSent", peer=driver.name, code=n.code, subcode=n.subcode, reason=event.reason
            )
        elif isinstance(event, ev.NotificationReceived):
            n = event.notification
            text = n.shutdown_communication()
            status.last_error = f"NOTIFICATION received {n.code}/{n.subcode}" + (f": {text}" if text else "")
            log.info("bgpNotificationReceived", peer=driver.name, code=n.code, subcode=n.subcode, text=text)
        elif isinstance(event, ev.CloseConnection):
            status.last_reset = event.reason
        elif isinstance(event, ev.RoutesNotSent):
            log.warning("bgpRoutesNotSent", peer=driver.name, count=len(event.prefixes), reason=event.reason)
        elif isinstance(event, ev.PeerRestarting):
            status.peer_restarts += 1

    def _write_marker(self) -> None:
        if self._marker is None:
            return
        try:
            self._marker.write(self._gr_up)
        except OSError as error:
            log.error("bgpRestartMarkerFailed", path=str(self._marker.path), error=str(error))

    async def _refresh_marker(self) -> None:
        while True:
            await asyncio.sleep(_MARKER_INTERVAL)
            if self._gr_up:
                self._write_marker()

    # --- views and metrics -------------------------------------------------------------------------

    def views(self) -> Mapping[str, View]:
        return {"bgp summary": self._summary, "bgp neighbor": self._neighbor, "bgp routes": self._routes}

    def _summary(self, args: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [self._row(name) for name in sorted(self._status)]

    def _row(self, name: str) -> dict[str, Any]:
        status = self._status[name]
        driver = self._speaker.drivers.get(name)
        counters = driver.session.counters if driver is not None else MessageCounters()
        settings = driver.settings if driver is not None else None
        received, sent = totals(counters)
        return {
            "peer": name,
            "address": settings.address if settings else None,
            "asn": settings.peer_asn if settings else None,
            "state": status.state,
            "up_down": round(time.time() - status.since, 1),
            "msgs_in": received,
            "msgs_out": sent,
            "prefixes_sent": counters.prefixes_announced,
        }

    def _find(self, key: str) -> str:
        for name, driver in self._speaker.drivers.items():
            if key in (name, driver.settings.address):
                return name
        raise ViewError(
            f"no BGP neighbor {key!r}; known: {', '.join(sorted(self._speaker.drivers)) or 'none'}"
        )

    def _neighbor(self, args: Mapping[str, Any]) -> dict[str, Any]:
        key = str(args.get("address") or args.get("peer") or "")
        name = self._find(key)
        driver = self._speaker.drivers[name]
        status = self._status[name]
        s = driver.settings
        doc: dict[str, Any] = {
            **self._row(name),
            "local_asn": s.my_asn,
            "router_id": str(s.router_id),
            "ibgp": s.ibgp,
            "configured": {
                "hold_time": s.hold_time,
                "keepalive_time": s.keepalive_time,
                "connect_time": s.connect_time,
                "port": s.port,
                "source_address": s.source_address,
                "md5": s.password is not None,
                "ebgp_multihop": s.ebgp_multihop,
                "graceful_restart": s.graceful_restart,
                "bfd": s.bfd is not None,
                "bfd_blocked": driver.bfd_blocked,
            },
            "last_error": status.last_error,
            "last_reset": status.last_reset,
            # RFC 4724 §4.2 as helper: times the peer restarted with graceful restart negotiated.
            "peer_restarts": status.peer_restarts,
            "ignored": self._problems.get(name, []),
        }
        e = status.established
        if e is not None:
            n = e.negotiated
            doc["negotiated"] = {
                "hold_time": e.hold_time,
                "keepalive_time": e.keepalive_time,
                "local_address": str(e.local_address),
                "remote_address": str(e.remote_address),
                "peer_as": n.peer_as,
                "peer_id": n.peer_id,
                "four_octet_as": n.four_octet_as,
                "families": [f"{'ipv4' if afi == 1 else 'ipv6'}-unicast" for afi, _ in sorted(n.families)],
                "route_refresh": n.route_refresh,
                "peer_graceful_restart": n.peer_graceful_restart is not None,
            }
        policy = driver.session.path_policy
        config = driver.session.config
        doc["next_hops"] = {
            # What routes carry now (Established), then what was configured and found at session start.
            "ipv4": str(policy.next_hop_v4) if policy is not None and policy.next_hop_v4 else None,
            "ipv6": [str(a) for a in policy.next_hops_v6] if policy is not None else [],
            "configured_ipv4": str(s.next_hop_v4) if s.next_hop_v4 else None,
            "configured_ipv6": str(s.next_hop_v6) if s.next_hop_v6 else None,
            "interface_ipv4": str(config.next_hop_v4) if config.next_hop_v4 else None,
            "interface_ipv6": str(config.next_hop_v6) if config.next_hop_v6 else None,
            "link_local_ipv6": str(config.next_hop_v6_link_local) if config.next_hop_v6_link_local else None,
            "warnings": list(driver.warnings),
        }
        counters = driver.session.counters
        doc["counters"] = {k: getattr(counters, k) for k in counters.__slots__}
        return doc

    def _routes(self, args: Mapping[str, Any]) -> list[dict[str, Any]]:
        wanted = args.get("prefix")
        merged: dict[str, dict[str, Any]] = {}
        for name, status in sorted(self._status.items()):
            for route in status.routes:
                prefix = str(route.prefix)
                if wanted and prefix != wanted:
                    continue
                row = merged.setdefault(
                    prefix,
                    {
                        "prefix": prefix,
                        "peers": [],
                        "communities": [str(c) for c in route.communities],
                        "large_communities": [str(c) for c in route.large_communities],
                        "local_pref": route.local_pref,
                        "services": list(route.services),
                    },
                )
                row["peers"].append(name)
        return list(merged.values())

    def _samples(self) -> list[Sample]:
        out: list[Sample] = []
        for name, driver in self._speaker.drivers.items():
            status = self._status.get(name)
            if status is None:
                continue
            labels = {"peer": driver.settings.address}
            c = driver.session.counters
            received, sent = totals(c)
            values = {
                "metallb_bgp_session_up": float(status.state == "Established"),
                "metallb_bgp_updates_total": c.updates_sent,
                "metallb_bgp_announced_prefixes_total": c.prefixes_announced,
                "metallb_bgp_opens_sent": c.opens_sent,
                "metallb_bgp_opens_received": c.opens_received,
                "metallb_bgp_notifications_sent": c.notifications_sent,
                "metallb_bgp_updates_total_received": c.updates_received,
                "metallb_bgp_keepalives_sent": c.keepalives_sent,
                "metallb_bgp_keepalives_received": c.keepalives_received,
                "metallb_bgp_route_refresh_sent": c.route_refresh_sent,
                "metallb_bgp_route_refresh_received": c.route_refresh_received,
                "metallb_bgp_total_sent": sent,
                "metallb_bgp_total_received": received,
            }
            out += [Sample(metric, labels, float(value)) for metric, value in values.items()]
        return out
