"""Structured configuration errors: which object, which field, what is allowed."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Severity(Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class ConfigError:
    """One problem in a document set.

    `name` is `namespace/name` for namespaced kinds, `name` for cluster-scoped ones and `-` when the
    document has no usable name; `field` is a JSON-path-like location such as `spec.addresses[1]`
    (`-` for the whole document); `source` says where the document came from (`file.yaml#2`)."""

    kind: str
    name: str
    field: str
    message: str
    source: str = ""
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        return f"{self.kind} {self.name} {self.field}: {self.message}"


class Problems:
    """Collects errors and warnings for one object; all of them are reported, never just the first."""

    __slots__ = ("kind", "name", "sink", "source")

    def __init__(self, sink: list[ConfigError], kind: str, name: str, source: str) -> None:
        self.sink = sink
        self.kind = kind
        self.name = name
        self.source = source

    def error(self, field: str, message: str) -> None:
        self.sink.append(ConfigError(self.kind, self.name, field or "-", message, self.source))

    def warning(self, field: str, message: str) -> None:
        self.sink.append(
            ConfigError(self.kind, self.name, field or "-", message, self.source, Severity.WARNING)
        )
