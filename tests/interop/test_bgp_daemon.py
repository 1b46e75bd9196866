"""`lbd run` end to end with BGP: the daemon's wiring brings up the BGP announcer, FRR gets the route,
`lbd status`-style views answer, and SIGTERM sends Cease Administrative Shutdown with a message."""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import pytest
import yaml

from lbd.control.client import ControlError, query
from tests.interop.test_bgp_frr import setup
from tests.interop.test_bgp_harness import REPO, adv_doc, peer_doc, pool_doc, service_doc
from tests.lab import AddressPlan, Lab, run, wait_for
from tests.lab.fixtures import FrrFactory

pytestmark = pytest.mark.lab


def test_lbd_run_announces_and_shuts_down_with_cease(lab: Lab, frr: FrrFactory) -> None:
    t = setup(lab, frr, extra="debug bgp neighbor-events")
    net, router = t.v4, t.router
    vip = AddressPlan().v4_prefix()
    config = lab.artifacts / "lbd-run.yaml"
    docs = [
        peer_doc("r1", net.ip(1)),
        pool_doc("pool", vip.prefix),
        adv_doc("adv", "pool"),
        service_doc("w", vip.ip(0)),
    ]
    config.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    # The node name is the namespace's: unique, so the BGP restart marker under /run is too.
    node = t.me.name
    lab.add_cleanup("bgp state", lambda: shutil.rmtree(Path("/run/lbd/bgp") / node, ignore_errors=True))
    control = lab.path("lbd.sock")
    argv = [str(REPO / ".venv/bin/lbd"), "run", "--config", str(config), "--node", node]
    proc = lab.spawn(t.me, [*argv, "--socket", str(control), "--metrics", "off"], name="lbd-run", cwd=REPO)

    def summary() -> list[dict[str, object]] | None:
        proc.check_alive()
        try:
            rows: list[dict[str, object]] = query("bgp summary", None, control)
        except (ControlError, OSError):
            return None
        return rows

    router.wait_established(net.ip(2))
    router.wait_route(vip.prefix)
    rows = wait_for(summary, 10, 0.1, "lbd run's bgp summary view")
    assert rows[0]["state"] == "Established" and rows[0]["prefixes_sent"] == 1
    status = [str(REPO / ".venv/bin/lbd"), "status", "--socket", str(control)]
    table = run(None, [*status, "bgp", "summary"]).stdout
    assert "Established" in table and net.ip(1) in table
    neighbor = run(None, [*status, "--json", "bgp", "neighbor", net.ip(1)]).stdout
    assert json.loads(neighbor)["negotiated"]["route_refresh"] is True
    routes = run(None, [*status, "bgp", "routes", vip.prefix]).stdout
    assert vip.prefix in routes and "default/w" in routes

    proc.signal(signal.SIGTERM)
    wait_for(lambda: vip.prefix not in router.routes(), 10, 0.1, "FRR to drop the route on Cease")
    line = f"NOTIFICATION: received from neighbor {net.ip(2)} 6/2 (Cease/Administrative Shutdown)"
    wait_for(lambda: line in router.procs["bgpd"].text(), 5, 0.1, f"FRR to log {line!r}")
    assert "lbd is shutting down" in router.procs["bgpd"].text()
