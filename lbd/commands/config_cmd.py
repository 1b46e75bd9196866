"""`lbd config validate PATH...`: check a configuration without running anything."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import Any, TextIO

from lbd.config import DEFAULT_NAMESPACE, ConfigError, ParseResult, load_paths


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser("config", help="work with configuration files")
    sub = parser.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    validate = sub.add_parser(
        "validate",
        help="validate YAML files and directories",
        description="Print every error (KIND NAME FIELD: message) and exit 1, or a summary and exit 0.",
    )
    validate.add_argument("paths", nargs="+", metavar="PATH", help="YAML/JSON files or directories")
    validate.add_argument(
        "--namespace", default=DEFAULT_NAMESPACE, help="the MetalLB namespace (default: %(default)s)"
    )
    validate.add_argument("-v", "--verbose", action="store_true", help="also print where each problem is")
    validate.set_defaults(handler=run_validate)


def _line(problem: ConfigError, verbose: bool) -> str:
    return f"{problem}  ({problem.source})" if verbose and problem.source else str(problem)


def summary(result: ParseResult) -> str:
    """One line: counts per kind, e.g. `ok: 2 IPAddressPool, 1 BGPPeer, 3 Service`."""
    counts: Counter[str] = Counter()
    if result.config is not None:
        cfg = result.config
        counts["IPAddressPool"] = len(cfg.pools)
        counts["L2Advertisement"] = len(cfg.l2_advertisements)
        counts["BGPAdvertisement"] = len(cfg.bgp_advertisements)
        counts["BGPPeer"] = len(cfg.peers)
        counts["BFDProfile"] = len(cfg.bfd_profiles)
        counts["community alias"] = len(cfg.communities)
        counts["NodeConfig"] = len(cfg.node_configs)
    world = result.world
    counts["Service"] = len(world.services)
    counts["EndpointSlice"] = len(world.endpoint_slices)
    counts["Node"] = len(world.nodes)
    counts["Secret"] = len(world.secrets)
    counts["Namespace"] = len(world.namespaces)
    parts = [f"{n} {kind}" for kind, n in counts.items() if n]
    warned = f", {len(result.warnings)} warning(s)" if result.warnings else ""
    return f"ok: {', '.join(parts) or 'no objects'}{warned}"


def run_validate(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    result = load_paths(args.paths, namespace=args.namespace)
    for warning in result.warnings:
        print(f"warning: {_line(warning, args.verbose)}", file=err)
    if result.config is None:
        for problem in result.errors:
            print(_line(problem, args.verbose), file=out)
        return 1
    print(summary(result), file=out)
    return 0
