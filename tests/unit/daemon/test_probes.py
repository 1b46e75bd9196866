"""The probes against real loopback listeners, and the monitor's task bookkeeping with a fake probe."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Literal

import pytest

from lbd.daemon.health import HealthCheck
from lbd.daemon.probes import HealthMonitor, probe


@contextlib.asynccontextmanager
async def server(reply: bytes | None) -> AsyncIterator[int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if reply is not None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(reply)
            await writer.drain()
        writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        srv.close()
        await srv.wait_closed()


def check(kind: Literal["tcp", "http"], port: int, path: str = "/") -> HealthCheck:
    return HealthCheck("default/web", kind, "127.0.0.1", port, path, f"{kind}:{port}", 1.0, 0.5, 1)


async def test_tcp_probe() -> None:
    async with server(None) as port:
        assert await probe(check("tcp", port)) is None
    error = await probe(check("tcp", port))
    assert error is not None and "ConnectionRefused" in error


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        (b"HTTP/1.0 200 OK\r\n\r\n", None),
        (b"HTTP/1.1 302 Found\r\n\r\n", None),
        (b"HTTP/1.1 503 Service Unavailable\r\n\r\n", "HTTP status 503"),
        (b"SSH-2.0-OpenSSH\r\n", "not an HTTP status line"),
        (b"", "not an HTTP status line"),
    ],
)
async def test_http_probe(reply: bytes, verdict: str | None) -> None:
    async with server(reply) as port:
        result = await probe(check("http", port, "/healthz"))
    if verdict is None:
        assert result is None
    else:
        assert result is not None and verdict in result


async def test_http_probe_times_out() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    srv = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        hc = HealthCheck("default/web", "http", "127.0.0.1", port, "/", "x", 1.0, 0.1, 1)
        assert await probe(hc) == "no answer within 0.1s"
    finally:
        srv.close()


class FakeProbe:
    def __init__(self) -> None:
        self.results: dict[str, str | None] = {}
        self.calls = 0

    async def __call__(self, hc: HealthCheck) -> str | None:
        self.calls += 1
        return self.results.get(hc.service)


async def until(predicate: Callable[[], bool], timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_monitor_reports_flips_and_keeps_unchanged_checks() -> None:
    changes: list[int] = []
    fake = FakeProbe()
    monitor = HealthMonitor(lambda: changes.append(1), fake)
    hc = HealthCheck("default/web", "tcp", "127.0.0.1", 80, "", "tcp:80", 0.1, 0.1, 1)
    monitor.update({"default/web": hc})
    await until(lambda: monitor.states["default/web"].healthy is True)
    assert changes == [1]
    fake.results["default/web"] = "refused"
    await until(lambda: monitor.states["default/web"].healthy is False)
    assert changes == [1, 1]
    # The same definition again keeps the task and its state: a reload never makes a check blink.
    monitor.update({"default/web": hc})
    assert monitor.states["default/web"].healthy is False
    monitor.update({})
    assert monitor.states == {} and monitor.checks == {}
    await monitor.close()


async def test_monitor_close_cancels_tasks() -> None:
    fake = FakeProbe()
    monitor = HealthMonitor(lambda: None, fake)
    monitor.update({"default/web": HealthCheck("default/web", "tcp", "127.0.0.1", 80, "", "t", 0.1, 0.1, 1)})
    await until(lambda: fake.calls > 0)
    await monitor.close()
    calls = fake.calls
    await asyncio.sleep(0.25)
    assert fake.calls == calls
