"""The membership engine of one node: sans-I/O, fed datagrams and `now`, returning datagrams and events.

Every `interval` the node sends each configured peer a heartbeat, whatever state the peer is in, so a
partition heals as soon as packets flow again. A heartbeat carries relay entries: how long ago this node
last heard each other member directly. A member's last contact is the freshest of its direct heartbeats
and of what the others relay, so one lost datagram on one path changes nothing. When a live member's
direct heartbeats stop for `probe_after`, it is probed five times per interval with heartbeats that ask
for an immediate answer. The member is dead after `failure_timeout` of silence on every path (see
`lbd.membership.fsm` for the states and `docs/membership.md` for the reasoning).

Heartbeats also carry this node's health set (`set_health`: the ids of the health-checked services
healthy here), sent in pages until each member echoes its version (`lbd.membership.health`); a member's
completed set is reported as `MemberHealth`.

Authentication and replay protection
------------------------------------
Every datagram carries an HMAC-SHA256 tag over a shared key (`lbd.membership.codec`), names its sender
and receiver, and is accepted only from the sender's configured address and port. Each sender numbers its
datagrams with (incarnation, sequence): the incarnation is the wall clock in microseconds when the node
started, the sequence the microseconds since then, so the pair grows strictly across restarts. A
receiver drops any datagram whose pair is not greater than the greatest it heard from that sender: a
replayed datagram is never newer. That alone does not help a receiver that restarted and knows nothing,
so a datagram of an incarnation not yet proven fresh only counts once it echoes the receiver's own
current incarnation, which nobody could have recorded before the receiver started. Until then the
receiver answers it at once (asking for an answer back), which completes the handshake in one and a
half round trips.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address

from lbd.config import MemberPeer
from lbd.membership.codec import (
    MAX_RELAYS,
    MAX_U64,
    BadMac,
    DecodeError,
    HealthPage,
    Kind,
    Message,
    Relay,
    decode,
    encode,
    health_room,
    member_id,
)
from lbd.membership.events import Event, MemberDown, MemberHealth, MemberLeft, MemberSuspect, MemberUp
from lbd.membership.fsm import Emit, Input, MemberState, transition
from lbd.membership.health import LocalHealth, PeerHealth
from lbd.membership.timers import Timers

_US = 1_000_000
MIN_KEY_LENGTH = 16
# Copies of the leave message: with 5% loss all three are lost once in 8000 stops (then the timeout acts).
LEAVE_COPIES = 3

Address = tuple[str, int]


class Drop(enum.Enum):
    """Why a received datagram was ignored (counted, never answered)."""

    UNKNOWN_SOURCE = "unknown_source"
    MALFORMED = "malformed"
    BAD_MAC = "bad_mac"
    WRONG_IDENTITY = "wrong_identity"
    REPLAY = "replay"


@dataclass(frozen=True, slots=True)
class MemberCounters:
    received: int
    sent: int
    probes_sent: int
    answers_sent: int
    replays: int
    bad_mac: int
    suspicions: int
    downs: int


@dataclass(frozen=True, slots=True)
class MemberInfo:
    """One member as this node sees it (for `lbd status` and metrics). Times are seconds before `now`."""

    name: str
    address: str
    port: int
    state: MemberState
    incarnation: int
    silent: float | None
    silent_direct: float | None
    rtt: float | None
    counters: MemberCounters
    health_version: int = 0
    healthy: frozenset[bytes] = frozenset()


class _Member:
    __slots__ = (
        "address",
        "answers_sent",
        "bad_mac",
        "downs",
        "health",
        "health_acked",
        "health_offset",
        "heard_at",
        "id",
        "known_inc",
        "known_seq",
        "last_answer",
        "last_direct",
        "last_relay",
        "name",
        "next_probe",
        "port",
        "probes_sent",
        "proven_inc",
        "received",
        "replays",
        "rtt",
        "sent",
        "state",
        "suspicions",
    )

    def __init__(self, peer: MemberPeer) -> None:
        self.name = peer.name
        self.id = member_id(peer.name)
        self.address = peer.address
        self.port = peer.port
        self.state = MemberState.DEAD
        # Greatest authenticated (incarnation, sequence) heard: replay floor and what we echo.
        self.known_inc = 0
        self.known_seq = 0
        self.heard_at = 0.0
        # The incarnation whose freshness was proven (0: none yet).
        self.proven_inc = 0
        self.last_direct = -math.inf
        self.last_relay = -math.inf
        self.next_probe: float | None = None
        self.last_answer = -math.inf
        self.rtt: float | None = None
        self.received = self.sent = self.probes_sent = self.answers_sent = 0
        self.replays = self.bad_mac = self.suspicions = self.downs = 0
        # Its health set as assembled here; the version of ours it echoed; our next page for it.
        self.health = PeerHealth()
        self.health_acked = 0
        self.health_offset = 0

    @property
    def last_heard(self) -> float:
        return max(self.last_direct, self.last_relay)


class Membership:
    """This node's view of the cluster. `peers` are the other members; `incarnation` must grow across
    restarts of this node (the adapter uses the wall clock in microseconds)."""

    def __init__(
        self,
        node: str,
        peers: Iterable[MemberPeer],
        key: bytes,
        timers: Timers,
        now: float,
        *,
        incarnation: int,
    ) -> None:
        if len(key) < MIN_KEY_LENGTH:
            raise ValueError(f"the membership key must be at least {MIN_KEY_LENGTH} bytes")
        if not 0 < incarnation <= MAX_U64:
            raise ValueError("incarnation must be a positive 64-bit number")
        self.node = node
        self.incarnation = incarnation
        self.timers = timers
        self._id = member_id(node)
        self._key = key
        self._started = now
        self._seq = 0
        self._members = [_Member(p) for p in peers]
        self._by_id = {m.id: m for m in self._members}
        self._by_address = {(_normal(m.address), m.port): m for m in self._members}
        if len(self._by_id) != len(self._members) or self._id in self._by_id:
            raise ValueError("member names must be unique and differ from this node's")
        if len(self._by_address) != len(self._members):
            raise ValueError("each member needs its own address and port")
        self._next_heartbeat = now
        self._relay_offset = 0
        self._health = LocalHealth()
        self._stopped = False
        self._outbox: list[tuple[bytes, Address]] = []
        self._events: deque[Event] = deque()
        self.drops: dict[Drop, int] = dict.fromkeys(Drop, 0)

    # --- inputs ----------------------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: Address, now: float) -> None:
        """Handle one datagram from `addr`. Anything not from a member's configured address and port,
        damaged or replayed is counted in `drops` and otherwise ignored."""
        if self._stopped:
            return
        host = _parse_host(addr[0])
        member = self._by_address.get((host, addr[1])) if host is not None else None
        if member is None:
            self.drops[Drop.UNKNOWN_SOURCE] += 1
            return
        try:
            msg = decode(data, self._key)
        except BadMac:
            self.drops[Drop.BAD_MAC] += 1
            member.bad_mac += 1
            return
        except DecodeError:
            self.drops[Drop.MALFORMED] += 1
            return
        if msg.sender != member.id or msg.receiver != self._id:
            self.drops[Drop.WRONG_IDENTITY] += 1
            return
        if (msg.incarnation, msg.seq) <= (member.known_inc, member.known_seq):
            self.drops[Drop.REPLAY] += 1
            member.replays += 1
            return
        member.known_inc, member.known_seq, member.heard_at = msg.incarnation, msg.seq, now
        member.received += 1
        echoes_us = msg.echo_incarnation == self.incarnation
        if msg.incarnation != member.proven_inc and not echoes_us:
            # A new incarnation (theirs or ours) not yet proven fresh: answer, asking for an answer.
            self._answer(member, now)
            return
        new_life = msg.incarnation != member.proven_inc
        member.proven_inc = msg.incarnation
        if new_life:
            member.health_acked = member.health_offset = 0
            if member.health.reset():
                self._events.append(MemberHealth(member.name, 0, frozenset()))
        if echoes_us and msg.echo_seq:
            sent_at = self._started + msg.echo_seq / _US
            member.rtt = max(0.0, now - sent_at - msg.echo_hold_us / _US)
        if msg.kind is Kind.LEAVE:
            self._input(member, Input.LEAVE, now)
            return
        member.last_direct = now
        member.next_probe = None
        self._input(member, Input.NEW_LIFE if new_life else Input.DIRECT, now)
        if member.state.live:
            self._relayed(member, msg.relays, now)
        self._health_received(member, msg.health)
        if msg.answer or not echoes_us:
            self._answer(member, now)

    def handle_timer(self, now: float) -> None:
        if self._stopped:
            return
        t = self.timers
        for m in self._members:
            if not m.state.live:
                continue
            # The same sums as in get_timer, so a timer armed for a deadline always finds it due.
            if now >= m.last_heard + t.failure_timeout:
                self._input(m, Input.FAILURE_TIMEOUT, now)
                continue
            if now >= m.last_heard + t.suspect_after and m.state is MemberState.ALIVE:
                self._input(m, Input.SUSPECT_TIMEOUT, now)
            if now >= self._probe_due(m):
                self._send(m, now, answer=True)
                m.probes_sent += 1
                m.next_probe = now + t.probe_interval
        if now >= self._next_heartbeat:
            for m in self._members:
                self._send(m, now, answer=m.known_inc != m.proven_inc)
            self._relay_offset += MAX_RELAYS
            # Keep the phase; after a stall (a busy loop) start afresh rather than send a burst.
            self._next_heartbeat += t.interval
            if self._next_heartbeat <= now:
                self._next_heartbeat = now + t.interval

    def set_health(self, ids: Iterable[bytes], now: float) -> None:
        """This node's healthy services (ids from `codec.service_id`). A change is sent to every live
        member at once, not at the next heartbeat; beyond MAX_HEALTH ids the rest are not sent."""
        if self._stopped or not self._health.update(ids):
            return
        for m in self._members:
            if m.state.live:
                m.health_offset = 0
                self._send(m, now, answer=False)

    @property
    def health_version(self) -> int:
        return self._health.version

    def leave(self, now: float) -> None:
        """Say goodbye to every member (so they drop us at once) and stop."""
        if self._stopped:
            return
        for _ in range(LEAVE_COPIES):
            for m in self._members:
                self._send(m, now, answer=False, kind=Kind.LEAVE)
        self._stopped = True

    # --- outputs ---------------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        if self._stopped:
            return None
        t = self.timers
        deadline = self._next_heartbeat
        for m in self._members:
            if not m.state.live:
                continue
            deadline = min(deadline, m.last_heard + t.failure_timeout)
            if m.state is MemberState.ALIVE:
                deadline = min(deadline, m.last_heard + t.suspect_after)
            deadline = min(deadline, self._probe_due(m))
        return deadline

    def datagrams_to_send(self) -> list[tuple[bytes, Address]]:
        out, self._outbox = self._outbox, []
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def live(self) -> frozenset[str]:
        return frozenset([self.node, *(m.name for m in self._members if m.state.live)])

    def settled(self, now: float) -> bool:
        """Every member heard from, or long enough since start that a silent one is really dead."""
        return now >= self._started + self.timers.settle_time or all(
            m.state is MemberState.ALIVE for m in self._members
        )

    def members(self, now: float) -> list[MemberInfo]:
        return [
            MemberInfo(
                m.name,
                str(m.address),
                m.port,
                m.state,
                m.proven_inc,
                _ago(now, m.last_heard),
                _ago(now, m.last_direct),
                m.rtt,
                MemberCounters(
                    m.received,
                    m.sent,
                    m.probes_sent,
                    m.answers_sent,
                    m.replays,
                    m.bad_mac,
                    m.suspicions,
                    m.downs,
                ),
                m.health.version,
                m.health.ids,
            )
            for m in self._members
        ]

    # --- internals -------------------------------------------------------------------------------

    def _input(self, m: _Member, what: Input, now: float) -> None:
        previous = m.state
        step = transition(previous, what)
        m.state = step.state
        if step.emit is Emit.UP:
            self._events.append(MemberUp(m.name, m.proven_inc, previous))
        elif step.emit is Emit.SUSPECT:
            m.suspicions += 1
            self._events.append(MemberSuspect(m.name, now - m.last_heard))
        elif step.emit is Emit.DOWN:
            m.downs += 1
            self._events.append(MemberDown(m.name, now - m.last_heard))
        elif step.emit is Emit.LEFT:
            self._events.append(MemberLeft(m.name))

    def _health_received(self, m: _Member, page: HealthPage) -> None:
        m.health_acked = page.echo
        if m.health.receive(page):
            self._events.append(MemberHealth(m.name, m.health.version, m.health.ids))

    def _relayed(self, sender: _Member, relays: tuple[Relay, ...], now: float) -> None:
        for r in relays:
            m = self._by_id.get(r.member)
            # Only about an incarnation we proved fresh ourselves: a new one must contact us directly.
            if m is None or m is sender or m.proven_inc == 0 or r.incarnation != m.proven_inc:
                continue
            at = now - r.age_us / _US
            m.last_relay = max(m.last_relay, at)
            if now - at < self.timers.revive_age:
                self._input(m, Input.RELAY, now)

    def _answer(self, m: _Member, now: float) -> None:
        if now - m.last_answer < self.timers.answer_gap:
            return
        m.last_answer = now
        m.answers_sent += 1
        self._send(m, now, answer=m.known_inc != m.proven_inc)

    def _probe_due(self, m: _Member) -> float:
        """Probes fill the gap between a late heartbeat and the failure timeout. A member still live
        only through relays after that (its direct path broke) gets the periodic heartbeats alone, until
        direct contact resets `next_probe`."""
        t = self.timers
        due = m.next_probe if m.next_probe is not None else m.last_direct + t.probe_after
        return due if due < m.last_direct + t.failure_timeout else math.inf

    def _send(self, m: _Member, now: float, *, answer: bool, kind: Kind = Kind.HEARTBEAT) -> None:
        self._outbox.append((self._encode(m, now, kind, answer=answer), (str(m.address), m.port)))
        m.sent += 1

    def _encode(self, m: _Member, now: float, kind: Kind, *, answer: bool) -> bytes:
        self._seq = max(self._seq + 1, int((now - self._started) * _US) + 1)
        hold = int((now - m.heard_at) * _US) if m.known_seq else 0
        relays = self._relays_for(m, now) if kind is Kind.HEARTBEAT else ()
        health = HealthPage()
        if kind is Kind.HEARTBEAT:
            health, m.health_offset = self._health.page(
                m.health_acked, m.health_offset, health_room(len(relays)), m.health.version
            )
        msg = Message(
            kind,
            answer,
            self._id,
            m.id,
            self.incarnation,
            self._seq,
            m.known_inc,
            m.known_seq,
            max(0, hold),
            relays,
            health,
        )
        return encode(msg, self._key)

    def _relays_for(self, receiver: _Member, now: float) -> tuple[Relay, ...]:
        fresh = [
            m
            for m in self._members
            if m is not receiver and m.state.live and now - m.last_direct < self.timers.failure_timeout
        ]
        if len(fresh) > MAX_RELAYS:
            start = self._relay_offset % len(fresh)
            fresh = (fresh[start:] + fresh[:start])[:MAX_RELAYS]
        return tuple(Relay(m.id, m.proven_inc, int((now - m.last_direct) * _US)) for m in fresh)


def _parse_host(host: str) -> IPv4Address | IPv6Address | None:
    try:
        return _normal(ip_address(host.partition("%")[0]))
    except ValueError:
        return None


def _normal(address: IPv4Address | IPv6Address) -> IPv4Address | IPv6Address:
    """IPv4 peers reach a dual-stack socket as IPv4-mapped IPv6 addresses."""
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _ago(now: float, at: float) -> float | None:
    return None if at == -math.inf else now - at
