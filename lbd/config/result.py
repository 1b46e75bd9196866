"""The outcome of parsing one document set."""

from __future__ import annotations

from dataclasses import dataclass

from lbd.config.errors import ConfigError
from lbd.config.model import Config, World


@dataclass(frozen=True, slots=True)
class ParseResult:
    """`config` is None when there is any error (a document set is accepted or rejected whole);
    `world` holds the core objects parsed along, even when the config is rejected."""

    config: Config | None
    world: World
    errors: tuple[ConfigError, ...]
    warnings: tuple[ConfigError, ...]

    @property
    def ok(self) -> bool:
        return self.config is not None
