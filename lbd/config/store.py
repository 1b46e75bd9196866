"""The config in force: updates are accepted or rejected whole; a rejected update keeps the last good one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lbd.config.errors import ConfigError
from lbd.config.model import Config
from lbd.config.result import ParseResult


@dataclass(frozen=True, slots=True)
class Rejection:
    at: float
    errors: tuple[ConfigError, ...]


class ConfigStore:
    """Holds the last good Config and the last rejection. `clock` gives the rejection timestamps
    (the daemon passes `time.time`; tests pass a fake)."""

    __slots__ = ("_clock", "_current", "_generation", "_rejection")

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._current: Config | None = None
        self._rejection: Rejection | None = None
        self._generation = 0

    def apply(self, result: ParseResult) -> bool:
        """Install the result's config if it has one (clearing the last rejection) and return True;
        otherwise record the rejection and keep the config in force."""
        if result.config is None:
            self._rejection = Rejection(self._clock(), result.errors)
            return False
        self._current = result.config
        self._rejection = None
        self._generation += 1
        return True

    @property
    def current(self) -> Config | None:
        return self._current

    @property
    def generation(self) -> int:
        """How many configs were accepted so far (0: none yet)."""
        return self._generation

    @property
    def last_rejection(self) -> Rejection | None:
        return self._rejection
