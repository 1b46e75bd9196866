"""`lbd demo`: build a namespace lab (FRR router, client host, lbd) from examples/demo/ and show what the
router and the client see. Needs root, FRR and arping (`bash scripts/bootstrap.sh demo` installs them)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import lbd
from lbd.demo import DemoOptions, run_demo

# examples/ sits beside the package in a source checkout (the README's bootstrap installs it editable).
DEFAULT_CONFIG = Path(lbd.__file__).resolve().parent.parent / "examples" / "demo"


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser("demo", help="run the namespace-lab demo: FRR router, client, lbd (needs root)")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="demo configuration directory")
    parser.add_argument("--node", default="demo-node", help="node name lbd runs as (default demo-node)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for every check")
    parser.add_argument("--logs", type=Path, help="keep the daemons' logs in this directory")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    options = DemoOptions(config=args.config, node=args.node, timeout=args.timeout, logs=args.logs)
    return run_demo(options, lambda line: print(line, flush=True))
