"""Memory per route of BgpAnnouncer.apply (RouteDiff, engine Routes, Adj-RIB-Out) for a new session.

The reconcile output's routes are the caller's; the announcer keeps a reference to their tuple and the
session one dictionary entry per prefix (shared attributes, the prefix as the address's own int). The
bound has about 30% headroom over the ~35 bytes per route measured (before the engine's compact
table: about 250 at 100,000 routes).
"""

from __future__ import annotations

import gc
import textwrap
import time
import tracemalloc
from dataclasses import replace
from ipaddress import IPv4Address
from pathlib import Path

import yaml

from lbd.config import parse_objects
from lbd.daemon.core import DaemonCore
from lbd.metrics import Metrics
from lbd.net.bgp_announcer import BgpAnnouncer
from lbd.reconcile import BGPRoute, DesiredState
from tests.unit.net.test_bgp_announcer import DOCS

COUNT = 5_000
BOUND_PER_ROUTE = 46


def scaled(desired: DesiredState, count: int) -> DesiredState:
    """The one peer's route repeated over `count` /32s, in key order as the reconcile core lists them."""
    (peer,) = desired.bgp
    first = peer.routes[0]
    base = int(IPv4Address("198.18.0.0"))
    addresses = [IPv4Address(base + i) for i in range(count)]
    # As the reconcile core builds them: one shared attributes object, the address's own int.
    routes = tuple(BGPRoute(int(a), first.attributes, f"default/s{i}", a) for i, a in enumerate(addresses))
    return replace(desired, bgp=(replace(peer, routes=routes),))


async def test_apply_retains_a_few_dozen_bytes_per_route(tmp_path: Path) -> None:
    core = DaemonCore("node-a", time.time)
    docs = textwrap.dedent(DOCS).replace("peerPort: 1", "peerPort: 9")  # dials a closed port
    assert core.offer(parse_objects(list(yaml.safe_load_all(docs)), "test.yaml")) == ()
    desired = core.compute({})
    assert desired is not None and core.config is not None
    warm = BgpAnnouncer(node="node-a", metrics=Metrics(process_metrics=False), state_dir=tmp_path / "w")
    await warm.apply(core.config, scaled(desired, 10))  # imports and first-use caches, not measured
    await warm.close()
    big = scaled(desired, COUNT)
    announcer = BgpAnnouncer(
        node="node-a", metrics=Metrics(process_metrics=False), state_dir=tmp_path / "a", listen_port=None
    )
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        await announcer.apply(core.config, big)
        gc.collect()
        per_route = (tracemalloc.get_traced_memory()[0] - before) / COUNT
    finally:
        tracemalloc.stop()
        await announcer.close()
    assert announcer.speaker.drivers == {}  # closed
    assert per_route < BOUND_PER_ROUTE, f"{per_route:.1f} bytes per route"
