"""The /metrics endpoint, served from the event loop so a scrape sees a consistent view of the engines.

A scrape is one GET answered with one body, so this is a few lines of HTTP/1.1 over asyncio streams
rather than a web framework: aiohttp alone costs the standalone daemon ~10 MiB of RSS and 0.15 s of
start-up for this one endpoint. Each response closes its connection (Prometheus reconnects per scrape).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from lbd.metrics import Metrics

_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# A scraper's request head is a few hundred bytes; anything this large or this slow is not one.
_HEAD_LIMIT = 16 * 1024
_HEAD_TIMEOUT = 10.0


class MetricsServer:
    """A listening /metrics endpoint; `addresses` as bound, `cleanup` stops it."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()

    @property
    def addresses(self) -> list[Any]:
        assert self._server is not None
        return [s.getsockname() for s in self._server.sockets]

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(
            self._client, host, port, reuse_address=True, limit=_HEAD_LIMIT
        )

    async def cleanup(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._clients):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _HEAD_TIMEOUT)
            writer.write(self._respond(head))
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
            pass
        finally:
            self._clients.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _respond(self, head: bytes) -> bytes:
        method, _, rest = head.partition(b" ")
        target = rest.split(b" ", 1)[0].split(b"?", 1)[0]
        if method not in (b"GET", b"HEAD"):
            return _response(405, "Method Not Allowed", b"", [("Allow", "GET, HEAD")])
        if target != b"/metrics":
            return _response(404, "Not Found", b"")
        body = self._metrics.exposition()
        return _response(200, "OK", body, [("Content-Type", _CONTENT_TYPE)], head_only=method == b"HEAD")


def _response(
    status: int,
    reason: str,
    body: bytes,
    headers: list[tuple[str, str]] | None = None,
    *,
    head_only: bool = False,
) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers or []]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if head_only else body)


async def start_metrics_server(metrics: Metrics, host: str, port: int) -> MetricsServer:
    server = MetricsServer(metrics)
    await server.start(host, port)
    return server
