"""UPDATE packing (fewest messages within 4096 octets), bulk withdrawals, End-of-RIB and Adj-RIB-Out diffs."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from bgp import CodecContext, MessageReader, Route, end_of_rib, pack_updates, pack_withdrawals
from bgp.attributes import Communities, LargeCommunities, MpReach, MpUnreach
from bgp.codec import UpdateResult
from bgp.packing import PathPolicy, attributes_fit
from bgp.ribout import AdjRibOut
from bgp.route import RouteAttributes, key_nlri, key_prefix, key_version, prefix_key

CTX = CodecContext()
EBGP = PathPolicy(64512, True, IPv4Address("192.0.2.1"), (IPv6Address("2001:db8::1"), IPv6Address("fe80::1")))


def decode_msgs(msgs: list[bytes]) -> list[UpdateResult]:
    reader = MessageReader(CTX)
    out = [m for data in msgs for m in reader.feed(data)]
    assert all(isinstance(m, UpdateResult) and not m.problems for m in out)
    return out  # type: ignore[return-value]


def v4(n: int) -> list[IPv4Network]:
    base = int(IPv4Address("198.18.0.0"))
    return [IPv4Network((base + i, 32)) for i in range(n)]


def test_prefix_keys_are_distinct_and_round_trip_with_their_wire_form() -> None:
    prefixes = [
        IPv4Network("0.0.0.0/0"),
        IPv4Network("192.0.2.0/24"),
        IPv4Network("192.0.2.0/25"),
        IPv4Network("192.0.2.1/32"),
        IPv4Network("255.255.255.255/32"),
        IPv6Network("::/0"),
        IPv6Network("::/128"),
        IPv6Network("2001:db8::/33"),
        IPv6Network("2001:db8::1/128"),
        IPv6Network("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"),
    ]
    keys = [prefix_key(p) for p in prefixes]
    assert len(set(keys)) == len(prefixes)
    for prefix, key in zip(prefixes, keys, strict=True):
        assert key_prefix(key) == prefix and key_version(key) == prefix.version
        plen = prefix.prefixlen
        assert key_nlri(key) == bytes((plen,)) + prefix.network_address.packed[: (plen + 7) >> 3]
    # An IPv4 /32's key is the int its address already holds: nothing allocated per route.
    host = IPv4Network("198.18.0.1/32")
    assert prefix_key(host) is int(host.network_address)


def test_routes_share_one_interned_attribute_object() -> None:
    a, b = Route(IPv4Network("192.0.2.1/32"), (1, 2)), Route(IPv4Network("192.0.2.2/32"), (1, 2))
    assert a.attributes is b.attributes is RouteAttributes.of(4, (1, 2))
    assert Route(IPv6Network("2001:db8::1/128"), (1, 2)).attributes is not a.attributes
    assert (
        a != b
        and a == Route(IPv4Network("192.0.2.1/32"), (1, 2))
        and hash(a) == hash(Route(a.prefix, (1, 2)))
    )
    assert (a.prefix, a.communities, a.large_communities, a.local_pref) == (
        IPv4Network("192.0.2.1/32"),
        (1, 2),
        (),
        None,
    )


def test_many_prefixes_with_shared_attributes_fill_each_update() -> None:
    routes = [Route(p, communities=(0xFDE80064,)) for p in v4(10_000)]
    msgs = pack_updates(routes, CTX, EBGP)
    assert all(len(m) <= 4096 for m in msgs)
    # Every message but the last is full: no room left for another 5-octet /32.
    assert all(len(m) > 4096 - 5 for m in msgs[:-1])
    got = decode_msgs(msgs)
    assert [p for r in got for p in r.update.nlri] == [r.prefix for r in routes]
    assert len({r.update.attributes for r in got}) == 1


def test_routes_with_different_attributes_go_in_different_updates() -> None:
    p = v4(4)
    routes = [
        Route(p[0], communities=(1,)),
        Route(p[1], communities=(2,)),
        Route(p[2], communities=(1,)),
        Route(p[3], large_communities=((64512, 1, 1),)),
    ]
    got = decode_msgs(pack_updates(routes, CTX, EBGP))
    by_attr = {(r.update.attribute(8), r.update.attribute(32)): r.update.nlri for r in got}
    assert by_attr == {
        (Communities((1,)), None): (p[0], p[2]),
        (Communities((2,)), None): (p[1],),
        (None, LargeCommunities(((64512, 1, 1),))): (p[3],),
    }


def test_ipv6_prefixes_in_mp_reach_with_global_and_link_local_next_hops() -> None:
    base = int(IPv6Address("2001:db8::"))
    prefixes = [IPv6Network((base + (i << 64), 64)) for i in range(2_000)]
    msgs = pack_updates([Route(p) for p in prefixes], CTX, EBGP)
    assert all(len(m) <= 4096 for m in msgs)
    assert all(len(m) > 4096 - 9 for m in msgs[:-1])
    got = decode_msgs(msgs)
    reach = [r.update.attribute(14) for r in got]
    assert all(isinstance(m, MpReach) and m.next_hops == EBGP.next_hops_v6 for m in reach)
    assert [p for m in reach for p in m.nlri] == prefixes  # type: ignore[union-attr]


def test_bulk_withdrawals_of_both_families() -> None:
    base6 = int(IPv6Address("2001:db8::"))
    v6 = [IPv6Network((base6 + i, 128)) for i in range(1_000)]
    msgs = pack_withdrawals([*v4(3_000), *v6])
    assert all(len(m) <= 4096 for m in msgs)
    got = decode_msgs(msgs)
    assert [p for r in got for p in r.update.withdrawn] == v4(3_000)
    unreach = [r.update.attribute(15) for r in got if r.update.attribute(15)]
    assert [p for u in unreach for p in u.withdrawn] == v6  # type: ignore[union-attr]
    assert len(msgs) == 4 + 5  # 15,000 / 4,073 octets of IPv4; 17,000 / 4,066 of IPv6


def test_end_of_rib_markers() -> None:
    # RFC 4724 §2.
    assert end_of_rib((1, 1)) == b"\xff" * 16 + bytes.fromhex("0017 02 0000 0000")
    assert end_of_rib((2, 1)) == b"\xff" * 16 + bytes.fromhex("001d 02 0000 0006 800f03 000201")
    (eor,) = decode_msgs([end_of_rib((2, 1))])
    assert eor.update.attributes == (MpUnreach(2, 1, ()),)
    assert eor.update.end_of_rib() == (2, 1)


def taken(rib: AdjRibOut) -> tuple[list[Route], list[IPv4Network | IPv6Network]]:
    groups, withdraw = rib.take_changes()
    announce = [Route.from_key(k, a) for a, keys in groups.items() for k in keys]
    return announce, [key_prefix(k) for k in withdraw]


def test_ribout_diffs_by_identity_by_prefix_and_incrementally() -> None:
    rib = AdjRibOut()
    p = v4(3)
    table = [Route(p[0]), Route(p[1])]
    rib.replace(table)
    rib.session_down()
    assert taken(rib) == (table, [])
    assert not rib.pending()
    assert rib.sent_count() == 2
    # Same objects, one replaced.
    table2 = [table[0], Route(p[1], communities=(5,))]
    rib.replace(table2)
    assert taken(rib) == ([table2[1]], [])
    # An equal but new object changes nothing.
    rib.replace([Route(p[0]), Route(p[1], communities=(5,))])
    assert not rib.pending()
    rib.replace([Route(p[0], local_pref=7), Route(p[1], communities=(5,))])
    assert taken(rib) == ([Route(p[0], local_pref=7)], [])
    # A different set of prefixes: one added and one gone.
    rib.replace([Route(p[2]), Route(p[0], local_pref=7)])
    assert taken(rib) == ([Route(p[2])], [p[1]])
    # Reordered with one change: only the changed prefix.
    rib.replace([Route(p[0], local_pref=8), Route(p[2])])
    assert taken(rib) == ([Route(p[0], local_pref=8)], [])
    rib.change(withdraw=[prefix_key(p[0])], announce=[Route(p[1])])
    assert taken(rib) == ([Route(p[1])], [p[0]])
    rib.change(withdraw=[prefix_key(p[0])])  # already gone: nothing to do
    assert not rib.pending()
    # A change and its undoing before anything was taken: nothing to send.
    rib.change(announce=[Route(p[1], local_pref=9)])
    rib.change(announce=[Route(p[1])])
    assert rib.pending() and taken(rib) == ([], [])
    assert rib.sent() == {prefix_key(p[1]): Route(p[1]).attributes, prefix_key(p[2]): Route(p[2]).attributes}


def test_ribout_withheld_routes_are_not_held_by_the_peer_until_sent() -> None:
    rib = AdjRibOut()
    p = v4(3)
    rib.replace([Route(p[0]), Route(p[1])])
    rib.session_down()
    assert [len(keys) for keys in rib.take_changes()[0].values()] == [2]
    rib.withhold([prefix_key(p[1])])
    assert rib.sent_count() == 1 and set(rib.sent()) == {prefix_key(p[0])}
    assert rib.held(prefix_key(p[1])) is None and not rib.pending()
    # Withdrawing a withheld route sends nothing; a changed one is offered again.
    rib.change(withdraw=[prefix_key(p[1])])
    assert taken(rib) == ([], [])
    rib.change(announce=[Route(p[2], communities=(1,))])
    rib.withhold([prefix_key(p[2])])
    rib.change(announce=[Route(p[2])])
    assert taken(rib) == ([Route(p[2])], [])
    assert rib.sent_count() == 2
    rib.session_down()
    assert rib.sent_count() == 0 and rib.sent() == {} and rib.pending()


def test_largest_community_set_that_fits_still_makes_a_legal_update() -> None:
    # Worst case: 4-octet AS towards an OLD speaker (AS4_PATH), iBGP attributes, two IPv6 next hops, a /128.
    old = CodecContext(four_octet_as=False)
    ibgp = PathPolicy(4200000000, False, IPv4Address("192.0.2.1"), EBGP.next_hops_v6)
    n = 0
    while attributes_fit(Route(IPv6Network("2001:db8::/128"), communities=tuple(range(n + 1))).attributes):
        n += 1
    for prefix in (IPv6Network("2001:db8::/128"), IPv4Network("192.0.2.1/32")):
        for policy in (ibgp, PathPolicy(4200000000, True, IPv4Address("192.0.2.1"), EBGP.next_hops_v6)):
            route = Route(prefix, communities=tuple(range(n)), local_pref=5)
            (msg,) = pack_updates([route], old, policy)
            assert len(msg) <= 4096
    assert not attributes_fit(Route(IPv4Network("192.0.2.1/32"), communities=tuple(range(n + 1))).attributes)
