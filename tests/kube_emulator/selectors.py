"""Label and field selectors, parsed as the API server's `labels.Parse` and `fields.ParseSelector` do.

Supported label syntax: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`.
Field selectors compare a dotted path (`metadata.name`, `spec.nodeName`, `type`) with `=`, `==`, `!=`.
A malformed selector raises `SelectorError`, which the server turns into 400 BadRequest.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Obj = dict[str, Any]
Predicate = Callable[[Obj], bool]


class SelectorError(ValueError):
    pass


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside a `( ... )` value set."""
    terms: list[str] = []
    depth = 0
    current: list[str] = []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    terms.append("".join(current).strip())
    return [t for t in terms if t]


_SET_TERM = re.compile(r"^([A-Za-z0-9_./-]+)\s+(in|notin)\s+\((.*)\)$")
_EQ_TERM = re.compile(r"^([A-Za-z0-9_./-]+)\s*(==|!=|=)\s*([A-Za-z0-9_.-]*)$")
_KEY = re.compile(r"^[A-Za-z0-9_./-]+$")


def _label_term(term: str) -> Callable[[Mapping[str, str]], bool]:
    m = _SET_TERM.match(term)
    if m:
        key, op, raw = m.groups()
        values = {v.strip() for v in raw.split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    m = _EQ_TERM.match(term)
    if m:
        key, op, value = m.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if term.startswith("!") and _KEY.match(term[1:].strip()):
        key = term[1:].strip()
        return lambda labels: key not in labels
    if _KEY.match(term):
        return lambda labels: term in labels
    raise SelectorError(f"unable to parse requirement: {term!r}")


def label_selector(text: str | None) -> Predicate:
    if not text:
        return lambda _obj: True
    tests = [_label_term(t) for t in _split_terms(text)]

    def match(obj: Obj) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        return all(t(labels) for t in tests)

    return match


def _field_value(obj: Obj, path: str) -> str:
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, dict):
            return ""
        node = node.get(part)
    if node is None:
        return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def field_selector(text: str | None) -> Predicate:
    if not text:
        return lambda _obj: True
    tests: list[Predicate] = []
    for term in _split_terms(text):
        m = re.match(r"^([A-Za-z0-9_.]+)\s*(==|!=|=)\s*(.*)$", term)
        if not m:
            raise SelectorError(f"invalid field selector: {term!r}")
        path, op, value = m.groups()
        tests.append(_field_test(path, value, negate=op == "!="))
    return lambda obj: all(t(obj) for t in tests)


def _field_test(path: str, value: str, negate: bool) -> Predicate:
    def test(obj: Obj) -> bool:
        return (_field_value(obj, path) == value) != negate

    return test
