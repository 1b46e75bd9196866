"""JSON log lines, MetalLB's levels, and secrets that never reach the output."""

from __future__ import annotations

import io
import json

import pytest
import structlog

from lbd.logsetup import REDACTED, configure


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_with_event_names() -> None:
    out = io.StringIO()
    configure("info", out)
    structlog.get_logger().info("ipAllocated", ip="192.0.2.10", service="default/web")
    (record,) = lines(out)
    assert record["event"] == "ipAllocated"
    assert record["level"] == "info"
    assert record["ip"] == "192.0.2.10"
    assert "ts" in record


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("all", ["debug", "info", "warning", "error"]),
        ("debug", ["debug", "info", "warning", "error"]),
        ("info", ["info", "warning", "error"]),
        ("warn", ["warning", "error"]),
        ("error", ["error"]),
        ("none", []),
    ],
)
def test_levels(level: str, expected: list[str]) -> None:
    out = io.StringIO()
    configure(level, out)
    log = structlog.get_logger()
    log.debug("d")
    log.info("i")
    log.warning("w")
    log.error("e")
    assert [r["level"] for r in lines(out)] == expected


def test_unknown_level() -> None:
    with pytest.raises(ValueError, match="allowed are all, debug, info, warn, error, none"):
        configure("verbose")


def test_secrets_are_redacted_at_any_depth() -> None:
    out = io.StringIO()
    configure("info", out)
    structlog.get_logger().info(
        "peerConfigured",
        password="hunter2",
        peer={"address": "192.0.2.1", "password": "s3cr3t"},
        keys=[{"key": "k"}],
    )
    text = out.getvalue()
    assert "hunter2" not in text
    assert "s3cr3t" not in text
    (record,) = lines(out)
    assert record["password"] == REDACTED
    assert record["peer"] == {"address": "192.0.2.1", "password": REDACTED}
    assert record["keys"] == [{"key": REDACTED}]
