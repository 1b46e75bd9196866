"""Reading a running `lbd run` from a lab test: its status views and the VIPs it delivers locally."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.lab.netns import Netns

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
