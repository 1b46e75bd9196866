"""How a restarted lbd knows it restarted (RFC 4724 §3, Restart State bit), across a kill -9.

A process that dies without a word cannot record its death, so the living process records that it is
alive: while any session with graceful restart is Established, `RestartMarker` rewrites a small JSON
file (`restart.json` in the state directory) every `interval` seconds with the wall-clock time and the
restart time it advertised to each peer. A new process reads the file once at start: a peer counts as
restarting when the last sign of life is younger than the restart time advertised to it, because only
then does the peer still hold our routes as stale (RFC 4724 §4.2) and wait for our End-of-RIB. A clean
shutdown sends Cease to every peer, which makes them drop our routes (no graceful restart applies), so
`clear` removes the file. The directory should be on a tmpfs (`/run`): after a reboot nothing is stale.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

FILE_NAME = "restart.json"


class RestartMarker:
    """The state file of one lbd instance. `clock` is wall-clock seconds (tests pass a fake)."""

    def __init__(self, directory: str | os.PathLike[str], clock: Callable[[], float] = time.time) -> None:
        self._path = Path(directory) / FILE_NAME
        self._clock = clock
        self._previous = self._read()

    @property
    def path(self) -> Path:
        return self._path

    def restarting(self, peer: str) -> bool:
        """Did the previous process have `peer` Established with graceful restart, recently enough that
        the peer still keeps its routes?"""
        entry = self._previous.get(peer)
        if entry is None:
            return False
        alive, restart_time = entry
        return 0 <= self._clock() - alive < restart_time

    def forget(self, peer: str) -> None:
        """The restart towards `peer` is over (End-of-RIB sent, or the session failed again)."""
        self._previous.pop(peer, None)

    def write(self, established: Mapping[str, float]) -> None:
        """Record that this process is alive with `established` (peer -> advertised restart time)."""
        now = self._clock()
        if not established:
            self.clear()
            return
        body = {"alive": now, "peers": dict(established)}
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps(body))
        tmp.replace(self._path)

    def clear(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()

    def _read(self) -> dict[str, tuple[float, float]]:
        try:
            body = json.loads(self._path.read_text())
            alive = float(body["alive"])
            return {str(peer): (alive, float(rt)) for peer, rt in body["peers"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            # Missing or unreadable: behave as a fresh start, which is always safe (the peer re-learns).
            return {}
