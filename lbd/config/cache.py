"""Loading files again after a change: only the files that changed are parsed again.

The daemon re-reads its configuration on every file change. A `FileCache` keeps each file's parsed
batch keyed by path and (size, mtime, inode, device), so a reload parses the changed files only; the
cross-object rules (`validate.build`) still run over everything. Objects of unchanged files are the same
objects as last time, so the incremental reconciler, which skips a Service that `is` last time's,
does work proportional to the change.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from lbd.config.errors import ConfigError
from lbd.config.load import files_of, parse_file
from lbd.config.model import DEFAULT_NAMESPACE
from lbd.config.parse import Batch, Parsed
from lbd.config.result import ParseResult
from lbd.config.validate import build

Stamp = tuple[int, int, int, int]


def _stamp(path: Path) -> Stamp | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


class FileCache:
    """`load(paths)` as `load_paths` does, reusing the parse of every file unchanged since the last
    load. Files no longer found are forgotten. Not thread-safe: one load at a time."""

    __slots__ = ("_files", "namespace", "parsed")

    def __init__(self, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.namespace = namespace
        self._files: dict[Path, tuple[Stamp | None, Batch, ConfigError | None]] = {}
        self.parsed: tuple[Path, ...] = ()
        """The files the last load parsed (the others came from the cache)."""

    def load(self, paths: Iterable[str | Path]) -> ParseResult:
        batches: list[Batch] = []
        file_errors: list[ConfigError] = []
        kept: dict[Path, tuple[Stamp | None, Batch, ConfigError | None]] = {}
        parsed: list[Path] = []
        for item in files_of(paths):
            if isinstance(item, ConfigError):
                file_errors.append(item)
                continue
            # Stat before reading: a write racing the read changes the stamp, so the next load reads again.
            stamp = _stamp(item)
            entry = kept.get(item) or self._files.get(item)
            if entry is None or stamp is None or entry[0] != stamp:
                entry = (stamp, *parse_file(item, self.namespace))
                parsed.append(item)
            kept[item] = entry
            batches.append(entry[1])
            if entry[2] is not None:
                file_errors.append(entry[2])
        self._files, self.parsed = kept, tuple(parsed)
        outcome = build(Parsed.of(self.namespace, batches))
        if not file_errors:
            return ParseResult(outcome.config, outcome.world, outcome.errors, outcome.warnings)
        return ParseResult(None, outcome.world, (*file_errors, *outcome.errors), outcome.warnings)
