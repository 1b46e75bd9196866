"""Whole-cluster behaviour on the simulated LAN: start-up, detection time, loss, partitions, leave."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from lbd.config import MemberPeer
from lbd.membership import MemberDown, MemberLeft, Membership, MemberState, MemberSuspect, MemberUp, Timers
from tests.unit.membership.sim import Cluster

NAMES = ["a", "b", "c"]
T = Timers()
# Simulated latency is at most 0.5 ms one way and timers fire at most 1 ms late.
SLACK = 0.002


def test_handshake_takes_one_and_a_half_round_trips() -> None:
    cluster = Cluster(NAMES, lateness=0.0)
    cluster.run_for(0.003)
    for name in NAMES:
        assert cluster.live(name) == frozenset(NAMES)
        assert cluster.engine(name).settled(cluster.now)
        ups = cluster.events(name, MemberUp)
        assert sorted(e.name for _, e in ups) == sorted(set(NAMES) - {name})
        assert all(e.previous is MemberState.DEAD for _, e in ups)


def test_first_timer_is_now_then_every_interval() -> None:
    cluster = Cluster(["a", "b"])
    a = cluster.engine("a")
    assert a.get_timer() == 0.0
    a.handle_timer(0.0)
    assert len(a.datagrams_to_send()) == 1
    # Member b is not live yet: only the heartbeat is due.
    assert a.get_timer() == pytest.approx(T.interval)


def test_timers_of_a_live_member() -> None:
    cluster = Cluster(["a", "b"], lateness=0.0, latency=(0.0001, 0.0001))
    cluster.run_for(0.01)
    a = cluster.engine("a")
    heard = cluster.now - (a.members(cluster.now)[0].silent or 0.0)
    cluster.kill("b")
    # Next: the heartbeat at 50 ms, then probing 75 ms after the last direct contact.
    assert a.get_timer() == pytest.approx(T.interval)
    cluster.run_until(T.interval + 0.001)
    assert a.get_timer() == pytest.approx(heard + T.probe_after)
    cluster.run_until(heard + T.probe_after + 0.0001)
    assert a.get_timer() == pytest.approx(heard + T.probe_after + T.probe_interval)


def test_no_false_down_in_ten_minutes_at_five_percent_loss() -> None:
    cluster = Cluster(["a", "b", "c", "d", "e"], loss=0.05, seed=5)
    cluster.run_for(600.0)
    for name in cluster.names:
        assert cluster.events(name, MemberDown) == []
        assert cluster.live(name) == frozenset(cluster.names)
    assert cluster.delivered > 200_000


@pytest.mark.parametrize("size", [2, 3])
def test_no_false_down_at_twenty_percent_loss(size: int) -> None:
    # Far past the target: even two members, with no relay path, ride it out on probes.
    cluster = Cluster(NAMES[:size], loss=0.2, seed=size)
    cluster.run_for(120.0)
    for name in cluster.names:
        assert cluster.events(name, MemberDown) == []


@pytest.mark.parametrize("phase", [0.0, 0.011, 0.023, 0.037, 0.049])
def test_killed_member_is_down_within_the_failure_timeout(phase: float) -> None:
    cluster = Cluster(NAMES, seed=int(phase * 1000))
    cluster.run_for(1.0 + phase)
    killed_at = cluster.now
    cluster.kill("c")
    cluster.run_for(0.5)
    for name in ("a", "b"):
        downs = cluster.events(name, MemberDown)
        assert [e.name for _, e in downs] == ["c"]
        at, event = downs[0]
        # Its last heartbeat left at most one interval before the kill.
        assert T.failure_timeout - T.interval - SLACK <= at - killed_at <= T.failure_timeout + SLACK
        assert event.silent == pytest.approx(T.failure_timeout, abs=SLACK)
        assert cluster.live(name) == frozenset({"a", "b"})
        # Suspected one interval before.
        [(suspected_at, _)] = cluster.events(name, MemberSuspect)
        assert at - suspected_at == pytest.approx(T.interval, abs=SLACK)


def test_killed_member_is_down_within_target_under_loss() -> None:
    cluster = Cluster(["a", "b", "c", "d", "e"], loss=0.05, seed=11)
    cluster.run_for(2.0)
    for trial in range(10):
        cluster.run_for(0.5 + trial * 0.0071)
        killed_at = cluster.now
        victim = cluster.names[trial % 5]
        cluster.kill(victim)
        cluster.run_for(0.3)
        for name in cluster.names:
            if name == victim:
                continue
            [(at, _)] = [(t, e) for t, e in cluster.events(name, MemberDown) if t > killed_at]
            assert at - killed_at <= T.failure_timeout + SLACK
        cluster.start(victim)
        cluster.run_for(0.2)
        for name in cluster.names:
            assert cluster.live(name) == frozenset(cluster.names)


def test_partition_and_heal() -> None:
    cluster = Cluster(NAMES)
    cluster.run_for(1.0)
    cluster.isolate("c")
    cut_at = cluster.now
    cluster.run_for(0.5)
    assert cluster.live("a") == cluster.live("b") == frozenset({"a", "b"})
    assert cluster.live("c") == frozenset({"c"})
    for name in NAMES:
        assert all(t - cut_at <= T.failure_timeout + SLACK for t, _ in cluster.events(name, MemberDown))
    cluster.heal()
    healed_at = cluster.now
    cluster.run_for(0.2)
    for name in NAMES:
        assert cluster.live(name) == frozenset(NAMES)
        last_up = max(t for t, _ in cluster.events(name, MemberUp))
        # The next heartbeat after the heal brings the other side back; no restart needed.
        assert last_up - healed_at <= T.interval + SLACK
    # Same incarnations as before the partition.
    c_incarnation = cluster.engine("c").incarnation
    assert {m.incarnation for m in cluster.engine("a").members(cluster.now) if m.name == "c"} == {
        c_incarnation
    }


def test_relays_keep_a_member_live_when_only_the_direct_path_fails() -> None:
    cluster = Cluster(NAMES)
    cluster.run_for(1.0)
    cluster.cut("a", "b")
    cluster.run_for(5.0)
    # c hears both and tells each about the other: nobody goes down, views stay the same everywhere.
    for name in NAMES:
        assert cluster.events(name, MemberDown) == []
        assert cluster.live(name) == frozenset(NAMES)
    # Probing the broken direct path stops at the failure timeout: 8 probes, then heartbeats only.
    [b] = [m for m in cluster.engine("a").members(cluster.now) if m.name == "b"]
    assert b.counters.probes_sent == 8
    # Losing the relay too makes the member dead.
    cluster.cut("a", "c")
    cluster.run_for(0.5)
    assert cluster.live("a") == frozenset({"a"})


def test_leave_is_seen_at_once_and_only_a_new_incarnation_returns() -> None:
    cluster = Cluster(NAMES)
    cluster.run_for(1.0)
    stopped_at = cluster.now
    cluster.stop("c")
    cluster.run_for(0.01)
    for name in ("a", "b"):
        [(at, event)] = cluster.events(name, MemberLeft)
        assert event.name == "c"
        assert at - stopped_at < 0.001
        assert cluster.live(name) == frozenset({"a", "b"})
        assert cluster.events(name, MemberDown) == []
    # Relays of c's old incarnation still in flight change nothing.
    cluster.run_for(1.0)
    assert cluster.live("a") == frozenset({"a", "b"})
    old = [m.incarnation for m in cluster.engine("a").members(cluster.now) if m.name == "c"]
    restarted = cluster.start("c")
    cluster.run_for(0.01)
    for name in ("a", "b"):
        assert cluster.live(name) == frozenset(NAMES)
        _, up = cluster.events(name, MemberUp)[-1]
        assert up == MemberUp("c", restarted.incarnation, MemberState.LEFT)
        assert up.incarnation > old[0]


def test_restart_faster_than_the_timeout_is_reported_as_a_new_life() -> None:
    cluster = Cluster(NAMES)
    cluster.run_for(1.0)
    cluster.kill("c")
    cluster.run_for(0.02)
    restarted = cluster.start("c")
    cluster.run_for(0.5)
    for name in ("a", "b"):
        assert cluster.events(name, MemberDown) == []
        _, up = cluster.events(name, MemberUp)[-1]
        assert up == MemberUp("c", restarted.incarnation, MemberState.ALIVE)
    assert cluster.live("c") == frozenset(NAMES)


def test_a_member_never_heard_is_dead_once_settled() -> None:
    cluster = Cluster(NAMES)
    cluster.kill("c")
    a = cluster.engine("a")
    cluster.run_for(0.01)
    assert not a.settled(cluster.now)
    cluster.run_until(T.settle_time)
    assert a.settled(cluster.now)
    assert a.live() == frozenset({"a", "b"})
    assert cluster.events("a", MemberDown) == []


def test_round_trip_time_is_measured() -> None:
    cluster = Cluster(["a", "b"], latency=(0.0002, 0.0002), lateness=0.0)
    cluster.run_for(1.0)
    [b] = cluster.engine("a").members(cluster.now)
    assert b.rtt == pytest.approx(0.0004, abs=0.00001)
    assert b.state is MemberState.ALIVE
    assert b.counters.received > 0 and b.counters.sent > 0


def test_constructor_refuses_what_config_validation_rules_out() -> None:
    b = MemberPeer("b", IPv4Address("192.0.2.2"))
    with pytest.raises(ValueError, match="16 bytes"):
        Membership("a", [b], b"short", T, 0.0, incarnation=1)
    with pytest.raises(ValueError, match="unique"):
        Membership("a", [b, MemberPeer("b", IPv4Address("192.0.2.3"))], b"k" * 16, T, 0.0, incarnation=1)
    with pytest.raises(ValueError, match="unique"):
        Membership("a", [MemberPeer("a", IPv4Address("192.0.2.3"))], b"k" * 16, T, 0.0, incarnation=1)
    with pytest.raises(ValueError, match="address and port"):
        Membership("a", [b, MemberPeer("c", IPv4Address("192.0.2.2"))], b"k" * 16, T, 0.0, incarnation=1)
    with pytest.raises(ValueError, match="incarnation"):
        Membership("a", [b], b"k" * 16, T, 0.0, incarnation=0)
