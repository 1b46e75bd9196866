"""The wire format: round trips, exact layout, and arbitrary bytes into the decoder and the engine."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lbd.membership import (
    BadMac,
    DecodeError,
    Drop,
    HealthPage,
    Kind,
    Message,
    Relay,
    Timers,
    decode,
    encode,
    member_id,
)
from lbd.membership.codec import (
    HEADER_SIZE,
    HEALTH_HEADER_SIZE,
    MAC_SIZE,
    MAX_DATAGRAM,
    MAX_RELAYS,
    health_room,
)
from tests.unit.membership.sim import KEY, Cluster

ids = st.binary(min_size=8, max_size=8)
u64 = st.integers(0, 2**64 - 1)
u32 = st.integers(0, 2**32 - 1)
relays = st.builds(Relay, ids, u64, u32)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    """Any message that fits in a datagram: the health page gets the room the relays leave."""
    relay_list = tuple(draw(st.lists(relays, max_size=MAX_RELAYS)))
    page_ids = tuple(draw(st.lists(ids, max_size=health_room(len(relay_list)))))
    offset = draw(st.integers(0, 0xFFFF - len(page_ids)))
    total = draw(st.integers(offset + len(page_ids), 0xFFFF))
    page = HealthPage(draw(u32), draw(ids), total, offset, page_ids, draw(u32))
    return Message(
        draw(st.sampled_from(Kind)),
        draw(st.booleans()),
        draw(ids),
        draw(ids),
        draw(u64),
        draw(u64),
        draw(u64),
        draw(u64),
        draw(u32),
        relay_list,
        page,
    )


@given(messages())
def test_round_trip(message: Message) -> None:
    data = encode(message, KEY)
    size = HEADER_SIZE + 20 * len(message.relays) + HEALTH_HEADER_SIZE + 8 * len(message.health.ids)
    assert len(data) == size + MAC_SIZE <= MAX_DATAGRAM
    assert decode(data, KEY) == message


def test_health_room_at_the_extremes() -> None:
    # Two or three members (no or two relays) fit 140 or 135 ids; the most relays still leave 15.
    assert (health_room(0), health_room(2), health_room(MAX_RELAYS)) == (140, 135, 15)


def test_layout() -> None:
    message = Message(
        Kind.LEAVE, True, member_id("a"), member_id("b"), 7, 8, 9, 10, 11, (Relay(b"R" * 8, 12, 13),)
    )
    data = encode(message, KEY)
    assert data[:6] == b"LM\x02\x02\x01\x01"
    assert data[6:14] == hashlib.sha256(b"a").digest()[:8]
    assert data[22:30] == (7).to_bytes(8, "big")
    assert data[54:58] == (11).to_bytes(4, "big")
    assert data[58:78] == b"R" * 8 + (12).to_bytes(8, "big") + (13).to_bytes(4, "big")
    # A leave carries an empty health block.
    assert data[78:100] == bytes(22)
    assert data[-32:] == hmac.new(KEY, data[:-32], hashlib.sha256).digest()
    assert len(data) < 1280


def test_health_layout() -> None:
    page = HealthPage(5, b"D" * 8, 3, 1, (b"X" * 8, b"Y" * 8), 9)
    message = Message(Kind.HEARTBEAT, False, member_id("a"), member_id("b"), 7, 8, 0, 0, 0, (), page)
    data = encode(message, KEY)
    assert data[2] == 2
    assert data[58:80] == (
        (5).to_bytes(4, "big")
        + b"D" * 8
        + (3).to_bytes(2, "big")
        + (1).to_bytes(2, "big")
        + (2).to_bytes(2, "big")
        + (9).to_bytes(4, "big")
    )
    assert data[80:96] == b"X" * 8 + b"Y" * 8
    assert len(data) == 96 + MAC_SIZE


def test_health_page_outside_its_set_is_rejected() -> None:
    page = HealthPage(1, bytes(8), 2, 0, (b"X" * 8,), 0)
    body = encode(Message(Kind.HEARTBEAT, False, b"a" * 8, b"b" * 8, 1, 1, 0, 0, 0, (), page), KEY)[
        :-MAC_SIZE
    ]
    # total 2 -> 0: the one id lies outside the set.
    with pytest.raises(DecodeError, match="outside"):
        decode(_resigned(body[:70] + b"\0\0" + body[72:]), KEY)
    # k 1 -> 2 without a second id.
    with pytest.raises(DecodeError, match="health page"):
        decode(_resigned(body[:74] + b"\0\2" + body[76:]), KEY)
    with pytest.raises(ValueError):
        encode(
            Message(
                Kind.HEARTBEAT,
                False,
                b"a" * 8,
                b"b" * 8,
                1,
                1,
                0,
                0,
                0,
                (),
                HealthPage(1, bytes(8), 0, 0, (b"X" * 8,)),
            ),
            KEY,
        )
    too_many = tuple(bytes([i]) * 8 for i in range(141))
    with pytest.raises(ValueError):
        encode(
            Message(
                Kind.HEARTBEAT,
                False,
                b"a" * 8,
                b"b" * 8,
                1,
                1,
                0,
                0,
                0,
                (),
                HealthPage(1, bytes(8), 141, 0, too_many),
            ),
            KEY,
        )


def test_too_many_relays_is_our_bug() -> None:
    message = Message(Kind.HEARTBEAT, False, b"a" * 8, b"b" * 8, 1, 1, 0, 0, 0, (Relay(b"c" * 8, 1, 1),) * 51)
    with pytest.raises(ValueError):
        encode(message, KEY)


def _resigned(body: bytes) -> bytes:
    return body + hmac.new(KEY, body, hashlib.sha256).digest()


def test_authentic_but_invalid_fields_are_rejected() -> None:
    good = encode(Message(Kind.HEARTBEAT, False, b"a" * 8, b"b" * 8, 1, 1, 0, 0, 0), KEY)[:-MAC_SIZE]
    with pytest.raises(DecodeError, match="version"):
        decode(_resigned(good[:2] + b"\x01" + good[3:]), KEY)
    with pytest.raises(DecodeError, match="kind"):
        decode(_resigned(good[:3] + b"\x09" + good[4:]), KEY)
    with pytest.raises(DecodeError, match="relay count"):
        decode(_resigned(good[:5] + b"\x01" + good[6:]), KEY)
    with pytest.raises(DecodeError, match="short"):
        decode(good[:40], KEY)
    with pytest.raises(BadMac):
        decode(good + b"\0" * MAC_SIZE, KEY)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_only_ever_decode_error(data: bytes) -> None:
    try:
        decode(data, KEY)
    except DecodeError:
        return
    raise AssertionError("random bytes passed the MAC")


@settings(max_examples=200)
@given(st.lists(st.binary(max_size=200), max_size=20), st.sampled_from(["a", "b"]))
def test_arbitrary_datagrams_never_raise_into_the_engine(datagrams: list[bytes], source: str) -> None:
    cluster = Cluster(["a", "b", "c"])
    cluster.run_for(0.2)
    c = cluster.engine("c")
    for data in datagrams:
        cluster.inject(source, "c", data)
    assert sum(c.drops.values()) == len(datagrams)
    assert c.drops[Drop.REPLAY] == 0
    cluster.run_for(0.2)
    assert c.live() == frozenset({"a", "b", "c"})


@settings(max_examples=100)
@given(messages())
def test_authentic_messages_with_any_fields_never_raise(message: Message) -> None:
    # A member with the key is trusted to authenticate, not to be sane: any field values are survivable.
    cluster = Cluster(["a", "b", "c"])
    cluster.run_for(0.2)
    forged = Message(
        message.kind,
        message.answer,
        member_id("a"),
        member_id("c"),
        message.incarnation,
        message.seq,
        message.echo_incarnation,
        message.echo_seq,
        message.echo_hold_us,
        message.relays,
        message.health,
    )
    cluster.inject("a", "c", encode(forged, KEY))
    cluster.run_for(0.2)
    assert "c" in cluster.live("c")


def test_timers_need_two_heartbeats_per_timeout() -> None:
    with pytest.raises(ValueError):
        Timers(0.1, 0.15)
    assert Timers(0.05, 0.1).suspect_after == pytest.approx(0.075)
