"""The daemon's `Reconciler` gives, after every change, exactly what `reconcile` gives."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lbd.allocator.requests import AllocationResult, State
from lbd.config.model import BGPAdvertisement, EndpointSlice, L2Advertisement, Node, Service
from lbd.reconcile import Reason, Snapshot, allocate_snapshot, desired_state, reconcile
from lbd.reconcile.incremental import Reconciler
from tests.unit.reconcile.helpers import NS, config, node, peer, pool, selector, service, slice_for, world

NODE_NAMES = ["n1", "n2", "n3"]
CONFIGS = [
    config(
        [pool("p", ("192.0.2.0", "192.0.2.7"), ("2001:db8::", "2001:db8::7"))],
        l2=[L2Advertisement("l2", NS, node_selectors=l2_selectors)],
        bgp=[
            BGPAdvertisement("bgp", NS, aggregation_length=aggregation, communities=()),
            BGPAdvertisement("bgp2", NS, local_pref=100, peers=("r1",)),
        ],
        peers=[peer("r1", peer_asn=64500), peer("r2", node_selectors=(selector(zone="b"),))],
    )
    for l2_selectors in ((), (selector(zone="a"),))
    for aggregation in (32, 30)
]


@st.composite
def steps(draw: st.DrawFn) -> list[Snapshot]:
    services: dict[str, Service] = {}
    slices: dict[str, EndpointSlice] = {}
    nodes = {n: node(n, zone="a" if n != "n3" else "b") for n in NODE_NAMES}
    cfg = CONFIGS[0]
    live = frozenset(NODE_NAMES)
    previous: dict[str, tuple[object, ...]] = {}
    out = []
    for _ in range(draw(st.integers(1, 15))):
        action = draw(st.sampled_from(["svc", "svc", "slice", "slice", "delete", "node", "live", "config"]))
        name = f"s{draw(st.integers(0, 7))}"
        if action == "svc":
            services[name] = service(name, local=draw(st.booleans()))
        elif action == "slice" and name in services:
            endpoints = draw(
                st.lists(st.tuples(st.sampled_from([*NODE_NAMES, None]), st.booleans()), max_size=3)
            )
            slices[f"default/{name}-x"] = slice_for(services[name], *endpoints)
        elif action == "delete":
            services.pop(name, None)
            slices.pop(f"default/{name}-x", None)
        elif action == "node":
            n = draw(st.sampled_from(NODE_NAMES))
            nodes[n] = node(n, unavailable=draw(st.booleans()), zone=nodes[n].labels["zone"])
        elif action == "live":
            live = frozenset(draw(st.sets(st.sampled_from(NODE_NAMES))))
        elif action == "config":
            cfg = draw(st.sampled_from(CONFIGS))
        snapshot = Snapshot(
            config=cfg,
            world=world(services.values(), slices.values(), nodes.values()),
            node="n1",
            live_nodes=live,
            previous=dict(previous),  # type: ignore[arg-type]
            standalone=draw(st.booleans()) if action == "config" else False,
        )
        out.append(snapshot)
        result = reconcile(snapshot)
        previous = {v.key: v.addresses for v in result.allocations.services if v.state is State.ALLOCATED}
    return out


@settings(max_examples=300, deadline=None)
@given(steps())
def test_every_step_equals_reconcile(history: list[Snapshot]) -> None:
    reconciler = Reconciler()
    for snapshot in history:
        assert reconciler.reconcile(snapshot) == reconcile(snapshot)


def _snapshot(
    services: dict[str, Service],
    slices: dict[str, EndpointSlice],
    nodes: list[Node],
    previous: dict[str, tuple[object, ...]] | None = None,
) -> Snapshot:
    return Snapshot(
        config=CONFIGS[0],
        world=world(services.values(), slices.values(), nodes),
        node="n1",
        previous=previous,  # type: ignore[arg-type]
    )


def _cluster(n: int, endpoints_on: str) -> tuple[dict[str, Service], dict[str, EndpointSlice], list[Node]]:
    services = {f"default/s{i}": service(f"s{i}") for i in range(n)}
    slices = {f"default/s{i}-x": slice_for(s, (endpoints_on, True)) for i, s in enumerate(services.values())}
    return services, slices, [node(name, zone="a") for name in NODE_NAMES]


def test_one_service_change_recomputes_one_service() -> None:
    services, slices, nodes = _cluster(6, "n2")
    reconciler = Reconciler()
    state = reconciler.reconcile(_snapshot(services, slices, nodes))
    assert reconciler.recomputed == 6
    # The daemon feeds the addresses back; from then on the allocations are settled.
    previous: dict[str, tuple[object, ...]] = {v.key: v.addresses for v in state.allocations.services}
    reconciler.reconcile(_snapshot(services, slices, nodes, previous))
    services["default/s6"] = service("s6")
    changed = _snapshot(services, slices, nodes, previous)
    assert reconciler.reconcile(changed) == reconcile(changed)
    assert reconciler.recomputed == 1


def test_a_slice_change_recomputes_its_service_only() -> None:
    services, slices, nodes = _cluster(4, "n2")
    reconciler = Reconciler()
    reconciler.reconcile(_snapshot(services, slices, nodes))
    slices["default/s2-x"] = slice_for(services["default/s2"], ("n2", False))
    snapshot = _snapshot(services, slices, nodes)
    state = reconciler.reconcile(snapshot)
    assert state == reconcile(snapshot)
    assert reconciler.recomputed == 1
    decision = state.service("default/s2")
    assert decision is not None and decision.bgp is not None and decision.bgp.reason is not None


def test_an_equal_copy_of_a_slice_then_its_removal() -> None:
    # The copy is not re-indexed (nothing changed); removing it must still remove what was indexed.
    services, slices, nodes = _cluster(3, "n1")
    reconciler = Reconciler()
    reconciler.reconcile(_snapshot(services, slices, nodes))
    slices["default/s1-x"] = slice_for(services["default/s1"], ("n1", True))
    assert reconciler.reconcile(_snapshot(services, slices, nodes)) == reconcile(
        _snapshot(services, slices, nodes)
    )
    assert reconciler.recomputed == 0
    del slices["default/s1-x"]
    snapshot = _snapshot(services, slices, nodes)
    state = reconciler.reconcile(snapshot)
    assert state == reconcile(snapshot)
    decision = state.service("default/s1")
    assert decision is not None and decision.bgp is not None
    assert decision.bgp.reason is Reason.NO_ENDPOINTS


def test_a_service_with_two_slices_losing_them_one_by_one() -> None:
    services, slices, nodes = _cluster(2, "n1")
    svc = services["default/s0"]
    # s0's first slice has no endpoint; a second one, ready on n1, makes it announced.
    slices["default/s0-x"] = slice_for(svc)
    slices["default/s0-y"] = slice_for(svc, ("n1", True), name="s0-y")
    reconciler = Reconciler()
    steps = [dict(slices)]
    del slices["default/s0-y"]
    steps.append(dict(slices))
    slices["default/s0-y"] = slice_for(svc, ("n1", True), name="s0-y")
    del slices["default/s0-x"]
    steps.append(dict(slices))
    del slices["default/s0-y"]
    steps.append(dict(slices))
    reasons = []
    for step in steps:
        snapshot = _snapshot(services, step, nodes)
        state = reconciler.reconcile(snapshot)
        assert state == reconcile(snapshot)
        decision = state.service("default/s0")
        assert decision is not None and decision.bgp is not None
        reasons.append(decision.bgp.reason)
    assert reasons == [None, Reason.NO_ENDPOINTS, None, Reason.NO_ENDPOINTS]


def test_allocations_out_of_key_order_still_give_what_desired_state_gives() -> None:
    # AllocationResult promises key order and the Reconciler walks its memory beside it; a result in
    # another order must still come out right (everything decided afresh).
    services, slices, nodes = _cluster(5, "n1")
    snapshot = _snapshot(services, slices, nodes)
    allocations = allocate_snapshot(snapshot)
    shuffled = AllocationResult(allocations.services[::-1])
    reconciler = Reconciler()
    for result in (allocations, shuffled, shuffled, allocations):
        assert reconciler.desired_state(snapshot, result) == desired_state(snapshot, result)
    assert reconciler.recomputed == 5
