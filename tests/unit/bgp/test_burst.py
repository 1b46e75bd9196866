"""Large tables go out in slices: bounded output per `data_to_send`, edits between slices, and the peer
ending up with exactly the desired table."""

from __future__ import annotations

import random
from ipaddress import IPv4Address, IPv4Network

import pytest

from bgp import PeerRoutesReceived, Route
from bgp.attributes import Communities
from bgp.codec import CodecContext
from bgp.families import Prefix
from bgp.packing import pack_updates
from bgp.ribout import AdjRibOut
from bgp.route import prefix_key
from bgp.session import BURST_OCTETS, TAKE_PREFIXES
from tests.unit.bgp.helpers import Pair
from tests.unit.bgp.test_session import established

COUNT = 2 * TAKE_PREFIXES + 1000
# End-of-RIB of IPv4 and IPv6 unicast after the table (RFC 4724 §2).
EORS = 2
BASE = int(IPv4Address("198.18.0.0"))


def nets(n: int) -> list[IPv4Network]:
    return [IPv4Network((BASE + i, 32)) for i in range(n)]


def peer_table(events: list[object]) -> dict[Prefix, bool]:
    """What the receiving session was told, replayed in order (True: announced)."""
    table: dict[Prefix, bool] = {}
    for e in events:
        if isinstance(e, PeerRoutesReceived):
            for p in e.result.update.withdrawals():
                table.pop(p, None)
            for p in e.result.update.announced():
                table[p] = True
    return table


def test_take_changes_in_slices_keeps_order_and_the_rest_pending() -> None:
    rib = AdjRibOut()
    p = nets(5)
    rib.replace([Route(x) for x in p])
    rib.session_down()
    groups, _ = rib.take_changes(2)
    assert [k for keys in groups.values() for k in keys] == [prefix_key(x) for x in p[:2]]
    assert rib.pending() and rib.sent_count() == 2
    # An edit to a prefix not yet taken is simply taken later; one already taken is due again.
    rib.change(announce=[Route(p[3], local_pref=5), Route(p[0], local_pref=5)])
    groups, _ = rib.take_changes()
    taken = {k: a.local_pref for a, keys in groups.items() for k in keys}
    assert taken == {prefix_key(p[2]): None, prefix_key(p[3]): 5, prefix_key(p[4]): None, prefix_key(p[0]): 5}
    assert not rib.pending() and rib.sent_count() == 5


def test_a_large_table_goes_out_in_bounded_slices_and_edits_between_them_land() -> None:
    p = established()
    prefixes = nets(COUNT)
    p.a.set_routes(p.now, [Route(x, communities=(1,)) for x in prefixes])
    first = p.a.data_to_send()
    # One call produces about BURST_OCTETS (one UPDATE may cross the line), not the whole table.
    assert sum(len(d) for _, d in first) < BURST_OCTETS + 4096
    assert p.a.more_to_send
    for conn_id, data in first:
        p.b.data_received(p.now, conn_id, data)
    # Edits while the burst is on: withdraw one prefix already sent and one not yet sent, change the
    # attributes of one of each, add a new one.
    late = prefixes[-1]
    p.a.change_routes(
        p.now,
        announce=[Route(prefixes[1], communities=(2,)), Route(late, communities=(2,))],
        withdraw=[prefixes[0], prefixes[-2]],
    )
    p.a.change_routes(p.now, announce=[Route(IPv4Network("192.0.2.0/24"))])
    rounds = 0
    while p.a.more_to_send and rounds < 1000:
        rounds += 1
        for conn_id, data in p.a.data_to_send():
            p.b.data_received(p.now, conn_id, data)
    p.collect()
    assert not p.a.more_to_send and rounds > 2
    want = {*prefixes[1:-2], late, IPv4Network("192.0.2.0/24")}
    assert set(peer_table(p.events_b)) == want
    assert set(p.a.advertised) == want and p.a.counters.prefixes_announced == len(want)
    assert p.a.advertised[prefixes[1]].communities == (2,)
    # Every message still fits (RFC 4271 §4), and the slices cost only a few extra UPDATEs over the
    # full ones (about 800 /32s with one community fit in 4096 octets).
    updates = p.a.counters.updates_sent
    assert updates <= COUNT // 800 + 10, updates


def drain_to_peer(p: Pair, rounds: int = 1000) -> None:
    for _ in range(rounds):
        if not p.a.more_to_send:
            return
        for conn_id, data in p.a.data_to_send():
            p.b.data_received(p.now, conn_id, data)
    raise AssertionError("burst did not end")


def test_slices_add_no_partly_filled_updates() -> None:
    # 100,000 /32s with shared attributes: as many UPDATEs as packing them in one go.
    prefixes = nets(100_000)
    routes = [Route(x) for x in prefixes]
    p = established()
    p.a.set_routes(p.now, routes)
    drain_to_peer(p)
    p.collect()
    assert set(peer_table(p.events_b)) == set(prefixes)
    policy = p.a.path_policy
    assert policy is not None
    assert p.a.counters.updates_sent - EORS == len(pack_updates(routes, CodecContext(), policy)) == 124


def test_routes_held_back_at_a_slice_boundary_then_withdrawn_or_changed() -> None:
    p = established()
    # Two slices: the edits below are taken in the second one, with the routes held back from the first.
    prefixes = nets(TAKE_PREFIXES + 1000)
    p.a.set_routes(p.now, [Route(x, communities=(1,)) for x in prefixes])
    # The first slice is taken now; its last routes, short of a full UPDATE, will be held back and go
    # out with the next slice. They count as sent: edits to them must follow them on the wire.
    last, changed = prefixes[TAKE_PREFIXES - 1], prefixes[TAKE_PREFIXES - 2]
    assert TAKE_PREFIXES % 800 and p.a.counters.prefixes_announced == TAKE_PREFIXES
    p.a.change_routes(p.now, announce=[Route(changed, communities=(2,))], withdraw=[last])
    drain_to_peer(p)
    p.collect()
    announced = [
        x for e in p.events_b if isinstance(e, PeerRoutesReceived) for x in e.result.update.announced()
    ]
    assert announced.count(last) == 1 and announced.count(changed) == 2
    want = set(prefixes) - {last}
    assert set(peer_table(p.events_b)) == want and set(p.a.advertised) == want
    assert p.a.advertised[changed].communities == (2,)
    # 17,384 /32s with one community, about 800 per UPDATE: 22 UPDATEs, and one each for the edits.
    assert p.a.counters.updates_sent - EORS <= 24


def replay(events: list[object]) -> dict[Prefix, tuple[int, ...]]:
    """The receiving session's table, replayed in order: prefix -> its communities."""
    table: dict[Prefix, tuple[int, ...]] = {}
    for e in events:
        if isinstance(e, PeerRoutesReceived):
            for x in e.result.update.withdrawals():
                table.pop(x, None)
            communities = e.result.update.attribute(8)
            for x in e.result.update.announced():
                table[x] = communities.values if isinstance(communities, Communities) else ()
    return table


@pytest.mark.parametrize("seed", range(4))
def test_random_edits_between_slices_leave_the_peer_with_the_desired_table(seed: int) -> None:
    # Three attribute groups, so that several groups are held back at each boundary; edits hit routes
    # already sent, held back, taken but not produced, and not taken yet.
    rng = random.Random(seed)
    prefixes = nets(COUNT)
    desired = {x: (rng.randrange(3),) for x in prefixes}
    p = established()
    p.a.set_routes(p.now, [Route(x, communities=c) for x, c in desired.items()])
    for _ in range(1000):
        for _ in range(rng.randrange(4)):
            # Half of the edits near the ends of the first two slices, where routes are held back.
            near_end = rng.choice((TAKE_PREFIXES, 2 * TAKE_PREFIXES)) - rng.randrange(1, 2500)
            x = prefixes[near_end if rng.random() < 0.5 else rng.randrange(COUNT)]
            if x in desired and rng.random() < 0.5:
                del desired[x]
                p.a.change_routes(p.now, withdraw=[x])
            else:
                desired[x] = (rng.randrange(3),)
                p.a.change_routes(p.now, announce=[Route(x, communities=desired[x])])
        if not p.a.more_to_send:
            break
        for conn_id, data in p.a.data_to_send():
            p.b.data_received(p.now, conn_id, data)
    drain_to_peer(p)
    p.collect()
    assert replay(p.events_b) == desired
    assert {x: r.communities for x, r in p.a.advertised.items()} == desired
