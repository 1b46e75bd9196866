"""Authentication and replay protection: what an outsider or a recorder of old traffic can do."""

from __future__ import annotations

import struct

from lbd.membership import Drop, Kind, MemberState, Message, Relay, decode, encode, member_id
from tests.unit.membership.sim import KEY, Cluster

NAMES = ["a", "b", "c"]


def running() -> Cluster:
    cluster = Cluster(NAMES, record=True)
    cluster.run_for(1.0)
    return cluster


def heartbeat_from_c_to_a(cluster: Cluster, *, key: bytes = KEY) -> bytes:
    c = cluster.engine("c")
    message = Message(Kind.HEARTBEAT, True, member_id("c"), member_id("a"), c.incarnation, 2**40, 0, 0, 0)
    return encode(message, key)


def test_wrong_key_is_dropped_and_counted() -> None:
    cluster = running()
    a = cluster.engine("a")
    cluster.inject("c", "a", heartbeat_from_c_to_a(cluster, key=b"another-sixteen-byte-key"))
    assert a.drops[Drop.BAD_MAC] == 1
    assert a.datagrams_to_send() == []
    [info] = [m for m in a.members(cluster.now) if m.name == "c"]
    assert info.counters.bad_mac == 1


def test_every_flipped_bit_breaks_the_tag() -> None:
    cluster = running()
    a = cluster.engine("a")
    good = heartbeat_from_c_to_a(cluster)
    for i in range(len(good)):
        damaged = bytearray(good)
        damaged[i] ^= 0x01
        cluster.inject("c", "a", bytes(damaged))
    # Flips in the magic are "not ours"; every other flip fails the tag.
    assert a.drops[Drop.MALFORMED] == 2
    assert a.drops[Drop.BAD_MAC] == len(good) - 2


def test_unknown_source_is_dropped_before_any_crypto() -> None:
    cluster = running()
    a = cluster.engine("a")
    a.datagram_received(heartbeat_from_c_to_a(cluster), ("203.0.113.9", 7946), cluster.now)
    a.datagram_received(b"x", ("not an address", 1), cluster.now)
    # The right address but another port: not the member's socket.
    cluster.inject("c", "a", heartbeat_from_c_to_a(cluster), port=7947)
    assert a.drops[Drop.UNKNOWN_SOURCE] == 3


def test_a_member_cannot_speak_for_another_or_to_another() -> None:
    cluster = running()
    a = cluster.engine("a")
    c = cluster.engine("c")
    as_b = Message(Kind.HEARTBEAT, False, member_id("b"), member_id("a"), c.incarnation, 2**40, 0, 0, 0)
    to_b = Message(Kind.HEARTBEAT, False, member_id("c"), member_id("b"), c.incarnation, 2**40, 0, 0, 0)
    cluster.inject("c", "a", encode(as_b, KEY))
    cluster.inject("c", "a", encode(to_b, KEY))
    assert a.drops[Drop.WRONG_IDENTITY] == 2


def test_replayed_datagrams_are_dropped() -> None:
    cluster = running()
    # Sent at least a millisecond ago: delivered (or lost), none still in flight.
    recorded = [(s, d, data) for t, s, d, data in cluster.wire if d == "a" and t < cluster.now - 0.001]
    a = cluster.engine("a")
    before = a.drops[Drop.REPLAY]
    assert len(recorded) > 40
    for source, destination, data in recorded:
        cluster.inject(source, destination, data)
    assert a.drops[Drop.REPLAY] - before == len(recorded)
    assert a.datagrams_to_send() == []


def test_replay_cannot_keep_a_dead_member_alive() -> None:
    cluster = running()
    cluster.kill("c")
    cluster.run_for(0.5)
    a = cluster.engine("a")
    assert "c" not in a.live()
    for _, source, destination, data in cluster.wire:
        if source == "c" and destination == "a":
            cluster.inject("c", "a", data)
    assert "c" not in a.live()


def test_replay_to_a_restarted_member_is_not_proof_of_life() -> None:
    cluster = running()
    old = [data for _, s, d, data in cluster.wire if s == "c" and d == "a"]
    cluster.kill("c")
    # a restarts and knows nothing: c's old datagrams look new to it.
    cluster.kill("a")
    a = cluster.start("a")
    cluster.run_for(0.5)
    cluster.wire.clear()
    for data in old[-20:]:
        cluster.inject("c", "a", data)
    # Each is greater than anything a heard from c, but echoes a's old incarnation: not fresh. a asks
    # the real c for a fresh answer, once (answers are rate limited), and c is dead.
    assert [(s, d) for _, s, d, _ in cluster.wire] == [("a", "c")]
    assert "c" not in a.live()
    for data in old[-20:]:
        cluster.inject("c", "a", data)
    assert a.drops[Drop.REPLAY] == 20
    [info] = [m for m in a.members(cluster.now) if m.name == "c"]
    assert info.state is MemberState.DEAD
    assert info.incarnation == 0


def test_leave_replayed_after_a_restart_is_ignored() -> None:
    cluster = running()
    cluster.stop("c")
    leaves = [
        data
        for _, s, d, data in cluster.wire
        if s == "c" and d == "a" and decode(data, KEY).kind is Kind.LEAVE
    ]
    assert len(leaves) == 3
    cluster.start("c")
    cluster.run_for(0.2)
    for data in leaves:
        cluster.inject("c", "a", data)
    cluster.run_for(0.2)
    assert cluster.live("a") == frozenset(NAMES)


def test_echo_hold_saturates() -> None:
    message = Message(Kind.HEARTBEAT, False, b"\0" * 8, b"\1" * 8, 1, 1, 1, 1, 2**40)
    assert decode(encode(message, KEY), KEY).echo_hold_us == 2**32 - 1
    assert struct.calcsize("!I") == 4


def test_relays_cannot_bring_up_a_member_never_heard() -> None:
    cluster = Cluster(NAMES)
    cluster.kill("c")
    cluster.run_for(1.0)
    a, b = cluster.engine("a"), cluster.engine("b")
    # b (trusted, holding the key) claims to hear c, which a never heard: incarnation 0 or any other.
    for incarnation in (0, 12345):
        relay = Relay(member_id("c"), incarnation, 0)
        message = Message(
            Kind.HEARTBEAT,
            False,
            member_id("b"),
            member_id("a"),
            b.incarnation,
            2**40 + incarnation,
            a.incarnation,
            0,
            0,
            (relay,),
        )
        cluster.inject("b", "a", encode(message, KEY))
    assert "c" not in a.live()
