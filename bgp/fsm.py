"""The BGP finite state machine: one table holding every transition (RFC 4271 §8).

Theory of operation
-------------------
RFC 4271 §8 describes one FSM per peer connection. lbd keeps that split literally:

* the *session* owns a base machine that lives in Idle, Connect or Active while no TCP connection exists.
  START moves it to Connect (dial, connect timer running) or, for a passive session, to Active (listen);
  a failed or timed-out dial moves Connect to Active with the ConnectRetry timer set to the current
  backoff, and its expiry dials again (Active -> Connect). STOP returns it to Idle.
* every TCP connection, inbound or outbound, gets its own copy of the machine, starting from the base
  state and immediately fed TCP_CONNECTED (-> OpenSent, our OPEN sent, hold timer at 4 minutes as §8.2.2
  suggests). Two copies may run at once: that is a connection collision, resolved when an OPEN arrives
  by comparing BGP Identifiers (§6.8), the loser being fed OPEN_COLLISION_DUMP. When the *peer* resolves
  it first and closes one with Cease/Connection Collision Resolution before Established, that is no
  failure: the session goes on in the other connection, or (when ours is still being dialled, as when
  both sides dial at once and the peer sees our OPEN first) the base machine waits in Connect with the
  ConnectRetry timer running instead of an idle hold that would throw the surviving connection away.

A connection ends in Idle (an error, a NOTIFICATION, hold expiry, STOP: the session counts a failure and
restarts automatically after an exponential backoff unless it was stopped) or Active (the TCP connection
failed in OpenSent, §8.2.2: listen and retry after the backoff). The base machine takes over from there
once no connection is left. The automatic restart waits in Idle (RFC 4271 §8.1.1 damping); STOP there
cancels it, and a peer connecting meanwhile is taken as a passive automatic start (event 7) rather than
refused, so a router that restarted gets its session back at once. While a connection exists the base
machine's timer is parked: no second dial is started on our side.

The table lists every (state, input) pair that RFC 4271 §8.2.2 defines for lbd. A pair missing from it is
an unexpected event: RFC 4271 §8.2.2's "any other event" rows plus RFC 6608, i.e. NOTIFICATION FSM Error
with the subcode naming the state (OpenSent 1, OpenConfirm 2, Established 3), close, and count a failure.
In Idle/Connect/Active no connection exists, so only the state change and the failure count remain.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from bgp.errors import FsmSubcode


class State(enum.IntEnum):
    """RFC 4271 §8.2.2; ordered by progress so a session reports its most advanced connection."""

    IDLE = 0
    CONNECT = 1
    ACTIVE = 2
    OPEN_SENT = 3
    OPEN_CONFIRM = 4
    ESTABLISHED = 5


class Input(enum.Enum):
    """RFC 4271 §8.1 events, merged where lbd does not distinguish them (event numbers in comments)."""

    START = "start"  # 1 ManualStart, 3 AutomaticStart
    START_PASSIVE = "start passive"  # 4/5 ManualStart/AutomaticStart_with_PassiveTcpEstablishment
    STOP = "stop"  # 2 ManualStop, 8 AutomaticStop
    CONNECT_RETRY_EXPIRES = "connect retry timer expired"  # 9
    HOLD_TIMER_EXPIRES = "hold timer expired"  # 10
    KEEPALIVE_TIMER_EXPIRES = "keepalive timer expired"  # 11
    TCP_CONNECTED = "TCP connection established"  # 16 Tcp_CR_Acked, 17 TcpConnectionConfirmed
    TCP_FAILS = "TCP connection failed"  # 18
    OPEN_OK = "valid OPEN received"  # 19 BGPOpen
    MESSAGE_ERROR = "header or OPEN error"  # 21 BGPHeaderErr, 22 BGPOpenMsgErr
    OPEN_COLLISION_DUMP = "connection collision lost"  # 23
    NOTIFICATION = "NOTIFICATION received"  # 24 NotifMsgVerErr, 25 NotifMsg
    # 25 NotifMsg with Cease/Connection Collision Resolution (RFC 4486 §4): the peer closed this one of
    # two connections; before Established the session lives on in the other one, or in our dial.
    COLLISION_NOTIFICATION = "NOTIFICATION Cease/Connection Collision Resolution received"
    KEEPALIVE = "KEEPALIVE received"  # 26
    UPDATE = "UPDATE received"  # 27
    UPDATE_ERROR = "UPDATE error requiring a session reset"  # 28
    ROUTE_REFRESH = "ROUTE-REFRESH received"  # RFC 2918 §4: a message of the Established state


class Action(enum.Enum):
    DIAL = "ask the adapter to connect; connect timer"
    RETRY_LATER = "ConnectRetry timer at the current backoff"
    STOP_RETRY = "stop the ConnectRetry timer (or, in Idle, the automatic restart)"
    SEND_OPEN = "send OPEN; hold timer at 4 minutes"
    SEND_KEEPALIVE = "send KEEPALIVE; restart the keepalive timer"
    ARM_TIMERS = "negotiated hold and keepalive timers"
    RESTART_HOLD = "restart the hold timer"
    NOTIFY_FSM = "send NOTIFICATION FSM Error (RFC 6608)"
    NOTIFY_CEASE = "send NOTIFICATION Cease with the stop subcode"
    NOTIFY_HOLD = "send NOTIFICATION Hold Timer Expired"
    NOTIFY_ERROR = "send NOTIFICATION for the detected error"
    NOTIFY_COLLISION = "send NOTIFICATION Cease/Connection Collision Resolution"
    CLOSE = "close the connection"
    FAIL = "count a failure (ConnectRetryCounter)"
    AWAIT_CONNECTION = "no failure: the other connection, or our dial, carries on; ConnectRetry timer"
    ESTABLISH = "session up: report, send our routes and End-of-RIB"
    PROCESS_UPDATE = "validate and report the peer's UPDATE"
    PROCESS_REFRESH = "re-send our routes"


@dataclass(frozen=True, slots=True)
class Transition:
    state: State
    actions: tuple[Action, ...] = ()


_I, _C, _A = State.IDLE, State.CONNECT, State.ACTIVE
_OS, _OC, _E = State.OPEN_SENT, State.OPEN_CONFIRM, State.ESTABLISHED
A = Action

TABLE: dict[tuple[State, Input], Transition] = {
    # §8.2.2 Idle: start moves on; every other event is ignored, and a connection attempt is refused.
    **{(_I, i): Transition(_I) for i in Input},
    (_I, Input.START): Transition(_C, (A.DIAL,)),
    (_I, Input.START_PASSIVE): Transition(_A),
    (_I, Input.TCP_CONNECTED): Transition(_I, (A.CLOSE,)),
    (_I, Input.STOP): Transition(_I, (A.STOP_RETRY,)),  # also cancels a pending automatic restart
    # §8.2.2 Connect.
    (_C, Input.START): Transition(_C),
    (_C, Input.START_PASSIVE): Transition(_C),
    (_C, Input.STOP): Transition(_I, (A.STOP_RETRY,)),
    (_C, Input.CONNECT_RETRY_EXPIRES): Transition(_A, (A.RETRY_LATER,)),  # dial timed out: as TCP_FAILS
    (_C, Input.TCP_CONNECTED): Transition(_OS, (A.STOP_RETRY, A.SEND_OPEN)),
    (_C, Input.TCP_FAILS): Transition(_A, (A.RETRY_LATER,)),
    # §8.2.2 Active.
    (_A, Input.START): Transition(_A),
    (_A, Input.START_PASSIVE): Transition(_A),
    (_A, Input.STOP): Transition(_I, (A.STOP_RETRY,)),
    (_A, Input.CONNECT_RETRY_EXPIRES): Transition(_C, (A.DIAL,)),
    (_A, Input.TCP_CONNECTED): Transition(_OS, (A.STOP_RETRY, A.SEND_OPEN)),
    (_A, Input.TCP_FAILS): Transition(_A),  # a late report of a dial given up: still listening
    # §8.2.2 OpenSent.
    (_OS, Input.START): Transition(_OS),
    (_OS, Input.START_PASSIVE): Transition(_OS),
    (_OS, Input.STOP): Transition(_I, (A.NOTIFY_CEASE, A.CLOSE)),
    (_OS, Input.HOLD_TIMER_EXPIRES): Transition(_I, (A.NOTIFY_HOLD, A.CLOSE, A.FAIL)),
    (_OS, Input.TCP_FAILS): Transition(_A, (A.CLOSE, A.RETRY_LATER)),
    (_OS, Input.OPEN_OK): Transition(_OC, (A.SEND_KEEPALIVE, A.ARM_TIMERS)),
    (_OS, Input.MESSAGE_ERROR): Transition(_I, (A.NOTIFY_ERROR, A.CLOSE, A.FAIL)),
    (_OS, Input.OPEN_COLLISION_DUMP): Transition(_I, (A.NOTIFY_COLLISION, A.CLOSE)),
    (_OS, Input.NOTIFICATION): Transition(_I, (A.CLOSE, A.FAIL)),
    (_OS, Input.COLLISION_NOTIFICATION): Transition(_C, (A.CLOSE, A.AWAIT_CONNECTION)),
    # §8.2.2 OpenConfirm.
    (_OC, Input.START): Transition(_OC),
    (_OC, Input.START_PASSIVE): Transition(_OC),
    (_OC, Input.STOP): Transition(_I, (A.NOTIFY_CEASE, A.CLOSE)),
    (_OC, Input.HOLD_TIMER_EXPIRES): Transition(_I, (A.NOTIFY_HOLD, A.CLOSE, A.FAIL)),
    (_OC, Input.KEEPALIVE_TIMER_EXPIRES): Transition(_OC, (A.SEND_KEEPALIVE,)),
    (_OC, Input.TCP_FAILS): Transition(_I, (A.CLOSE, A.FAIL)),
    (_OC, Input.MESSAGE_ERROR): Transition(_I, (A.NOTIFY_ERROR, A.CLOSE, A.FAIL)),
    (_OC, Input.OPEN_COLLISION_DUMP): Transition(_I, (A.NOTIFY_COLLISION, A.CLOSE)),
    (_OC, Input.NOTIFICATION): Transition(_I, (A.CLOSE, A.FAIL)),
    (_OC, Input.COLLISION_NOTIFICATION): Transition(_C, (A.CLOSE, A.AWAIT_CONNECTION)),
    (_OC, Input.KEEPALIVE): Transition(_E, (A.RESTART_HOLD, A.ESTABLISH)),
    # §8.2.2 Established.
    (_E, Input.START): Transition(_E),
    (_E, Input.START_PASSIVE): Transition(_E),
    (_E, Input.STOP): Transition(_I, (A.NOTIFY_CEASE, A.CLOSE)),
    (_E, Input.HOLD_TIMER_EXPIRES): Transition(_I, (A.NOTIFY_HOLD, A.CLOSE, A.FAIL)),
    (_E, Input.KEEPALIVE_TIMER_EXPIRES): Transition(_E, (A.SEND_KEEPALIVE,)),
    (_E, Input.TCP_FAILS): Transition(_I, (A.CLOSE, A.FAIL)),
    (_E, Input.MESSAGE_ERROR): Transition(_I, (A.NOTIFY_ERROR, A.CLOSE, A.FAIL)),
    (_E, Input.OPEN_COLLISION_DUMP): Transition(_I, (A.NOTIFY_COLLISION, A.CLOSE)),
    (_E, Input.NOTIFICATION): Transition(_I, (A.CLOSE, A.FAIL)),
    (_E, Input.COLLISION_NOTIFICATION): Transition(_I, (A.CLOSE, A.FAIL)),
    (_E, Input.KEEPALIVE): Transition(_E, (A.RESTART_HOLD,)),
    (_E, Input.UPDATE): Transition(_E, (A.RESTART_HOLD, A.PROCESS_UPDATE)),
    (_E, Input.UPDATE_ERROR): Transition(_I, (A.NOTIFY_ERROR, A.CLOSE, A.FAIL)),
    (_E, Input.ROUTE_REFRESH): Transition(_E, (A.RESTART_HOLD, A.PROCESS_REFRESH)),
}

# RFC 6608 §4: the FSM Error subcode names the state that received the unexpected message.
FSM_SUBCODE: dict[State, FsmSubcode] = {
    State.OPEN_SENT: FsmSubcode.UNEXPECTED_IN_OPEN_SENT,
    State.OPEN_CONFIRM: FsmSubcode.UNEXPECTED_IN_OPEN_CONFIRM,
    State.ESTABLISHED: FsmSubcode.UNEXPECTED_IN_ESTABLISHED,
}

# RFC 4271 §8.2.2 "any other event" in Connect..Established, with RFC 6608's NOTIFICATION.
UNEXPECTED = Transition(State.IDLE, (Action.NOTIFY_FSM, Action.CLOSE, Action.FAIL))


def transition(state: State, event: Input) -> Transition:
    return TABLE.get((state, event), UNEXPECTED)
