"""`lbd run --config PATH...`: the standalone daemon (docs/standalone.md)."""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from typing import Any

import structlog

from lbd.config import DEFAULT_NAMESPACE
from lbd.logsetup import LOG_LEVELS, configure
from lbd.malloc_tuning import pin_mmap_threshold


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser("run", help="run the standalone daemon from files (systemd, no Kubernetes)")
    parser.add_argument(
        "--config",
        "-c",
        nargs="+",
        action="extend",
        required=True,
        metavar="PATH",
        help="YAML/JSON files or directories; reloaded on SIGHUP and when they change",
    )
    parser.add_argument("--node", help="this node's name (default: the host name)")
    parser.add_argument("--namespace", default=DEFAULT_NAMESPACE, help="namespace of the MetalLB objects")
    parser.add_argument(
        "--socket",
        metavar="PATH",
        help="control socket (default: the NodeConfig's controlSocket, else /run/lbd/lbd.sock)",
    )
    parser.add_argument(
        "--metrics",
        metavar="ADDR",
        help="Prometheus endpoint HOST:PORT, or 'off' (default: the NodeConfig's metricsAddress, "
        "else 127.0.0.1:7472)",
    )
    parser.add_argument(
        "--state-dir",
        metavar="DIR",
        help="keep allocations here so a restart gives every service its address again "
        "(systemd: /var/lib/lbd with StateDirectory=lbd); default: not kept",
    )
    parser.add_argument(
        "--log-level",
        choices=list(LOG_LEVELS),
        help="log level (default: the NodeConfig's logLevel, else info)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # Imported here: the daemon's explain view uses lbd.commands.explain_cmd, so a module-level import
    # would make lbd.commands import itself while registering.
    from lbd.daemon.daemon import Daemon, Options, StartupError

    pin_mmap_threshold()
    configure(args.log_level or "info")
    options = Options(
        paths=tuple(args.config),
        node=args.node or socket.gethostname(),
        namespace=args.namespace,
        socket=args.socket,
        metrics=args.metrics,
        log_level=args.log_level,
        state_dir=args.state_dir,
    )
    try:
        return asyncio.run(Daemon(options).run())
    except StartupError as exc:
        structlog.get_logger("lbd.daemon").error("startFailed", error=str(exc))
        print(f"lbd run: {exc}", file=sys.stderr)
        return 1
