"""Two in-memory BFD sessions joined by a lossless, zero-delay wire, driven by a fake clock."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from bfd.events import Event
from bfd.profile import Profile
from bfd.session import Channel, Session

A_DISCR = 0x0A0A0A0A
B_DISCR = 0x0B0B0B0B


def no_jitter() -> float:
    return 0.0


def drain(session: Session) -> list[Event]:
    events = []
    while (event := session.next_event()) is not None:
        events.append(event)
    return events


@dataclass
class Wire:
    a: Session
    b: Session
    now: float = 0.0
    # Per direction: when True, packets from that side vanish (an nftables drop in the lab).
    cut_from: set[str] = field(default_factory=set)
    sent: dict[str, list[bytes]] = field(default_factory=lambda: {"a": [], "b": []})

    def name(self, s: Session) -> str:
        return "a" if s is self.a else "b"

    def other(self, s: Session) -> Session:
        return self.b if s is self.a else self.a

    def transfer(self, src: Session) -> None:
        """Deliver everything `src` has to send now; answers (Finals) flow back at once."""
        pending = [src]
        for _ in range(10):
            if not pending:
                return
            s = pending.pop()
            for datagram in s.packets_to_send(self.now):
                if datagram.channel is Channel.ECHO:
                    # The peer's kernel forwards our echo straight back to us.
                    if self.name(s) not in self.cut_from and self.name(self.other(s)) not in self.cut_from:
                        s.receive_echo(datagram.data, self.now)
                    continue
                self.sent[self.name(s)].append(datagram.data)
                if self.name(s) in self.cut_from:
                    continue
                dst = self.other(s)
                assert dst.receive_packet(datagram.data, self.now, 255) is None
                pending.append(dst)
        raise AssertionError("packet ping-pong did not settle")

    def drop(self, side: str) -> None:
        self.cut_from.add(side)

    def run_until(self, until: float) -> None:
        for _ in range(100_000):
            deadlines = [t for t in (self.a.get_timer(), self.b.get_timer()) if t is not None]
            t = min(deadlines, default=None)
            if t is None or t > until:
                self.now = until
                return
            self.now = max(self.now, t)
            for s in (self.a, self.b):
                timer = s.get_timer()
                if timer is not None and timer <= self.now:
                    s.handle_timer(self.now)
                    self.transfer(s)
        raise AssertionError("simulation did not reach its end time")


def make_wire(a: Profile | None = None, b: Profile | None = None) -> Wire:
    sa = Session(a or Profile(), A_DISCR, multihop=False, random=no_jitter, now=0.0)
    sb = Session(b or Profile(), B_DISCR, multihop=False, random=no_jitter, now=0.0)
    return Wire(sa, sb)


@pytest.fixture
def wire() -> Wire:
    return make_wire()
