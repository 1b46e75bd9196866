"""Typed access to one JSON/YAML mapping, recording every problem instead of stopping at the first.

Each reader method returns a usable fallback after reporting, so the parser can carry on and report the
rest of the object. `finish()` reports keys nobody asked for: MetalLB's CRDs are structural schemas, and
a misspelt field (`nodeSelector` for `nodeSelectors`) would otherwise silently widen an advertisement.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from lbd.config.duration import DurationError, parse_duration
from lbd.config.errors import Problems

DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "list"
    return type(value).__name__


def dns_subdomain_problem(name: str) -> str | None:
    """Kubernetes object-name rule (RFC 1123 subdomain), or None when `name` is valid."""
    if len(name) > 253:
        return "must be at most 253 characters"
    if not DNS_SUBDOMAIN.fullmatch(name):
        return (
            "must be a lowercase RFC 1123 subdomain: a-z, 0-9, '-' and '.', starting and ending alphanumeric"
        )
    return None


class Fields:
    """One mapping at `path` (e.g. `spec`) inside an object whose problems go to `problems`."""

    __slots__ = ("_data", "_path", "_seen", "problems")

    def __init__(self, data: Mapping[str, Any], path: str, problems: Problems) -> None:
        self._data = data
        self._path = path
        self._seen: set[str] = set()
        self.problems = problems

    @classmethod
    def of(cls, value: object, path: str, problems: Problems) -> Fields:
        """Wrap `value`, reporting (and treating as empty) anything that is not a mapping."""
        if value is None:
            return cls({}, path, problems)
        if not isinstance(value, Mapping):
            problems.error(path, f"must be an object, got {type_name(value)}")
            return cls({}, path, problems)
        return cls(value, path, problems)

    def path(self, key: str | int) -> str:
        return join(self._path, key)

    def has(self, key: str) -> bool:
        return self._data.get(key) is not None

    def raw(self, key: str) -> Any:
        self._seen.add(key)
        return self._data.get(key)

    def error(self, key: str | int, message: str) -> None:
        self.problems.error(self.path(key), message)

    def _missing(self, key: str, required: bool) -> None:
        if required:
            self.error(key, "is required")

    def string(self, key: str, *, required: bool = False, allow_empty: bool = True) -> str | None:
        value = self.raw(key)
        if value is None:
            self._missing(key, required)
            return None
        if not isinstance(value, str):
            self.error(key, f"must be a string, got {type_name(value)}")
            return None
        if not value and not allow_empty:
            if required:
                self.error(key, "is required (must not be empty)")
            return None
        if any(c in value for c in "\r\n"):
            self.error(key, "must not contain line breaks")
            return None
        return value

    def boolean(self, key: str, default: bool = False) -> bool:
        value = self.raw(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.error(key, f"must be true or false, got {type_name(value)}")
            return default
        return value

    def integer(
        self, key: str, lo: int, hi: int, default: int | None = None, *, required: bool = False
    ) -> int | None:
        value = self.raw(key)
        if value is None:
            self._missing(key, required)
            return default
        return self.check_integer(key, value, lo, hi, default)

    def check_integer(
        self, key: str | int, value: object, lo: int, hi: int, default: int | None
    ) -> int | None:
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(key, f"must be an integer in {lo}..{hi}, got {type_name(value)}")
            return default
        if not lo <= value <= hi:
            self.error(key, f"{value} is out of range {lo}..{hi}")
            return default
        return value

    def duration(self, key: str) -> float | None:
        value = self.raw(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.error(key, f'must be a duration string such as "90s" or "1m30s", got {type_name(value)}')
            return None
        try:
            seconds = parse_duration(value)
        except DurationError as exc:
            self.error(key, str(exc))
            return None
        if seconds < 0:
            self.error(key, f"{value!r} must not be negative")
            return None
        return seconds

    def mapping(self, key: str, *, required: bool = False) -> Fields | None:
        value = self.raw(key)
        if value is None:
            self._missing(key, required)
            return None
        if not isinstance(value, Mapping):
            self.error(key, f"must be an object, got {type_name(value)}")
            return None
        return Fields(value, self.path(key), self.problems)

    def sequence(self, key: str, *, required: bool = False) -> Sequence[Any]:
        value = self.raw(key)
        if value is None:
            self._missing(key, required)
            return ()
        if isinstance(value, str) or not isinstance(value, list | tuple):
            self.error(key, f"must be a list, got {type_name(value)}")
            return ()
        return value

    def string_list(self, key: str, *, unique: bool = False, required: bool = False) -> tuple[str, ...]:
        out: list[str] = []
        for i, item in enumerate(self.sequence(key, required=required)):
            where = join(key, i)
            if not isinstance(item, str) or not item:
                self.error(where, f"must be a non-empty string, got {type_name(item)}")
                continue
            if unique and item in out:
                self.error(where, f"duplicate entry {item!r}")
                continue
            out.append(item)
        return tuple(out)

    def string_map(self, key: str) -> dict[str, str]:
        value = self.raw(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.error(key, f"must be an object of strings, got {type_name(value)}")
            return {}
        out: dict[str, str] = {}
        for k, v in value.items():
            if not isinstance(v, str):
                self.error(f"{key}.{k}", f"must be a string, got {type_name(v)}")
                continue
            out[str(k)] = v
        return out

    def items(self, key: str) -> list[tuple[int, Fields]]:
        """The object entries of a list field, each wrapped with its own path."""
        out: list[tuple[int, Fields]] = []
        for i, item in enumerate(self.sequence(key)):
            out.append((i, Fields.of(item, self.path(join(key, i)), self.problems)))
        return out

    def finish(self, allowed_extra: frozenset[str] = frozenset()) -> None:
        for key in self._data:
            if key not in self._seen and key not in allowed_extra:
                self.error(str(key), "unknown field")
