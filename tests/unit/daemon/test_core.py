"""DaemonCore: a bad update is rejected whole and the last good state stays; health gates announcements."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from lbd.config import load_paths
from lbd.daemon.core import DaemonCore, announced_addresses
from lbd.daemon.health import CHECK, HealthState
from lbd.membership import service_id
from tests.unit.daemon.helpers import NODE, l2, parsed, pool, service


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_nothing_before_first_config() -> None:
    core = DaemonCore(NODE, Clock())
    assert core.compute({}) is None
    assert core.loaded is None and core.config is None


def test_accepted_update_is_announced() -> None:
    clock = Clock()
    core = DaemonCore(NODE, clock)
    assert core.offer(parsed(pool(), l2(), service("web"))) == ()
    desired = core.compute({})
    assert desired is not None
    assert [str(a.address) for a in desired.l2] == ["192.0.2.200"]
    assert core.loaded is not None and core.loaded.at == 1000.0 and core.loaded.generation == 1
    assert announced_addresses(desired) == {ipaddress.ip_address("192.0.2.200")}


def test_bad_update_keeps_last_good_state_and_addresses() -> None:
    clock = Clock()
    core = DaemonCore(NODE, clock)
    core.offer(parsed(pool(), l2(), service("a"), service("b")))
    first = core.compute({})
    assert first is not None
    clock.now = 2000.0
    bad = pool()
    bad["spec"]["addresses"] = ["not-an-address"]
    errors = core.offer(parsed(bad, l2(), service("a")))
    assert errors and errors[0].kind == "IPAddressPool" and "addresses" in errors[0].field
    assert core.store.last_rejection is not None and core.store.last_rejection.at == 2000.0
    assert core.loaded is not None and core.loaded.at == 1000.0
    again = core.compute({})
    assert again is not None and again.l2 == first.l2


def test_addresses_kept_across_reloads() -> None:
    core = DaemonCore(NODE, Clock())
    core.offer(parsed(pool(), l2(), service("b")))
    core.compute({})
    # "a" sorts first and would take .200 on a fresh allocation; "b" keeps it.
    core.offer(parsed(pool(), l2(), service("a"), service("b")))
    desired = core.compute({})
    assert desired is not None
    by_service = {a.service: str(a.address) for a in desired.l2}
    assert by_service == {"default/b": "192.0.2.200", "default/a": "192.0.2.201"}


def test_bad_health_annotation_rejects_the_update() -> None:
    core = DaemonCore(NODE, Clock())
    core.offer(parsed(pool(), l2(), service("web")))
    errors = core.offer(parsed(pool(), l2(), service("web", {CHECK: "udp:53"})))
    assert [(e.kind, e.name) for e in errors] == [("Service", "default/web")]
    assert core.loaded is not None and core.loaded.checks == {}


def test_health_gates_the_announcement() -> None:
    core = DaemonCore(NODE, Clock())
    core.offer(parsed(pool(), l2(), service("web", {CHECK: "tcp:8080"})))
    assert core.loaded is not None and set(core.loaded.checks) == {"default/web"}
    unknown = core.compute({})
    assert unknown is not None and unknown.l2 == ()
    state = unknown.service("default/web")
    assert state is not None and state.l2 is not None and state.l2.reason is not None
    up = core.compute({"default/web": HealthState(True)})
    assert up is not None and [str(a.address) for a in up.l2] == ["192.0.2.200"]
    down = core.compute({"default/web": HealthState(False)})
    assert down is not None and down.l2 == ()


def test_live_nodes_decide_the_owner() -> None:
    core = DaemonCore(NODE, Clock())
    core.offer(parsed(pool(), l2(), service("web")))
    alone = core.compute({}, frozenset({NODE}))
    assert alone is not None and len(alone.l2) == 1
    state = alone.service("default/web")
    assert state is not None and state.l2 is not None
    # With a second live node, exactly one of the two owns the address; from here it is the hash order.
    crowd = core.compute({}, frozenset({NODE, "node-b"}))
    assert crowd is not None
    decision = crowd.service("default/web")
    assert decision is not None and decision.l2 is not None
    assert set(decision.l2.candidates) == {NODE, "node-b"}
    assert (len(crowd.l2) == 1) == (decision.l2.owner == NODE)


def test_standalone_example_is_accepted_with_its_health_check() -> None:
    example = Path(__file__).resolve().parents[3] / "examples" / "config" / "standalone"
    core = DaemonCore("node-a", Clock())
    assert core.offer(load_paths([example])) == ()
    assert core.loaded is not None
    (check,) = core.loaded.checks.values()
    assert (check.service, check.kind, check.port, check.path) == ("default/api", "http", 8080, "/healthz")
    desired = core.compute({"default/api": HealthState(True)})
    assert desired is not None
    assert {a.service for a in desired.l2} == {"default/web", "default/api"}


def _two_nodes(*names: str) -> dict[str, DaemonCore]:
    cores = {}
    for name in names:
        core = DaemonCore(name, Clock())
        assert (
            core.offer(parsed(pool(), l2(), *(service(f"s{i}", {CHECK: "tcp:80"}) for i in range(8)))) == ()
        )
        cores[name] = core
    return cores


def _owners(cores: dict[str, DaemonCore], healthy: dict[str, set[str]]) -> dict[str, list[str]]:
    """Each service's announcing nodes when `healthy[node]` are the services passing there, every node
    knowing its own outcomes from its checks and the others' from membership."""
    live = frozenset(cores)
    owners: dict[str, list[str]] = {f"default/s{i}": [] for i in range(8)}
    for name, core in cores.items():
        own = {key: HealthState(key in healthy[name]) for key in owners}
        peers = {n: frozenset(service_id(k) for k in healthy[n]) for n in cores if n != name}
        desired = core.compute(own, live, peers)
        assert desired is not None
        for a in desired.l2:
            owners[a.service].append(name)
    return owners


def test_shared_health_elects_exactly_one_healthy_owner() -> None:
    cores = _two_nodes(NODE, "node-b")
    everything = {f"default/s{i}" for i in range(8)}
    both = _owners(cores, {NODE: everything, "node-b": everything})
    # Both healthy: one owner each, by the hash order, and each node owns some.
    assert all(len(nodes) == 1 for nodes in both.values())
    assert {n for nodes in both.values() for n in nodes} == {NODE, "node-b"}
    # node-a fails everything: node-b takes every address, nobody is left without an owner.
    failed = _owners(cores, {NODE: set(), "node-b": everything})
    assert failed == {key: ["node-b"] for key in everything}
    # Nobody healthy: nobody answers (MetalLB: no endpoint anywhere).
    assert _owners(cores, {NODE: set(), "node-b": set()}) == {key: [] for key in everything}
    # node-a recovers: the election decides again, so the addresses it owned come back to it.
    assert _owners(cores, {NODE: everything, "node-b": everything}) == both


def test_a_live_node_not_heard_yet_is_not_a_candidate() -> None:
    core = _two_nodes(NODE)[NODE]
    own = {f"default/s{i}": HealthState(True) for i in range(8)}
    desired = core.compute(own, frozenset({NODE, "node-b"}), {})
    assert desired is not None and len(desired.l2) == 8
    state = desired.service("default/s0")
    assert state is not None and state.l2 is not None and state.l2.candidates == (NODE,)


def test_one_flip_recomputes_one_service() -> None:
    core = _two_nodes(NODE)[NODE]
    keys = [f"default/s{i}" for i in range(8)]
    own = {key: HealthState(True) for key in keys}
    peers = {"node-b": frozenset(service_id(k) for k in keys)}
    live = frozenset({NODE, "node-b"})
    # The second compute differs from the first by the remembered allocations alone.
    core.compute(own, live, peers)
    core.compute(own, live, peers)
    world = core.world(own)
    # Nothing changed: the very same world, and no service is decided again.
    core.compute(own, live, dict(peers))
    assert core.world(own) is world
    assert core._reconciler.recomputed == 0
    peers = {"node-b": frozenset(service_id(k) for k in keys[1:])}
    core.compute(own, live, peers)
    assert core._reconciler.recomputed == 1
    after = core.world(own)
    changed = [k for k, s in after.endpoint_slices.items() if world.endpoint_slices[k] is not s]
    assert changed == ["default/lbd-health-s0"]
