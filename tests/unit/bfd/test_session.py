"""bfd.Session driven by a fake clock: handshake, exact timers, Poll/Final, detection, echo, TTL."""

from __future__ import annotations

import pytest

from bfd.events import EchoChanged, PollCompleted, StateChanged
from bfd.packet import (
    AuthSection,
    ControlPacket,
    Diag,
    DropReason,
    EchoPacket,
    State,
    decode_control,
    encode_control,
    encode_echo,
)
from bfd.profile import Profile
from bfd.session import Channel, Session, jittered
from tests.unit.bfd.conftest import A_DISCR, B_DISCR, Wire, drain, make_wire, no_jitter


def control(data: bytes) -> ControlPacket:
    packet = decode_control(data)
    assert isinstance(packet, ControlPacket)
    return packet


def up(wire: Wire) -> None:
    wire.run_until(1.0)
    assert (wire.a.state, wire.b.state) == (State.UP, State.UP)
    assert not wire.a.polling and not wire.b.polling
    drain(wire.a)
    drain(wire.b)


def test_first_packet_is_slow_down_with_zero_your_discriminator() -> None:
    s = Session(Profile(), A_DISCR, multihop=False, random=no_jitter, now=5.0)
    assert s.get_timer() == 5.0
    [datagram] = s.packets_to_send(5.0)
    assert datagram.channel is Channel.CONTROL
    assert control(datagram.data) == ControlPacket(
        state=State.DOWN,
        diag=Diag.NONE,
        detect_mult=3,
        my_discriminator=A_DISCR,
        your_discriminator=0,
        desired_min_tx_us=1_000_000,
        required_min_rx_us=300_000,
        required_min_echo_rx_us=0,
    )
    # RFC 5880 §6.8.3: one packet a second while not Up.
    assert s.get_timer() == 6.0
    assert s.packets_to_send(5.9) == []
    assert s.detection_time is None


def test_three_way_handshake_and_poll(wire: Wire) -> None:
    wire.run_until(0.0)
    assert drain(wire.b) == [StateChanged(State.DOWN, State.INIT, Diag.NONE)]
    assert drain(wire.a) == [StateChanged(State.DOWN, State.UP, Diag.NONE)]
    # Going Up lowers Desired Min TX from 1 s to 300 ms: a Poll Sequence, and the faster rate at once.
    assert wire.a.polling
    assert wire.a.tx_interval == 0.3
    assert wire.a.get_timer() == 0.3
    wire.run_until(0.3)
    assert drain(wire.b) == [StateChanged(State.INIT, State.UP, Diag.NONE)]
    assert drain(wire.a) == [PollCompleted(tx_interval=0.3, detection_time=0.9)]
    poll = control(wire.sent["a"][-1])
    assert (poll.state, poll.poll, poll.final, poll.desired_min_tx_us) == (State.UP, True, False, 300_000)
    final = control(wire.sent["b"][-1])
    assert (final.poll, final.final) == (False, True)
    wire.run_until(0.6)
    assert drain(wire.b) == [PollCompleted(tx_interval=0.3, detection_time=0.9)]
    assert wire.a.remote_discriminator == B_DISCR and wire.b.remote_discriminator == A_DISCR


def test_detection_time_expiry(wire: Wire) -> None:
    up(wire)
    last_from_b = 0.9  # b transmits at 0.6, 0.9, 1.2, ...
    wire.drop("b")
    wire.run_until(last_from_b + 0.9 - 0.001)
    assert wire.a.state is State.UP
    wire.run_until(last_from_b + 0.9)
    assert drain(wire.a) == [StateChanged(State.UP, State.DOWN, Diag.CONTROL_DETECTION_TIME_EXPIRED)]
    assert wire.a.remote_discriminator == 0
    # Back to one packet a second, and a's Down reaches b, which goes Down too.
    assert wire.a.tx_interval == 1.0
    wire.run_until(2.0)
    assert drain(wire.b) == [StateChanged(State.UP, State.DOWN, Diag.NEIGHBOR_SIGNALED_SESSION_DOWN)]
    sent = control(wire.sent["a"][-1])
    assert (sent.state, sent.diag, sent.your_discriminator) == (State.DOWN, 1, 0)


def test_recovers_after_cut_heals(wire: Wire) -> None:
    up(wire)
    wire.drop("b")
    wire.run_until(3.0)
    assert wire.a.state is State.DOWN
    wire.cut_from.clear()
    wire.run_until(6.0)
    assert (wire.a.state, wire.b.state) == (State.UP, State.UP)


def test_admin_down_is_signalled(wire: Wire) -> None:
    up(wire)
    wire.b.admin_down(wire.now)
    assert drain(wire.b) == [StateChanged(State.UP, State.ADMIN_DOWN, Diag.ADMINISTRATIVELY_DOWN)]
    wire.run_until(wire.now + 1.0)
    assert drain(wire.a) == [StateChanged(State.UP, State.DOWN, Diag.NEIGHBOR_SIGNALED_SESSION_DOWN)]
    sent = control(wire.sent["b"][-1])
    assert (sent.state, sent.diag) == (State.ADMIN_DOWN, Diag.ADMINISTRATIVELY_DOWN)
    # A disabled session ignores the peer entirely.
    wire.run_until(wire.now + 5.0)
    assert wire.b.state is State.ADMIN_DOWN and wire.a.state is State.DOWN
    wire.b.enable(wire.now)
    assert drain(wire.b) == [StateChanged(State.ADMIN_DOWN, State.DOWN, Diag.NONE)]
    wire.run_until(wire.now + 3.0)
    assert (wire.a.state, wire.b.state) == (State.UP, State.UP)


def test_passive_waits_for_the_peer() -> None:
    passive = Profile(passive_mode=True)
    wire = make_wire(a=passive, b=passive)
    assert wire.a.get_timer() is None and wire.a.packets_to_send(0.0) == []
    wire.run_until(10.0)
    assert wire.sent == {"a": [], "b": []}
    # One active side starts the session; the passive one answers.
    wire = make_wire(a=passive)
    wire.run_until(2.0)
    assert (wire.a.state, wire.b.state) == (State.UP, State.UP)
    # After the active side disappears for a Detection Time, the passive side falls silent again.
    wire.drop("b")
    wire.run_until(5.0)
    assert wire.a.state is State.DOWN and wire.a.remote_discriminator == 0
    count = len(wire.sent["a"])
    wire.run_until(10.0)
    assert len(wire.sent["a"]) == count


def test_faster_tx_renegotiated_without_flap(wire: Wire) -> None:
    up(wire)
    wire.a.set_profile(Profile(transmit_interval_ms=100, receive_interval_ms=100), wire.now)
    assert wire.a.polling
    wire.run_until(wire.now + 1.0)
    events = drain(wire.a)
    assert events == [PollCompleted(tx_interval=0.3, detection_time=0.9)]
    # b's 300 ms Required Min RX still caps a's rate and b's own detection time.
    assert wire.b.detection_time == 0.9
    wire.b.set_profile(Profile(transmit_interval_ms=100, receive_interval_ms=100), wire.now)
    wire.run_until(wire.now + 1.0)
    assert drain(wire.b) == [PollCompleted(tx_interval=0.1, detection_time=0.3)]
    assert wire.a.tx_interval == 0.1
    assert wire.a.detection_time == pytest.approx(0.3)
    assert wire.a.state is State.UP and wire.b.state is State.UP


def test_slower_tx_waits_for_final(wire: Wire) -> None:
    up(wire)
    wire.drop("b")  # no Final can arrive
    wire.a.set_profile(Profile(transmit_interval_ms=2000), wire.now)
    assert wire.a.polling
    # RFC 5880 §6.8.3: the actual interval must not grow until the Poll Sequence ends.
    assert wire.a.tx_interval == 0.3
    [datagram] = wire.a.packets_to_send(wire.a.get_timer() or 0.0)
    sent = control(datagram.data)
    assert (sent.poll, sent.desired_min_tx_us) == (True, 2_000_000)
    wire.cut_from.clear()
    wire.run_until(wire.now + 1.0)
    assert wire.a.tx_interval == 2.0 and not wire.a.polling
    assert drain(wire.a)[-1] == PollCompleted(tx_interval=2.0, detection_time=0.9)
    assert wire.b.detection_time == 6.0


def test_shorter_rx_keeps_old_detection_until_final(wire: Wire) -> None:
    wire = make_wire(a=Profile(receive_interval_ms=1000))
    up(wire)
    assert wire.a.detection_time == 3.0
    wire.drop("b")
    wire.a.set_profile(Profile(receive_interval_ms=100), wire.now)
    assert wire.a.detection_time == 3.0
    wire.cut_from.clear()
    wire.run_until(wire.now + 1.0)
    assert wire.a.detection_time == pytest.approx(0.9)
    assert wire.a.state is State.UP


def test_change_during_poll_is_polled_after_final(wire: Wire) -> None:
    up(wire)
    wire.drop("b")
    wire.a.set_profile(Profile(detect_multiplier=5), wire.now)
    wire.a.set_profile(Profile(detect_multiplier=7), wire.now)
    [datagram] = wire.a.packets_to_send(wire.a.get_timer() or 0.0)
    assert control(datagram.data).detect_mult == 5
    wire.cut_from.clear()
    wire.run_until(wire.now + 2.0)
    assert [type(e) for e in drain(wire.a)] == [PollCompleted, PollCompleted]
    assert wire.b.detection_time == pytest.approx(7 * 0.3)
    assert not wire.a.polling and wire.a.state is State.UP


def test_final_answers_poll_immediately(wire: Wire) -> None:
    up(wire)
    poll = ControlPacket(
        state=State.UP,
        diag=Diag.NONE,
        detect_mult=3,
        my_discriminator=B_DISCR,
        your_discriminator=A_DISCR,
        desired_min_tx_us=300_000,
        required_min_rx_us=300_000,
        required_min_echo_rx_us=0,
        poll=True,
    )
    assert wire.a.receive_packet(encode_control(poll), wire.now, 255) is None
    [datagram] = wire.a.packets_to_send(wire.now)
    answer = control(datagram.data)
    assert (answer.poll, answer.final) == (False, True)
    assert wire.a.packets_to_send(wire.now) == []


def test_ttl_rules() -> None:
    down = encode_control(ControlPacket(State.DOWN, Diag.NONE, 3, B_DISCR, 0, 1_000_000, 300_000, 0))
    single = Session(Profile(), A_DISCR, multihop=False, random=no_jitter, now=0.0)
    assert single.receive_packet(down, 0.0, 254) is DropReason.TTL_TOO_LOW
    assert single.receive_packet(down, 0.0, 255) is None
    multi = Session(Profile(minimum_ttl=250), A_DISCR, multihop=True, random=no_jitter, now=0.0)
    assert multi.receive_packet(down, 0.0, 249) is DropReason.TTL_TOO_LOW
    assert multi.receive_packet(down, 0.0, 250) is None
    assert multi.state is State.INIT


def test_session_level_drops() -> None:
    s = Session(Profile(), A_DISCR, multihop=False, random=no_jitter, now=0.0)

    def rx(**changes: object) -> DropReason | None:
        fields: dict[str, object] = {
            "state": State.DOWN,
            "diag": Diag.NONE,
            "detect_mult": 3,
            "my_discriminator": B_DISCR,
            "your_discriminator": 0,
            "desired_min_tx_us": 1_000_000,
            "required_min_rx_us": 300_000,
            "required_min_echo_rx_us": 0,
        }
        fields.update(changes)
        return s.receive_control(ControlPacket(**fields), 0.0, 255)  # type: ignore[arg-type]

    assert rx(your_discriminator=99) is DropReason.NO_SESSION
    assert rx(state=State.UP) is DropReason.ZERO_YOUR_DISCRIMINATOR
    assert rx(auth=AuthSection(1, b"\x01x")) is DropReason.AUTH_NOT_IN_USE
    assert s.receive_packet(b"\x20", 0.0, 255) is DropReason.TRUNCATED
    assert s.state is State.DOWN and s.remote_discriminator == 0


def test_remote_min_rx_zero_stops_periodic_tx(wire: Wire) -> None:
    up(wire)
    stop = ControlPacket(State.UP, Diag.NONE, 3, B_DISCR, A_DISCR, 300_000, 0, 0)
    wire.a.receive_control(stop, wire.now, 255)
    assert wire.a.packets_to_send(wire.now + 10) == []


def test_jitter_bounds() -> None:
    assert jittered(1.0, 3, 0.0) == 1.0
    assert jittered(1.0, 3, 0.999999) == pytest.approx(0.75, abs=1e-5)
    assert jittered(1.0, 1, 0.0) == pytest.approx(0.9)
    assert jittered(1.0, 1, 0.999999) == pytest.approx(0.75, abs=1e-5)


def test_jitter_applied_to_each_gap() -> None:
    s = Session(Profile(), A_DISCR, multihop=False, random=lambda: 0.5, now=0.0)
    s.packets_to_send(0.0)
    assert s.get_timer() == 0.875


def echo_wire() -> Wire:
    echo = Profile(echo_mode=True, echo_interval_ms=50, transmit_interval_ms=1000, receive_interval_ms=1000)
    return make_wire(a=echo, b=echo)


def test_echo_runs_while_up_and_detects_loss() -> None:
    wire = echo_wire()
    wire.run_until(2.0)
    assert wire.a.state is State.UP and wire.a.echo_active
    assert EchoChanged(True) in drain(wire.a)
    assert wire.a.echo_interval == 0.05 and wire.a.echo_detection_time == pytest.approx(0.15)
    # Control packets every second would take 3 s to notice; echoes notice in 150 ms.
    wire.drop("b")
    cut = wire.now
    wire.run_until(cut + 0.2)
    events = drain(wire.a)
    assert StateChanged(State.UP, State.DOWN, Diag.ECHO_FUNCTION_FAILED) in events
    assert EchoChanged(False) in events
    assert not wire.a.echo_active


def test_echo_needs_peer_consent() -> None:
    wire = make_wire(a=Profile(echo_mode=True))
    wire.run_until(2.0)
    assert wire.a.state is State.UP and not wire.a.echo_active
    assert [d for d in wire.a.packets_to_send(wire.now) if d.channel is Channel.ECHO] == []


def test_foreign_or_stale_echo_rejected() -> None:
    wire = echo_wire()
    wire.run_until(2.0)
    assert wire.a.receive_echo(encode_echo(EchoPacket(B_DISCR, 1, 0)), wire.now) is DropReason.ECHO_NOT_OURS
    assert wire.a.receive_echo(encode_echo(EchoPacket(A_DISCR, 10**9, 0)), wire.now) is (
        DropReason.ECHO_NOT_OURS
    )
    assert wire.a.receive_echo(b"junk", wire.now) is DropReason.ECHO_MALFORMED


def test_discriminator_must_be_nonzero() -> None:
    with pytest.raises(ValueError):
        Session(Profile(), 0, multihop=False, random=no_jitter, now=0.0)


def test_profile_ranges() -> None:
    for bad in (
        {"receive_interval_ms": 9},
        {"transmit_interval_ms": 60_001},
        {"echo_interval_ms": 5},
        {"detect_multiplier": 1},
        {"minimum_ttl": 255},
    ):
        with pytest.raises(ValueError):
            Profile(**bad)  # type: ignore[arg-type]
