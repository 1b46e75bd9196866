"""Memory and time of `BgpAnnouncer.apply` at N services, measured with tracemalloc around the call.

The daemon's pipeline up to the desired state (`load_paths`, `DaemonCore.offer`/`compute`, as
bench_pipeline.py runs it), then one `apply` handing the routes to one BGP session that dials a closed
loopback port (nothing leaves the machine): bytes retained by the announcer afterwards, the transient
peak, and the time of the call (slower under tracemalloc than without).

    .venv/bin/python bench/bench_bgp_announce.py --services 100000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--services", type=int, default=100_000)
    args = parser.parse_args()
    n = args.services

    from bench.bench_pipeline import write_config
    from lbd.config import load_paths
    from lbd.daemon.core import DaemonCore
    from lbd.metrics import Metrics
    from lbd.net.bgp_announcer import BgpAnnouncer

    with tempfile.TemporaryDirectory() as tmp:
        write_config(Path(tmp), n, "json")
        result = load_paths([tmp], "metallb-system")
    core = DaemonCore("bench", time.time)
    assert not core.offer(result)
    del result
    desired = core.compute({})
    assert desired is not None and core.config is not None
    gc.collect()
    gc.freeze()

    async def measure() -> None:
        assert desired is not None and core.config is not None
        with tempfile.TemporaryDirectory() as state:
            announcer = BgpAnnouncer(node="bench", metrics=Metrics(process_metrics=False), state_dir=state)
            tracemalloc.start()
            t0 = time.perf_counter()
            await announcer.apply(core.config, desired)
            elapsed = time.perf_counter() - t0
            gc.collect()
            retained, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            mib = 2**20
            print(
                f"{n} services: apply {elapsed:.3f} s (under tracemalloc), retained {retained / mib:.2f} MiB"
                f" ({retained / n:.0f} B per route), transient peak {peak / mib:.2f} MiB"
            )
            await announcer.close()

    asyncio.run(measure())
    print(f"command: .venv/bin/python bench/bench_bgp_announce.py --services {n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
