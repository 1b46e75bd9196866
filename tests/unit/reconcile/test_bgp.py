"""BGP announcements per peer: selection, endpoint gating, aggregation, communities, localPref."""

from __future__ import annotations

import ipaddress

import pytest

from lbd.config.communities import LargeCommunity, StandardCommunity
from lbd.config.model import BGPAdvertisement, Endpoint, EndpointSlice, IPAddressPool, Node, Service
from lbd.reconcile import DesiredState, Reason, Snapshot, reconcile
from tests.unit.reconcile.helpers import NS, config, node, peer, pool, selector, service, slice_for, world

POOL = pool("p", ("192.0.2.0", "192.0.2.255"), ("2001:db8::", "2001:db8::ffff"))
NO_ADVERTISE = StandardCommunity(65535, 65282)


def run(
    *,
    advs: tuple[BGPAdvertisement, ...] = (BGPAdvertisement("adv", NS),),
    services: tuple[Service, ...] = (service("a", ip="192.0.2.1"),),
    slices: tuple[EndpointSlice, ...] | None = None,
    peers: tuple = (peer("r1"),),
    nodes: tuple[Node, ...] = (node("n1"), node("n2")),
    me: str = "n1",
    pools: tuple[IPAddressPool, ...] = (POOL,),
) -> DesiredState:
    if slices is None:
        slices = tuple(slice_for(s, ("n1", True), ("n2", True)) for s in services)
    return reconcile(
        Snapshot(config=config(pools, bgp=advs, peers=peers), world=world(services, slices, nodes), node=me)
    )


def routes(state: DesiredState) -> dict[str, list[str]]:
    return {p.peer: [str(r.prefix) for r in p.routes] for p in state.bgp}


def test_one_host_route_per_address_to_every_peer() -> None:
    state = run(peers=(peer("r1"), peer("r2")))
    assert routes(state) == {"r1": ["192.0.2.1/32"], "r2": ["192.0.2.1/32"]}
    st = state.service("default/a")
    assert st is not None and st.bgp is not None
    assert (st.bgp.reason, st.bgp.peers) == (None, ("r1", "r2"))


def test_ipv6_aggregation_length() -> None:
    svc = service("a", **{"metallb.io/loadBalancerIPs": "2001:db8::17"})
    svc = svc.replace(ip_families=("IPv6",))
    state = run(advs=(BGPAdvertisement("adv", NS, aggregation_length_v6=124),), services=(svc,))
    assert routes(state) == {"r1": ["2001:db8::10/124"]}


def test_aggregation_merges_and_counts_references() -> None:
    services = (service("a", ip="192.0.2.1"), service("b", ip="192.0.2.7"), service("c", ip="192.0.2.200"))
    state = run(advs=(BGPAdvertisement("adv", NS, aggregation_length=24),), services=services)
    (route,) = state.bgp[0].routes
    assert str(route.prefix) == "192.0.2.0/24"
    assert route.services == ("default/a", "default/b", "default/c")
    assert [str(a) for a in route.addresses] == ["192.0.2.1", "192.0.2.7", "192.0.2.200"]


def test_communities_union_and_large_split() -> None:
    big = LargeCommunity(64500, 1, 2)
    advs = (
        BGPAdvertisement("a1", NS, communities=(NO_ADVERTISE,)),
        BGPAdvertisement("a2", NS, communities=(StandardCommunity(64500, 7), big)),
    )
    (route,) = run(advs=advs).bgp[0].routes
    assert route.communities == (StandardCommunity(64500, 7), NO_ADVERTISE)
    assert route.large_communities == (big,)


@pytest.mark.parametrize(("peer_asn", "want"), [(64500, 100), (64501, None)])
def test_local_pref_only_on_ibgp(peer_asn: int, want: int | None) -> None:
    state = run(advs=(BGPAdvertisement("adv", NS, local_pref=100),), peers=(peer("r1", 64500, peer_asn),))
    assert state.bgp[0].routes[0].local_pref == want


def test_ibgp_without_local_pref_gets_zero() -> None:
    state = run(peers=(peer("r1", 64500, 64500),))
    assert state.bgp[0].routes[0].local_pref == 0


def test_advertisement_peers_restrict_targets() -> None:
    state = run(advs=(BGPAdvertisement("adv", NS, peers=("r2",)),), peers=(peer("r1"), peer("r2")))
    assert routes(state) == {"r1": [], "r2": ["192.0.2.1/32"]}
    st = state.service("default/a")
    assert st is not None and st.bgp is not None
    assert st.bgp.skipped_peers == (("r1", Reason.PEER_NOT_SELECTED),)


def test_peer_node_selectors() -> None:
    peers = (peer("r1", node_selectors=(selector(rack="1"),)),)
    nodes = (node("n1", rack="1"), node("n2", rack="2"))
    assert routes(run(peers=peers, nodes=nodes, me="n1")) == {"r1": ["192.0.2.1/32"]}
    other = run(peers=peers, nodes=nodes, me="n2")
    assert other.bgp == ()
    st = other.service("default/a")
    assert st is not None and st.bgp is not None and st.bgp.reason is Reason.NO_PEERS


def test_advertisement_node_selectors() -> None:
    advs = (BGPAdvertisement("adv", NS, node_selectors=(selector(rack="1"),)),)
    nodes = (node("n1", rack="1"), node("n2", rack="2"))
    assert routes(run(advs=advs, nodes=nodes, me="n1")) == {"r1": ["192.0.2.1/32"]}
    st = run(advs=advs, nodes=nodes, me="n2").service("default/a")
    assert st is not None and st.bgp is not None and st.bgp.reason is Reason.NOT_SELECTED


def test_two_advertisements_one_selecting_node() -> None:
    advs = (
        BGPAdvertisement("host", NS, node_selectors=(selector(rack="1"),)),
        BGPAdvertisement("agg", NS, aggregation_length=24),
    )
    nodes = (node("n1", rack="1"), node("n2", rack="2"))
    assert routes(run(advs=advs, nodes=nodes, me="n1")) == {"r1": ["192.0.2.0/24", "192.0.2.1/32"]}
    assert routes(run(advs=advs, nodes=nodes, me="n2")) == {"r1": ["192.0.2.0/24"]}


@pytest.mark.parametrize(
    ("local", "endpoints", "me", "reason"),
    [
        (False, (("n2", True),), "n1", None),
        (True, (("n2", True),), "n1", Reason.NO_LOCAL_ENDPOINTS),
        (True, (("n1", True),), "n1", None),
        (False, (("n1", False), ("n2", False)), "n1", Reason.NO_ENDPOINTS),
        (False, (), "n1", Reason.NO_ENDPOINTS),
    ],
)
def test_endpoint_gating(local: bool, endpoints: tuple, me: str, reason: Reason | None) -> None:
    svc = service("a", local=local, ip="192.0.2.1")
    state = run(services=(svc,), slices=(slice_for(svc, *endpoints),), me=me)
    st = state.service("default/a")
    assert st is not None and st.bgp is not None
    assert st.bgp.reason is reason
    assert routes(state) == {"r1": [] if reason else ["192.0.2.1/32"]}


def test_unready_duplicate_address_wins() -> None:
    """MetalLB: an address listed unready in any slice is not healthy."""
    svc = service("a", ip="192.0.2.1")
    slices = (
        EndpointSlice("s1", "default", "a", endpoints=(Endpoint(("10.0.0.1",), node_name="n1"),)),
        EndpointSlice(
            "s2",
            "default",
            "a",
            endpoints=(Endpoint(("10.0.0.1",), ready=False, serving=False, node_name="n1"),),
        ),
    )
    st = run(services=(svc,), slices=slices).service("default/a")
    assert st is not None and st.bgp is not None and st.bgp.reason is Reason.NO_ENDPOINTS


@pytest.mark.parametrize(
    ("n1", "reason"),
    [
        (node("n1", unavailable=True), Reason.NODE_NETWORK_UNAVAILABLE),
        (
            node("n1", **{"node.kubernetes.io/exclude-from-external-load-balancers": "true"}),
            Reason.NODE_EXCLUDED,
        ),
    ],
)
def test_unavailable_node_does_not_announce(n1: Node, reason: Reason) -> None:
    st = run(nodes=(n1, node("n2"))).service("default/a")
    assert st is not None and st.bgp is not None and st.bgp.reason is reason


def test_pool_without_bgp_advertisement() -> None:
    st = run(advs=()).service("default/a")
    assert st is not None and st.bgp is None


def test_pending_service_has_no_decisions() -> None:
    state = run(services=(service("a", ip="198.51.100.1"),))
    st = state.service("default/a")
    assert st is not None and (st.l2, st.bgp) == (None, None)
    assert routes(state) == {"r1": []}
    assert ipaddress.ip_address("198.51.100.1") not in [
        a for p in state.bgp for r in p.routes for a in r.addresses
    ]
