"""`lbd support-bundle [--socket PATH] [-o FILE]`: the must-gather tarball of one node, secrets removed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from lbd.bundle import BundleOptions, collect, default_path, write
from lbd.control.client import DEFAULT_SOCKET


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "support-bundle",
        help="write a tarball with config, status, metrics, logs and network state (secrets removed)",
    )
    parser.add_argument(
        "--socket", type=Path, default=Path(DEFAULT_SOCKET), help="control socket of the daemon"
    )
    parser.add_argument(
        "-o", "--output", type=Path, help="tarball to write (default lbd-support-HOST-TIME.tar.gz)"
    )
    parser.add_argument(
        "--metrics", metavar="URL", help="metrics URL (default: the address the daemon reports)"
    )
    parser.add_argument("--log", type=Path, metavar="FILE", help="read logs from FILE instead of the journal")
    parser.add_argument("--unit", default="lbd", help="systemd unit whose journal to read (default lbd)")
    parser.add_argument("--lines", type=int, default=5000, help="most recent log lines to keep")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    options = BundleOptions(
        socket=args.socket,
        metrics_url=args.metrics,
        log_file=args.log,
        journal_unit=args.unit,
        log_lines=args.lines,
    )
    bundle = collect(options)
    path: Path = args.output or default_path()
    try:
        members = write(bundle, path)
    except OSError as exc:
        print(f"lbd support-bundle: cannot write {path}: {exc}", file=sys.stderr)
        return 1
    for problem in bundle.problems:
        print(f"warning: {problem}", file=sys.stderr)
    print(f"wrote {path} ({len(members)} files, {len(bundle.problems)} parts missing)")
    return 0
