"""Reading a running `lbd run` from a lab test: its status views and the VIPs it delivers locally."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.lab.netns import Lab, Netns
from tests.lab.proc import Proc

REPO = Path(__file__).resolve().parents[2]
PYTHON = str(REPO / ".venv" / "bin" / "python")


def status(socket: Path, *view: str) -> Any:
    """`lbd status VIEW... --json` against the daemon's control socket."""
    argv = [PYTHON, "-m", "lbd.cli", "status", *view, "--socket", str(socket), "--json"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=True, cwd=REPO)
    return json.loads(out.stdout)


def delivered(ns: Netns) -> set[str]:
    """The global addresses on the daemon's local-delivery link `lbd0` (empty while it has none)."""
    if "lbd0" not in {link["ifname"] for link in ns.ip_json("-j", "link", "show")}:
        return set()
    info = ns.ip_json("-j", "addr", "show", "dev", "lbd0")
    return {a["local"] for link in info for a in link.get("addr_info", []) if a.get("scope") == "global"}


# A TCP service on every address of both families (the VIPs on lbd's dummy link included) that greets
# each client with its first argument: `python -c GREETER TEXT PORT`.
GREETER = r"""
import asyncio, sys

async def main():
    async def greet(reader, writer):
        writer.write(sys.argv[1].encode() + b"\n")
        await writer.drain()
        writer.close()
    server = await asyncio.start_server(greet, host=None, port=int(sys.argv[2]))
    await server.serve_forever()

asyncio.run(main())
"""

_CONNECT = r"""
import socket, sys
with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])) as s:
    print(s.recv(100).decode().strip())
"""


def greeting(ns: Netns, address: str, port: int, timeout: float = 1.0) -> str | None:
    """What the GREETER at `address` says to a client in `ns`, or None when nothing answers."""
    argv = [sys.executable, "-c", _CONNECT, address, str(port), str(timeout)]
    result = ns.run(argv, check=False, timeout=10)
    return result.stdout.strip() if result.returncode == 0 else None


def run_lbd(
    lab: Lab, ns: Netns, config: Path, node: str, socket: Path, *options: str, name: str = "lbd"
) -> Proc:
    """`lbd run` in `ns` from this checkout: `config` for node `node`, control socket `socket`, and
    `options` (metrics, log level, state directory, ...)."""
    argv = [PYTHON, "-m", "lbd.cli", "run", "--config", str(config), "--node", node, "--socket", str(socket)]
    return lab.spawn(ns, [*argv, *options], name=name, cwd=REPO)
