"""DaemonCore: a bad update is rejected whole and the last good state stays; health gates announcements."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from lbd.config import load_paths
from lbd.daemon.core import DaemonCore, announced_addresses
from lbd.daemon.health import CHECK, HealthState
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
