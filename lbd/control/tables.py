"""Plain-text tables for the human form of status views, in the spirit of `vtysh` output."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def render_table(rows: Iterable[Mapping[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """`columns` are (header, key) pairs; missing values print as "-" so columns stay aligned."""
    cells = [[header for header, _ in columns]]
    for row in rows:
        cells.append([_cell(row.get(key)) for _, key in columns])
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = [
        "  ".join(value.ljust(width) for value, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    ]
    return "\n".join(lines)


def render_fields(fields: Sequence[tuple[str, Any]]) -> str:
    width = max((len(label) for label, _ in fields), default=0)
    return "\n".join(f"{label.ljust(width)}  {_cell(value)}" for label, value in fields)


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(_cell(v) for v in value) or "-"
    return str(value)
