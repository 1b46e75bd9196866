"""Running the local health checks: one asyncio task per checked service, on the loop's clock.

A probe is a TCP connect, or an HTTP/1.0 GET whose status must be 2xx or 3xx (Kubernetes' httpGet rule).
A state change calls `on_change` so the daemon recomputes what it announces.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping

import structlog

from lbd.daemon.health import HealthCheck, HealthState

log = structlog.get_logger("lbd.health")

_HTTP_OK = range(200, 400)
_MAX_STATUS_LINE = 1024


async def probe(check: HealthCheck) -> str | None:
    """None when the check passes, else why it failed."""
    try:
        async with asyncio.timeout(check.timeout):
            reader, writer = await asyncio.open_connection(check.host, check.port)
            try:
                if check.kind == "tcp":
                    return None
                host = f"[{check.host}]" if ":" in check.host else check.host
                request = (
                    f"GET {check.path} HTTP/1.0\r\nHost: {host}:{check.port}\r\n"
                    "User-Agent: lbd-health-check\r\nConnection: close\r\n\r\n"
                )
                writer.write(request.encode("ascii"))
                await writer.drain()
                line = await reader.readline()
                return _http_verdict(line[:_MAX_STATUS_LINE])
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except TimeoutError:
        return f"no answer within {check.timeout:g}s"
    except (OSError, ValueError) as exc:
        # ValueError: a status line longer than the stream limit, or a host name IDNA cannot encode.
        return f"{exc.__class__.__name__}: {exc}"


def _http_verdict(status_line: bytes) -> str | None:
    parts = status_line.decode("latin-1").split()
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        return f"not an HTTP status line: {status_line[:80]!r}"
    return None if int(parts[1]) in _HTTP_OK else f"HTTP status {parts[1]}"


Probe = Callable[[HealthCheck], Awaitable[str | None]]


class HealthMonitor:
    """Keeps one probing task per check. A check whose definition did not change across a reload keeps
    its task and state, so reloading never makes a healthy service blink."""

    __slots__ = ("_checks", "_on_change", "_probe", "_states", "_tasks")

    def __init__(
        self,
        on_change: Callable[[], None],
        probe_fn: Probe = probe,
    ) -> None:
        self._on_change = on_change
        self._probe = probe_fn
        self._checks: dict[str, HealthCheck] = {}
        self._states: dict[str, HealthState] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    @property
    def states(self) -> Mapping[str, HealthState]:
        return self._states

    @property
    def checks(self) -> Mapping[str, HealthCheck]:
        return self._checks

    def update(self, checks: Mapping[str, HealthCheck]) -> None:
        for key in list(self._checks):
            if checks.get(key) != self._checks[key]:
                self._tasks.pop(key).cancel()
                del self._checks[key]
                self._states.pop(key, None)
        for key, check in checks.items():
            if key not in self._checks:
                self._checks[key] = check
                self._states[key] = HealthState()
                self._tasks[key] = asyncio.create_task(self._run(check), name=f"health {key}")

    async def _run(self, check: HealthCheck) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            error = await self._probe(check)
            before = self._states[check.service]
            after = before.record(error is None, error, started, check.failures)
            self._states[check.service] = after
            if after.healthy != before.healthy:
                log.info(
                    "healthCheckChanged",
                    service=check.service,
                    healthy=after.healthy,
                    target=check.target,
                    error=error,
                )
                self._on_change()
            await asyncio.sleep(max(0.0, started + check.interval - loop.time()))

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self._checks.clear()
        self._states.clear()
