"""RouteDiff: only new, changed and removed routes reach the session."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network

from bgp.route import Route
from lbd.config.communities import LargeCommunity, StandardCommunity
from lbd.net.bgp_routes import RouteDiff, route_of
from lbd.reconcile import BGPRoute


def bgp_route(prefix: str, *communities: StandardCommunity, local_pref: int | None = None) -> BGPRoute:
    network = ip_network(prefix)
    address = network.network_address
    return BGPRoute.of(
        network,
        communities=communities,
        local_pref=local_pref,
        services=("default/web",),
        addresses=(address,),
    )


def test_route_of() -> None:
    route = BGPRoute.of(
        IPv4Network("198.51.100.1/32"),
        communities=(StandardCommunity(64512, 7),),
        large_communities=(LargeCommunity(64512, 1, 2),),
        local_pref=100,
        services=("default/web",),
        addresses=(IPv4Address("198.51.100.1"),),
    )
    assert route_of(route) == Route(IPv4Network("198.51.100.1/32"), (0xFC000007,), ((64512, 1, 2),), 100)
    plain = BGPRoute.of(IPv6Network("2001:db8::1/128"), addresses=(IPv6Address("2001:db8::1"),))
    assert route_of(plain) == Route(IPv6Network("2001:db8::1/128"))


def test_only_differences_are_reported() -> None:
    diff = RouteDiff()
    first = [bgp_route("198.51.100.1/32"), bgp_route("198.51.100.2/32"), bgp_route("2001:db8::1/128")]
    assert [r.prefix for r in list(diff.full(first))] == [r.prefix for r in first]
    # Fresh but equal objects (a new reconcile pass): nothing to do.
    assert diff.update(
        [bgp_route("198.51.100.1/32"), bgp_route("198.51.100.2/32"), bgp_route("2001:db8::1/128")]
    ) == (
        [],
        [],
    )
    # One added, one changed (community), one removed; the services behind a route do not matter.
    changed = bgp_route("198.51.100.2/32", StandardCommunity(64512, 9))
    announce, withdraw = diff.update([bgp_route("198.51.100.1/32"), changed, bgp_route("198.51.100.3/32")])
    assert [r.prefix for r in announce] == [IPv4Network("198.51.100.2/32"), IPv4Network("198.51.100.3/32")]
    assert announce[0].communities == (0xFC000009,)
    assert withdraw == [IPv6Network("2001:db8::1/128")]
    # LOCAL_PREF changes count too; an emptied table withdraws everything.
    announce, _ = diff.update(
        [bgp_route("198.51.100.1/32", local_pref=150), changed, bgp_route("198.51.100.3/32")]
    )
    assert [r.local_pref for r in announce] == [150]
    announce, withdraw = diff.update([])
    assert announce == [] and len(withdraw) == 3
