"""Hypothesis over the decoders and the FSM: the only outcomes are a message, the RFC-prescribed error,
or a valid state; valid messages survive encode/decode unchanged."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bgp import (
    BgpError,
    CodecContext,
    Keepalive,
    Message,
    MessageReader,
    Notification,
    Open,
    Route,
    RouteRefresh,
    Session,
    State,
    Update,
    decode,
    encode,
)
from bgp.attributes import (
    AS_TRANS,
    Aggregator,
    As4Aggregator,
    As4Path,
    AsPath,
    AsPathSegment,
    AtomicAggregate,
    Attribute,
    ClusterList,
    Communities,
    Handling,
    LargeCommunities,
    LocalPref,
    MpReach,
    MpUnreach,
    MultiExitDisc,
    NextHop,
    Origin,
    OriginatorId,
    UnknownAttribute,
    type_code,
)
from bgp.capabilities import (
    Capability,
    FourOctetAs,
    GracefulRestart,
    GrFamily,
    Multiprotocol,
    RouteRefreshCap,
    UnknownCapability,
)
from bgp.codec import UpdateResult, decode_update
from bgp.fsm import TABLE, UNEXPECTED, Action, Input, transition
from bgp.messages import HEADER_LEN
from tests.unit.bgp.helpers import A_ADDR, B_ADDR, config, drain
from tests.unit.bgp.test_vectors import VECTORS, hx

u32 = st.integers(0, 0xFFFFFFFF)
u16 = st.integers(0, 0xFFFF)
ipv4 = st.builds(IPv4Address, u32)
ipv6 = st.builds(IPv6Address, st.integers(0, 2**128 - 1))


@st.composite
def v4_prefix(draw: st.DrawFn) -> IPv4Network:
    plen = draw(st.integers(0, 32))
    return IPv4Network((draw(u32) >> (32 - plen) << (32 - plen) if plen else 0, plen))


@st.composite
def v6_prefix(draw: st.DrawFn) -> IPv6Network:
    plen = draw(st.integers(0, 128))
    addr = draw(st.integers(0, 2**128 - 1))
    return IPv6Network((addr >> (128 - plen) << (128 - plen) if plen else 0, plen))


def segments(asn: st.SearchStrategy[int]) -> st.SearchStrategy[tuple[AsPathSegment, ...]]:
    seg = st.builds(AsPathSegment, st.integers(1, 4), st.lists(asn, min_size=1, max_size=8).map(tuple))
    return st.lists(seg, max_size=3).map(tuple)


def attributes(four_octet: bool) -> st.SearchStrategy[Attribute]:
    asn = u32 if four_octet else u16
    reach6 = st.builds(
        MpReach,
        st.just(2),
        st.just(1),
        st.one_of(st.tuples(ipv6), st.tuples(ipv6, ipv6)),
        st.lists(v6_prefix(), max_size=5).map(tuple),
    )
    reach4 = st.builds(
        MpReach, st.just(1), st.just(1), st.tuples(ipv4), st.lists(v4_prefix(), max_size=5).map(tuple)
    )
    options: list[st.SearchStrategy[Attribute]] = [
        st.builds(Origin, st.integers(0, 2)),
        st.builds(AsPath, segments(asn)),
        st.builds(NextHop, ipv4),
        st.builds(MultiExitDisc, u32),
        st.builds(LocalPref, u32),
        st.just(AtomicAggregate()),
        st.builds(Aggregator, asn, ipv4),
        st.builds(Communities, st.lists(u32, min_size=1, max_size=6).map(tuple)),
        st.builds(OriginatorId, ipv4),
        st.builds(ClusterList, st.lists(ipv4, min_size=1, max_size=4).map(tuple)),
        st.one_of(reach4, reach6),
        st.builds(MpUnreach, st.just(2), st.just(1), st.lists(v6_prefix(), max_size=5).map(tuple)),
        st.builds(LargeCommunities, st.lists(st.tuples(u32, u32, u32), min_size=1, max_size=4).map(tuple)),
        st.builds(
            UnknownAttribute,
            st.sampled_from([0x80, 0xC0, 0xE0]),
            st.integers(40, 255),
            st.binary(max_size=20),
        ),
    ]
    if not four_octet:
        options += [st.builds(As4Path, segments(u32)), st.builds(As4Aggregator, u32, ipv4)]
    return st.one_of(options)


@st.composite
def updates(draw: st.DrawFn, four_octet: bool) -> Update:
    attrs = draw(st.lists(attributes(four_octet), max_size=8, unique_by=type_code))
    return Update(
        tuple(draw(st.lists(v4_prefix(), max_size=5))),
        tuple(attrs),
        tuple(draw(st.lists(v4_prefix(), max_size=5))),
    )


capabilities: st.SearchStrategy[Capability] = st.one_of(
    st.builds(Multiprotocol, u16, st.integers(0, 255)),
    st.just(RouteRefreshCap()),
    st.builds(FourOctetAs, u32),
    st.builds(
        GracefulRestart,
        st.booleans(),
        st.integers(0, 4095),
        st.lists(st.builds(GrFamily, u16, st.integers(0, 255), st.booleans()), max_size=3).map(tuple),
    ),
    st.builds(UnknownCapability, st.integers(128, 255), st.binary(max_size=30)),
)

messages: st.SearchStrategy[Message] = st.one_of(
    st.builds(Open, u16, u16, ipv4, st.lists(capabilities, max_size=12).map(tuple)),
    st.just(Keepalive()),
    st.builds(Notification, st.integers(0, 255), st.integers(0, 255), st.binary(max_size=64)),
    st.builds(RouteRefresh, u16, st.integers(0, 255), st.integers(0, 255)),
)


@given(messages)
def test_messages_round_trip(msg: Message) -> None:
    assert decode(encode(msg)) == msg


@given(st.booleans().flatmap(lambda four: st.tuples(st.just(four), updates(four))))
def test_updates_round_trip(case: tuple[bool, Update]) -> None:
    four, upd = case
    ctx = CodecContext(four_octet_as=four)
    got = decode(encode(upd, ctx), ctx)
    assert isinstance(got, UpdateResult)
    assert got.handling in (Handling.OK, Handling.TREAT_AS_WITHDRAW)  # only missing mandatory attributes
    assert got.update == upd


def check_inbound(data: bytes, ctx: CodecContext) -> None:
    """Decoding gives messages or a BgpError with an RFC 4271 code; decoded messages are fixpoints."""
    reader = MessageReader(ctx)
    try:
        got = reader.feed(data)
    except BgpError as err:
        assert 1 <= err.code <= 3
        return
    for msg in got:
        if isinstance(msg, UpdateResult):
            if msg.handling is Handling.SESSION_RESET:
                assert msg.error is not None and msg.error.code == 3
                continue
            again = decode(encode(msg.update, ctx), ctx)
            assert isinstance(again, UpdateResult) and again.update == msg.update
        else:
            assert decode(encode(msg, ctx), ctx) == msg


contexts = st.builds(CodecContext, st.booleans(), st.just(frozenset({(1, 1), (2, 1)})), st.booleans())


@given(st.binary(max_size=300), contexts)
def test_random_streams(data: bytes, ctx: CodecContext) -> None:
    check_inbound(data, ctx)


@given(st.binary(max_size=600), contexts)
def test_random_update_bodies(body: bytes, ctx: CodecContext) -> None:
    if len(body) < 4:
        body = body.ljust(4, b"\x00")
    res = decode_update(body, ctx)
    if res.handling is Handling.SESSION_RESET:
        assert res.error is not None and res.error.code == 3
    else:
        again = decode(encode(res.update, ctx), ctx)
        assert isinstance(again, UpdateResult) and again.update == res.update


VALID_WIRES = [hx(w) for _, w in VECTORS if w is not None]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(VALID_WIRES)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "length"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[pos : pos + draw(st.integers(1, 8))]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
    # Keep the header length consistent half of the time so that bodies get parsed.
    if draw(st.booleans()) and len(data) >= HEADER_LEN:
        data[16:18] = min(len(data), 0xFFFF).to_bytes(2, "big")
    return bytes(data)


@settings(max_examples=400)
@given(mutated(), contexts)
def test_mutated_messages(data: bytes, ctx: CodecContext) -> None:
    check_inbound(data, ctx)


# FSM -----------------------------------------------------------------------------------------------------

MESSAGE_INPUTS = {Input.OPEN_OK, Input.KEEPALIVE, Input.UPDATE, Input.UPDATE_ERROR, Input.ROUTE_REFRESH}


@given(st.sampled_from(list(State)), st.sampled_from(list(Input)))
def test_every_state_input_pair_has_a_defined_outcome(state: State, event: Input) -> None:
    step = transition(state, event)
    assert step.state in State
    if (state, event) not in TABLE:
        assert step is UNEXPECTED
        # RFC 6608: only messages can be unexpected once a connection exists (the other inputs here are
        # never fed to a connection: it is connected once, and the timers named are not running then).
        if state >= State.OPEN_SENT:
            never_fed = {Input.TCP_CONNECTED, Input.KEEPALIVE_TIMER_EXPIRES, Input.CONNECT_RETRY_EXPIRES}
            assert event in MESSAGE_INPUTS | never_fed
    if Action.CLOSE in step.actions and state >= State.OPEN_SENT:
        # A connection the peer dropped for a collision hands back to our dial (Connect), nothing else.
        awaiting = Action.AWAIT_CONNECTION in step.actions
        assert step.state in ((State.CONNECT,) if awaiting else (State.IDLE, State.ACTIVE))


def test_table_covers_idle_completely_and_established_messages() -> None:
    assert all((State.IDLE, i) in TABLE for i in Input)
    for event in (Input.KEEPALIVE, Input.UPDATE, Input.ROUTE_REFRESH, Input.NOTIFICATION):
        assert (State.ESTABLISHED, event) in TABLE


wire_messages = st.sampled_from([*VALID_WIRES, b"\x00" * 19, hx("ff" * 16 + "0013 04")])
operations = st.one_of(
    st.tuples(st.just("start"), st.just(0)),
    st.tuples(st.just("stop"), st.integers(1, 10)),
    st.tuples(st.just("connect"), st.integers(1, 3)),
    st.tuples(st.just("lost"), st.integers(1, 3)),
    st.tuples(st.just("failed"), st.just(0)),
    st.tuples(
        st.just("data"), st.tuples(st.integers(1, 3), st.one_of(wire_messages, st.binary(max_size=40)))
    ),
    st.tuples(st.just("time"), st.floats(0, 300)),
    st.tuples(st.just("routes"), st.lists(v4_prefix(), max_size=3)),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operations, max_size=40))
def test_sessions_survive_any_sequence_of_inputs(ops: list[tuple[str, object]]) -> None:
    s = Session(config(hold_time=9))
    now = 0.0
    running = False
    for op, arg in ops:
        if op == "start":
            s.start(now)
            running = True
        elif op == "stop":
            s.stop(now, int(arg))  # type: ignore[call-overload]
            running = False
        elif op == "connect":
            s.connection_made(now, int(arg), A_ADDR, B_ADDR, outbound=int(arg) == 1)  # type: ignore[call-overload]
        elif op == "lost":
            s.connection_lost(now, int(arg))  # type: ignore[call-overload]
        elif op == "failed":
            s.connect_failed(now)
        elif op == "data":
            cid, data = arg  # type: ignore[misc]
            s.data_received(now, cid, data)
        elif op == "time":
            now += float(arg)  # type: ignore[arg-type]
            s.handle_timer(now)
        else:
            s.set_routes(now, [Route(p) for p in arg])  # type: ignore[attr-defined]
        timer = s.get_timer()
        assert timer is None or timer > now - 1e-9 or op != "time"
        drain(s)
        s.data_to_send()
        assert s.state in State
        assert (s.negotiated is not None) == (s.state == State.ESTABLISHED)
        # Liveness: a running session always has something to wait for (a dial, a retry, a restart or a
        # hold timer); a stopped one only its open connections' timers.
        if running:
            assert timer is not None, s.state
        elif s.state <= State.ACTIVE:
            assert s.state == State.IDLE and timer is None
    assert AS_TRANS == 23456
