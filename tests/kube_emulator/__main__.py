"""`python -m tests.kube_emulator --port N [--kubeconfig PATH]`: serve until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from pathlib import Path

import yaml

from tests.kube_emulator.server import KubeEmulator


async def _serve(args: argparse.Namespace) -> None:
    emulator = KubeEmulator(
        host=args.host,
        port=args.port,
        history=args.history,
        bookmark_interval=args.bookmark_interval,
    )
    await emulator.start()
    for path in args.crds:
        emulator.install_crds(d for d in yaml.safe_load_all(Path(path).read_text()) if d)
    for path in args.load:
        for obj in json.loads(Path(path).read_text()):
            emulator.create(obj)
    if args.kubeconfig:
        emulator.write_kubeconfig(Path(args.kubeconfig))
    print(f"kube emulator listening on {emulator.url}", file=sys.stderr, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await emulator.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.kube_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks an ephemeral port")
    parser.add_argument("--history", type=int, default=1000, help="watch events retained")
    parser.add_argument("--bookmark-interval", type=float, default=60.0)
    parser.add_argument("--kubeconfig", help="write a kubeconfig pointing at the emulator here")
    parser.add_argument(
        "--crds", action="append", default=[], help="YAML file of CustomResourceDefinitions to enforce"
    )
    parser.add_argument("--load", action="append", default=[], help="JSON file: a list of objects to create")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
