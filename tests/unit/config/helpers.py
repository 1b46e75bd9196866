"""Small builders for config tests: YAML text in, ParseResult out."""

from __future__ import annotations

import textwrap

import yaml

from lbd.config import ConfigError, ParseResult, parse_objects


def parse(text: str) -> ParseResult:
    return parse_objects(list(yaml.safe_load_all(textwrap.dedent(text))), "test.yaml")


def errors_of(result: ParseResult) -> list[tuple[str, str, str]]:
    return [(e.kind, e.field, e.message) for e in result.errors]


def find(problems: tuple[ConfigError, ...], field: str, fragment: str) -> ConfigError | None:
    for p in problems:
        if p.field == field and fragment in p.message:
            return p
    return None
