"""Memory guards for loading many Services (tracemalloc is deterministic enough to bound per Service).

Measured when written (5,000 Services, the scale benchmark's shape, CPython 3.11): a JSON List load
retains about 390 bytes per Service (the Service, its name, key and annotation strings, the
annotations map, the World's dict entry) and peaks at the file's text plus about 0.2 MiB over that,
because items are decoded and turned into Services one at a time. The bounds leave ~30% headroom.
"""

from __future__ import annotations

import gc
import json
import tracemalloc
from pathlib import Path
from typing import Any

from lbd.config import load_paths
from lbd.config.load import _list_items

COUNT = 5000


def service(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": f"s{i}",
            "namespace": "default",
            "annotations": {"metallb.universe.tf/loadBalancerIPs": f"198.18.{i // 256}.{i % 256}"},
        },
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
    }


def test_a_json_list_load_retains_little_per_service_and_never_holds_every_item(tmp_path: Path) -> None:
    path = tmp_path / "services.json"
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": [service(i) for i in range(COUNT)]})
    path.write_text(text)
    load_paths([path])  # first use: imports and caches settle outside the measurement
    gc.collect()
    tracemalloc.start()
    try:
        result = load_paths([path])
        gc.collect()
        retained, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(result.world.services) == COUNT
    assert retained / COUNT < 520, f"{retained / COUNT:.0f} bytes per Service"
    assert peak - retained < len(text) + 2**20, f"peak {peak} retained {retained} text {len(text)}"


def test_the_items_of_a_json_list_come_one_at_a_time() -> None:
    items = [service(i) for i in range(3)]
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, indent=1)
    stream = _list_items(text)
    assert next(stream) == items[0]
    assert list(stream) == items[1:]
