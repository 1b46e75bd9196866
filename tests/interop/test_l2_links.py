"""LinkTracker against a real kernel: links that appear, go down, come back, get enslaved and vanish."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.lab import Lab, wait_for

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]

# Prints the tracker's view as one JSON line per change.
FOLLOW = """
import asyncio, json, sys
from lbd.net.links import LinkTracker

def show(interfaces):
    view = {i.name: {"arp": i.arp, "ndp": i.ndp, "why": i.ineligible(),
                     "ll": str(i.link_local) if i.link_local else None} for i in interfaces}
    print(json.dumps(view), flush=True)

async def main():
    tracker = LinkTracker(show)
    show(await tracker.start())
    await asyncio.sleep(60)

asyncio.run(main())
"""


def test_tracker_follows_the_kernel(lab: Lab) -> None:
    ns = lab.netns("node")
    peer = lab.netns("peer")
    lab.link(ns, peer)
    proc = lab.spawn(ns, [sys.executable, "-c", FOLLOW], name="links", cwd=REPO)

    def last() -> dict[str, Any]:
        lines = [line for line in proc.text().splitlines() if line.startswith("{")]
        return json.loads(lines[-1]) if lines else {}

    def until(check: Any, what: str) -> None:
        wait_for(lambda: check(last()), 5, 0.05, lambda: f"{what}: {last()}")

    until(lambda v: v.get("eth0", {}).get("arp") and v["eth0"]["ndp"], "eth0 eligible with its link-local")
    assert last()["lo"]["why"] == "loopback"
    ns.set_down("eth0")
    until(lambda v: v["eth0"]["why"] == "down" and v["eth0"]["ll"] is None, "eth0 down, link-local gone")
    ns.set_up("eth0")
    until(lambda v: v["eth0"]["arp"] and v["eth0"]["ndp"], "eth0 back with a link-local")
    peer.set_down("eth0")
    until(lambda v: v["eth0"]["why"] == "no carrier", "carrier lost when the peer goes down")
    peer.set_up("eth0")
    until(lambda v: v["eth0"]["arp"], "carrier back")
    ns.ip("link", "add", "br9", "type", "bridge")
    ns.ip("link", "set", "br9", "up")
    ns.ip("link", "set", "eth0", "master", "br9")
    until(lambda v: v["eth0"]["why"] == "enslaved" and "br9" in v, "eth0 enslaved to a bridge")
    ns.ip("link", "set", "eth0", "nomaster")
    ns.ip("link", "del", "br9")
    until(lambda v: "br9" not in v and v["eth0"]["arp"], "bridge gone, eth0 free again")
    ns.ip("link", "add", "v1", "type", "veth", "peer", "name", "v2")
    until(lambda v: "v1" in v and v["v1"]["why"] == "down", "a new link appears, down")
    ns.ip("link", "del", "v1")
    until(lambda v: "v1" not in v and "v2" not in v, "the new links vanish")
