"""Graceful restart (RFC 4724) with FRR 8.4 as the helper: lbd is killed with SIGKILL and started again;
FRR keeps lbd's route as stale in between, sees the Restart State bit, and never receives a withdraw.

The record of "no withdraw" is twofold: FRR's own update log (`debug bgp updates in`) and a tcpdump
capture of the BGP session decoded by tcpdump.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.interop.test_bgp_frr import setup
from tests.interop.test_bgp_harness import adv_doc, peer_doc, pool_doc, service_doc, start_lbd
from tests.lab import AddressPlan, Capture, Lab, run, wait_for
from tests.lab.fixtures import FrrFactory
from tests.lab.requirements import require_tools

pytestmark = pytest.mark.lab


def test_kill9_and_restart_keeps_routes_at_frr(lab: Lab, frr: FrrFactory) -> None:
    require_tools("tcpdump")
    t = setup(
        lab,
        frr,
        extra="debug bgp updates in\ndebug bgp graceful-restart",
        neighbor_lines="graceful-restart",
    )
    net, router = t.v4, t.router
    vip = AddressPlan().v4_prefix()
    # What lbd sends, whichever process sends it.
    capture = Capture(lab, router.ns, "eth0", f"tcp port 179 and src host {net.ip(2)}").start()
    lbd = start_lbd(
        lab,
        t.me,
        [
            peer_doc("r1", net.ip(1), enableGracefulRestart=True),
            pool_doc("pool", vip.prefix),
            adv_doc("adv", "pool"),
            service_doc("web", vip.ip(0)),
        ],
    )
    router.wait_established(net.ip(2))
    router.wait_route(vip.prefix)

    lbd.kill9()

    def stale() -> bool:
        paths = router.route(vip.prefix).get("paths", [])
        return bool(paths) and bool(paths[0].get("stale"))

    wait_for(stale, 10, 0.1, f"FRR to keep {vip.prefix} as stale")
    lbd.start()
    router.wait_established(net.ip(2))

    def fresh() -> list[dict[str, Any]] | None:
        paths: list[dict[str, Any]] = router.route(vip.prefix).get("paths", [])
        return paths if paths and not paths[0].get("stale") else None

    wait_for(fresh, 10, 0.1, f"{vip.prefix} refreshed by the restarted lbd (End-of-RIB)")
    gr = router.neighbor(net.ip(2))["gracefulRestartInfo"]
    assert gr["remoteGrMode"] == "Restart"
    # The restarted lbd set the Restart State bit (RFC 4724 §3).
    assert gr["rBit"] is True

    pcap = capture.stop()
    log = router.procs["bgpd"].text()
    assert "withdrawn" not in log, [line for line in log.splitlines() if "withdrawn" in line]
    decoded = run(router.ns.name, ["tcpdump", "-r", str(pcap), "-n", "-vv"], timeout=20).stdout
    assert "Update Message" in decoded
    assert "Withdrawn routes" not in decoded
