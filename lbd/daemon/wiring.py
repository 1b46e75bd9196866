"""Which announcers and background services the daemon runs: one line per module.

Each announcer module adds its own line to `build_announcers` when it lands, and a module that does
not exist yet is simply not listed here (an import that fails must fail loudly, never be skipped).
Order matters: the daemon pushes every desired state to the announcers in this order, so local
delivery comes first and an address is accepted by this host before anyone attracts traffic to it.

Background services (membership) are not announcers: they feed the daemon, here through `on_members`,
which takes the set of live speaker nodes (this node included) and makes the daemon recompute, and
`on_health`, which takes a member's health set (the ids of the services healthy on it). A service that
is a `HealthPublisher` is handed this node's own health set whenever it changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from lbd.config import Membership
from lbd.daemon.announcer import Announcer
from lbd.metrics import Metrics
from lbd.net.bfd_manager import BFDManager
from lbd.net.bgp_announcer import BgpAnnouncer
from lbd.net.l2_announcer import L2Announcer
from lbd.net.local_delivery import LocalDeliveryAnnouncer
from lbd.net.membership_udp import MembershipService


@dataclass(frozen=True, slots=True)
class Wiring:
    """What announcers and services may be built from. `bfd` is started by the daemon as soon as a
    config with a BFD-enabled peer is accepted, before that config reaches the announcers.
    `membership` is this node's settings from its NodeConfig at start (None without a NodeConfig)."""

    node: str
    metrics: Metrics
    bfd: BFDManager
    membership: Membership | None
    on_members: Callable[[frozenset[str]], None]
    standalone: bool = True
    on_health: Callable[[str, frozenset[bytes]], None] | None = None


class BackgroundService(Protocol):
    """Runs beside the announcers for the daemon's lifetime (membership)."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...


@runtime_checkable
class HealthPublisher(Protocol):
    """A background service that tells the other nodes which services are healthy here (membership)."""

    def publish_health(self, healthy: frozenset[bytes]) -> None: ...


def build_announcers(w: Wiring) -> list[Announcer]:
    announcers: list[Announcer] = []
    if w.standalone:
        # Off under Kubernetes, where kube-proxy makes the nodes accept VIP traffic.
        announcers.append(LocalDeliveryAnnouncer(node=w.node))
    timers = w.membership or Membership()
    announcers.append(
        L2Announcer(
            node=w.node,
            metrics=w.metrics,
            link_return_hold=timers.failure_timeout,
            reannounce_settle=2 * timers.heartbeat_interval,
        )
    )
    announcers.append(BgpAnnouncer(node=w.node, metrics=w.metrics, bfd=w.bfd))
    return announcers


def build_services(w: Wiring) -> list[BackgroundService]:
    services: list[BackgroundService] = []
    services.append(
        MembershipService(
            node=w.node,
            settings=w.membership or Membership(),
            metrics=w.metrics,
            on_change=w.on_members,
            on_health=w.on_health,
        )
    )
    return services
