"""YAML files and directories to documents: the thin file layer over `parse_documents`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import yaml

from lbd.config.errors import ConfigError
from lbd.config.parse import Document

SUFFIXES = (".yaml", ".yml", ".json")


def files_of(paths: Iterable[str | Path]) -> Iterator[Path | ConfigError]:
    """Each file, and each YAML/JSON file of each directory (recursively, sorted); errors for the rest."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in SUFFIXES)
            if not found:
                message = "directory has no .yaml, .yml or .json files"
                yield ConfigError("File", str(path), "-", message, str(path))
            yield from found
        elif path.is_file():
            yield path
        else:
            yield ConfigError("File", str(path), "-", "does not exist", str(path))


def documents_of(path: Path) -> tuple[list[Document], list[ConfigError]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [], [ConfigError("File", str(path), "-", f"cannot read: {exc}", str(path))]
    try:
        bodies = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "-"
        problem = getattr(exc, "problem", None) or str(exc)
        return [], [ConfigError("File", str(path), where, f"invalid YAML: {problem}", str(path))]
    return [Document(f"{path}#{i + 1}", body) for i, body in enumerate(bodies)], []
