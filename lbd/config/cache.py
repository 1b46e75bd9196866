"""Loading files again after a change: only what changed is parsed again.

The daemon re-reads its configuration on every file change. A `FileCache` keeps each file's parsed
batch keyed by path and (size, mtime, ctime, inode, device), so a reload parses the changed files
only, and in those only the changed YAML documents or JSON List items; the cross-object rules
(`validate.build`) still run over everything. Unchanged objects are the same objects as last time,
so the incremental reconciler, which skips a Service that `is` last time's, does work proportional
to the change.
"""

from __future__ import annotations

import gc
import os
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lbd.config import yaml_split
from lbd.config.errors import ConfigError
from lbd.config.load import ItemHashes, files_of, parse_file
from lbd.config.model import DEFAULT_NAMESPACE
from lbd.config.parse import Batch, Parsed
from lbd.config.result import ParseResult
from lbd.config.validate import build

Stamp = tuple[int, int, int, int, int]


def _stamp(path: Path) -> Stamp | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    # ctime too: a chmod that makes an unreadable file readable changes nothing else.
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


@dataclass(frozen=True, slots=True)
class _Entry:
    stamp: Stamp | None
    batch: Batch
    error: ConfigError | None
    # Per Service, the hash of the text it was read from alone by the fast path (a YAML document, see
    # yaml_split; a JSON List item, see ItemHashes), else 0.
    hashes: array[int] | None = None


class FileCache:
    """`load(paths)` as `load_paths` does, reusing the parse of every file unchanged since the last
    load, and in a changed file the Service of every unchanged YAML document or JSON List item that
    held one Service. Files no longer found are forgotten. Not thread-safe: one load at a time."""

    __slots__ = ("_files", "by_document", "namespace", "parsed")

    def __init__(self, namespace: str = DEFAULT_NAMESPACE, *, by_document: bool = True) -> None:
        self.namespace = namespace
        self.by_document = by_document
        """Keep per-document (YAML) or per-item (JSON List) hashes, 8 bytes per Service, to reuse the
        unchanged parts of a changed file."""
        self._files: dict[Path, _Entry] = {}
        self.parsed: tuple[Path, ...] = ()
        """The files the last load parsed (the others came from the cache)."""

    def load(self, paths: Iterable[str | Path]) -> ParseResult:
        # Parsing allocates millions of containers and makes no reference cycles: the cyclic
        # collector's passes over the growing heap would cost a sixth of the load, for nothing.
        enabled = gc.isenabled()
        gc.disable()
        try:
            return self._load(paths)
        finally:
            if enabled:
                gc.enable()

    def _load(self, paths: Iterable[str | Path]) -> ParseResult:
        batches: list[Batch] = []
        file_errors: list[ConfigError] = []
        kept: dict[Path, _Entry] = {}
        parsed: list[Path] = []
        for item in files_of(paths):
            if isinstance(item, ConfigError):
                file_errors.append(item)
                continue
            # Stat before reading: a write racing the read changes the stamp, so the next load reads again.
            stamp = _stamp(item)
            entry = kept.get(item) or self._files.get(item)
            if entry is None or stamp is None or entry.stamp != stamp:
                last = entry
                entry = self._parse(item, stamp, last)
                if last is not None:
                    _keep_identity(entry.batch, last.batch)
                parsed.append(item)
            kept[item] = entry
            batches.append(entry.batch)
            if entry.error is not None:
                file_errors.append(entry.error)
        self._files, self.parsed = kept, tuple(parsed)
        outcome = build(Parsed.of(self.namespace, batches))
        if not file_errors:
            return ParseResult(outcome.config, outcome.world, outcome.errors, outcome.warnings)
        return ParseResult(None, outcome.world, (*file_errors, *outcome.errors), outcome.warnings)

    def _parse(self, path: Path, stamp: Stamp | None, last: _Entry | None) -> _Entry:
        if not self.by_document:
            return _Entry(stamp, *parse_file(path, self.namespace))
        if path.suffix == ".json":
            return self._parse_json(path, stamp, last)
        if last is not None and last.hashes is not None:
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                text = None  # parse_file reports it
            again = yaml_split.reparse(path, text, self.namespace, last.batch, last.hashes) if text else None
            if again is not None:
                return _Entry(stamp, again[0], None, again[1])
        batch, error = parse_file(path, self.namespace)
        if error is not None:
            return _Entry(stamp, batch, error)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return _Entry(None, batch, None)
        # The hashes must describe the text that was parsed: if the file changed meanwhile, keep none
        # and forget the stamp (the next load parses it again).
        if _stamp(path) != stamp:
            return _Entry(None, batch, None)
        return _Entry(stamp, batch, None, yaml_split.hashes(batch, text))

    def _parse_json(self, path: Path, stamp: Stamp | None, last: _Entry | None) -> _Entry:
        """A JSON List reusing last time's Service for every item whose text is unchanged (the item is
        still decoded: that is how its end is found)."""
        hashes = ItemHashes()
        if last is not None and last.hashes is not None:
            hashes = ItemHashes(last.batch, {h: i for i, h in enumerate(last.hashes) if h})
        batch, error = parse_file(path, self.namespace, hashes)
        if error is not None or not hashes.seen:
            return _Entry(stamp, batch, error)
        per_item = hashes.seen
        out = array("q", bytes(8 * len(batch.services)))
        for index in range(len(batch.services)):
            item = batch.quick_item(index)
            if item is not None:
                out[index] = per_item[item]
        return _Entry(stamp, batch, None, out)


def _keep_identity(batch: Batch, last: Batch) -> None:
    """Put last time's Service objects back where the new parse built equal ones: the reconciler
    skips a Service that `is` the one it saw, so a one-Service edit in a file reparsed whole still
    costs one Service downstream."""
    before = dict(zip(last.keys, last.services, strict=True))
    services = batch.services
    for index, key in enumerate(batch.keys):
        old = before.get(key)
        if old is not None and old is not services[index] and old == services[index]:
            services[index] = old
