"""The session does what the FSM table says for every (connection state, received message) pair."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from bgp import (
    CloseConnection,
    Keepalive,
    Message,
    Notification,
    Open,
    RouteRefresh,
    Session,
    State,
    Update,
    encode,
)
from bgp.capabilities import FourOctetAs, Multiprotocol, RouteRefreshCap
from bgp.codec import decode
from bgp.fsm import Action, Input, transition
from tests.unit.bgp.helpers import A_ADDR, B_ADDR, config, decode_all, drain

PEER_OPEN = Open(
    64513, 90, IPv4Address("192.0.2.2"), (Multiprotocol(1, 1), RouteRefreshCap(), FourOctetAs(64513))
)

MESSAGES: list[tuple[Message, Input]] = [
    (PEER_OPEN, Input.OPEN_OK),
    (Keepalive(), Input.KEEPALIVE),
    (Update(), Input.UPDATE),
    (RouteRefresh(1, 1), Input.ROUTE_REFRESH),
    (Notification(6, 2), Input.NOTIFICATION),
]


def session_in(state: State) -> Session:
    s = Session(config())
    s.start(0.0)
    s.connection_made(0.0, 1, A_ADDR, B_ADDR, outbound=True)
    if state >= State.OPEN_CONFIRM:
        s.data_received(0.0, 1, encode(PEER_OPEN))
    if state >= State.ESTABLISHED:
        s.data_received(0.0, 1, encode(Keepalive()))
    assert s.state == state
    s.data_to_send()
    drain(s)
    return s


@pytest.mark.parametrize("state", [State.OPEN_SENT, State.OPEN_CONFIRM, State.ESTABLISHED])
@pytest.mark.parametrize(("msg", "event"), MESSAGES)
def test_received_message_follows_the_table(state: State, msg: Message, event: Input) -> None:
    s = session_in(state)
    s.data_received(1.0, 1, encode(msg))
    step = transition(state, event)
    assert s.state == step.state
    sent = [m for m in decode_all([d for _, d in s.data_to_send()]) if isinstance(m, Notification)]
    if Action.NOTIFY_FSM in step.actions:
        # RFC 6608: subcode = the state that got the unexpected message.
        assert sent == [
            Notification(5, {State.OPEN_SENT: 1, State.OPEN_CONFIRM: 2, State.ESTABLISHED: 3}[state])
        ]
    else:
        assert sent == []
    closed = [e for e in drain(s) if isinstance(e, CloseConnection)]
    assert bool(closed) == (Action.CLOSE in step.actions)


def test_keepalive_in_open_sent_is_5_1_on_the_wire() -> None:
    s = session_in(State.OPEN_SENT)
    s.data_received(1.0, 1, encode(Keepalive()))
    ((_, data),) = s.data_to_send()
    assert decode(data) == Notification(5, 1)
