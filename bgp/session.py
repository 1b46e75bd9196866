"""A BGP session with one peer, sans-I/O: fed bytes, connection events and `now`; returns bytes, events and
the next timer deadline (RFC 4271 §8, in the style of aioquic's QuicConnection).

The transitions come from `bgp.fsm.TABLE`; this module carries them out: it owns the timers, validates
OPEN messages (RFC 4271 §6.2), resolves connection collisions (§6.8), keeps the Adj-RIB-Out and turns it
into UPDATEs (`bgp.packing`). See docs/bgp-engine.md for the adapter contract.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, ip_address

from bgp.attributes import Handling
from bgp.codec import CodecContext, Inbound, MessageReader, UpdateResult, encode
from bgp.config import OPEN_SENT_HOLD_TIME, SessionConfig
from bgp.errors import BgpError, CeaseSubcode, ErrorCode
from bgp.events import (
    CloseConnection,
    ConnectRequested,
    Established,
    Event,
    Negotiated,
    NotificationReceived,
    NotificationSent,
    PeerRestarting,
    PeerRoutesReceived,
    RouteRefreshRequested,
    RoutesNotSent,
    StateChanged,
)
from bgp.families import IPV4_UNICAST, IPV6_UNICAST, Address, Family, Prefix
from bgp.fsm import FSM_SUBCODE, Action, Input, State, Transition, transition
from bgp.messages import Keepalive, Message, Notification, Open, RouteRefresh
from bgp.negotiation import local_open, path_policy, plain, validate_open
from bgp.packing import PathPolicy, attributes_fit, end_of_rib, iter_updates, iter_withdrawals
from bgp.ribout import AdjRibOut, Groups
from bgp.route import Route, key_prefix, prefix_key

# How many octets of a large burst of UPDATEs `data_to_send` produces per call (about 6,500 /32
# prefixes, a few milliseconds of packing): an adapter yields to its event loop between calls, so a
# 100,000-route table never holds up the other sessions (a BFD Down, a Cease) for long.
BURST_OCTETS = 32 * 1024
# How many pending prefixes are taken from the Adj-RIB-Out at once (a few milliseconds of diffing and
# grouping); each slice's groups are packed on their own, so a 100,000-route table costs a handful of
# UPDATEs that are not full.
TAKE_PREFIXES = 16_384


@dataclass(frozen=True, slots=True)
class MessageCounters:
    """Messages per type and direction, and prefixes announced (for metallb_bgp_* metrics)."""

    opens_sent: int = 0
    opens_received: int = 0
    updates_sent: int = 0
    updates_received: int = 0
    keepalives_sent: int = 0
    keepalives_received: int = 0
    notifications_sent: int = 0
    notifications_received: int = 0
    route_refresh_sent: int = 0
    route_refresh_received: int = 0
    prefixes_announced: int = 0


class _Conn:
    """One TCP connection and its copy of the FSM (RFC 4271 §8: one FSM per connection)."""

    __slots__ = (
        "conn_id",
        "ctx",
        "hold_deadline",
        "hold_time",
        "keepalive_deadline",
        "keepalive_time",
        "local_addr",
        "negotiated",
        "outbound",
        "peer_open",
        "reader",
        "remote_addr",
        "state",
    )

    def __init__(self, conn_id: int, local: Address, remote: Address, outbound: bool, state: State) -> None:
        self.conn_id = conn_id
        self.local_addr = local
        self.remote_addr = remote
        self.outbound = outbound
        self.state = state
        self.reader = MessageReader()
        self.ctx = CodecContext()
        self.hold_deadline: float | None = None
        self.keepalive_deadline: float | None = None
        self.hold_time = 0.0
        self.keepalive_time = 0.0
        self.peer_open: Open | None = None
        self.negotiated: Negotiated | None = None


class Session:
    def __init__(self, config: SessionConfig) -> None:
        self.config = config
        self._base = State.IDLE
        self._base_deadline: float | None = None
        self._conns: dict[int, _Conn] = {}
        self._events: deque[Event] = deque()
        self._out: list[tuple[int, bytes]] = []
        self._failures = 0
        self._stopped = True
        self._stop_subcode: int = CeaseSubcode.ADMINISTRATIVE_SHUTDOWN
        self._stop_message = ""
        self._reported = State.IDLE
        self._rib = AdjRibOut()
        # UPDATEs committed to the established connection but not yet produced (see data_to_send), in
        # the order they were queued.
        self._burst: deque[Iterator[bytes]] = deque()
        # A `_drain` generator is in the burst: it takes whatever becomes pending before it ends.
        self._draining = False
        self._established: _Conn | None = None
        self._policy: PathPolicy | None = None
        self._restarting = config.graceful_restart.enabled and config.graceful_restart.restarting
        self._counts: dict[str, int] = dict.fromkeys(MessageCounters.__slots__, 0)

    # -- public state -------------------------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._reported

    @property
    def counters(self) -> MessageCounters:
        self._counts["prefixes_announced"] = self._rib.sent_count()
        return MessageCounters(**self._counts)

    @property
    def negotiated(self) -> Negotiated | None:
        return self._established.negotiated if self._established else None

    @property
    def path_policy(self) -> PathPolicy | None:
        """The next hops routes carry while Established (None otherwise)."""
        return self._policy

    @property
    def advertised(self) -> dict[Prefix, Route]:
        """Adj-RIB-Out as the peer holds it (a copy, built on request)."""
        return {key_prefix(k): Route.from_key(k, a) for k, a in self._rib.sent().items()}

    @property
    def more_to_send(self) -> bool:
        """A burst of UPDATEs is being produced: call `data_to_send` again (after yielding to the loop)."""
        return bool(self._burst)

    def backoff(self) -> float:
        """The current retry delay: connect_retry doubled per consecutive failure, capped."""
        n = max(self._failures - 1, 0)
        return float(min(self.config.connect_retry_max, self.config.connect_retry * 2.0 ** min(n, 32)))

    # -- inputs -------------------------------------------------------------------------------------------

    def start(self, now: float) -> None:
        """RFC 4271 §8.1.2 ManualStart (or its passive form): dial and/or listen."""
        self._stopped = False
        self._failures = 0
        self._base_input(now, Input.START_PASSIVE if self.config.passive else Input.START, "started")

    def stop(
        self,
        now: float,
        subcode: int = CeaseSubcode.ADMINISTRATIVE_SHUTDOWN,
        message: str = "",
        restart: bool = False,
    ) -> None:
        """Close every connection with Cease/`subcode` (RFC 4486), with an RFC 8203 `message` for
        Administrative Shutdown/Reset. `restart` makes it an AutomaticStop: start again after the backoff
        (BFD Down, RFC 9384, uses subcode 10 and restart=True)."""
        self._stop_subcode, self._stop_message = subcode, message
        self._stopped = True
        for conn in list(self._conns.values()):
            self._conn_input(now, conn, Input.STOP, reason=f"stopped (Cease {subcode})")
        self._base_input(now, Input.STOP, "stopped")
        if restart:
            self._stopped = False
            self._schedule_restart(now)

    def connection_made(
        self, now: float, conn_id: int, local_addr: Address, remote_addr: Address, outbound: bool
    ) -> None:
        """A TCP connection is up; `conn_id` is the adapter's, unique among live connections."""
        refuse = ""
        if not outbound and not self.config.accept_inbound:
            refuse = "inbound connections not accepted"
        elif len(self._conns) >= 2 or conn_id in self._conns:
            # RFC 4271 §6.8 deals with two connections; a third is refused outright.
            refuse = "a connection collision is already being resolved"
        if refuse:
            self._events.append(CloseConnection(conn_id, refuse))
            return
        if not outbound and self._base == State.IDLE and not self._stopped and not self._conns:
            # During the idle hold (our damping of AutomaticStart, RFC 4271 §8.1.1) the peer's connection
            # is AutomaticStart_with_PassiveTcpEstablishment (event 7), not refused: a peer that just
            # restarted gets its session back without waiting for our backoff.
            self._base_deadline = None
            self._base_input(now, Input.START_PASSIVE, "peer connected during the idle hold")
        conn = _Conn(conn_id, plain(local_addr), plain(remote_addr), outbound, self._base)
        self._conns[conn_id] = conn
        self._conn_input(now, conn, Input.TCP_CONNECTED, reason="outbound" if outbound else "inbound")

    def connect_failed(self, now: float, reason: str = "") -> None:
        """The dial asked for by ConnectRequested failed (RFC 4271 §8.1.3 event 18 before a connection)."""
        self._base_input(now, Input.TCP_FAILS, reason or "connect failed")

    def connection_lost(self, now: float, conn_id: int) -> None:
        conn = self._conns.get(conn_id)
        if conn is not None:
            self._conn_input(now, conn, Input.TCP_FAILS, reason="connection lost")

    def data_received(self, now: float, conn_id: int, data: bytes) -> None:
        conn = self._conns.get(conn_id)
        if conn is None:
            return
        conn.reader.push(data)
        while self._conns.get(conn_id) is conn:
            try:
                msg = conn.reader.next_message()
            except BgpError as err:
                self._conn_input(now, conn, Input.MESSAGE_ERROR, error=err, reason=err.reason)
                return
            if msg is None:
                return
            self._receive(now, conn, msg)

    def handle_timer(self, now: float) -> None:
        if self._base_deadline is not None and now >= self._base_deadline:
            self._base_deadline = None
            if self._base == State.IDLE:
                if not self._stopped:
                    self._base_input(
                        now, Input.START_PASSIVE if self.config.passive else Input.START, "restart"
                    )
            else:
                self._base_input(now, Input.CONNECT_RETRY_EXPIRES, "connect retry timer expired")
        for conn in list(self._conns.values()):
            if conn.hold_deadline is not None and now >= conn.hold_deadline:
                conn.hold_deadline = None
                self._conn_input(now, conn, Input.HOLD_TIMER_EXPIRES, reason="hold timer expired")
            elif conn.keepalive_deadline is not None and now >= conn.keepalive_deadline:
                conn.keepalive_deadline = None
                self._conn_input(now, conn, Input.KEEPALIVE_TIMER_EXPIRES, reason="keepalive due")

    def get_timer(self) -> float | None:
        deadlines = [self._base_deadline] + [
            d for c in self._conns.values() for d in (c.hold_deadline, c.keepalive_deadline)
        ]
        present = [d for d in deadlines if d is not None]
        return min(present) if present else None

    def data_to_send(self) -> list[tuple[int, bytes]]:
        """Bytes to send, in order. A large table goes out in bursts of about BURST_OCTETS per call;
        `more_to_send` says whether another call has more."""
        if self._burst:
            self._produce()
        out, self._out = self._out, []
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def set_routes(self, now: float, routes: Iterable[Route]) -> None:
        """Make `routes` the whole set announced to this peer; only the difference goes out."""
        self._rib.replace(routes)
        self._flush(now)

    def change_routes(
        self, now: float, announce: Iterable[Route] = (), withdraw: Iterable[Prefix] = ()
    ) -> None:
        """Add/replace and remove single routes: O(changed) for callers that track changes themselves."""
        self._rib.change(announce, map(prefix_key, withdraw))
        self._flush(now)

    def request_refresh(self, now: float, family: Family = IPV4_UNICAST) -> None:
        """Send ROUTE-REFRESH (RFC 2918 §4) if the session is Established and the peer supports it."""
        conn = self._established
        if conn is not None and conn.negotiated is not None and conn.negotiated.route_refresh:
            self._send(conn, RouteRefresh(family[0], family[1]))

    # -- FSM plumbing -------------------------------------------------------------------------------------

    def _base_input(self, now: float, event: Input, reason: str) -> None:
        step = transition(self._base, event)
        self._base = step.state
        for action in step.actions:
            if action is Action.DIAL:
                self._dial(now)
            elif action is Action.RETRY_LATER:
                self._retry_later(now)
            elif action is Action.STOP_RETRY:
                self._base_deadline = None
            # The base machine only gets START, STOP, its timer and dial failures, all in the table for
            # Idle/Connect/Active; connection and message actions belong to connections.
        self._report(reason)

    def _dial(self, now: float) -> None:
        # Never reached while a connection exists: the base timer is parked then (fsm.py).
        self._base_deadline = now + self.config.connect_time
        self._events.append(ConnectRequested(now, self.config.connect_time))

    def _retry_later(self, now: float) -> None:
        if self._conns or self.config.passive:
            self._base_deadline = None
            return
        self._failures += 1
        self._base_deadline = now + self.backoff()

    def _schedule_restart(self, now: float) -> None:
        if self._base == State.IDLE and not self._stopped and not self._conns:
            self._base_deadline = now + self.backoff()

    def _conn_input(
        self,
        now: float,
        conn: _Conn,
        event: Input,
        *,
        error: BgpError | None = None,
        reason: str = "",
        message: Inbound | None = None,
    ) -> None:
        before = conn.state
        step = transition(before, event)
        conn.state = step.state
        self._execute(
            now,
            conn,
            before=before,
            step=step,
            event=event,
            error=error,
            reason=reason or event.value,
            message=message,
        )
        self._report(reason or event.value)

    def _execute(
        self,
        now: float,
        conn: _Conn,
        *,
        before: State,
        step: Transition,
        event: Input,
        error: BgpError | None,
        reason: str,
        message: Inbound | None,
    ) -> None:
        for action in step.actions:
            if action is Action.STOP_RETRY:
                self._base_deadline = None
            elif action is Action.SEND_OPEN:
                self._send(conn, local_open(self.config, self._restarting))
                conn.hold_deadline = now + OPEN_SENT_HOLD_TIME
            elif action is Action.SEND_KEEPALIVE:
                self._send(conn, Keepalive())
                conn.keepalive_deadline = now + conn.keepalive_time if conn.keepalive_time else None
            elif action is Action.ARM_TIMERS or action is Action.RESTART_HOLD:
                conn.hold_deadline = now + conn.hold_time if conn.hold_time else None
            elif action is Action.NOTIFY_FSM:
                self._notify(conn, Notification(ErrorCode.FSM, FSM_SUBCODE.get(before, 0)), reason)
            elif action is Action.NOTIFY_CEASE:
                self._notify(conn, Notification.cease(self._stop_subcode, self._stop_message), reason)
            elif action is Action.NOTIFY_HOLD:
                self._notify(conn, Notification(ErrorCode.HOLD_TIMER_EXPIRED, 0), reason)
            elif action is Action.NOTIFY_ERROR and error is not None:
                self._notify(conn, Notification(error.code, error.subcode, error.data), reason)
            elif action is Action.NOTIFY_COLLISION:
                cease = Notification(ErrorCode.CEASE, CeaseSubcode.CONNECTION_COLLISION_RESOLUTION)
                self._notify(conn, cease, reason)
            elif action is Action.CLOSE:
                self._close(conn, before, step.state, event, reason)
            elif action is Action.RETRY_LATER:
                self._retry_later(now)
            elif action is Action.FAIL:
                if not self._conns:
                    self._failures += 1
                    self._schedule_restart(now)
            elif action is Action.AWAIT_CONNECTION:
                if not self._conns:
                    self._base_deadline = now + self.config.connect_time
            elif action is Action.ESTABLISH:
                self._establish(now, conn)
            elif action is Action.PROCESS_UPDATE and isinstance(message, UpdateResult):
                self._events.append(PeerRoutesReceived(message, message.update.end_of_rib()))
            elif action is Action.PROCESS_REFRESH and isinstance(message, RouteRefresh):
                self._answer_refresh(now, message)

    def _close(self, conn: _Conn, before: State, new_state: State, event: Input, reason: str) -> None:
        conn.hold_deadline = conn.keepalive_deadline = None
        self._conns.pop(conn.conn_id, None)
        self._events.append(CloseConnection(conn.conn_id, reason))
        if conn is self._established:
            self._established = None
            self._policy = None
            self._burst.clear()  # the rest of a burst dies with its connection
            self._draining = False
            self._rib.session_down()
            gr = conn.negotiated.peer_graceful_restart if conn.negotiated else None
            if gr is not None and event is Input.TCP_FAILS:
                # RFC 4724 §4.2: the helper keeps the peer's routes as stale; we hold none, so we record it.
                self._events.append(PeerRestarting(gr.restart_time, reason))
        if not self._conns and before >= State.OPEN_SENT:
            # The last connection's outcome becomes the session's (fsm.py theory of operation); one
            # refused on arrival (Idle) never was the session's and leaves its timers alone.
            self._base = new_state
            self._base_deadline = None

    def _report(self, reason: str) -> None:
        now_state = max((c.state for c in self._conns.values()), default=self._base)
        if now_state != self._reported:
            self._events.append(StateChanged(self._reported, now_state, reason))
            self._reported = now_state

    # -- messages -----------------------------------------------------------------------------------------

    def _send(self, conn: _Conn, msg: Message) -> None:
        self._out.append((conn.conn_id, encode(msg, conn.ctx)))
        self._count(msg, "sent")

    def _count(self, msg: Message | Inbound, direction: str) -> None:
        kind = {
            "Open": "opens",
            "Update": "updates",
            "UpdateResult": "updates",
            "Keepalive": "keepalives",
            "Notification": "notifications",
            "RouteRefresh": "route_refresh",
        }[type(msg).__name__]
        self._counts[f"{kind}_{direction}"] += 1

    def _queue_updates(self, now: float, conn: _Conn, updates: Iterator[bytes]) -> None:
        """UPDATEs for the established connection, produced lazily by `data_to_send` after everything
        queued before them. RFC 4271 §8.2.2: sending an UPDATE restarts the KeepaliveTimer (here when
        they are queued: a burst takes a fraction of a second, a keepalive interval at least one)."""
        self._burst.append(updates)
        if conn.keepalive_time:
            conn.keepalive_deadline = now + conn.keepalive_time

    def _produce(self) -> None:
        conn, burst = self._established, self._burst
        assert conn is not None  # a burst exists only while Established
        out, budget, produced = self._out, BURST_OCTETS, 0
        while burst and budget > 0:
            for data in burst[0]:
                out.append((conn.conn_id, data))
                produced += 1
                budget -= len(data)
                if budget <= 0:
                    break
            else:
                burst.popleft()
        self._counts["updates_sent"] += produced

    def _notify(self, conn: _Conn, notification: Notification, reason: str) -> None:
        self._send(conn, notification)
        self._events.append(NotificationSent(conn.conn_id, notification, reason))

    def _receive(self, now: float, conn: _Conn, msg: Inbound) -> None:
        self._count(msg, "received")
        if isinstance(msg, Open):
            self._receive_open(now, conn, msg)
        elif isinstance(msg, UpdateResult):
            if msg.error is not None and msg.handling is Handling.SESSION_RESET:
                self._conn_input(now, conn, Input.UPDATE_ERROR, error=msg.error, reason=msg.error.reason)
                return
            self._conn_input(now, conn, Input.UPDATE, message=msg)
        elif isinstance(msg, Notification):
            self._events.append(NotificationReceived(conn.conn_id, msg))
            collision = (msg.code, msg.subcode) == (
                ErrorCode.CEASE,
                CeaseSubcode.CONNECTION_COLLISION_RESOLUTION,
            )
            event = Input.COLLISION_NOTIFICATION if collision else Input.NOTIFICATION
            self._conn_input(now, conn, event, reason=f"NOTIFICATION {msg.code}/{msg.subcode}")
        elif isinstance(msg, Keepalive):
            self._conn_input(now, conn, Input.KEEPALIVE)
        else:
            self._conn_input(now, conn, Input.ROUTE_REFRESH, message=msg)

    def _receive_open(self, now: float, conn: _Conn, msg: Open) -> None:
        if conn.state != State.OPEN_SENT:
            self._conn_input(now, conn, Input.OPEN_OK)  # not in the table for this state: FSM error
            return
        try:
            negotiated = validate_open(self.config, msg)
        except BgpError as err:
            self._conn_input(now, conn, Input.MESSAGE_ERROR, error=err, reason=err.reason)
            return
        conn.peer_open, conn.negotiated = msg, negotiated
        conn.hold_time = float(min(self.config.hold_time, msg.hold_time))
        # RFC 4271 §10: keepalives at a third of the hold time, never slower than configured.
        conn.keepalive_time = min(self.config.keepalive, conn.hold_time / 3) if conn.hold_time else 0.0
        conn.ctx = CodecContext(negotiated.four_octet_as, negotiated.families, self.config.ebgp)
        conn.reader.ctx = conn.ctx
        loser = self._collision_loser(conn, negotiated)
        if loser is conn:
            self._conn_input(
                now, conn, Input.OPEN_COLLISION_DUMP, reason="connection collision (RFC 4271 §6.8)"
            )
            return
        if loser is not None:
            if loser.state == State.ESTABLISHED:
                # RFC 4724 §4.2: a restarting peer's new connection replaces the Established one.
                self._conn_input(now, loser, Input.TCP_FAILS, reason="peer restarted (graceful restart)")
            else:
                self._conn_input(
                    now, loser, Input.OPEN_COLLISION_DUMP, reason="connection collision (RFC 4271 §6.8)"
                )
        self._conn_input(now, conn, Input.OPEN_OK, reason="OPEN received")

    def _collision_loser(self, conn: _Conn, negotiated: Negotiated) -> _Conn | None:
        """RFC 4271 §6.8: which of two connections to the peer to close, once an OPEN names the peer."""
        other = next(
            (c for c in self._conns.values() if c is not conn and c.state >= State.OPEN_CONFIRM), None
        )
        if other is None:
            return None
        if other.state == State.ESTABLISHED:
            # §6.8: an Established session wins, unless the new OPEN says the peer restarted (RFC 4724 §3
            # Restart State bit): then the old connection is the stale one (§4.2). Without the bit this is
            # a plain collision, and dropping the working session would make both sides flap.
            gr = negotiated.peer_graceful_restart
            return other if gr is not None and gr.restart_state else conn
        if conn.outbound == other.outbound:
            return other  # the older connection of the same direction is stale
        local_id, remote_id = int(self.config.router_id), int(IPv4Address(negotiated.peer_id))
        outbound = conn if conn.outbound else other
        inbound = other if conn.outbound else conn
        if local_id == remote_id:
            # RFC 6286 §2.3: equal identifiers (eBGP) keep the connection initiated by the larger AS.
            return inbound if self.config.local_as > negotiated.peer_as else outbound
        return outbound if local_id < remote_id else inbound

    # -- routes -------------------------------------------------------------------------------------------

    def _establish(self, now: float, conn: _Conn) -> None:
        assert conn.negotiated is not None and conn.peer_open is not None
        self._established = conn
        self._failures = 0
        self._policy = path_policy(self.config, conn.local_addr)
        self._events.append(
            Established(
                conn.conn_id,
                conn.negotiated,
                conn.hold_time,
                conn.keepalive_time,
                conn.local_addr,
                conn.remote_addr,
                conn.peer_open,
            )
        )
        self._rib.session_down()
        self._flush(now)
        # RFC 4724 §2: End-of-RIB after the initial update of each family; sent whether or not graceful
        # restart was negotiated (RFC 4724 §4: harmless to a peer that does not know it).
        eors = [end_of_rib(family) for family in sorted(conn.negotiated.families)]
        self._queue_updates(now, conn, iter(eors))
        self._restarting = False

    def _sendable(self, conn: _Conn, groups: Groups) -> None:
        """Drop from `groups` what this session cannot announce, reported once per flush with the reason.

        Families and next hops are fixed for the life of a session, and sendability depends only on a
        group's attributes (IP version, community sizes): checked once per group, not per route.
        """
        policy = self._policy
        assert conn.negotiated is not None and policy is not None
        families = conn.negotiated.families
        # Why each IP version cannot be sent, or None when it can.
        blocked: dict[int, str | None] = {4: None, 6: None}
        if IPV4_UNICAST not in families:
            blocked[4] = "address family IPv4 unicast not negotiated with the peer"
        elif policy.next_hop_v4 is None:
            blocked[4] = "no usable IPv4 next hop (set next_hop_v4)"
        if IPV6_UNICAST not in families:
            blocked[6] = "address family IPv6 unicast not negotiated with the peer"
        elif not policy.next_hops_v6:
            blocked[6] = "no usable global IPv6 next hop (set next_hop_v6)"
        withheld: dict[str, list[int]] = {}
        for attributes in list(groups):
            reason = blocked[attributes.version]
            if reason is None and not attributes_fit(attributes):
                reason = "communities do not fit in a 4096-octet UPDATE"
            if reason is not None:
                withheld.setdefault(reason, []).extend(groups.pop(attributes))
        for reason, keys in withheld.items():
            self._rib.withhold(keys)
            self._events.append(RoutesNotSent(tuple(map(key_prefix, keys)), reason))

    def _flush(self, now: float) -> None:
        conn = self._established
        if conn is None or self._policy is None or not self._rib.pending() or self._draining:
            return
        # The first slice is taken now (a small change behaves as if sent at once: withheld routes are
        # reported before this call returns); the rest, if any, as the burst is produced.
        taken = self._take(conn)
        self._draining = self._rib.pending()
        self._queue_updates(now, conn, self._drain(conn, taken, self._draining))

    def _take(self, conn: _Conn) -> tuple[Groups, list[int]]:
        groups, withdraw = self._rib.take_changes(TAKE_PREFIXES)
        self._sendable(conn, groups)
        return groups, withdraw

    def _drain(self, conn: _Conn, taken: tuple[Groups, list[int]], more: bool) -> Iterator[bytes]:
        """The UPDATEs of the slice `taken`; with `more`, the following slices too, taken from the
        Adj-RIB-Out as they are produced (after whatever was queued before) until nothing is pending.

        While another slice is certain to follow (changes are pending: only a take or the end of the
        connection clears them), each group's last, partly filled UPDATE is held back and its routes
        packed with the next slice's, so slicing costs no extra UPDATEs. The held routes go out first in
        that slice, before its withdrawals: a held route withdrawn or changed since may be taken in that
        slice, and its withdrawal or new attributes must come after it."""
        policy = self._policy
        assert policy is not None  # Established
        held: Groups = {}
        while True:
            groups, withdraw = taken
            for attributes, keys in held.items():
                held[attributes] = keys + groups.pop(attributes, [])
            carry: Groups | None = {} if more and self._rib.pending() else None
            yield from iter_updates(held, conn.ctx, policy, carry)
            yield from iter_withdrawals(withdraw)
            yield from iter_updates(groups, conn.ctx, policy, carry)
            if not more:
                return
            if not (self._rib.pending() and self._established is conn):
                break
            held = carry or {}
            taken = self._take(conn)
        self._draining = False

    def _answer_refresh(self, now: float, msg: RouteRefresh) -> None:
        conn = self._established
        assert conn is not None and conn.negotiated is not None and self._policy is not None  # Established
        family = (msg.afi, msg.safi)
        # RFC 2918 §4: a family not negotiated is ignored; RFC 7313 §5: so are subtypes other than a plain
        # request (we do not offer enhanced route refresh).
        if family not in conn.negotiated.families or msg.subtype != 0:
            return
        self._events.append(RouteRefreshRequested(msg.afi, msg.safi))
        # RFC 2918 §4: re-send the Adj-RIB-Out of that family.
        version = 4 if family == IPV4_UNICAST else 6
        groups: Groups = {}
        for key, attributes in self._rib.sent().items():
            if attributes.version == version:
                groups.setdefault(attributes, []).append(key)
        self._queue_updates(now, conn, iter_updates(groups, conn.ctx, self._policy))


def parse_address(text: str) -> Address:
    """Helper for adapters and tests: an address from a socket's string form, mapped IPv4 unwrapped."""
    return plain(ip_address(text))
