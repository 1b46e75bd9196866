"""Health sets in heartbeats: sent at once on a change, in pages when large, only until echoed."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lbd.membership import MAX_HEALTH, MemberHealth, Timers, decode, service_id
from lbd.membership.codec import HEADER_SIZE, HEALTH_HEADER_SIZE, MAC_SIZE, health_room
from lbd.membership.health import LocalHealth, PeerHealth
from tests.unit.membership.sim import KEY, Cluster


def _ids(n: int) -> frozenset[bytes]:
    return frozenset(service_id(f"default/s{i}") for i in range(n))


def _health(cluster: Cluster, observer: str, member: str) -> list[tuple[float, MemberHealth]]:
    return [(t, e) for t, e in cluster.events(observer, MemberHealth) if e.name == member]


def test_a_change_reaches_every_member_within_one_latency() -> None:
    cluster = Cluster(["a", "b", "c"])
    cluster.run_for(0.3)
    web = frozenset({service_id("default/web")})
    changed_at = cluster.now
    cluster.set_health("a", web)
    cluster.run_for(0.001)
    for observer in ("b", "c"):
        ((at, event),) = _health(cluster, observer, "a")
        assert event.healthy == web and event.version == 2
        # Sent at once, not at the next heartbeat: one one-way latency (at most 0.5 ms here).
        assert at - changed_at <= 0.0005
    cluster.set_health("a", frozenset())
    cluster.run_for(0.001)
    assert [e.healthy for _, e in _health(cluster, "b", "a")] == [web, frozenset()]


def test_pages_stop_once_echoed() -> None:
    cluster = Cluster(["a", "b"], record=True)
    cluster.run_for(0.2)
    cluster.set_health("a", _ids(3))
    cluster.run_for(0.3)
    sizes = [len(data) for t, src, _, data in cluster.wire if src == "a" and t > cluster.now - 0.1]
    # Steady heartbeats from a carry only the health header (two members: no relay entries).
    assert sizes and set(sizes) == {HEADER_SIZE + HEALTH_HEADER_SIZE + MAC_SIZE}
    last = decode(next(d for t, s, _, d in reversed(cluster.wire) if s == "b"), KEY)
    assert last.health.echo == cluster.engine("a").health_version == 2


def test_a_large_set_arrives_in_pages() -> None:
    cluster = Cluster(["a", "b", "c"])
    cluster.run_for(0.3)
    big = _ids(500)
    cluster.set_health("a", big)
    # 135 ids per page with two relay entries: four pages, one per datagram to each member (the first
    # at once, then one per heartbeat), so the set is complete within four intervals.
    assert health_room(2) == 135
    cluster.run_for(3 * cluster.timers.interval + 0.002)
    for observer in ("b", "c"):
        ((_, event),) = _health(cluster, observer, "a")
        assert event.healthy == big
        (info,) = [m for m in cluster.engine(observer).members(cluster.now) if m.name == "a"]
        assert info.healthy == big and info.health_version == 2


def test_a_node_without_checks_sends_an_empty_set() -> None:
    cluster = Cluster(["a", "b"])
    cluster.run_for(0.2)
    (info,) = cluster.engine("b").members(cluster.now)
    # Known and empty (version 1), not unknown (0); an empty set is no change, so no event.
    assert (info.health_version, info.healthy) == (1, frozenset())
    assert _health(cluster, "b", "a") == []


def test_a_restart_makes_the_set_unknown_until_the_new_life_sends_it() -> None:
    cluster = Cluster(["a", "b"])
    cluster.run_for(0.2)
    cluster.set_health("a", _ids(2))
    cluster.run_for(0.2)
    cluster.kill("a")
    cluster.start("a")
    cluster.run_for(0.2)
    events = [e for _, e in _health(cluster, "b", "a")]
    assert [(e.version, e.healthy) for e in events] == [(2, _ids(2)), (0, frozenset())]
    cluster.set_health("a", _ids(1))
    cluster.run_for(0.01)
    assert _health(cluster, "b", "a")[-1][1].healthy == _ids(1)


def test_sets_converge_under_loss() -> None:
    cluster = Cluster(["a", "b", "c"], loss=0.2, seed=7, timers=Timers(0.05, 0.25))
    cluster.run_for(0.5)
    for i, name in enumerate(("a", "b", "c")):
        cluster.set_health(name, _ids(200 + i))
    cluster.run_for(1.0)
    for observer in ("a", "b", "c"):
        seen = {m.name: m.healthy for m in cluster.engine(observer).members(cluster.now)}
        assert seen == {n: _ids(200 + i) for i, n in enumerate(("a", "b", "c")) if n != observer}


def test_local_set_is_sorted_distinct_and_capped() -> None:
    local = LocalHealth()
    assert (local.version, local.ids) == (1, ())
    assert local.update([b"b" * 8, b"a" * 8, b"b" * 8])
    assert local.ids == (b"a" * 8, b"b" * 8) and local.version == 2
    assert not local.update([b"a" * 8, b"b" * 8]) and local.version == 2
    local.update(i.to_bytes(8, "big") for i in range(MAX_HEALTH + 10))
    assert len(local.ids) == MAX_HEALTH and local.ids[-1] == (MAX_HEALTH - 1).to_bytes(8, "big")


def test_pages_that_do_not_add_up_are_not_installed() -> None:
    local = LocalHealth()
    local.update([b"x" * 8, b"y" * 8])
    page, _ = local.page(0, 0, 10, 0)
    peer = PeerHealth()
    forged = type(page)(page.version, b"\0" * 8, page.total, page.offset, page.ids, 0)
    assert not peer.receive(forged) and peer.version == 0
    assert peer.receive(page) and peer.ids == {b"x" * 8, b"y" * 8}
    # The installed version again: nothing to do.
    assert not peer.receive(page)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.integers(0, 400), min_size=1, max_size=4),
    st.sampled_from([0.0, 0.05, 0.2]),
    st.integers(0, 1000),
)
def test_every_member_ends_with_the_last_set(sizes: list[int], loss: float, seed: int) -> None:
    cluster = Cluster(["a", "b", "c"], loss=loss, seed=seed, timers=Timers(0.05, 0.25))
    cluster.run_for(0.5)
    for size in sizes:
        cluster.set_health("a", _ids(size))
        cluster.run_for(0.02)
    cluster.run_for(1.5)
    for observer in ("b", "c"):
        (info,) = [m for m in cluster.engine(observer).members(cluster.now) if m.name == "a"]
        assert info.state.live
        assert info.healthy == _ids(sizes[-1])
