"""Sub-commands of `lbd`.

Each module exposes `register(subparsers)`, which adds its parser and sets `handler` to a function taking
the parsed namespace and returning the exit code. Add a module's `register` to `COMMANDS` to expose it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

Register = Callable[["argparse._SubParsersAction[Any]"], None]

COMMANDS: list[Register] = []
COMMANDS.append(__import__("lbd.commands.config_cmd", fromlist=["register"]).register)
COMMANDS.append(__import__("lbd.commands.plan_cmd", fromlist=["register"]).register)
COMMANDS.append(__import__("lbd.commands.explain_cmd", fromlist=["register"]).register)
COMMANDS.append(__import__("lbd.commands.bundle_cmd", fromlist=["register"]).register)
COMMANDS.append(__import__("lbd.commands.run_cmd", fromlist=["register"]).register)
COMMANDS.append(__import__("lbd.commands.demo_cmd", fromlist=["register"]).register)
COMMANDS.append(__import__("lbd.commands.status_cmd", fromlist=["register"]).register)
COMMANDS.append(__import__("lbd.commands.kube_cmd", fromlist=["register"]).register)
