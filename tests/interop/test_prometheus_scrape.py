"""A real Prometheus server scrapes lbd's /metrics endpoint and stores MetalLB's series with their labels.

Both run inside one lab namespace on its loopback, so fixed ports never clash with other tests or the
host. The scrape interval is short (1 s) and every wait is bounded.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.lab import Lab, wait_for
from tests.lab.netns import Netns
from tests.lab.proc import Proc
from tests.lab.requirements import require_tools

pytestmark = pytest.mark.lab

METRICS_PORT = 7472
DEMO_CONFIG = Path(__file__).resolve().parents[2] / "examples" / "demo"
PROMETHEUS_PORT = 9090

# lbd's own endpoint code (lbd.metrics_http) with values as the daemon and its providers would set them.
SERVE_METRICS = f"""
import asyncio
from lbd.metrics import Metrics, Sample
from lbd.metrics_http import start_metrics_server

async def main():
    metrics = Metrics()
    metrics.set("metallb_k8s_client_config_stale_bool", 0)
    metrics.set("metallb_k8s_client_config_loaded_bool", 1)
    metrics.set("metallb_allocator_addresses_total", 16, pool="bgp-pool")
    metrics.set("metallb_allocator_addresses_in_use_total", 3, pool="bgp-pool")
    metrics.add_provider(lambda: [
        Sample("metallb_bgp_session_up", {{"peer": "192.0.2.1"}}, 1),
        Sample("metallb_bgp_updates_total", {{"peer": "192.0.2.1"}}, 5),
        Sample("metallb_bfd_control_packet_input", {{"peer": "192.0.2.1"}}, 42),
        Sample("metallb_speaker_announced",
               {{"ip": "198.51.100.5", "node": "n1", "protocol": "bgp", "service": "default/web"}}, 1),
    ])
    await start_metrics_server(metrics, "127.0.0.1", {METRICS_PORT})
    await asyncio.Event().wait()

asyncio.run(main())
"""

PROMETHEUS_CONFIG = f"""
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: lbd
    static_configs:
      - targets: ["127.0.0.1:{METRICS_PORT}"]
"""

FETCH = (
    "import sys, urllib.request; "
    "sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode())"
)


def api(ns: Netns, path: str) -> Any:
    """GET a Prometheus HTTP API path from inside the namespace; the `data` of a success reply."""
    out = ns.run([sys.executable, "-c", FETCH, f"http://127.0.0.1:{PROMETHEUS_PORT}{path}"], timeout=5)
    reply = json.loads(out.stdout)
    assert reply["status"] == "success", reply
    return reply["data"]


def query(ns: Netns, promql: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = api(ns, f"/api/v1/query?query={quote(promql)}")["result"]
    return result


def start_prometheus(ns: Netns, tmp_path: Path, exporter: Proc) -> dict[str, Any]:
    """Prometheus scraping 127.0.0.1:METRICS_PORT of `ns` every second; its target once it is up."""
    require_tools("prometheus")
    config = tmp_path / "prometheus.yml"
    config.write_text(PROMETHEUS_CONFIG)
    server = ns.spawn(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}",
            "--storage.tsdb.retention.time=1h",
        ],
        name="prometheus",
    )

    def target_up() -> dict[str, Any] | None:
        exporter.check_alive()
        server.check_alive()
        for target in api(ns, "/api/v1/targets")["activeTargets"]:
            if target["labels"].get("job") == "lbd" and target["health"] == "up":
                return dict(target)
        return None

    return wait_for(target_up, timeout=30, interval=0.5, message="prometheus to scrape lbd")


def series(ns: Netns, promql: str) -> list[dict[str, Any]]:
    return wait_for(lambda: query(ns, promql), timeout=15, interval=0.5, message=promql)


def test_prometheus_scrapes_metallb_series(lab: Lab, tmp_path: Path) -> None:
    require_tools("prometheus")
    ns = lab.netns("prom")
    exporter = ns.spawn([sys.executable, "-c", SERVE_METRICS], name="metrics")
    target = start_prometheus(ns, tmp_path, exporter)
    assert target["scrapeUrl"] == f"http://127.0.0.1:{METRICS_PORT}/metrics"
    assert target["lastError"] == ""

    (up,) = series(ns, 'up{job="lbd"}')
    assert up["value"][1] == "1"

    (session,) = series(ns, "metallb_bgp_session_up")
    assert session["metric"] == {
        "__name__": "metallb_bgp_session_up",
        "instance": f"127.0.0.1:{METRICS_PORT}",
        "job": "lbd",
        "peer": "192.0.2.1",
    }
    assert session["value"][1] == "1"

    (announced,) = series(ns, "metallb_speaker_announced")
    assert {k: v for k, v in announced["metric"].items() if k not in {"instance", "job"}} == {
        "__name__": "metallb_speaker_announced",
        "ip": "198.51.100.5",
        "node": "n1",
        "protocol": "bgp",
        "service": "default/web",
    }

    (in_use,) = series(ns, 'metallb_allocator_addresses_in_use_total{pool="bgp-pool"}')
    assert in_use["value"][1] == "3"
    (packets,) = series(ns, 'metallb_bfd_control_packet_input{peer="192.0.2.1"}')
    assert packets["value"][1] == "42"

    # Prometheus read the TYPE lines: MetalLB's counters without _total stay counters.
    metadata = api(ns, "/api/v1/metadata?metric=metallb_bfd_control_packet_input")
    assert metadata["metallb_bfd_control_packet_input"][0]["type"] == "counter"

    names = set(api(ns, "/api/v1/label/__name__/values"))
    assert {"metallb_bgp_updates_total", "metallb_k8s_client_config_stale_bool"} <= names
    assert "process_resident_memory_bytes" in names


def test_prometheus_scrapes_a_running_daemon(lab: Lab, tmp_path: Path) -> None:
    """The standalone daemon's own endpoint: allocator and announcement series from its configuration."""
    require_tools("prometheus")
    ns = lab.netns("node")
    argv = [sys.executable, "-m", "lbd.cli", "run", "--config", str(DEMO_CONFIG), "--node", "demo-node"]
    argv += ["--socket", str(lab.path("lbd.sock")), "--metrics", f"127.0.0.1:{METRICS_PORT}"]
    daemon = ns.spawn(argv, name="lbd")
    start_prometheus(ns, tmp_path, daemon)
    pools = {r["metric"]["pool"]: r["value"][1] for r in series(ns, "metallb_allocator_addresses_total")}
    assert pools == {"bgp-pool": "16", "l2-pool": "11"}
    (in_use,) = series(ns, 'metallb_allocator_addresses_in_use_total{pool="l2-pool"}')
    assert in_use["value"][1] == "1"
    (layer2,) = series(ns, 'metallb_speaker_announced{protocol="layer2"}')
    assert {k: layer2["metric"][k] for k in ("ip", "node", "service")} == {
        "ip": "192.0.2.200",
        "node": "demo-node",
        "service": "default/web-l2",
    }
    (stale,) = series(ns, "metallb_k8s_client_config_stale_bool")
    assert stale["value"][1] == "0"
