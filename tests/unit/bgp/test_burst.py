"""Large tables go out in slices: bounded output per `data_to_send`, edits between slices, and the peer
ending up with exactly the desired table."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

from bgp import PeerRoutesReceived, Route
from bgp.families import Prefix
from bgp.ribout import AdjRibOut
from bgp.route import prefix_key
from bgp.session import BURST_OCTETS, TAKE_PREFIXES
from tests.unit.bgp.test_session import established

COUNT = 2 * TAKE_PREFIXES + 1000
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
