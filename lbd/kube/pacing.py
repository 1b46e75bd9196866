"""How long a role waits after a wake-up before it recomputes.

Every pass recomputes the whole snapshot, so its cost grows with the number of Services; a burst of
changes (the controller writing a thousand statuses, a re-list) would otherwise make a role recompute
once per change and starve everything else on the loop. The wait is the debounce, or the CPU time the
last pass took if that was longer (capped), so passes use at most about half the CPU and each one
absorbs every change that arrived during the previous one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class Pacing:
    debounce: float
    cap: float = 2.0
    delay: float = field(init=False)
    _started: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self.delay = self.debounce

    def begin(self) -> None:
        self._started = time.process_time()

    def end(self) -> None:
        spent = time.process_time() - self._started
        self.delay = max(self.debounce, min(spent, self.cap))


class PacedLoop:
    """A role's recompute loop: wake-ups coalesce into one pass, passes are spaced by `Pacing`, and a
    pass that reports failure (a write the API refused) runs again after `retry_delay`."""

    __slots__ = ("_name", "_ready", "_retry", "_task", "_wake", "_work", "pacing", "retry_delay")

    def __init__(
        self,
        name: str,
        ready: Callable[[], bool],
        work: Callable[[], Awaitable[bool]],
        *,
        debounce: float,
        retry_delay: float,
    ) -> None:
        self._name = name
        self._ready = ready
        self._work = work
        self.pacing = Pacing(debounce)
        self.retry_delay = retry_delay
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._retry: asyncio.TimerHandle | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.pacing.delay)
            self._wake.clear()
            if not self._ready():
                continue
            self.pacing.begin()
            ok = await self._work()
            self.pacing.end()
            if not ok:
                self._schedule_retry()

    def _schedule_retry(self) -> None:
        loop = asyncio.get_running_loop()
        if self._retry is None or self._retry.cancelled() or self._retry.when() < loop.time():
            self._retry = loop.call_later(self.retry_delay, self.wake)
