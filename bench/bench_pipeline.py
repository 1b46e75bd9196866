"""Where time and memory go between process start and routes handed to BGP sessions, at scale.

Runs the standalone daemon's own pipeline in a fresh child process per run, stage by stage:
imports (what `lbd run` imports), `load_paths` over a directory holding the configuration, the
`DaemonCore` accepting it, the whole reconcile, and `BgpAnnouncer.apply` handing the routes to one
BGP session. The session dials 127.0.0.1 on a closed port, so nothing leaves the machine and the
routes stay queued in its Adj-RIB-Out (packing and sending them is `bench_bgp_scale.py`'s part (a)).
The configuration is the scale benchmark's: N Services with one /32 of 198.18.0.0/15 each.

    .venv/bin/python bench/bench_pipeline.py --services 100000 --format json,yaml

Prints, per stage, seconds since the child was spawned and its RSS, then the peak RSS (VmHWM). A
benchmark prints figures; nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BASE_PREFIX = "198.18.0.0/15"
CLOSED_PORT = 9  # discard: nothing listens on loopback, so the dial is refused at once


def documents(count: int) -> list[dict[str, Any]]:
    from bench.bench_bgp_scale import lbd_documents

    docs = lbd_documents("127.0.0.1", count)
    docs[0]["spec"]["peerPort"] = CLOSED_PORT
    return docs


def write_config(directory: Path, count: int, fmt: str) -> Path:
    docs = documents(count)
    if fmt == "json":
        path = directory / "config.json"
        path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}))
    else:
        import yaml

        path = directory / "config.yaml"
        path.write_text(yaml.dump_all(docs, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper)))
    return path


def rss(kind: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(kind + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def child(directory: str, spawned: float) -> None:
    """The measured process: print one JSON line per stage."""
    import asyncio

    def stage(name: str, **extra: Any) -> None:
        print(json.dumps({"stage": name, "t": time.time() - spawned, "rss": rss(), **extra}), flush=True)

    stage("interpreter")
    import gc

    import lbd.daemon.daemon  # noqa: F401  (what `lbd run` imports before reading files)
    from lbd.config import load_paths
    from lbd.daemon.core import DaemonCore
    from lbd.metrics import Metrics
    from lbd.net.bgp_announcer import BgpAnnouncer

    stage("imports")
    # As `lbd run` does: no automatic collection until the first push is done, then a freeze.
    gc.disable()
    result = load_paths([directory], "metallb-system")
    assert result.config is not None, result.errors[:3]
    stage("load", services=len(result.world.services))
    core = DaemonCore("bench", time.time)
    assert not core.offer(result)
    del result
    stage("offer")
    desired = core.compute({})
    assert desired is not None and core.config is not None
    routes = sum(len(p.routes) for p in desired.bgp)
    stage("reconcile", routes=routes)

    async def announce() -> None:
        assert desired is not None and core.config is not None
        with tempfile.TemporaryDirectory() as state:
            metrics = Metrics(process_metrics=False)
            announcer = BgpAnnouncer(node="bench", metrics=metrics, state_dir=Path(state))
            await announcer.apply(core.config, desired)
            stage("announce")
            gc.freeze()
            gc.enable()
            await announcer.close()

    asyncio.run(announce())
    print(json.dumps({"stage": "peak", "t": time.time() - spawned, "rss": rss("VmHWM")}), flush=True)


def child_records(argv: list[str]) -> list[dict[str, Any]]:
    """Run a measured child process; the JSON lines it printed (a benchmark's stages)."""
    out = subprocess.run(argv, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"child failed ({out.returncode}):\n{out.stderr}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def run(count: int, fmt: str) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        write_config(Path(tmp), count, fmt)
        spawned = time.time()
        return child_records([sys.executable, __file__, "--child", tmp, "--spawned", repr(spawned)])


def main() -> int:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--services", type=int, default=100_000)
    parser.add_argument("--format", default="json", help="comma-separated: json, yaml")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--spawned", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.spawned)
        return 0
    print(f"{args.services} services, one /32 each; load average {os.getloadavg()[0]:.1f}")
    for fmt in args.format.split(","):
        for i in range(args.repeat):
            stages = run(args.services, fmt)
            print(f"\n{fmt} run {i + 1}:  stage  seconds-since-spawn (delta)  RSS MiB (delta)")
            t = m = 0.0
            for s in stages:
                extra = {k: v for k, v in s.items() if k not in ("stage", "t", "rss")}
                note = " ".join(f"{k}={v}" for k, v in extra.items())
                if s["stage"] == "peak":
                    print(f"  {'peak RSS':<12} {s['rss']:8.1f} MiB (VmHWM)")
                    continue
                times = f"{s['t']:6.2f} s ({s['t'] - t:+5.2f})"
                print(f"  {s['stage']:<12} {times}  {s['rss']:7.1f} ({s['rss'] - m:+6.1f})  {note}")
                t, m = s["t"], s["rss"]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
