"""N membership engines on a simulated LAN: a fake clock, seeded random loss, small random latency,
partitions, kills and restarts. Discrete-event: the next thing to happen is either a datagram arriving or
a node's timer firing, whichever is earlier."""

from __future__ import annotations

import heapq
import itertools
import random
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import TypeVar

from lbd.config import MemberPeer
from lbd.membership import Event, Membership, Timers

E = TypeVar("E", bound=Event)
KEY = b"sixteen-byte-key-for-tests"
PORT = 7946


def address(i: int) -> IPv4Address:
    return IPv4Address(f"192.0.2.{i + 1}")


@dataclass
class Node:
    name: str
    engine: Membership | None
    events: list[tuple[float, Event]] = field(default_factory=list)


@dataclass
class Cluster:
    names: list[str]
    loss: float = 0.0
    seed: int = 1
    timers: Timers = field(default_factory=Timers)
    # One-way latency is uniform in this range (seconds); timers fire late by up to `lateness`.
    latency: tuple[float, float] = (0.0001, 0.0005)
    lateness: float = 0.001
    now: float = 0.0
    blocked: set[tuple[str, str]] = field(default_factory=set)
    nodes: dict[str, Node] = field(default_factory=dict)
    delivered: int = 0
    # Every datagram put on the wire, for replay tests: (time, source, destination, bytes).
    wire: list[tuple[float, str, str, bytes]] = field(default_factory=list)
    record: bool = False

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self._queue: list[tuple[float, int, str, str, bytes]] = []
        self._order = itertools.count()
        self._incarnation = itertools.count(1_000_000)
        self._timer_at: dict[str, float] = {}
        for name in self.names:
            self.nodes[name] = Node(name, None)
            self.start(name)

    def peers_of(self, name: str) -> list[MemberPeer]:
        return [MemberPeer(n, address(i), PORT) for i, n in enumerate(self.names) if n != name]

    def engine(self, name: str) -> Membership:
        engine = self.nodes[name].engine
        assert engine is not None, f"{name} is not running"
        return engine

    def start(self, name: str, key: bytes = KEY) -> Membership:
        engine = Membership(
            name, self.peers_of(name), key, self.timers, self.now, incarnation=next(self._incarnation)
        )
        self.nodes[name].engine = engine
        self._rearm(name)
        return engine

    def kill(self, name: str) -> None:
        """kill -9: the engine vanishes without a word."""
        self.nodes[name].engine = None
        self._timer_at.pop(name, None)

    def stop(self, name: str) -> None:
        """A clean stop: the leave messages go out, then the engine vanishes."""
        self.engine(name).leave(self.now)
        self._flush(name)
        self.kill(name)

    def cut(self, a: str, b: str) -> None:
        self.blocked |= {(a, b), (b, a)}

    def isolate(self, name: str) -> None:
        for other in self.names:
            if other != name:
                self.cut(name, other)

    def heal(self) -> None:
        self.blocked.clear()

    def inject(self, source: str, destination: str, data: bytes, port: int = PORT) -> None:
        """Hand `destination` a datagram claiming to come from `source`'s address, now."""
        i = self.names.index(source)
        self.engine(destination).datagram_received(data, (str(address(i)), port), self.now)
        self._flush(destination)

    def set_health(self, name: str, ids: frozenset[bytes]) -> None:
        """`name`'s healthy services change now (sent at once, as the daemon does)."""
        self.engine(name).set_health(ids, self.now)
        self._flush(name)

    def live(self, name: str) -> frozenset[str]:
        return self.engine(name).live()

    def events(self, name: str, kind: type[E]) -> list[tuple[float, E]]:
        return [(t, e) for t, e in self.nodes[name].events if isinstance(e, kind)]

    def run_for(self, seconds: float) -> None:
        self.run_until(self.now + seconds)

    def run_until(self, end: float) -> None:
        while True:
            next_timer = min(self._timer_at.items(), key=lambda kv: kv[1], default=None)
            next_packet = self._queue[0][0] if self._queue else None
            t_timer = next_timer[1] if next_timer else float("inf")
            t_packet = next_packet if next_packet is not None else float("inf")
            if min(t_timer, t_packet) > end:
                self.now = end
                return
            if t_packet <= t_timer:
                at, _, source, destination, data = heapq.heappop(self._queue)
                self.now = at
                engine = self.nodes[destination].engine
                if engine is None:
                    continue
                self.delivered += 1
                engine.datagram_received(data, (str(address(self.names.index(source))), PORT), at)
                self._flush(destination)
            else:
                assert next_timer is not None
                name = next_timer[0]
                self.now = t_timer
                self.engine(name).handle_timer(self.now)
                self._flush(name)

    def _flush(self, name: str) -> None:
        node = self.nodes[name]
        engine = node.engine
        if engine is None:
            return
        for data, (host, port) in engine.datagrams_to_send():
            assert port == PORT
            destination = self.names[int(host.rsplit(".", 1)[1]) - 1]
            if self.record:
                self.wire.append((self.now, name, destination, data))
            if (name, destination) in self.blocked or self.rng.random() < self.loss:
                continue
            at = self.now + self.rng.uniform(*self.latency)
            heapq.heappush(self._queue, (at, next(self._order), name, destination, data))
        while (event := engine.next_event()) is not None:
            node.events.append((self.now, event))
        self._rearm(name)

    def _rearm(self, name: str) -> None:
        engine = self.nodes[name].engine
        deadline = engine.get_timer() if engine is not None else None
        if deadline is None:
            self._timer_at.pop(name, None)
        else:
            # A real event loop fires a little late, never early.
            self._timer_at[name] = max(deadline, self.now) + self.rng.uniform(0, self.lateness)
