"""One BFD session in asynchronous mode (RFC 5880), single hop (RFC 5881) or multihop (RFC 5883).

Sans-I/O in the aioquic style: the caller feeds received bytes and the current monotonic time, drains
`packets_to_send(now)` and `next_event()`, and arms one timer at `get_timer()`, calling
`handle_timer(now)` when it fires. Randomness (transmit jitter) comes from the injected `random`
callable, so tests replay exact timer values.

Timer bookkeeping follows RFC 5880 §6.8.3. Three sets of values exist for our own intervals:
* the target: what the profile asks for, with Desired Min TX raised to 1 s while not Up;
* advertised: what our packets carry; while Up a change is advertised with the Poll bit set;
* effective: what we use ourselves. A faster transmit rate or a longer receive tolerance takes effect at
  once; a slower transmit rate or a shorter receive tolerance only when the Poll Sequence ends, so the
  peer never detects a failure that is only a renegotiation.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from bfd.events import EchoChanged, Event, PollCompleted, StateChanged
from bfd.fsm import RECEIVED, Input, Transition, transition
from bfd.packet import (
    ControlPacket,
    Diag,
    DropReason,
    EchoPacket,
    State,
    decode_control,
    decode_echo,
    encode_control,
    encode_echo,
)
from bfd.profile import Profile

_US = 1_000_000
# RFC 5880 §6.8.3: "When bfd.SessionState is not Up, the system MUST set bfd.DesiredMinTxInterval to a
# value of not less than one second (1,000,000 microseconds)".
SLOW_TX_US = 1_000_000
# RFC 5881 §5: single-hop packets are sent with TTL 255 and received ones below 255 are dropped.
SINGLE_HOP_TTL = 255
# How many of our most recent echo sequence numbers are still accepted when they come back.
_ECHO_WINDOW = 64


class Channel(enum.Enum):
    CONTROL = "control"
    ECHO = "echo"


@dataclass(frozen=True, slots=True)
class Datagram:
    channel: Channel
    data: bytes


@dataclass(frozen=True, slots=True)
class _Params:
    """Our side of the negotiation, as carried in a control packet (µs for intervals)."""

    desired_min_tx_us: int
    required_min_rx_us: int
    detect_mult: int
    required_min_echo_rx_us: int


def jittered(interval: float, detect_mult: int, r: float) -> float:
    """RFC 5880 §6.8.7 transmit jitter for one packet, `r` uniform in [0, 1)."""
    if detect_mult == 1:
        # "If bfd.DetectMult is equal to 1, the interval ... MUST be no more than 90% of the negotiated
        # transmission interval, and MUST be no less than 75%".
        return interval * (0.9 - 0.15 * r)
    # "the interval MUST be reduced by a random value of 0 to 25%".
    return interval * (1.0 - 0.25 * r)


class Session:
    def __init__(
        self,
        profile: Profile,
        local_discriminator: int,
        *,
        multihop: bool,
        random: Callable[[], float],
        now: float,
    ) -> None:
        if not 0 < local_discriminator <= 0xFFFFFFFF:
            raise ValueError("RFC 5880 §6.8.1: bfd.LocalDiscr must be a nonzero 32-bit value")
        self._profile = profile
        self._multihop = multihop
        self._random = random
        self._events: deque[Event] = deque()
        # RFC 5880 §6.8.1 state variables and their initial values.
        self._state = State.DOWN
        self._diag: int = Diag.NONE
        self._local_discr = local_discriminator
        self._remote_discr = 0
        self._remote_state = State.DOWN
        self._remote_demand = False
        self._remote_min_rx_us = 1
        self._remote_min_tx_us = 0
        self._remote_min_echo_rx_us = 0
        # Zero until a packet arrives: no Detection Time can be computed before that.
        self._remote_detect_mult = 0
        target = self._target()
        self._advertised = target
        self._effective_tx_us = target.desired_min_tx_us
        self._effective_rx_us = target.required_min_rx_us
        self._polling = False
        self._final_pending = False
        self._tx_deadline: float | None = None
        self._tx_interval_used = self.tx_interval
        self._detect_deadline: float | None = None
        self._echo_active = False
        self._echo_sequence = 0
        self._echo_tx_deadline: float | None = None
        self._echo_detect_deadline: float | None = None
        self._refresh_tx(now)

    # --- read-only view -------------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def diag(self) -> int:
        return self._diag

    @property
    def local_discriminator(self) -> int:
        return self._local_discr

    @property
    def remote_discriminator(self) -> int:
        return self._remote_discr

    @property
    def remote_state(self) -> State:
        return self._remote_state

    @property
    def profile(self) -> Profile:
        return self._profile

    @property
    def multihop(self) -> bool:
        return self._multihop

    @property
    def polling(self) -> bool:
        return self._polling

    @property
    def echo_active(self) -> bool:
        return self._echo_active

    @property
    def tx_interval(self) -> float:
        """RFC 5880 §6.8.7: the greater of bfd.DesiredMinTxInterval and bfd.RemoteMinRxInterval."""
        return max(self._effective_tx_us, self._remote_min_rx_us) / _US

    @property
    def detection_time(self) -> float | None:
        """RFC 5880 §6.8.4: the peer's Detect Mult times the greater of bfd.RequiredMinRxInterval and
        the peer's last Desired Min TX Interval; None before the first packet."""
        if self._remote_detect_mult == 0:
            return None
        return self._remote_detect_mult * max(self._effective_rx_us, self._remote_min_tx_us) / _US

    @property
    def echo_interval(self) -> float:
        """Our echo transmit interval: echoInterval, but no faster than the peer can loop them back."""
        return max(self._profile.echo_interval_ms * 1000, self._remote_min_echo_rx_us) / _US

    @property
    def echo_detection_time(self) -> float:
        return self._profile.detect_multiplier * self.echo_interval

    # --- inputs ---------------------------------------------------------------------------------

    def receive_packet(self, data: bytes, now: float, ttl: int) -> DropReason | None:
        """Decode and process a datagram from the control port; `ttl` is the received TTL/hop limit."""
        packet = decode_control(data)
        if isinstance(packet, DropReason):
            return packet
        return self.receive_control(packet, now, ttl)

    def receive_control(self, packet: ControlPacket, now: float, ttl: int) -> DropReason | None:
        """RFC 5880 §6.8.6 for a packet that passed `decode_control` and was demultiplexed to us."""
        # RFC 5881 §5 (GTSM): single hop requires TTL 255; RFC 5883 §2: multihop checks a configured
        # minimum instead.
        if ttl < (self._profile.minimum_ttl if self._multihop else SINGLE_HOP_TTL):
            return DropReason.TTL_TOO_LOW
        if packet.your_discriminator not in (0, self._local_discr):
            return DropReason.NO_SESSION
        # RFC 5880 §6.8.6: "If the Your Discriminator field is zero and the State field is not Down or
        # AdminDown, the packet MUST be discarded."
        if packet.your_discriminator == 0 and packet.state not in (State.DOWN, State.ADMIN_DOWN):
            return DropReason.ZERO_YOUR_DISCRIMINATOR
        # RFC 5880 §6.8.6: "If the A bit is set and no authentication is in use (bfd.AuthType is zero),
        # the packet MUST be discarded." lbd configures no authentication.
        if packet.auth is not None:
            return DropReason.AUTH_NOT_IN_USE
        # RFC 5880 §6.8.6: record the peer's view.
        self._remote_discr = packet.my_discriminator
        self._remote_state = packet.state
        self._remote_demand = packet.demand
        self._remote_min_rx_us = packet.required_min_rx_us
        self._remote_min_tx_us = packet.desired_min_tx_us
        self._remote_min_echo_rx_us = packet.required_min_echo_rx_us
        self._remote_detect_mult = packet.detect_mult
        # "If a Poll Sequence is being transmitted by the local system and the Final (F) bit in the
        # received packet is set, the Poll Sequence MUST be terminated."
        if packet.final and self._polling:
            self._finish_poll(now)
        if self._state is not State.ADMIN_DOWN:
            self._apply(transition(self._state, RECEIVED[packet.state]), now)
            # "If the Poll (P) bit is set, send a BFD Control packet to the remote system with the Poll
            # (P) bit clear, and the Final (F) bit set".
            if packet.poll:
                self._final_pending = True
        # "If the packet was not discarded, it has been received for purposes of the Detection Time
        # expiration rules in section 6.8.4."
        detection = self.detection_time
        self._detect_deadline = None if detection is None else now + detection
        self._update_echo(now)
        self._refresh_tx(now)
        return None

    def receive_echo(self, data: bytes, now: float) -> DropReason | None:
        """An echo packet came back to our echo port; it proves the forwarding path both ways."""
        packet = decode_echo(data)
        if isinstance(packet, DropReason):
            return packet
        if (
            not self._echo_active
            or packet.my_discriminator != self._local_discr
            or not self._echo_sequence - _ECHO_WINDOW < packet.sequence <= self._echo_sequence
        ):
            return DropReason.ECHO_NOT_OURS
        self._echo_detect_deadline = now + self.echo_detection_time
        return None

    def handle_timer(self, now: float) -> None:
        if self._detect_deadline is not None and now >= self._detect_deadline:
            self._detect_deadline = None
            # RFC 5880 §6.8.1: bfd.RemoteDiscr "MUST be set to zero" after a Detection Time without
            # packets, in every state; our packets then carry Your Discriminator 0 again.
            self._remote_discr = 0
            self._apply(transition(self._state, Input.DETECTION_TIMEOUT), now)
        if self._echo_detect_deadline is not None and now >= self._echo_detect_deadline:
            self._echo_detect_deadline = None
            self._apply(transition(self._state, Input.ECHO_TIMEOUT), now)
        self._refresh_tx(now)

    def set_profile(self, profile: Profile, now: float) -> None:
        """Apply changed parameters; while Up they are renegotiated by a Poll Sequence, without a flap."""
        self._profile = profile
        self._update_params(now)
        self._update_echo(now)
        self._refresh_tx(now)

    def admin_down(self, now: float) -> None:
        """RFC 5880 §6.8.16: go AdminDown (diag 7); the peer sees AdminDown and goes Down."""
        self._apply(transition(self._state, Input.ADMIN_DOWN), now)
        self._refresh_tx(now)

    def enable(self, now: float) -> None:
        self._apply(transition(self._state, Input.ADMIN_UP), now)
        self._refresh_tx(now)

    # --- outputs --------------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        deadlines = [
            d
            for d in (
                self._tx_deadline,
                self._detect_deadline,
                self._echo_tx_deadline,
                self._echo_detect_deadline,
            )
            if d is not None
        ]
        return min(deadlines, default=None)

    def packets_to_send(self, now: float) -> list[Datagram]:
        out: list[Datagram] = []
        if self._final_pending:
            # RFC 5880 §6.8.7: the Final goes out "as soon as practicable, without respect to the
            # transmission timer", and never carries the Poll bit.
            self._final_pending = False
            out.append(Datagram(Channel.CONTROL, self._control(poll=False, final=True)))
        if self._tx_deadline is not None and now >= self._tx_deadline:
            out.append(Datagram(Channel.CONTROL, self._control(poll=self._polling, final=False)))
            self._tx_deadline = now + self._next_tx_gap()
        if self._echo_tx_deadline is not None and now >= self._echo_tx_deadline:
            self._echo_sequence += 1
            echo = EchoPacket(self._local_discr, self._echo_sequence, round(now * _US))
            out.append(Datagram(Channel.ECHO, encode_echo(echo)))
            self._echo_tx_deadline = now + self.echo_interval
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    # --- internals ------------------------------------------------------------------------------

    def _control(self, *, poll: bool, final: bool) -> bytes:
        adv = self._advertised
        return encode_control(
            ControlPacket(
                state=self._state,
                diag=self._diag,
                detect_mult=adv.detect_mult,
                my_discriminator=self._local_discr,
                your_discriminator=self._remote_discr,
                desired_min_tx_us=adv.desired_min_tx_us,
                required_min_rx_us=adv.required_min_rx_us,
                required_min_echo_rx_us=adv.required_min_echo_rx_us,
                poll=poll,
                final=final,
            )
        )

    def _next_tx_gap(self) -> float:
        return jittered(self.tx_interval, self._advertised.detect_mult, self._random())

    def _target(self) -> _Params:
        p = self._profile
        tx = p.transmit_interval_ms * 1000
        return _Params(
            desired_min_tx_us=tx if self._state is State.UP else max(tx, SLOW_TX_US),
            required_min_rx_us=p.receive_interval_ms * 1000,
            detect_mult=p.detect_multiplier,
            # RFC 5880 §6.8.1 bfd.RequiredMinEchoRxInterval: nonzero tells the peer we loop its echo
            # packets back (the kernel forwards them; see docs/bfd-design.md).
            required_min_echo_rx_us=p.echo_interval_ms * 1000 if p.echo_mode else 0,
        )

    def _update_params(self, now: float) -> None:
        target = self._target()
        if self._state is not State.UP:
            # Nothing depends on our timers yet, so changes apply at once and any Poll is moot.
            self._polling = False
            self._advertised = target
            self._effective_tx_us = target.desired_min_tx_us
            self._effective_rx_us = target.required_min_rx_us
            return
        if self._polling or target == self._advertised:
            # RFC 5880 §6.5: one Poll Sequence at a time; a later change waits for the Final.
            return
        # RFC 5880 §6.8.3: "If either bfd.DesiredMinTxInterval is changed or bfd.RequiredMinRxInterval
        # is changed, a Poll Sequence MUST be initiated". lbd also polls for Detect Mult and echo
        # changes so the peer's acknowledgement covers every parameter.
        self._polling = True
        self._advertised = target
        # "If bfd.DesiredMinTxInterval is increased ... the actual transmission interval used MUST NOT
        # change until the Poll Sequence ... has terminated"; a decrease is safe at once.
        self._effective_tx_us = min(self._effective_tx_us, target.desired_min_tx_us)
        # "If bfd.RequiredMinRxInterval is reduced ... the previous value ... MUST be used when
        # calculating the Detection Time ... until the Poll Sequence ... has terminated".
        self._effective_rx_us = max(self._effective_rx_us, target.required_min_rx_us)
        self._refresh_tx(now)

    def _finish_poll(self, now: float) -> None:
        self._polling = False
        self._effective_tx_us = self._advertised.desired_min_tx_us
        self._effective_rx_us = self._advertised.required_min_rx_us
        self._events.append(PollCompleted(self.tx_interval, self.detection_time))
        self._update_params(now)

    def _apply(self, step: Transition, now: float) -> None:
        if step.diag is not None:
            self._diag = step.diag
        if step.state is self._state:
            return
        old, self._state = self._state, step.state
        self._events.append(StateChanged(old, step.state, self._diag))
        self._update_params(now)
        self._update_echo(now)

    def _update_echo(self, now: float) -> None:
        # RFC 5880 §6.8.9: echo runs only while Up, and "If the Required Min Echo RX Interval field is
        # zero, the transmission of Echo packets, if any, MUST cease."
        active = self._profile.echo_mode and self._state is State.UP and self._remote_min_echo_rx_us > 0
        if active == self._echo_active:
            return
        self._echo_active = active
        if active:
            self._echo_tx_deadline = now
            self._echo_detect_deadline = now + self.echo_detection_time
        else:
            self._echo_tx_deadline = self._echo_detect_deadline = None
        self._events.append(EchoChanged(active))

    def _sends_periodically(self) -> bool:
        # RFC 5880 §6.8.7: "A system MUST NOT transmit BFD Control packets if bfd.RemoteDiscr is zero
        # and the system is taking the Passive role" and "MUST NOT periodically transmit BFD Control
        # packets if bfd.RemoteMinRxInterval is zero"; nor while the peer's Demand mode is active.
        if self._profile.passive_mode and self._remote_discr == 0:
            return False
        if self._remote_min_rx_us == 0:
            return False
        return not (self._remote_demand and self._state is State.UP and self._remote_state is State.UP)

    def _refresh_tx(self, now: float) -> None:
        if not self._sends_periodically():
            self._tx_deadline = None
            return
        interval = self.tx_interval
        if self._tx_deadline is None:
            # Start (or resume) periodic transmission with a packet now.
            self._tx_deadline = now
        elif interval < self._tx_interval_used:
            # A faster rate takes effect without waiting out the slower gap already scheduled.
            self._tx_deadline = min(self._tx_deadline, now + self._next_tx_gap())
        self._tx_interval_used = interval
