"""Two sessions behind a simulated adapter (dials succeed when the other side listens, cuts close both
ends): whatever the start order, passive sides, cuts and garbage, they end up Established, and stay."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bgp import CloseConnection, ConnectRequested, Session, State
from tests.unit.bgp.helpers import A_ADDR, B_ADDR, config


class Net:
    """Zero-latency TCP between two sessions, driven to quiescence after every input."""

    def __init__(self, a: Session, b: Session) -> None:
        self.sides = {"a": a, "b": b}
        self.running = {"a": False, "b": False}
        self.next_id = 1
        self.live: set[int] = set()

    def other(self, name: str) -> str:
        return "b" if name == "a" else "a"

    def addrs(self, name: str) -> tuple[object, object]:
        return (A_ADDR, B_ADDR) if name == "a" else (B_ADDR, A_ADDR)

    def settle(self, now: float) -> None:
        for _ in range(200):
            busy = False
            for name, s in self.sides.items():
                peer = self.sides[self.other(name)]
                for cid, data in s.data_to_send():
                    busy = True
                    if cid in self.live:
                        peer.data_received(now, cid, data)
                while (ev := s.next_event()) is not None:
                    busy = True
                    if isinstance(ev, ConnectRequested):
                        self.dial(now, name)
                    elif isinstance(ev, CloseConnection) and ev.conn_id in self.live:
                        self.live.discard(ev.conn_id)
                        peer.connection_lost(now, ev.conn_id)
            if not busy:
                return
        raise AssertionError("no quiescence")

    def dial(self, now: float, name: str) -> None:
        peer_name = self.other(name)
        if not self.running[peer_name]:
            self.sides[name].connect_failed(now, "refused")
            return
        cid, self.next_id = self.next_id, self.next_id + 1
        self.live.add(cid)
        local, remote = self.addrs(name)
        self.sides[name].connection_made(now, cid, local, remote, outbound=True)  # type: ignore[arg-type]
        self.sides[peer_name].connection_made(now, cid, remote, local, outbound=False)  # type: ignore[arg-type]

    def garbage(self, now: float, data: bytes) -> None:
        for cid in list(self.live):
            self.sides["a"].data_received(now, cid, data)

    def cut(self, now: float) -> None:
        for cid in list(self.live):
            self.live.discard(cid)
            for s in self.sides.values():
                s.connection_lost(now, cid)

    def next_timer(self) -> float | None:
        timers = [t for t in (s.get_timer() for s in self.sides.values()) if t is not None]
        return min(timers) if timers else None


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from([(False, False), (True, False), (False, True)]),
    st.floats(0, 60),
    st.lists(st.tuples(st.floats(0, 120), st.sampled_from(["cut", "garbage"])), max_size=4),
    st.binary(min_size=1, max_size=40),
)
def test_sessions_converge_to_established(
    passive: tuple[bool, bool], b_start: float, disturbances: list[tuple[float, str]], junk: bytes
) -> None:
    kw = {"hold_time": 9, "connect_retry": 1.0, "connect_retry_max": 8.0, "connect_time": 5.0}
    a = Session(config(64512, 64513, "192.0.2.1", passive=passive[0], **kw))
    b = Session(config(64513, 64512, "192.0.2.2", passive=passive[1], **kw))
    net = Net(a, b)
    a.start(0.0)
    net.running["a"] = True
    inputs = sorted([(b_start, "start b"), *disturbances])
    last_disturbance = inputs[-1][0]
    now = 0.0
    net.settle(now)
    for _ in range(10_000):
        timer = net.next_timer()
        if inputs and (timer is None or inputs[0][0] <= timer):
            now, what = inputs.pop(0)
            if what == "start b":
                b.start(now)
                net.running["b"] = True
            elif what == "cut":
                net.cut(now)
            else:
                net.garbage(now, b"\x00" * 19 + junk)  # never a valid header: 1/1 and a reset
        elif timer is not None:
            now = max(now, timer)
            a.handle_timer(now)
            b.handle_timer(now)
        net.settle(now)
        if not inputs and now > last_disturbance + 60:
            break
    # Backoff cap 8 s + connect timeout 5 s + a passive side waiting for the active one: well inside 60 s.
    assert a.state == b.state == State.ESTABLISHED
    assert len(net.live) == 1
