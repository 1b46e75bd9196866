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
    Kind,
    Message,
    Relay,
    Timers,
    decode,
    encode,
    member_id,
)
from lbd.membership.codec import HEADER_SIZE, MAC_SIZE, MAX_RELAYS
from tests.unit.membership.sim import KEY, Cluster

ids = st.binary(min_size=8, max_size=8)
u64 = st.integers(0, 2**64 - 1)
u32 = st.integers(0, 2**32 - 1)
relays = st.builds(Relay, ids, u64, u32)
messages = st.builds(
    Message,
    st.sampled_from(Kind),
    st.booleans(),
    ids,
    ids,
    u64,
    u64,
    u64,
    u64,
    u32,
    st.lists(relays, max_size=MAX_RELAYS).map(tuple),
)


@given(messages)
def test_round_trip(message: Message) -> None:
    data = encode(message, KEY)
    assert len(data) == HEADER_SIZE + 20 * len(message.relays) + MAC_SIZE
    assert decode(data, KEY) == message


def test_layout() -> None:
    message = Message(
        Kind.LEAVE, True, member_id("a"), member_id("b"), 7, 8, 9, 10, 11, (Relay(b"R" * 8, 12, 13),)
    )
    data = encode(message, KEY)
    assert data[:6] == b"LM\x01\x02\x01\x01"
    assert data[6:14] == hashlib.sha256(b"a").digest()[:8]
    assert data[22:30] == (7).to_bytes(8, "big")
    assert data[54:58] == (11).to_bytes(4, "big")
    assert data[58:78] == b"R" * 8 + (12).to_bytes(8, "big") + (13).to_bytes(4, "big")
    assert data[-32:] == hmac.new(KEY, data[:-32], hashlib.sha256).digest()
    assert len(data) < 1280


def test_too_many_relays_is_our_bug() -> None:
    message = Message(Kind.HEARTBEAT, False, b"a" * 8, b"b" * 8, 1, 1, 0, 0, 0, (Relay(b"c" * 8, 1, 1),) * 51)
    with pytest.raises(ValueError):
        encode(message, KEY)


def _resigned(body: bytes) -> bytes:
    return body + hmac.new(KEY, body, hashlib.sha256).digest()


def test_authentic_but_invalid_fields_are_rejected() -> None:
    good = encode(Message(Kind.HEARTBEAT, False, b"a" * 8, b"b" * 8, 1, 1, 0, 0, 0), KEY)[:-MAC_SIZE]
    with pytest.raises(DecodeError, match="version"):
        decode(_resigned(good[:2] + b"\x02" + good[3:]), KEY)
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
@given(messages)
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
    )
    cluster.inject("a", "c", encode(forged, KEY))
    cluster.run_for(0.2)
    assert "c" in cluster.live("c")


def test_timers_need_two_heartbeats_per_timeout() -> None:
    with pytest.raises(ValueError):
        Timers(0.1, 0.15)
    assert Timers(0.05, 0.1).suspect_after == pytest.approx(0.075)
