"""The `lbd` command line: one sub-command per module in `lbd.commands`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from lbd.commands import COMMANDS, registrations


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of `only` (what a run of that command needs)."""
    parser = argparse.ArgumentParser(prog="lbd", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in registrations([only] if only is not None else COMMANDS):
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    # The command is the first word; options before it (only -h) need every command's parser.
    first = args_in[0] if args_in else None
    parser = build_parser(first if first in COMMANDS else None)
    args = parser.parse_args(args_in)
    result: int = args.handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
