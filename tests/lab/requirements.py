"""What a lab test needs, and what happens when it is missing.

Outside CI a missing requirement skips the test with the exact reason ("not root", "vtysh not found").
Under ``CI=true`` nothing is ever skipped: the same reason fails the test, so CI cannot go green by
silently not running the lab.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import NoReturn

import pytest

# Where Debian installs the FRR daemons: not on PATH.
FRR_SBIN = Path("/usr/lib/frr")


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> NoReturn:
    """Skip (or, under CI, fail) the current test because of ``reason``."""
    if under_ci():
        pytest.fail(f"lab requirement missing under CI: {reason}", pytrace=False)
    pytest.skip(reason)


def missing_tools(*tools: str) -> list[str]:
    """Tools from ``tools`` found neither on PATH nor in /usr/lib/frr (zebra, bgpd, bfdd)."""
    return [t for t in tools if shutil.which(t) is None and not (FRR_SBIN / t).is_file()]


def require_tools(*tools: str) -> None:
    """Skip/fail the current test unless every tool exists, e.g. ``require_tools("vtysh", "bird")``."""
    missing = missing_tools(*tools)
    if missing:
        unavailable(", ".join(f"{t} not found" for t in missing))


def lab_problem() -> str | None:
    """Why the namespace lab cannot run here, or None if it can."""
    if os.geteuid() != 0:
        return "not root"
    if not Path("/proc/self/ns/net").exists():
        return "no network namespace support (/proc/self/ns/net missing)"
    if missing_tools("ip"):
        return "ip not found"
    return None


def require_lab() -> None:
    problem = lab_problem()
    if problem is not None:
        unavailable(problem)
