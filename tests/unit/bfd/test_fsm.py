"""The transition table is total, and a session driven by anything only ever moves along it."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from bfd.events import StateChanged
from bfd.fsm import TABLE, Input, transition
from bfd.packet import ControlPacket, Diag, DropReason, State
from bfd.profile import Profile
from bfd.session import Session
from tests.unit.bfd.conftest import A_DISCR, B_DISCR, drain, make_wire


def test_table_is_total() -> None:
    assert set(TABLE) == {(s, i) for s in State for i in Input}


def test_rfc5880_handshake_and_teardown_rows() -> None:
    assert transition(State.DOWN, Input.RX_DOWN).state is State.INIT
    assert transition(State.DOWN, Input.RX_INIT).state is State.UP
    assert transition(State.DOWN, Input.RX_UP).state is State.DOWN
    assert transition(State.INIT, Input.RX_UP).state is State.UP
    assert transition(State.UP, Input.RX_DOWN).diag is Diag.NEIGHBOR_SIGNALED_SESSION_DOWN
    assert transition(State.INIT, Input.DETECTION_TIMEOUT).diag is Diag.CONTROL_DETECTION_TIME_EXPIRED
    assert transition(State.UP, Input.ECHO_TIMEOUT).diag is Diag.ECHO_FUNCTION_FAILED
    for state in State:
        assert transition(state, Input.ADMIN_DOWN).state is State.ADMIN_DOWN
    for event in Input:
        if event is not Input.ADMIN_UP:
            assert transition(State.ADMIN_DOWN, event).state is State.ADMIN_DOWN


ALLOWED = {(old, step.state) for (old, _), step in TABLE.items() if step.state is not old}


def session_in(state: State) -> tuple[Session, float]:
    """A session of the in-memory pair brought into `state` through the protocol itself."""
    wire = make_wire()
    if state is State.INIT:
        down = ControlPacket(State.DOWN, Diag.NONE, 3, B_DISCR, 0, 1_000_000, 300_000, 0)
        assert wire.a.receive_control(down, 0.0, 255) is None
    elif state is State.UP:
        wire.run_until(1.0)
    elif state is State.ADMIN_DOWN:
        wire.a.admin_down(0.0)
    assert wire.a.state is state
    drain(wire.a)
    return wire.a, wire.now


packets = st.builds(
    ControlPacket,
    state=st.sampled_from(State),
    diag=st.integers(0, 31),
    detect_mult=st.integers(1, 255),
    my_discriminator=st.sampled_from([B_DISCR, 1, 2**32 - 1]),
    your_discriminator=st.sampled_from([0, A_DISCR, 5]),
    desired_min_tx_us=st.integers(0, 2**32 - 1),
    required_min_rx_us=st.integers(0, 2**32 - 1),
    required_min_echo_rx_us=st.sampled_from([0, 1, 50_000, 2**32 - 1]),
    poll=st.booleans(),
    final=st.booleans(),
    demand=st.booleans(),
)
actions = st.one_of(
    st.tuples(st.just("rx"), packets, st.sampled_from([0, 254, 255])),
    st.tuples(st.just("timer"), st.floats(0.0, 5.0)),
    st.tuples(st.just("admin_down")),
    st.tuples(st.just("enable")),
    st.tuples(st.just("profile"), st.builds(Profile, echo_mode=st.booleans(), passive_mode=st.booleans())),
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(State), st.lists(actions, max_size=20))
def test_any_input_sequence_stays_on_the_table(start: State, script: list[tuple[object, ...]]) -> None:
    session, now = session_in(start)
    for action in script:
        if action[0] == "rx":
            packet, ttl = action[1], action[2]
            assert isinstance(packet, ControlPacket) and isinstance(ttl, int)
            result = session.receive_control(packet, now, ttl)
            assert result is None or isinstance(result, DropReason)
        elif action[0] == "timer":
            assert isinstance(action[1], float)
            now += action[1]
            session.handle_timer(now)
        elif action[0] == "admin_down":
            session.admin_down(now)
        elif action[0] == "enable":
            session.enable(now)
        else:
            assert isinstance(action[1], Profile)
            session.set_profile(action[1], now)
        # An adapter does this after every input: nothing may stay due, or its loop would spin.
        session.handle_timer(now)
        for datagram in session.packets_to_send(now):
            assert datagram.data
        timer = session.get_timer()
        assert timer is None or timer > now
        while (event := session.next_event()) is not None:
            if isinstance(event, StateChanged):
                assert (event.old, event.new) in ALLOWED
        assert session.state in State
        assert not (session.echo_active and session.state is not State.UP)
        if session.state is not State.UP:
            assert not session.polling


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_jittered_gap_always_within_rfc_bounds(seed: int) -> None:
    rng = random.Random(seed)
    session = Session(Profile(), A_DISCR, multihop=False, random=rng.random, now=0.0)
    now = 0.0
    for _ in range(20):
        session.packets_to_send(now)
        timer = session.get_timer()
        assert timer is not None
        assert 0.75 <= timer - now <= 1.0
        now = timer
