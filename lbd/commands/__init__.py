"""Sub-commands of `lbd`.

Each module exposes `register(subparsers)`, which adds its parser and sets `handler` to a function taking
the parsed namespace and returning the exit code. Add the command's name and module to `COMMANDS` to
expose it. Modules are imported when needed: `lbd run` loads the daemon, not the Kubernetes client, the
demo lab or the support-bundle archiver (several MiB of a long-running process's memory).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Iterable
from typing import Any

Register = Callable[["argparse._SubParsersAction[Any]"], None]

# Command name -> module, in the order `lbd --help` lists them.
COMMANDS: dict[str, str] = {
    "config": "lbd.commands.config_cmd",
    "plan": "lbd.commands.plan_cmd",
    "explain": "lbd.commands.explain_cmd",
    "support-bundle": "lbd.commands.bundle_cmd",
    "run": "lbd.commands.run_cmd",
    "demo": "lbd.commands.demo_cmd",
    "status": "lbd.commands.status_cmd",
    "kube": "lbd.commands.kube_cmd",
}


def registrations(names: Iterable[str]) -> list[Register]:
    """The `register` functions of these commands' modules, importing only those."""
    return [importlib.import_module(COMMANDS[name]).register for name in names]
