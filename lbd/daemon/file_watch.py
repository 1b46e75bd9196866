"""Reload on file change by polling: every config file's (mtime, size, inode), about once a second.

Polling rather than inotify: it sees files replaced by rename (editors, `kubectl`-style atomic writes,
ConfigMap-like symlink swaps) and new files in watched directories with no special cases, and a second
of latency is nothing next to a human editing a file. A change is reported once the files have stopped
changing for `settle` seconds, so an editor writing in several steps causes one reload, not three.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from pathlib import Path

from lbd.config import ConfigError
from lbd.config.load import files_of

Fingerprint = tuple[tuple[str, int, int, int], ...]
_MISSING = (-1, -1, -1)
# An editor that never stops writing must not hold a reload back forever.
_MAX_SETTLE_ROUNDS = 10


def fingerprint(paths: Iterable[str | Path]) -> Fingerprint:
    """What identifies the current content of the document set without reading it."""
    items: list[tuple[str, int, int, int]] = []
    for item in files_of(paths):
        if isinstance(item, ConfigError):
            items.append((item.name, *_MISSING))
            continue
        try:
            st = item.stat()
        except OSError:
            items.append((str(item), *_MISSING))
            continue
        items.append((str(item), st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(items)


class FileWatcher:
    __slots__ = ("_interval", "_last", "_on_change", "_paths", "_settle")

    def __init__(
        self,
        paths: Iterable[str | Path],
        on_change: Callable[[], None],
        interval: float = 1.0,
        settle: float = 0.2,
    ) -> None:
        self._paths = tuple(paths)
        self._on_change = on_change
        self._interval = interval
        self._settle = settle
        self._last = fingerprint(self._paths)

    def rebase(self) -> None:
        """The files were just (re)loaded for another reason (SIGHUP): this content is not news."""
        self._last = fingerprint(self._paths)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            now = fingerprint(self._paths)
            if now == self._last:
                continue
            for _ in range(_MAX_SETTLE_ROUNDS):
                await asyncio.sleep(self._settle)
                again = fingerprint(self._paths)
                if again == now:
                    break
                now = again
            self._last = now
            self._on_change()
