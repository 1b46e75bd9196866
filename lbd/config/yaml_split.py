"""Reloading a big YAML stream document by document.

A line that starts with `---` (then a space, a tab or the line's end) begins a new document wherever
it appears in a valid stream (YAML 1.2 §9.1.4: a document marker is forbidden inside content), so a
stream without directives (`%YAML`, `%TAG`) and without `...` end markers is the concatenation of
independent document texts. A reload hashes each document's text; a Service that was a whole
document on its own last time, read by the fast path, is reused when its text's hash is unchanged;
every other document is parsed again, alone. Any doubt (directives, `...`, a document that does not
parse alone into exactly one document, a YAML error -- whose line number must count from the top
of the file) sends the caller back to parsing the whole stream.

Hashes are Python's 64-bit string hash, kept as one integer per Service (8 bytes), not the texts.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterator
from pathlib import Path

import yaml

from lbd.config import yaml_events
from lbd.config.parse import Batch, Document

_START = re.compile(r"^---(?=[ \t\r\n]|\Z)", re.MULTILINE)
_UNSAFE = re.compile(r"^(?:%|\.\.\.(?=[ \t\r\n]|\Z))", re.MULTILINE)
# Text before the first `---` that is not a document: blank and comment lines (and a byte-order mark).
_BLANK = re.compile(r"\ufeff?(?:[ \t]*(?:#[^\r\n]*)?(?:\r\n|\r|\n))*[ \t]*(?:#[^\r\n]*)?")


def documents(text: str) -> Iterator[str] | None:
    """The text of each document of the stream, or None when it cannot be split safely."""
    if _UNSAFE.search(text):
        return None
    return _split(text)


def _split(text: str) -> Iterator[str]:
    previous = 0
    for found in _START.finditer(text):
        start = found.start()
        if previous or not _BLANK.fullmatch(text, 0, start):
            yield text[previous:start]
        previous = start
    if previous or not _BLANK.fullmatch(text):
        yield text[previous:]


def hashes(batch: Batch, text: str) -> array[int] | None:
    """Per Service of `batch` (parsed from `text`): its document's hash when it was a whole document
    alone, else 0. None when the split does not give as many documents as the parse saw."""
    split = documents(text)
    if split is None:
        return None
    per_document = [hash(doc) for doc in split]
    if len(per_document) != batch.documents:
        return None
    out = array("q", bytes(8 * len(batch.services)))
    for index in range(len(batch.services)):
        number = batch.whole_document(index)
        if number is not None:
            out[index] = per_document[number]
    return out


def reparse(
    path: Path, text: str, namespace: str, previous: Batch, known: array[int]
) -> tuple[Batch, array[int]] | None:
    """`text` (the file's new content) parsed reusing `previous` Services whose document hash is in
    `known` (aligned with `previous.services`); None: parse the whole stream instead."""
    split = documents(text)
    if split is None:
        return None
    reusable = {h: i for i, h in enumerate(known) if h}
    origin = str(path)
    batch = Batch(namespace=namespace, numbered=origin)
    out: array[int] = array("q")
    for doc in split:
        digest = hash(doc)
        number = batch.documents
        index = reusable.get(digest)
        if index is not None:
            batch.documents += 1
            batch.add_service(previous.services[index], previous.keys[index], number, -1, True)
            out.append(digest)
            continue
        try:
            bodies = _bodies(doc)
        except yaml.YAMLError:
            return None
        if len(bodies) != 1:
            return None
        first = len(batch.services)
        batch.add_document(Document(f"{origin}#{number + 1}", bodies[0]))
        for i in range(first, len(batch.services)):
            out.append(digest if batch.whole_document(i) is not None else 0)
    return batch, out


def _bodies(doc: str) -> list[object]:
    try:
        return list(yaml_events.documents(doc))
    except yaml_events.Unusual:
        return list(yaml.load_all(doc, Loader=yaml_events.LOADER))
