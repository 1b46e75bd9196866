"""The allocations of the last run, kept on disk so a restarted daemon gives every service the address
it had (under Kubernetes the Service status plays this part; files have no status to read back).

One JSON object per node, `{"namespace/name": ["192.0.2.1", ...]}`, replaced atomically (write to a
temporary file, then rename) whenever an allocation changes. A missing or unreadable file only means
a fresh allocation, as on the first start: it is logged, never fatal.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Mapping
from pathlib import Path

import structlog

from lbd.config import IPAddress

log = structlog.get_logger("lbd.daemon")

Allocations = Mapping[str, tuple[IPAddress, ...]]


def state_file(directory: str | os.PathLike[str], node: str) -> Path:
    return Path(directory) / f"allocations-{node}.json"


def load_allocations(path: Path) -> dict[str, tuple[IPAddress, ...]]:
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("allocationStateUnreadable", path=str(path), error=str(exc))
        return {}
    found: dict[str, tuple[IPAddress, ...]] = {}
    if not isinstance(raw, dict):
        log.warning("allocationStateUnreadable", path=str(path), error="not a JSON object")
        return {}
    for key, addresses in raw.items():
        try:
            found[str(key)] = tuple(ipaddress.ip_address(a) for a in addresses)
        except (TypeError, ValueError):
            log.warning("allocationStateUnreadable", path=str(path), service=str(key))
    return found


def save_allocations(path: Path, allocations: Allocations) -> None:
    doc = {key: [str(a) for a in addresses] for key, addresses in sorted(allocations.items())}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(json.dumps(doc, indent=1) + "\n")
        temporary.replace(path)
    except OSError as exc:
        # Losing this only costs address stability across a restart; serving goes on.
        log.error("allocationStateWriteFailed", path=str(path), error=str(exc))
