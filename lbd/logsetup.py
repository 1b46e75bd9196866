"""structlog JSON lines with MetalLB's log levels, and redaction of secrets before anything is written.

MetalLB's `logLevel` takes all, debug, info, warn, error and none; "all" logs everything (below debug)
and "none" silences the daemon.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog

LOG_LEVELS: Mapping[str, int] = {
    "all": logging.NOTSET,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "none": logging.CRITICAL,
}

# Field names whose values are secrets wherever they appear, at any depth of an event.
SECRET_KEYS = frozenset({"password", "key", "secret", "md5_password", "auth_key", "token"})
REDACTED = "<redacted>"


def redact(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: REDACTED if str(k).lower() in SECRET_KEYS else redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def _redact_processor(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        event[key] = REDACTED if key.lower() in SECRET_KEYS else redact(event[key])
    return event


def configure(level: str = "info", stream: TextIO | None = None) -> None:
    if level not in LOG_LEVELS:
        raise ValueError(f"logLevel {level!r}: allowed are {', '.join(LOG_LEVELS)}")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
            structlog.processors.format_exc_info,
            _redact_processor,
            structlog.processors.JSONRenderer(sort_keys=False, default=str),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(LOG_LEVELS[level]),
        # structlog has no level above critical, so "none" drops what is left rather than writing it.
        logger_factory=(
            structlog.ReturnLoggerFactory()
            if level == "none"
            else structlog.WriteLoggerFactory(file=stream or sys.stderr)
        ),
        cache_logger_on_first_use=False,
    )
