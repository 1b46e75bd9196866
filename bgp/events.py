"""Events a `bgp.Session` reports through `next_event()`; the adapter acts on the first two."""

from __future__ import annotations

from dataclasses import dataclass

from bgp.capabilities import GracefulRestart
from bgp.codec import UpdateResult
from bgp.families import Address, Family, Prefix
from bgp.fsm import State
from bgp.messages import Notification, Open


@dataclass(frozen=True, slots=True)
class ConnectRequested:
    """Dial the peer now; give up after `timeout` seconds. Report `connection_made(outbound=True)` with a
    fresh conn_id on success, `connect_failed` on failure (the session also times the attempt out)."""

    at: float
    timeout: float


@dataclass(frozen=True, slots=True)
class CloseConnection:
    """Close this connection (after sending what `data_to_send` returned for it)."""

    conn_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class StateChanged:
    """The session's state moved (RFC 4271 §8.2.2); the state of its most advanced connection."""

    old: State
    new: State
    reason: str


@dataclass(frozen=True, slots=True)
class Negotiated:
    """What the OPEN exchange settled (RFC 5492 §3: a capability applies when both sides sent it)."""

    peer_as: int
    peer_id: str
    four_octet_as: bool
    families: frozenset[Family]
    route_refresh: bool
    peer_graceful_restart: GracefulRestart | None


@dataclass(frozen=True, slots=True)
class Established:
    """The session reached Established on `conn_id`; timers in seconds (0 = no keepalives/hold)."""

    conn_id: int
    negotiated: Negotiated
    hold_time: float
    keepalive_time: float
    local_address: Address
    remote_address: Address
    peer_open: Open


@dataclass(frozen=True, slots=True)
class NotificationSent:
    conn_id: int
    notification: Notification
    reason: str


@dataclass(frozen=True, slots=True)
class NotificationReceived:
    conn_id: int
    notification: Notification


@dataclass(frozen=True, slots=True)
class RouteRefreshRequested:
    """The peer sent ROUTE-REFRESH (RFC 2918 §4); the session has already queued our routes again."""

    afi: int
    safi: int


@dataclass(frozen=True, slots=True)
class PeerRoutesReceived:
    """An UPDATE from the peer, decoded and validated (RFC 7606 handling included); never installed."""

    result: UpdateResult
    end_of_rib: Family | None


@dataclass(frozen=True, slots=True)
class RoutesNotSent:
    """These prefixes are withheld from the peer for `reason` (no usable next hop, family not negotiated)."""

    prefixes: tuple[Prefix, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class PeerRestarting:
    """RFC 4724 §4.2: the peer reconnected (or lost its connection) with graceful restart negotiated; its
    routes would be kept as stale for `restart_time` seconds. We install nothing, so this is a record."""

    restart_time: int
    reason: str


Event = (
    ConnectRequested
    | CloseConnection
    | StateChanged
    | Established
    | NotificationSent
    | NotificationReceived
    | RouteRefreshRequested
    | PeerRoutesReceived
    | RoutesNotSent
    | PeerRestarting
)
