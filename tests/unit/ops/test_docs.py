"""The operator documentation stays in step with the code it describes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lbd.logsetup import LOG_LEVELS
from lbd.metrics import FAMILIES

DOCS = Path(__file__).resolve().parents[3] / "docs"


def table_rows(text: str) -> dict[str, str]:
    """First-column backquoted names of Markdown table rows -> the whole row."""
    rows = {}
    for line in text.splitlines():
        match = re.match(r"^\| `([a-z0-9_]+)` \|", line)
        if match:
            rows[match[1]] = line
    return rows


def test_every_metric_family_is_documented_with_its_type_and_labels() -> None:
    rows = table_rows((DOCS / "metrics.md").read_text())
    assert set(rows) == set(FAMILIES)
    text = (DOCS / "metrics.md").read_text()
    for name, family in FAMILIES.items():
        assert f"| {family.kind} |" in rows[name], name
        for label in family.labels:
            # Labels are named in the row itself or in the heading of the family's section.
            assert f"`{label}`" in rows[name] or f"(label `{label}`" in text, (name, label)


@pytest.mark.parametrize("level", list(LOG_LEVELS))
def test_every_log_level_is_documented(level: str) -> None:
    assert f"| `{level}` |" in (DOCS / "logging.md").read_text()
