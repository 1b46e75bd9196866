"""Per-service event lines: one per change, summaries for large pushes, nothing for an unchanged push."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from lbd.config import parse_objects
from lbd.daemon import event_log
from lbd.daemon.core import DaemonCore
from lbd.daemon.event_log import ServiceEventLog
from lbd.logsetup import configure
from lbd.reconcile import DesiredState
from tests.unit.daemon.helpers import service_documents


def desired(core: DaemonCore, docs: list[dict[str, Any]]) -> DesiredState:
    assert core.offer(parse_objects(docs, namespace="metallb-system")) == ()
    state = core.compute({})
    assert state is not None
    return state


def write(events_log: ServiceEventLog, state: DesiredState) -> bool:
    lines = events_log.update(state)
    lines.allocations.write()
    lines.announcements.write()
    return lines.addresses_changed


def events(logs: list[dict[str, Any]]) -> list[tuple[str, str, Any]]:
    return [(e["event"], e.get("service", ""), e.get("ip")) for e in logs]


def test_lines_once_per_change_and_none_for_an_unchanged_push() -> None:
    core, events_log = DaemonCore("n1", time.time), ServiceEventLog()
    first = desired(core, service_documents({"a": "192.0.2.10", "b": "192.0.2.11"}))
    with capture_logs() as logs:
        assert write(events_log, first)
    assert events(logs) == [
        ("ipAllocated", "default/a", ["192.0.2.10"]),
        ("ipAllocated", "default/b", ["192.0.2.11"]),
        ("serviceAnnounced", "default/a", "192.0.2.10"),
        ("serviceAnnounced", "default/b", "192.0.2.11"),
    ]
    with capture_logs() as logs:
        assert not write(events_log, first)
        # A recomputed desired state with the same content: nothing to say either.
        assert (
            core.offer(
                parse_objects(
                    service_documents({"a": "192.0.2.10", "b": "192.0.2.11"}), namespace="metallb-system"
                )
            )
            == ()
        )
        again = core.compute({})
        assert again is not None and again.services[0] is not first.services[0]
        assert not write(events_log, again)
    assert logs == []
    # b moves, a goes, c cannot get its address (outside the pool).
    second = desired(core, service_documents({"b": "192.0.2.12", "c": "203.0.113.1"}))
    with capture_logs() as logs:
        assert write(events_log, second)
    assert events(logs) == [
        ("ipAllocated", "default/b", ["192.0.2.12"]),
        ("allocationFailed", "default/c", None),
        ("serviceDeleted", "default/a", ["192.0.2.10"]),
        ("serviceAnnounced", "default/b", "192.0.2.12"),
        ("serviceWithdrawn", "default/b", "192.0.2.11"),
        ("serviceWithdrawn", "default/a", "192.0.2.10"),
    ]
    assert [e["log_level"] for e in logs if e["event"] == "allocationFailed"] == ["warning"]


def test_layer2_answers_are_logged_by_service() -> None:
    core, events_log = DaemonCore("n1", time.time), ServiceEventLog()
    with capture_logs() as logs:
        write(events_log, desired(core, service_documents({"a": "192.0.2.10"}, l2=True)))
    assert [(e["event"], e["ip"], e["protocol"]) for e in logs if "protocol" in e] == [
        ("serviceAnnounced", "192.0.2.10", "layer2")
    ]


# Five services allocated at once: more than a (patched) limit of three lines.
MANY = {f"s{i}": f"192.0.2.{10 + i}" for i in range(5)}


@pytest.fixture
def log_level(request: pytest.FixtureRequest) -> Iterator[None]:
    """The level of the test's parameter, whatever an earlier test configured (capture comes after
    the level filter: at info, debug lines never reach it)."""
    saved = structlog.get_config()
    configure(request.param)
    yield
    structlog.configure(**saved)


@pytest.mark.parametrize("log_level", ["debug"], indirect=True)
@pytest.mark.usefixtures("log_level")
def test_a_large_push_is_summarised_with_each_line_at_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(event_log, "EACH_LIMIT", 3)
    with capture_logs() as logs:
        pushed = desired(DaemonCore("n1", time.time), service_documents({**MANY, "bad": "203.0.113.1"}))
        ServiceEventLog().update(pushed).allocations.write()
    debug = [e for e in logs if e["log_level"] == "debug"]
    summaries = [e for e in logs if e["event"] == "eventsSummarized"]
    assert len(debug) == 6
    by_event = {e["summarized"]: e for e in summaries}
    assert {k: (e["services"], e["log_level"]) for k, e in by_event.items()} == {
        "ipAllocated": (5, "info"),
        "allocationFailed": (1, "warning"),
    }
    assert by_event["ipAllocated"]["examples"] == [f"default/s{i}" for i in range(5)]


@pytest.mark.parametrize("log_level", ["info"], indirect=True)
@pytest.mark.usefixtures("log_level")
def test_a_large_push_without_debug_keeps_only_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(event_log, "EACH_LIMIT", 3)
    with capture_logs() as logs:
        lines = ServiceEventLog().update(desired(DaemonCore("n1", time.time), service_documents(MANY)))
        lines.allocations.write()
        lines.announcements.write()
    assert lines.addresses_changed and lines.allocations.count == 5
    assert [(e["event"], e["summarized"], e["services"]) for e in logs] == [
        ("eventsSummarized", "ipAllocated", 5),
        ("eventsSummarized", "serviceAnnounced", 5),
    ]
