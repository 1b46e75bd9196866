"""Health-check annotations, the per-check state machine and the synthetic endpoint slices."""

from __future__ import annotations

import pytest

from lbd.config import ConfigError, Service, World
from lbd.config.frozen import FrozenMap
from lbd.daemon.health import (
    CHECK,
    FAILURES,
    INTERVAL,
    TIMEOUT,
    HealthCheck,
    HealthChecks,
    HealthState,
    HealthWorld,
    healthy_ids,
    parse_health_check,
    with_health,
)
from lbd.membership import service_id
from tests.unit.daemon.helpers import parsed, pool, service


def svc(**notes: str) -> Service:
    return Service("web", "default", type="LoadBalancer", annotations=FrozenMap(notes))


@pytest.mark.parametrize(
    ("text", "kind", "host", "port", "path"),
    [
        ("tcp:8080", "tcp", "127.0.0.1", 8080, ""),
        ("tcp:192.0.2.1:22", "tcp", "192.0.2.1", 22, ""),
        ("tcp:[2001:db8::1]:443", "tcp", "2001:db8::1", 443, ""),
        ("tcp:backend.example:5432", "tcp", "backend.example", 5432, ""),
        ("http://127.0.0.1:8080/healthz", "http", "127.0.0.1", 8080, "/healthz"),
        ("http://localhost/", "http", "localhost", 80, "/"),
        ("http://localhost", "http", "localhost", 80, "/"),
        ("http://[::1]:81/ready?full=1", "http", "::1", 81, "/ready?full=1"),
        ("  tcp:80  ", "tcp", "127.0.0.1", 80, ""),
    ],
)
def test_targets(text: str, kind: str, host: str, port: int, path: str) -> None:
    check = parse_health_check(svc(**{CHECK: text}))
    assert isinstance(check, HealthCheck)
    assert (check.kind, check.host, check.port, check.path) == (kind, host, port, path)
    assert check.target == text.strip()
    assert (check.interval, check.timeout, check.failures) == (5.0, 1.0, 3)


@pytest.mark.parametrize(
    ("notes", "field", "fragment"),
    [
        ({CHECK: "udp:53"}, CHECK, "expected tcp:PORT"),
        ({CHECK: "tcp:0"}, CHECK, "is not 1..65535"),
        ({CHECK: "tcp:65536"}, CHECK, "is not 1..65535"),
        ({CHECK: "tcp:[2001:db8::1:80"}, CHECK, "tcp:[ADDR]:PORT"),
        ({CHECK: "tcp:bad_host!:80"}, CHECK, "is not an IP address or a host name"),
        ({CHECK: "http:///x"}, CHECK, "needs a host"),
        ({CHECK: "https://x/"}, CHECK, "expected"),
        ({CHECK: "tcp:80", INTERVAL: "fast"}, INTERVAL, ""),
        ({CHECK: "tcp:80", INTERVAL: "50ms"}, INTERVAL, "at least 0.1s"),
        ({CHECK: "tcp:80", INTERVAL: "1s", TIMEOUT: "2s"}, TIMEOUT, "at most the interval"),
        ({CHECK: "tcp:80", TIMEOUT: "0s"}, TIMEOUT, "more than 0"),
        ({CHECK: "tcp:80", FAILURES: "0"}, FAILURES, "1..100"),
        ({CHECK: "tcp:80", FAILURES: "many"}, FAILURES, "1..100"),
        ({INTERVAL: "1s"}, INTERVAL, f"set without {CHECK}"),
    ],
)
def test_errors_name_service_and_annotation(notes: dict[str, str], field: str, fragment: str) -> None:
    errors = parse_health_check(svc(**notes))
    assert isinstance(errors, list)
    assert [(e.kind, e.name, e.field) for e in errors] == [
        ("Service", "default/web", f'metadata.annotations["{field}"]')
    ]
    assert fragment in errors[0].message


def test_no_check_no_errors() -> None:
    assert parse_health_check(svc()) == []


def test_tuning_annotations() -> None:
    check = parse_health_check(svc(**{CHECK: "tcp:80", INTERVAL: "2s", TIMEOUT: "500ms", FAILURES: "1"}))
    assert isinstance(check, HealthCheck)
    assert (check.interval, check.timeout, check.failures) == (2.0, 0.5, 1)


def test_check_and_slices_together_is_an_error() -> None:
    slice_doc = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "web-1",
            "namespace": "default",
            "labels": {"kubernetes.io/service-name": "web"},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": True}, "nodeName": "node-a"}],
    }
    result = parsed(pool(), service("web", {CHECK: "tcp:80"}), slice_doc)
    checks, errors = HealthChecks().update(result.world)
    assert checks == {}
    assert len(errors) == 1 and "either slices or a health check" in errors[0].message


def test_record_first_probe_decides_then_threshold() -> None:
    state = HealthState()
    state = state.record(False, "refused", 1.0, threshold=3)
    assert (state.healthy, state.failures, state.last_error, state.transitions) == (False, 1, "refused", 1)
    state = state.record(True, None, 2.0, threshold=3)
    assert (state.healthy, state.failures, state.last_error, state.transitions) == (True, 0, None, 2)
    state = state.record(False, "refused", 3.0, threshold=3)
    state = state.record(False, "refused", 4.0, threshold=3)
    assert state.healthy is True and state.failures == 2
    state = state.record(False, "refused", 5.0, threshold=3)
    assert (state.healthy, state.failures, state.transitions, state.last_probe) == (False, 3, 3, 5.0)


def test_with_health_adds_one_slice_per_check() -> None:
    result = parsed(pool(), service("web", {CHECK: "tcp:80"}), service("plain"))
    checks, errors = HealthChecks().update(result.world)
    assert errors == []
    unknown = with_health(result.world, "node-a", {}, checks)
    (sl,) = unknown.endpoint_slices.values()
    assert (sl.namespace, sl.service_name, sl.address_type) == ("default", "web", "IPv4")
    (endpoint,) = sl.endpoints
    assert endpoint.node_name == "node-a" and endpoint.ready is False
    healthy = with_health(result.world, "node-a", {"default/web": HealthState(True)}, checks)
    assert next(iter(healthy.endpoint_slices.values())).endpoints[0].ready is True


def test_with_health_without_checks_is_identity() -> None:
    result = parsed(pool(), service("plain"))
    assert with_health(result.world, "node-a", {}, {}) is result.world


def test_config_error_type() -> None:
    # The daemon logs these by object and field; keep the type what lbd.config uses everywhere.
    errors = parse_health_check(svc(**{CHECK: "nope"}))
    assert isinstance(errors, list) and isinstance(errors[0], ConfigError)


def test_default_timeout_follows_a_short_interval() -> None:
    check = parse_health_check(svc(**{CHECK: "tcp:80", INTERVAL: "200ms"}))
    assert isinstance(check, HealthCheck)
    assert (check.interval, check.timeout) == (0.2, 0.2)


def test_one_endpoint_per_live_node_with_its_outcome() -> None:
    result = parsed(pool(), service("web", {CHECK: "tcp:80"}))
    checks, _ = HealthChecks().update(result.world)
    web = frozenset({service_id("default/web")})
    world = with_health(
        result.world,
        "node-a",
        {"default/web": HealthState(True)},
        checks,
        # node-c is live but its set has not arrived: not ready. node-d is not live: no endpoint.
        peers={"node-b": web, "node-d": web},
        live=frozenset({"node-a", "node-b", "node-c"}),
    )
    (sl,) = world.endpoint_slices.values()
    assert [(e.node_name, e.ready, e.serving) for e in sl.endpoints] == [
        ("node-a", True, True),
        ("node-b", True, True),
        ("node-c", False, False),
    ]
    # Elected as under Local whatever the spec says; the files' object is left alone.
    assert world.services["default/web"].external_traffic_policy == "Local"
    assert result.world.services["default/web"].external_traffic_policy == "Cluster"


def test_health_world_keeps_unchanged_objects() -> None:
    result = parsed(pool(), service("a", {CHECK: "tcp:80"}), service("b", {CHECK: "tcp:80"}), service("c"))
    checks, _ = HealthChecks().update(result.world)
    builder = HealthWorld()
    live = frozenset({"node-a", "node-b"})
    states = {"default/a": HealthState(True), "default/b": HealthState(True)}
    both = frozenset({service_id("default/a"), service_id("default/b")})

    def build(peer: frozenset[bytes]) -> World:
        return builder.world(result.world, checks, "node-a", states=states, peers={"node-b": peer}, live=live)

    first = build(both)
    assert build(frozenset(both)) is first
    flipped = build(frozenset({service_id("default/b")}))
    assert flipped is not first
    assert flipped.endpoint_slices["default/lbd-health-b"] is first.endpoint_slices["default/lbd-health-b"]
    assert (
        flipped.endpoint_slices["default/lbd-health-a"] is not first.endpoint_slices["default/lbd-health-a"]
    )
    # Services are rewritten once per accepted config, not per call.
    assert flipped.services is first.services
    assert flipped.services["default/c"] is result.world.services["default/c"]


def test_healthy_ids_are_the_passing_checks() -> None:
    states = {"default/a": HealthState(True), "default/b": HealthState(False), "default/c": HealthState()}
    assert healthy_ids(states) == {service_id("default/a")}
