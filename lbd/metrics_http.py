"""The /metrics endpoint, served from the event loop so a scrape sees a consistent view of the engines."""

from __future__ import annotations

from aiohttp import web

from lbd.metrics import Metrics

_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


async def start_metrics_server(metrics: Metrics, host: str, port: int) -> web.AppRunner:
    async def handle(_request: web.Request) -> web.Response:
        return web.Response(body=metrics.exposition(), headers={"Content-Type": _CONTENT_TYPE})

    app = web.Application()
    app.router.add_get("/metrics", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
