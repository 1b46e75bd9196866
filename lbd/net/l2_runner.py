"""Run the L2 announcer alone, from a JSON file of owned VIPs: the driver of the L2 interop tests and of
`bench/bench_arp.py`, where several "nodes" share one machine and the test decides who owns what.

    python -m lbd.net.l2_runner --node n1 --state STATE.json --control SOCKET

STATE.json is `{"l2": [{"address": "198.51.100.1", "service": "ns/a", "interfaces": ["eth0"],
"all_interfaces": false}, ...]}`. SIGHUP re-reads it and applies it (a takeover or release), SIGTERM
closes the announcer (answers stop) and exits. The control socket serves the announcer's `l2` view.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from ipaddress import ip_address
from pathlib import Path

import structlog

from lbd import logsetup
from lbd.allocator.requests import AllocationResult
from lbd.config import parse_documents
from lbd.control.server import ControlServer
from lbd.metrics import Metrics
from lbd.net.l2_announcer import L2Announcer
from lbd.reconcile import DesiredState
from lbd.reconcile.types import L2Announcement

log = structlog.get_logger("lbd.l2")


def load_state(node: str, path: Path) -> DesiredState:
    document = json.loads(path.read_text())
    l2 = tuple(
        L2Announcement(
            address=ip_address(entry["address"]),
            service=entry.get("service", "test/vip"),
            interfaces=tuple(entry.get("interfaces", ())),
            all_interfaces=bool(entry.get("all_interfaces", False)),
        )
        for entry in document.get("l2", ())
    )
    return DesiredState(node, AllocationResult(()), (), l2, ())


async def run(node: str, state: Path, control: Path) -> None:
    announcer = L2Announcer(node=node, metrics=Metrics(process_metrics=False))
    server = ControlServer(control, announcer.views())
    await server.start()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    reload = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reload.set)
    # The announcer reads everything it needs from the desired state; an empty config stands in.
    config = parse_documents([]).config
    assert config is not None
    await announcer.apply(config, load_state(node, state))
    log.info("l2RunnerReady", node=node)
    while not stop.is_set():
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(reload.wait())]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
        if reload.is_set() and not stop.is_set():
            reload.clear()
            await announcer.apply(config, load_state(node, state))
            log.info("l2RunnerApplied", node=node)
    await announcer.close()
    await server.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--node", required=True)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--control", type=Path, required=True)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logsetup.configure(args.log_level)
    asyncio.run(run(args.node, args.state, args.control))


if __name__ == "__main__":
    main()
