"""process_* metrics (the names every Prometheus client library exposes), read from /proc/self.

Read here rather than through prometheus-client: that library and what it imports (an HTTP server,
WSGI, gzip, e-mail parsing) cost a long-running lbd about 4 MiB for six numbers.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _boot_time() -> float:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    return 0.0


_BOOT = _boot_time()

# (name, type, help)
FAMILIES = (
    ("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds."),
    ("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes."),
    ("process_resident_memory_bytes", "gauge", "Resident memory size in bytes."),
    ("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds."),
    ("process_open_fds", "gauge", "Number of open file descriptors."),
    ("process_max_fds", "gauge", "Maximum number of open file descriptors."),
)


def process_values() -> dict[str, float]:
    """The six values, by metric name; empty where /proc cannot be read (not Linux)."""
    try:
        stat = Path("/proc/self/stat").read_text()
        open_fds = len(os.listdir("/proc/self/fd"))
    except OSError:
        return {}
    # Fields after the command name, which may itself hold spaces and parentheses (proc(5)).
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime, starttime = int(fields[11]), int(fields[12]), int(fields[19])
    vsize, rss_pages = int(fields[20]), int(fields[21])
    return {
        "process_cpu_seconds_total": (utime + stime) / _TICKS,
        "process_virtual_memory_bytes": float(vsize),
        "process_resident_memory_bytes": float(rss_pages * _PAGE),
        "process_start_time_seconds": _BOOT + starttime / _TICKS,
        "process_open_fds": float(open_fds),
        "process_max_fds": float(resource.getrlimit(resource.RLIMIT_NOFILE)[0]),
    }


def process_exposition() -> str:
    values = process_values()
    out: list[str] = []
    for name, kind, text in FAMILIES:
        if name in values:
            out += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", f"{name} {values[name]!r}"]
    return "\n".join(out) + "\n" if out else ""
