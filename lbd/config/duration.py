"""Go `time.ParseDuration` syntax, the format of metav1.Duration fields (`holdTime: 1m30s`)."""

from __future__ import annotations

import re

# Go accepts both the micro sign and the Greek mu for microseconds.
_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "\u00b5s": 1e-6,
    "\u03bcs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")


class DurationError(ValueError):
    pass


def parse_duration(text: str) -> float:
    """Seconds in `text` (e.g. `3s`, `5m30s`, `1h2m3.5s`, `300ms`, `0`); raises DurationError."""
    original = text
    sign = 1.0
    if text[:1] in "+-" and text:
        sign = -1.0 if text[0] == "-" else 1.0
        text = text[1:]
    if text == "0":
        return 0.0
    if not text:
        raise DurationError(f"invalid duration {original!r}")
    total = 0.0
    pos = 0
    while pos < len(text):
        match = _PART.match(text, pos)
        if match is None:
            if re.match(r"\d+\.?\d*$|\.\d+$", text[pos:]):
                raise DurationError(f"missing unit in duration {original!r} (use ns, us, ms, s, m or h)")
            raise DurationError(f"invalid duration {original!r} (e.g. 90s, 1m30s, 300ms)")
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    return sign * total


def format_duration(seconds: float) -> str:
    """A compact Go-style rendering for messages: 90.0 -> `1m30s`, 0.3 -> `300ms`."""
    if seconds < 1 and seconds != 0:
        return f"{seconds * 1000:g}ms"
    minutes, rest = divmod(seconds, 60.0)
    hours, minutes = divmod(int(minutes), 60)
    out = ""
    if hours:
        out += f"{hours}h"
    if minutes:
        out += f"{minutes}m"
    if rest or not out:
        out += f"{rest:g}s"
    return out
