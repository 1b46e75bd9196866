"""Names of lab namespaces, interfaces and run-time directories.

Every namespace carries the pid of the process that created it (``lbdt<pid>-<seq>-<short>``), so a
later run can tell a stale lab (creator dead) from one that belongs to a live run of somebody else, and
only ever deletes the former.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

PREFIX = "lbdt"
RUN_ROOT = Path("/run")
FRR_RUN_ROOT = Path("/run/frr")

# Linux IFNAMSIZ is 16 including the terminating NUL.
IFNAME_MAX = 15

_NS_RE = re.compile(rf"^{PREFIX}(?P<pid>[0-9]+)-(?P<seq>[0-9]+)-(?P<short>[a-z][a-z0-9]*)$")
_RUNDIR_RE = re.compile(rf"^{PREFIX}-(?P<pid>[0-9]+)$")
_SHORT_RE = re.compile(r"^[a-z][a-z0-9]{0,7}$")
_IFNAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


class LabNameError(ValueError):
    """A name given to the lab cannot be used."""


def check_short(short: str) -> str:
    """Short namespace labels are 1-8 characters, ``[a-z][a-z0-9]*``, so full names stay readable."""
    if not _SHORT_RE.fullmatch(short):
        raise LabNameError(f"namespace label {short!r}: use 1-8 characters [a-z][a-z0-9]*")
    return short


def ns_name(pid: int, seq: int, short: str) -> str:
    """The namespace name for label ``short`` of lab number ``seq`` created by process ``pid``."""
    if pid <= 0 or seq < 0:
        raise LabNameError(f"bad pid {pid} or lab sequence {seq}")
    return f"{PREFIX}{pid}-{seq}-{check_short(short)}"


def creator_pid(name: str) -> int | None:
    """The pid encoded in a lab namespace (or ``/run/frr``) name, or None for anybody else's names."""
    match = _NS_RE.fullmatch(name)
    return int(match["pid"]) if match else None


def rundir_pid(name: str) -> int | None:
    """The pid encoded in a ``/run/lbdt-<pid>`` directory name, or None."""
    match = _RUNDIR_RE.fullmatch(name)
    return int(match["pid"]) if match else None


def runtime_dir(pid: int) -> Path:
    """Per-process directory for sockets and pid files: ``/run`` is shared by every namespace."""
    return RUN_ROOT / f"{PREFIX}-{pid}"


def check_ifname(name: str) -> str:
    if not 1 <= len(name) <= IFNAME_MAX or not _IFNAME_RE.fullmatch(name) or name in {".", ".."}:
        raise LabNameError(f"interface name {name!r}: use 1-{IFNAME_MAX} characters [A-Za-z0-9_.-]")
    return name


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_names(
    names: Iterable[str], pid_of: Callable[[str], int | None], alive: Callable[[int], bool]
) -> list[str]:
    """Names created by a process that is gone. Names of live processes and foreign names are kept."""
    stale = []
    for name in names:
        pid = pid_of(name)
        if pid is not None and pid != os.getpid() and not alive(pid):
            stale.append(name)
    return sorted(stale)
