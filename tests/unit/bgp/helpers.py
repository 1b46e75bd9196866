"""Two in-memory sessions joined by explicit transfers, driven by a fake clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, ip_address

from bgp import Event, Session, SessionConfig
from bgp.codec import Inbound, MessageReader

A_ADDR = ip_address("192.0.2.1")
B_ADDR = ip_address("192.0.2.2")


def config(
    local_as: int = 64512, peer_as: int = 64513, router_id: str = "192.0.2.1", **kw: object
) -> SessionConfig:
    return SessionConfig(local_as=local_as, peer_as=peer_as, router_id=IPv4Address(router_id), **kw)  # type: ignore[arg-type]


def drain(session: Session) -> list[Event]:
    out: list[Event] = []
    while (ev := session.next_event()) is not None:
        out.append(ev)
    return out


def decode_all(chunks: list[bytes]) -> list[Inbound]:
    reader = MessageReader()
    return [m for c in chunks for m in reader.feed(c)]


@dataclass
class Pair:
    """Session `a` (192.0.2.1) and `b` (192.0.2.2) with one TCP connection between them, id 1 on both."""

    a: Session
    b: Session
    now: float = 0.0
    events_a: list[Event] = field(default_factory=list)
    events_b: list[Event] = field(default_factory=list)

    def connect(self, conn_id: int = 1, a_outbound: bool = True) -> None:
        self.a.connection_made(self.now, conn_id, A_ADDR, B_ADDR, outbound=a_outbound)
        self.b.connection_made(self.now, conn_id, B_ADDR, A_ADDR, outbound=not a_outbound)

    def transfer(self, rounds: int = 10) -> None:
        """Deliver queued bytes both ways until quiet (bounded), and collect events."""
        for _ in range(rounds):
            moved = False
            for src, dst in ((self.a, self.b), (self.b, self.a)):
                for conn_id, data in src.data_to_send():
                    moved = True
                    dst.data_received(self.now, conn_id, data)
            self.collect()
            if not moved:
                return

    def collect(self) -> None:
        self.events_a += drain(self.a)
        self.events_b += drain(self.b)

    def tick(self, to: float) -> None:
        self.now = to
        self.a.handle_timer(to)
        self.b.handle_timer(to)
        self.collect()
