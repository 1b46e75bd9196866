"""YAML and JSON files to parsed batches: the thin file layer over `parse_batch`.

Documents are read and parsed one at a time: a YAML stream goes through `yaml.load_all` (a generator),
and a JSON `kind: List` has its items decoded one by one at successive offsets, so the parsed dicts of
100,000 Services never exist together (each becomes its model object before the next is decoded).
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator, Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from lbd.config import yaml_events
from lbd.config.errors import ConfigError
from lbd.config.parse import Batch, Document, Items, Known, parse_batch

SUFFIXES = (".yaml", ".yml", ".json")
# libyaml's loader is seven times faster than PyYAML's own (10,000 Services: 0.9 s instead of 6.7 s)
# and resolves the same YAML 1.1 types; PyYAML without libyaml falls back to the pure-Python one.
_LOADER = yaml_events.LOADER
_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")  # JSON whitespace (RFC 8259 §2)
_WHITE = frozenset(" \t\n\r")


def _space(text: str, pos: int) -> int:
    """The offset of the first non-whitespace character at or after `pos`."""
    found = _SPACE.match(text, pos)
    assert found is not None  # the pattern matches the empty string
    return found.end()


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


def _file_error(path: Path, where: str, message: str) -> ConfigError:
    return ConfigError("File", str(path), where, message, str(path))


class ItemHashes:
    """For a reload of a JSON List: the hash of each item's text as read (`seen`, empty when the file
    was not streamed), and last time's Services by the hash of their item's text (`known`: index into
    `previous`)."""

    __slots__ = ("known", "previous", "seen")

    def __init__(self, previous: Batch | None = None, known: dict[int, int] | None = None) -> None:
        self.previous = previous
        self.known = known or {}
        self.seen: list[int] = []

    def item(self, text: str, start: int, end: int, value: object) -> object:
        digest = hash(text[start:end])
        self.seen.append(digest)
        index = self.known.get(digest)
        if index is None or self.previous is None:
            return value
        return Known(self.previous.services[index], self.previous.keys[index])


def parse_file(
    path: Path, namespace: str, hashes: ItemHashes | None = None
) -> tuple[Batch, ConfigError | None]:
    """The file's objects, or an empty batch and the error when it cannot be read or decoded (a file
    is used whole or not at all). `hashes`: see ItemHashes (JSON only)."""
    origin = str(path)
    try:
        if path.suffix == ".json":
            return _parse_json(path, namespace, hashes), None
        with path.open(encoding="utf-8") as stream:
            try:
                bodies: Iterable[object] = yaml_events.documents(stream)
                return parse_batch(_numbered(bodies, origin), namespace, origin), None
            except yaml_events.Unusual:
                stream.seek(0)
                bodies = yaml.load_all(stream, Loader=_LOADER)
                return parse_batch(_numbered(bodies, origin), namespace, origin), None
    except (OSError, UnicodeDecodeError) as exc:
        return Batch(namespace=namespace), _file_error(path, "-", f"cannot read: {exc}")
    except json.JSONDecodeError as exc:
        error = _file_error(path, f"line {exc.lineno}", f"invalid JSON: {exc.msg}")
        return Batch(namespace=namespace), error
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "-"
        problem = getattr(exc, "problem", None) or str(exc)
        return Batch(namespace=namespace), _file_error(path, where, f"invalid YAML: {problem}")


def _numbered(bodies: Iterable[object], origin: str) -> Iterator[Document]:
    for i, body in enumerate(bodies):
        yield Document(f"{origin}#{i + 1}", body)


def _parse_json(path: Path, namespace: str, hashes: ItemHashes | None) -> Batch:
    """A JSON file is one document; a `kind: List` one is streamed item by item. Anything the streaming
    reader does not vouch for (another shape, broken JSON) is read again whole by `json.loads`, so the
    result and the error message are exactly json's."""
    text = path.read_text(encoding="utf-8")
    origin = str(path)
    try:
        return parse_batch([Document(f"{origin}#1", Items(_list_items(text, hashes)))], namespace, origin)
    except _NotStreamable:
        if hashes is not None:
            hashes.seen.clear()
        return parse_batch([Document(f"{origin}#1", json.loads(text))], namespace, origin)


class _NotStreamable(Exception):
    """The text is not a well-formed JSON object whose `kind` ends in List and precedes its `items`."""


def _list_items(text: str, hashes: ItemHashes | None = None) -> Iterator[object]:
    scan, space = _scan, _space
    head: dict[str, Any] = {}
    streamed = False
    try:
        pos = space(text, 0)
        if text[pos] != "{":
            raise _NotStreamable
        pos = space(text, pos + 1)
        while text[pos] != "}":
            if text[pos] != '"':
                raise _NotStreamable
            key, pos = scan(text, pos)
            pos = space(text, pos)
            if text[pos] != ":" or key in head:
                raise _NotStreamable  # a repeated key: json.loads keeps the last, we may have used the first
            pos = space(text, pos + 1)
            kind = head.get("kind")
            if key == "items" and text[pos] == "[" and isinstance(kind, str) and kind.endswith("List"):
                pos = yield from _items(text, pos, hashes)
                head[key], streamed = None, True
            else:
                head[key], pos = scan(text, pos)
            pos = space(text, pos)
            if text[pos] == ",":
                pos = space(text, pos + 1)
                if text[pos] == "}":
                    raise _NotStreamable  # a trailing comma
            elif text[pos] != "}":
                raise _NotStreamable
        if not streamed or space(text, pos + 1) != len(text):
            raise _NotStreamable
    except (IndexError, ValueError) as exc:  # the text ends early; json's own errors
        raise _NotStreamable from exc


def _scan(text: str, pos: int) -> tuple[Any, int]:
    """The JSON value at `pos` and the offset after it."""
    try:
        return _DECODER.scan_once(text, pos)  # type: ignore[attr-defined,no-any-return]
    except StopIteration:  # no value starts at `pos`
        raise _NotStreamable from None


def _items(text: str, pos: int, hashes: ItemHashes | None) -> Generator[object, None, int]:
    """Yield the values of the JSON array at `pos`; return the offset after it."""
    scan, space = _scan, _space
    pos = space(text, pos + 1)
    if text[pos] == "]":
        return pos + 1
    while True:
        start = pos
        value, pos = scan(text, pos)
        yield value if hashes is None else hashes.item(text, start, pos, value)
        if text[pos] in _WHITE:  # (compact JSON has none: skip the regex)
            pos = space(text, pos)
        if text[pos] == "]":
            return pos + 1
        if text[pos] != ",":
            raise _NotStreamable
        pos += 1
        if text[pos] in _WHITE:  # json.dumps puts one space after a comma
            pos += 1
            if text[pos] in _WHITE:
                pos = space(text, pos)
