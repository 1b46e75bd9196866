"""Local health checks of standalone services: annotation syntax, per-check state, synthetic endpoints.

A standalone host has no EndpointSlices for the services in its files, so the reconcile function counts
them as served (`Snapshot.standalone`). A service may instead declare a local check. Every node runs it
against its own server and shares the outcome through membership heartbeats (the set of services healthy
there, `lbd.membership`), so each node knows every live node's outcome. They become one synthetic
EndpointSlice per checked service with one endpoint per live node, ready when that node's check passes.
A peer whose set has not arrived yet counts as not ready, and so does this node until its first probe
answered. The service is reconciled as with `externalTrafficPolicy: Local` whatever its spec says: a
standalone node has no kube-proxy to forward traffic to another node's server, so only a node whose own
check passes can serve it. The L2 election then picks the owner among the healthy live nodes and BGP
announces from each healthy node, as MetalLB does with Kubernetes endpoints.

Annotations (documented in docs/standalone.md):
  lbd.io/health-check:           tcp:PORT | tcp:HOST:PORT | tcp:[V6]:PORT | http://HOST[:PORT]/PATH
  lbd.io/health-check-interval:  Go duration, default 5s
  lbd.io/health-check-timeout:   Go duration, default 1s (or the interval if shorter), at most the interval
  lbd.io/health-check-failures:  consecutive failures before a healthy service turns unhealthy, default 3
Nothing here does I/O; `lbd.daemon.probes` runs the checks.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from lbd.config import ConfigError, DurationError, parse_duration
from lbd.config.frozen import FrozenMap
from lbd.config.model import Endpoint, EndpointSlice, Service, World
from lbd.membership import service_id

PREFIX = "lbd.io/health-check"
CHECK = PREFIX
INTERVAL = f"{PREFIX}-interval"
TIMEOUT = f"{PREFIX}-timeout"
FAILURES = f"{PREFIX}-failures"
DEFAULT_INTERVAL = 5.0
DEFAULT_TIMEOUT = 1.0
DEFAULT_FAILURES = 3
SLICE_PREFIX = "lbd-health-"
_MIN_INTERVAL = 0.1
_MAX_FAILURES = 100


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """One service's check. `target` is what the operator wrote (shown by `lbd status services`)."""

    service: str
    kind: Literal["tcp", "http"]
    host: str
    port: int
    path: str
    target: str
    interval: float = DEFAULT_INTERVAL
    timeout: float = DEFAULT_TIMEOUT
    failures: int = DEFAULT_FAILURES


def _field(key: str) -> str:
    return f'metadata.annotations["{key}"]'


def parse_health_check(service: Service) -> HealthCheck | list[ConfigError]:
    """The service's check, or every problem with its annotations (errors name the Service and field).

    Returns an empty list when the service declares no check."""
    notes = service.annotations
    for key in notes:
        if key.startswith(PREFIX):
            break
    else:
        return []  # the common case, checked with one look at each key
    errors: list[ConfigError] = []

    def error(key: str, message: str) -> None:
        errors.append(ConfigError("Service", service.key, _field(key), message))

    raw = notes.get(CHECK)
    if raw is None:
        for key in (INTERVAL, TIMEOUT, FAILURES):
            if key in notes:
                error(key, f"set without {CHECK}")
        return errors
    target = _target(raw.strip())
    if isinstance(target, str):
        error(CHECK, target)
    interval = _duration(notes, INTERVAL, DEFAULT_INTERVAL, error)
    if interval is not None and interval < _MIN_INTERVAL:
        error(INTERVAL, f"must be at least {_MIN_INTERVAL:g}s")
        interval = None
    # An unset timeout shrinks with a short interval rather than contradicting it.
    default_timeout = min(DEFAULT_TIMEOUT, interval) if interval is not None else DEFAULT_TIMEOUT
    timeout = _duration(notes, TIMEOUT, default_timeout, error)
    if interval is not None and timeout is not None and not 0 < timeout <= interval:
        error(TIMEOUT, "must be more than 0 and at most the interval")
    failures = DEFAULT_FAILURES
    if FAILURES in notes:
        text = notes[FAILURES].strip()
        if not text.isdigit() or not 1 <= int(text) <= _MAX_FAILURES:
            error(FAILURES, f"{text!r}: an integer 1..{_MAX_FAILURES}")
        else:
            failures = int(text)
    if errors or isinstance(target, str) or interval is None or timeout is None:
        return errors
    kind, host, port, path = target
    return HealthCheck(service.key, kind, host, port, path, raw.strip(), interval, timeout, failures)


def _duration(
    notes: Mapping[str, str], key: str, default: float, error: Callable[[str, str], None]
) -> float | None:
    if key not in notes:
        return default
    try:
        return parse_duration(notes[key].strip())
    except DurationError as exc:
        error(key, str(exc))
        return None


_Target = tuple[Literal["tcp", "http"], str, int, str]


def _target(text: str) -> _Target | str:
    """(kind, host, port, path) or the reason `text` is not a check."""
    allowed = "tcp:PORT, tcp:HOST:PORT or http://HOST[:PORT]/PATH"
    if text.startswith("tcp:"):
        rest = text[4:]
        host = "127.0.0.1"
        if rest.startswith("["):
            inner, sep, port_text = rest[1:].partition("]:")
            if not sep:
                return f"{text!r}: an IPv6 host needs the form tcp:[ADDR]:PORT"
            host = inner
        elif ":" in rest:
            host, _, port_text = rest.rpartition(":")
        else:
            port_text = rest
        port = _port(port_text)
        if port is None:
            return f"{text!r}: port {port_text!r} is not 1..65535"
        if not _valid_host(host):
            return f"{text!r}: host {host!r} is not an IP address or a host name"
        return ("tcp", host, port, "")
    if text.startswith("http://"):
        try:
            url = urlsplit(text)
            port = url.port or 80
        except ValueError as exc:
            return f"{text!r}: {exc}"
        if not url.hostname or not _valid_host(url.hostname):
            return f"{text!r}: the URL needs a host"
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        return ("http", url.hostname, port, path)
    return f"{text!r}: expected {allowed}"


def _port(text: str) -> int | None:
    if not text.isdigit():
        return None
    port = int(text)
    return port if 1 <= port <= 65535 else None


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        labels = host.split(".")
        return bool(host) and all(
            label and len(label) <= 63 and label.replace("-", "").isalnum() for label in labels
        )
    return True


class HealthChecks:
    """Every service's check, by `namespace/name`, and every annotation error; a check on a service
    that has EndpointSlices in the files is an error (the slices already decide where it is served,
    and two sources of truth would silently disagree).

    With memory: a reload re-reads the annotations of the Services that are new objects (the config
    cache keeps unchanged ones), so 10,000 services cost a pass of identity checks, and only services
    with a check or an error are remembered."""

    __slots__ = ("_found", "_services")

    def __init__(self) -> None:
        # The last world's own (immutable) map: kept by reference, a copy would cost megabytes.
        self._services: Mapping[str, Service] = {}
        self._found: dict[str, HealthCheck | list[ConfigError]] = {}

    def update(self, world: World) -> tuple[dict[str, HealthCheck], list[ConfigError]]:
        seen, found = self._services, self._found
        services = world.services
        for key, service in services.items():
            if seen.get(key) is service:
                continue
            parsed = parse_health_check(service)
            if parsed:
                found[key] = parsed
            else:
                found.pop(key, None)
        for key in [k for k in found if k not in services]:
            del found[key]
        self._services = services
        checks: dict[str, HealthCheck] = {}
        errors: list[ConfigError] = []
        for key, parsed in found.items():
            if not isinstance(parsed, HealthCheck):
                errors.extend(parsed)
            elif world.endpoint_slices_for(services[key]):
                message = "the service has EndpointSlices in the files; use either slices or a health check"
                errors.append(ConfigError("Service", key, _field(CHECK), message))
            else:
                checks[key] = parsed
        return checks, errors


@dataclass(frozen=True, slots=True)
class HealthState:
    """Outcome of one check so far. `healthy` is None until the first probe finished; a service whose
    check has not answered yet is not served (announcing it before knowing would attract traffic to a
    server that may not be listening)."""

    healthy: bool | None = None
    failures: int = 0
    last_error: str | None = None
    last_probe: float | None = None
    transitions: int = 0

    def record(self, ok: bool, error: str | None, now: float, threshold: int) -> HealthState:
        """The state after one probe: one success makes a service healthy; `threshold` consecutive
        failures make a healthy one unhealthy, and the first probe decides either way."""
        failures = 0 if ok else self.failures + 1
        if ok:
            healthy = True
        elif self.healthy is None or failures >= threshold:
            healthy = False
        else:
            healthy = self.healthy
        flips = self.transitions + (1 if healthy != self.healthy else 0)
        return HealthState(healthy, failures, None if ok else error, now, flips)


def healthy_ids(states: Mapping[str, HealthState]) -> frozenset[bytes]:
    """This node's health set for membership: the ids of the services whose check passes here."""
    return frozenset(service_id(key) for key, state in states.items() if state.healthy is True)


def with_health(
    world: World,
    node: str,
    states: Mapping[str, HealthState],
    checks: Mapping[str, HealthCheck],
    *,
    peers: Mapping[str, frozenset[bytes]] | None = None,
    live: frozenset[str] | None = None,
) -> World:
    """`world` plus one synthetic EndpointSlice per checked service (see the module's docstring).
    `peers`: each member's health set; `live`: the live nodes (None: this node alone)."""
    return HealthWorld().world(world, checks, node, states=states, peers=peers or {}, live=live)


_Outcomes = tuple[tuple[str, bool], ...]


class HealthWorld:
    """Builds the world with synthetic slices, keeping every object that did not change the same object
    from one call to the next: the incremental reconciler then skips unchanged services by identity,
    so one node's flip recomputes only that service, and a call where nothing changed returns the
    previous World itself."""

    __slots__ = ("_base", "_result", "_services", "_slices")

    def __init__(self) -> None:
        self._base: tuple[World, Mapping[str, HealthCheck]] | None = None
        self._services: FrozenMap[str, Service] = FrozenMap()
        self._slices: dict[str, tuple[_Outcomes, EndpointSlice]] = {}
        self._result: World | None = None

    def world(
        self,
        world: World,
        checks: Mapping[str, HealthCheck],
        node: str,
        *,
        states: Mapping[str, HealthState],
        peers: Mapping[str, frozenset[bytes]],
        live: frozenset[str] | None,
    ) -> World:
        if not checks:
            return world
        base = self._base
        if base is None or base[0] is not world or base[1] is not checks:
            self._base = (world, checks)
            self._services = _local_policy(world, checks)
            self._slices.clear()
            self._result = None
        nodes = sorted((live or frozenset()) | {node})
        changed = False
        for key in checks:
            service = self._services.get(key)
            if service is None:
                continue
            sid = service_id(key)
            outcomes = tuple(
                (
                    n,
                    states.get(key, HealthState()).healthy is True
                    if n == node
                    else sid in peers.get(n, frozenset()),
                )
                for n in nodes
            )
            cached = self._slices.get(key)
            if cached is None or cached[0] != outcomes:
                self._slices[key] = (outcomes, _slice(service, outcomes))
                changed = True
        if self._result is not None and not changed:
            return self._result
        slices = dict(world.endpoint_slices)
        for _, item in self._slices.values():
            slices[f"{item.namespace}/{item.name}"] = item
        self._result = World(
            services=self._services,
            endpoint_slices=FrozenMap(slices),
            nodes=world.nodes,
            secrets=world.secrets,
            namespaces=world.namespaces,
        )
        return self._result


def _local_policy(world: World, checks: Mapping[str, HealthCheck]) -> FrozenMap[str, Service]:
    """The services with every checked one under externalTrafficPolicy Local (see the docstring)."""
    services = dict(world.services)
    for key in checks:
        service = services.get(key)
        if service is not None and service.external_traffic_policy != "Local":
            services[key] = service.replace(external_traffic_policy="Local")
    return FrozenMap(services)


def _slice(service: Service, outcomes: _Outcomes) -> EndpointSlice:
    name = f"{SLICE_PREFIX}{service.name}"
    family = "IPv6" if service.ip_families[:1] == ("IPv6",) else "IPv4"
    # The address only has to be of the slice's family: nothing routes to a synthetic endpoint.
    loopback = "::1" if family == "IPv6" else "127.0.0.1"
    endpoints = tuple(
        Endpoint(addresses=(loopback,), ready=ready, serving=ready, node_name=n) for n, ready in outcomes
    )
    return EndpointSlice(name, service.namespace, service.name, family, endpoints)
