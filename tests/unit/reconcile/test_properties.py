"""Hypothesis properties of the reconcile function over random clusters."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from lbd.config.model import BGPAdvertisement, L2Advertisement
from lbd.reconcile import Snapshot, reconcile
from lbd.reconcile.world import availability
from tests.unit.reconcile.helpers import NS, config, node, peer, pool, selector, service, slice_for, world

NODE_NAMES = ["n1", "n2", "n3", "n4", "n5"]


@st.composite
def clusters(draw: st.DrawFn) -> tuple[Snapshot, list[str]]:
    nodes = [
        node(
            name,
            unavailable=draw(st.sampled_from([False, False, False, True])),
            unschedulable=draw(st.sampled_from([False, False, False, True])),
            zone=draw(st.sampled_from(["a", "b"])),
        )
        for name in NODE_NAMES
    ]
    live = frozenset(draw(st.sets(st.sampled_from(NODE_NAMES))))
    services = []
    slices = []
    for i in range(draw(st.integers(1, 6))):
        svc = service(f"s{i}", local=draw(st.booleans()))
        services.append(svc)
        endpoints = draw(st.lists(st.tuples(st.sampled_from([*NODE_NAMES, None]), st.booleans()), max_size=4))
        slices.append(slice_for(svc, *endpoints))
    l2_selectors = draw(st.sampled_from([(), (selector(zone="a"),)]))
    cfg = config(
        [pool("p", ("192.0.2.0", "192.0.2.7"), ("2001:db8::", "2001:db8::7"))],
        l2=[L2Advertisement("l2", NS, node_selectors=l2_selectors)],
        bgp=[BGPAdvertisement("bgp", NS, aggregation_length=draw(st.sampled_from([32, 30])))],
        peers=[peer("r1"), peer("r2", node_selectors=(selector(zone="b"),))],
    )
    snap = Snapshot(config=cfg, world=world(services, slices, nodes), node="n1", live_nodes=live)
    return snap, NODE_NAMES


def for_node(snap: Snapshot, name: str) -> Snapshot:
    return Snapshot(config=snap.config, world=snap.world, node=name, live_nodes=snap.live_nodes)


@settings(max_examples=100, deadline=None)
@given(clusters())
def test_every_vip_has_at_most_one_l2_speaker_and_all_nodes_agree(
    cluster: tuple[Snapshot, list[str]],
) -> None:
    snap, names = cluster
    states = {n: reconcile(for_node(snap, n)) for n in names}
    speakers = Counter(a.address for state in states.values() for a in state.l2)
    assert all(count == 1 for count in speakers.values())
    owners = {(s.key, s.l2.owner) for state in states.values() for s in state.services if s.l2 is not None}
    assert len(owners) == len({k for k, _ in owners})  # one verdict per service, whichever node computes it
    for state in states.values():
        for s in state.services:
            if s.l2 is None or s.l2.reason is not None:
                continue
            assert s.l2.owner == s.l2.candidates[0]
            assert snap.live_nodes is not None and s.l2.owner in snap.live_nodes
            assert availability(snap.world.nodes[s.l2.owner]) is None
            assert [a.address for a in states[s.l2.owner].l2 if a.service == s.key] == list(
                s.allocation.addresses
            )


@settings(max_examples=100, deadline=None)
@given(clusters())
def test_bgp_routes_only_from_eligible_nodes(cluster: tuple[Snapshot, list[str]]) -> None:
    snap, names = cluster
    for name in names:
        state = reconcile(for_node(snap, name))
        announced = {r.prefix for p in state.bgp for r in p.routes}
        if availability(snap.world.nodes[name]) is not None:
            assert not announced
        for p in state.bgp:
            assert p.peer == "r1" or snap.world.nodes[name].labels["zone"] == "b"
            for r in p.routes:
                assert all(
                    any(a in r.prefix for a in s.allocation.addresses)
                    for s in state.services
                    if s.key in r.services
                )


@settings(max_examples=50, deadline=None)
@given(clusters())
def test_reconcile_is_deterministic(cluster: tuple[Snapshot, list[str]]) -> None:
    snap, _ = cluster
    assert reconcile(snap) == reconcile(snap)
