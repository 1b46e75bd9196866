"""DaemonCore's bookkeeping between pushes costs the changes, and equals what a fresh pass gives."""

from __future__ import annotations

import time
from typing import Any

import pytest

from lbd.allocator.requests import State
from lbd.config import parse_objects
from lbd.daemon import health
from lbd.daemon.core import DaemonCore
from lbd.daemon.health import HealthChecks
from tests.unit.daemon.helpers import service_documents


def test_allocations_follow_every_change_like_a_fresh_pass() -> None:
    core = DaemonCore("n1", time.time, previous={"default/old": ()})
    steps = [
        {"a": "192.0.2.10", "b": "192.0.2.11"},
        {"a": "192.0.2.10", "b": "192.0.2.12", "c": "192.0.2.13"},
        {"b": "192.0.2.12", "c": "203.0.113.9"},  # a removed, c can no longer have its address
        {"b": "192.0.2.12", "c": "192.0.2.13", "d": "192.0.2.14"},
        {},
    ]
    for services in steps:
        assert (
            core.offer(parse_objects(service_documents(services, l2=True), namespace="metallb-system")) == ()
        )
        desired = core.compute({})
        assert desired is not None
        fresh = {a.key: a.addresses for a in desired.allocations.services if a.state is State.ALLOCATED}
        assert dict(core.allocations) == fresh


def test_health_annotations_are_read_again_only_for_new_service_objects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parsed: list[str] = []
    real = health.parse_health_check

    def counting(service: Any) -> Any:
        parsed.append(service.name)
        return real(service)

    monkeypatch.setattr(health, "parse_health_check", counting)
    checks = HealthChecks()
    first = parse_objects(
        service_documents({"a": "192.0.2.10", "b": "192.0.2.11"}, l2=True, checks={"a": "tcp:192.0.2.10:80"}),
        namespace="metallb-system",
    )
    found, errors = checks.update(first.world)
    assert set(found) == {"default/a"} and errors == [] and sorted(parsed) == ["a", "b"]
    parsed.clear()
    # Same objects (as the config cache keeps them): nothing is read again.
    assert checks.update(first.world) == (found, [])
    assert parsed == []
    # b gains a bad check, a is removed: only the new b object is read.
    world = first.world
    services = {
        "default/b": parse_objects(
            service_documents({"b": "192.0.2.11"}, l2=True, checks={"b": "ftp://x"}),
            namespace="metallb-system",
        ).world.services["default/b"]
    }
    found, errors = checks.update(type(world)(services=services))
    assert parsed == ["b"] and found == {} and [e.name for e in errors] == ["default/b"]
