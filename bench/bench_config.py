"""Loading the configuration at scale: time, retained memory and peak, first load and reloads.

Writes the scale benchmark's configuration (one BGPPeer, pool and BGPAdvertisement, N Services with
one /32 of 198.18.0.0/15 each) as a JSON `List` or a YAML stream, then in a fresh child process per
format: imports `lbd.config`, `load_paths` (RSS and peak RSS around it, so a transient peak shows),
and with a `FileCache` as the daemon keeps it: a reload with nothing changed, a reload after a small
second file (one Service) changed, which parses that file only, and a reload after one Service's
address changed in the big file (JSON: the file is parsed again; YAML: that document only).

    .venv/bin/python bench/bench_config.py --services 100000 --format json,yaml

`--tracemalloc` adds the bytes the load retains per Service as tracemalloc counts them (slower).
A benchmark prints figures; nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_pipeline import child_records, rss
from bench.bench_pipeline import write_config as write_pipeline_config


def reset_peak() -> None:
    # Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0).
    Path("/proc/self/clear_refs").write_text("5")


def write_config(directory: Path, count: int, fmt: str) -> None:
    """The pipeline benchmark's configuration, plus one more Service in a file of its own."""
    from bench.bench_bgp_scale import service_document

    write_pipeline_config(directory, count, fmt)
    extra = service_document(count + 1)
    if fmt == "json":
        (directory / "extra.json").write_text(json.dumps(extra))
    else:
        import yaml

        (directory / "extra.yaml").write_text(
            yaml.dump(extra, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper))
        )


def child(directory: str, fmt: str, traced: bool) -> None:
    def emit(stage: str, **values: Any) -> None:
        print(json.dumps({"stage": stage, **values}), flush=True)

    t0 = time.perf_counter()
    from lbd.config import FileCache, load_paths

    emit("imports", s=time.perf_counter() - t0, rss=rss())
    if traced:
        import tracemalloc

        tracemalloc.start()
    before = rss()
    reset_peak()
    t0 = time.perf_counter()
    result = load_paths([directory])
    elapsed = time.perf_counter() - t0
    assert result.config is not None, result.errors[:3]
    services = len(result.world.services)
    extra: dict[str, Any] = {}
    if traced:
        import tracemalloc

        retained, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        extra = {"bytes_per_service": round(retained / services), "traced_peak_mib": peak / 2**20}
    emit(
        "load",
        s=elapsed,
        rss=rss(),
        grew=rss() - before,
        peak=rss("VmHWM") - before,
        services=services,
        **extra,
    )
    del result

    cache = FileCache()
    t0 = time.perf_counter()
    first = cache.load([directory])
    emit("cache-first", s=time.perf_counter() - t0, parsed=len(cache.parsed))
    t0 = time.perf_counter()
    again = cache.load([directory])
    same = sum(1 for k, v in again.world.services.items() if first.world.services.get(k) is v)
    emit("reload-unchanged", s=time.perf_counter() - t0, parsed=len(cache.parsed), same_objects=same)
    path = next(p for p in Path(directory).iterdir() if p.stem == "extra")
    text = path.read_text().replace('"s', '"t', 1).replace("name: s", "name: t", 1)
    path.write_text(text)
    t0 = time.perf_counter()
    changed = cache.load([directory])
    same = sum(1 for k, v in changed.world.services.items() if again.world.services.get(k) is v)
    emit("reload-one-file", s=time.perf_counter() - t0, parsed=len(cache.parsed), same_objects=same)
    # One Service's address changed in the middle of the big file.
    from bench.bench_bgp_scale import BASE

    services = len(changed.world.services)
    big = next(p for p in Path(directory).iterdir() if p.stem == "config")
    old, new = str(BASE + services // 2 + 1), str(BASE + services + 10)
    end = '"' if fmt == "json" else "\n"
    big.write_text(big.read_text().replace(old + end, new + end, 1))
    t0 = time.perf_counter()
    edited = cache.load([directory])
    same = sum(1 for k, v in edited.world.services.items() if changed.world.services.get(k) is v)
    emit("reload-one-document", s=time.perf_counter() - t0, parsed=len(cache.parsed), same_objects=same)


def run(count: int, fmt: str, traced: bool) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        write_config(Path(tmp), count, fmt)
        command = [sys.executable, __file__, "--child", tmp, "--format", fmt]
        command += ["--tracemalloc"] if traced else []
        return child_records(command)


def main() -> int:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--services", type=int, default=100_000)
    parser.add_argument("--format", default="json,yaml", help="comma-separated: json, yaml")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.format, args.tracemalloc)
        return 0
    print(" ".join(sys.argv))
    print(f"{args.services} services; load average {os.getloadavg()[0]:.1f}")
    for fmt in args.format.split(","):
        for i in range(args.repeat):
            print(f"\n{fmt} run {i + 1}:")
            for s in run(args.services, fmt, args.tracemalloc):
                name = s.pop("stage")
                seconds = s.pop("s")
                rest = " ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in s.items())
                print(f"  {name:<17} {seconds:6.3f} s  {rest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
