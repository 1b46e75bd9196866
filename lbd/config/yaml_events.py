"""YAML documents built straight from libyaml's parse events.

`yaml.load_all` with libyaml composes a node tree (resolving every scalar's tag in Python) and then
walks it again with PyYAML's generic constructor; for 100,000 small Service documents two thirds of
the time goes there, not into libyaml. Plain configuration YAML (mappings, sequences, scalars) is
built here in one pass over the events, with the same tag resolution (the loader's own implicit
resolvers) and the same scalar constructors. Anything else -- anchors and aliases, merge keys,
complex keys, tags other than the standard scalar, map and seq ones -- raises `Unusual`, and the
caller reads the stream again with `yaml.load_all`, so results and errors are always PyYAML's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import yaml
from yaml.events import (
    DocumentEndEvent,
    DocumentStartEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import ScalarNode

LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_TAG = "tag:yaml.org,2002:"
STR, NULL, MAP, SEQ = _TAG + "str", _TAG + "null", _TAG + "map", _TAG + "seq"
_MAP_TAGS, _SEQ_TAGS = ("!", MAP), ("!", SEQ)
# The scalar tags built by calling the loader's own constructor (SafeConstructor) on a ScalarNode.
_BUILT = frozenset(_TAG + t for t in ("bool", "int", "float", "timestamp", "binary"))
# BaseResolver.resolve's candidates for a plain scalar: by its first character ("" when empty), then
# the wildcard ones.
_IMPLICIT: dict[str | None, list[tuple[str, Any]]] = LOADER.yaml_implicit_resolvers
_WILDCARD = _IMPLICIT.get(None, [])
_CANDIDATES = {k: [*v, *_WILDCARD] for k, v in _IMPLICIT.items() if k is not None}


class Unusual(Exception):
    """The stream uses YAML this reader leaves to PyYAML."""


def documents(stream: Any) -> Iterator[object]:
    """Each document of `stream` (text or a file) as `yaml.load_all(stream, Loader=LOADER)` gives it,
    or `Unusual` part way through. libyaml's own errors propagate as `yaml.YAMLError`."""
    loader = LOADER(stream)
    try:
        reader = _Reader(loader)
        get = reader.get
        get()  # StreamStartEvent
        while True:
            event = get()
            if type(event) is StreamEndEvent:
                return
            if type(event) is not DocumentStartEvent:
                raise Unusual(event)
            try:
                body = reader.value(get())
            except RecursionError as exc:
                raise Unusual("nesting too deep") from exc
            if type(get()) is not DocumentEndEvent:
                raise Unusual("document end")
            yield body
    finally:
        loader.dispose()


class _Reader:
    __slots__ = ("_loader", "get")

    def __init__(self, loader: yaml.SafeLoader) -> None:
        self._loader = loader
        self.get: Callable[[], Event] = loader.get_event

    def value(self, event: Event) -> object:
        kind = type(event)
        if kind is ScalarEvent:
            return self.scalar(event)  # type: ignore[arg-type]
        if getattr(event, "anchor", None) is not None:
            raise Unusual("anchor")
        tag = getattr(event, "tag", None)
        get = self.get
        if kind is MappingStartEvent and (tag is None or tag in _MAP_TAGS):
            mapping: dict[object, object] = {}
            while True:
                key = get()
                if type(key) is MappingEndEvent:
                    return mapping
                if type(key) is not ScalarEvent:
                    raise Unusual("complex key")
                mapping[self.scalar(key)] = self.value(get())
        if kind is SequenceStartEvent and (tag is None or tag in _SEQ_TAGS):
            sequence: list[object] = []
            while True:
                item = get()
                if type(item) is SequenceEndEvent:
                    return sequence
                sequence.append(self.value(item))
        raise Unusual(event)

    def scalar(self, event: ScalarEvent) -> object:
        if event.anchor is not None:
            raise Unusual("anchor")
        value: str = event.value
        tag = event.tag
        if tag is None or tag == "!":
            tag = STR
            if event.implicit[0]:
                for candidate, pattern in _CANDIDATES.get(value[0] if value else "", _WILDCARD):
                    if pattern.match(value):
                        tag = candidate
                        break
        if tag == STR:
            return value
        if tag == NULL:
            return None
        if tag in _BUILT:
            constructor = self._loader.yaml_constructors[tag]
            try:
                return constructor(self._loader, ScalarNode(tag, value))
            except (ValueError, TypeError) as exc:  # an explicit tag on a value it does not fit
                raise Unusual(tag) from exc
        raise Unusual(tag)
