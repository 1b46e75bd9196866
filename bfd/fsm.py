"""The BFD session state machine: one table holding every transition (RFC 5880 §6.2, §6.8.6).

Theory of operation
-------------------
A session is in one of four states (RFC 5880 §6.2): AdminDown (we turned it off), Down (no working
path, or not yet learned), Init (we hear the peer but it does not yet hear us) and Up. Three kinds of
input move it:

* the State field of a valid control packet from the peer (RFC 5880 §6.8.6): a peer in Down moves us
  from Down to Init (the three-way handshake's first step), a peer in Init or Up completes it, and a
  peer saying AdminDown or Down while we are Init/Up is "Neighbor Signaled Session Down";
* timers (RFC 5880 §6.8.4): no control packet for a Detection Time while Init/Up, or no echo packet
  back for the echo detection time while Up (§6.4), take the session Down with the matching diagnostic;
* the operator (RFC 5880 §6.8.16): administratively down from any state, and back to Down on enable.

Every (state, input) pair appears in `TABLE`; a pair missing from it is a bug in lbd, not something the
peer can cause, so `transition` raises for it. `Transition.diag` is the new bfd.LocalDiag; None keeps
the current one. Arriving in Up clears the diagnostic (the reason for the last Down no longer applies),
as FRR bfdd does.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from bfd.packet import Diag, State


class Input(enum.Enum):
    RX_ADMIN_DOWN = "peer says AdminDown"
    RX_DOWN = "peer says Down"
    RX_INIT = "peer says Init"
    RX_UP = "peer says Up"
    DETECTION_TIMEOUT = "control detection time expired"
    ECHO_TIMEOUT = "echo detection time expired"
    ADMIN_DOWN = "administratively disabled"
    ADMIN_UP = "administratively enabled"


RECEIVED: dict[State, Input] = {
    State.ADMIN_DOWN: Input.RX_ADMIN_DOWN,
    State.DOWN: Input.RX_DOWN,
    State.INIT: Input.RX_INIT,
    State.UP: Input.RX_UP,
}


@dataclass(frozen=True, slots=True)
class Transition:
    state: State
    diag: Diag | None = None


_A, _D, _I, _U = State.ADMIN_DOWN, State.DOWN, State.INIT, State.UP
_STAY_A, _STAY_D, _STAY_I, _STAY_U = Transition(_A), Transition(_D), Transition(_I), Transition(_U)
_UP = Transition(_U, Diag.NONE)
_NEIGHBOR_DOWN = Transition(_D, Diag.NEIGHBOR_SIGNALED_SESSION_DOWN)
_ADMIN = Transition(_A, Diag.ADMINISTRATIVELY_DOWN)

TABLE: dict[tuple[State, Input], Transition] = {
    # RFC 5880 §6.8.6: "If bfd.SessionState is AdminDown: Discard the packet"; timers do not run a
    # disabled session's state. Enabling goes to Down with a fresh diagnostic.
    (_A, Input.RX_ADMIN_DOWN): _STAY_A,
    (_A, Input.RX_DOWN): _STAY_A,
    (_A, Input.RX_INIT): _STAY_A,
    (_A, Input.RX_UP): _STAY_A,
    (_A, Input.DETECTION_TIMEOUT): _STAY_A,
    (_A, Input.ECHO_TIMEOUT): _STAY_A,
    (_A, Input.ADMIN_DOWN): _STAY_A,
    (_A, Input.ADMIN_UP): Transition(_D, Diag.NONE),
    # RFC 5880 §6.8.6: "If bfd.SessionState is Down: If received State is Down, set bfd.SessionState to
    # Init; Else if received State is Init, set bfd.SessionState to Up". An Up peer must first see us.
    (_D, Input.RX_ADMIN_DOWN): _STAY_D,
    (_D, Input.RX_DOWN): Transition(_I),
    (_D, Input.RX_INIT): _UP,
    (_D, Input.RX_UP): _STAY_D,
    (_D, Input.DETECTION_TIMEOUT): _STAY_D,
    (_D, Input.ECHO_TIMEOUT): _STAY_D,
    (_D, Input.ADMIN_DOWN): _ADMIN,
    (_D, Input.ADMIN_UP): _STAY_D,
    # RFC 5880 §6.8.6: "Else if bfd.SessionState is Init: If received State is Init or Up, set
    # bfd.SessionState to Up"; a received AdminDown takes any non-Down session Down with diag 3.
    (_I, Input.RX_ADMIN_DOWN): _NEIGHBOR_DOWN,
    (_I, Input.RX_DOWN): _STAY_I,
    (_I, Input.RX_INIT): _UP,
    (_I, Input.RX_UP): _UP,
    # RFC 5880 §6.8.4: Detection Time expiry in Init or Up -> Down, diag 1.
    (_I, Input.DETECTION_TIMEOUT): Transition(_D, Diag.CONTROL_DETECTION_TIME_EXPIRED),
    # Echo runs only while Up (RFC 5880 §6.4), so a late echo timeout changes nothing here.
    (_I, Input.ECHO_TIMEOUT): _STAY_I,
    (_I, Input.ADMIN_DOWN): _ADMIN,
    (_I, Input.ADMIN_UP): _STAY_I,
    # RFC 5880 §6.8.6: "Else (bfd.SessionState is Up): If received State is Down, set bfd.LocalDiag to 3
    # (Neighbor signaled session down), set bfd.SessionState to Down".
    (_U, Input.RX_ADMIN_DOWN): _NEIGHBOR_DOWN,
    (_U, Input.RX_DOWN): _NEIGHBOR_DOWN,
    (_U, Input.RX_INIT): _STAY_U,
    (_U, Input.RX_UP): _STAY_U,
    (_U, Input.DETECTION_TIMEOUT): Transition(_D, Diag.CONTROL_DETECTION_TIME_EXPIRED),
    # RFC 5880 §6.8.5: echo loss with the Echo function active -> Down, diag 2.
    (_U, Input.ECHO_TIMEOUT): Transition(_D, Diag.ECHO_FUNCTION_FAILED),
    (_U, Input.ADMIN_DOWN): _ADMIN,
    (_U, Input.ADMIN_UP): _STAY_U,
}


def transition(state: State, event: Input) -> Transition:
    return TABLE[(state, event)]
