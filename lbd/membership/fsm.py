"""The state of one member as seen by this node: one table holding every transition.

Theory of operation
-------------------
Every member sends every other member a heartbeat each `interval`. Each heartbeat also carries, for every
member the sender hears directly, how long ago it last heard it (a relay entry). A member is therefore
heard over several paths: directly, and through each other member. Its *age* is the time since the
freshest of them. A member that falls silent on the direct path is probed (heartbeats asking for an
immediate answer, several per interval) until it answers or is declared dead.

* DEAD: not heard since this node started, or silent for longer than the failure timeout. Also the
  initial state. Not live.
* ALIVE: heard within the suspicion threshold. Live.
* SUSPECT: silent for longer than the suspicion threshold but not yet the failure timeout. Still live:
  suspicion only shows in `lbd status` and in the counters; it never changes the election.
* LEFT: said goodbye (a leave message). Not live. Only a new incarnation (a restart) brings it back, so a
  late heartbeat or a stale relay of the old one cannot.

Inputs are a fresh direct message of the incarnation we know (DIRECT), a fresh direct message of a new
incarnation (NEW_LIFE: the member restarted), a relay entry fresher than one interval (RELAY), the age
crossing the suspicion threshold (SUSPECT_TIMEOUT) or the failure timeout (FAILURE_TIMEOUT), and a leave
message (LEAVE). "Fresh" means authenticated, newer than anything heard from that member before, and, for
a new incarnation, echoing our own current incarnation (see `lbd.membership.core`). Every (state, input)
pair is in `TABLE`; `transition` raises for a missing one, which would be a bug in lbd.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class MemberState(enum.Enum):
    ALIVE = "alive"
    SUSPECT = "suspect"
    DEAD = "dead"
    LEFT = "left"

    @property
    def live(self) -> bool:
        return self in (MemberState.ALIVE, MemberState.SUSPECT)


class Input(enum.Enum):
    DIRECT = "heard directly"
    NEW_LIFE = "heard directly, new incarnation"
    RELAY = "heard through another member"
    SUSPECT_TIMEOUT = "silent past the suspicion threshold"
    FAILURE_TIMEOUT = "silent past the failure timeout"
    LEAVE = "said goodbye"


class Emit(enum.Enum):
    """Which event a transition reports (see `lbd.membership.events`)."""

    NONE = "none"
    UP = "up"
    SUSPECT = "suspect"
    DOWN = "down"
    LEFT = "left"


@dataclass(frozen=True, slots=True)
class Transition:
    state: MemberState
    emit: Emit = Emit.NONE


_A, _S, _D, _L = MemberState.ALIVE, MemberState.SUSPECT, MemberState.DEAD, MemberState.LEFT
_STAY_A, _STAY_D, _STAY_L = Transition(_A), Transition(_D), Transition(_L)
_UP = Transition(_A, Emit.UP)
_GONE = Transition(_L, Emit.LEFT)

TABLE: dict[tuple[MemberState, Input], Transition] = {
    (_A, Input.DIRECT): _STAY_A,
    # A restart shorter than the failure timeout: still live, but reported so the log shows it.
    (_A, Input.NEW_LIFE): _UP,
    (_A, Input.RELAY): _STAY_A,
    (_A, Input.SUSPECT_TIMEOUT): Transition(_S, Emit.SUSPECT),
    (_A, Input.FAILURE_TIMEOUT): Transition(_D, Emit.DOWN),
    (_A, Input.LEAVE): _GONE,
    (_S, Input.DIRECT): _UP,
    (_S, Input.NEW_LIFE): _UP,
    (_S, Input.RELAY): _UP,
    (_S, Input.SUSPECT_TIMEOUT): Transition(_S),
    (_S, Input.FAILURE_TIMEOUT): Transition(_D, Emit.DOWN),
    (_S, Input.LEAVE): _GONE,
    # A partition heals: the member's heartbeats (or another member's relays) get through again.
    (_D, Input.DIRECT): _UP,
    (_D, Input.NEW_LIFE): _UP,
    (_D, Input.RELAY): _UP,
    (_D, Input.SUSPECT_TIMEOUT): _STAY_D,
    (_D, Input.FAILURE_TIMEOUT): _STAY_D,
    (_D, Input.LEAVE): Transition(_L),
    (_L, Input.DIRECT): _STAY_L,
    (_L, Input.NEW_LIFE): _UP,
    (_L, Input.RELAY): _STAY_L,
    (_L, Input.SUSPECT_TIMEOUT): _STAY_L,
    (_L, Input.FAILURE_TIMEOUT): _STAY_L,
    (_L, Input.LEAVE): _STAY_L,
}


def transition(state: MemberState, event: Input) -> Transition:
    return TABLE[(state, event)]
