"""How long a role waits after a wake-up before it recomputes.

Every pass recomputes the whole snapshot, so its cost grows with the number of Services; a burst of
changes (the controller writing a thousand statuses, a re-list) would otherwise make a role recompute
once per change and starve everything else on the loop. The wait is the debounce, or the CPU time the
last pass took if that was longer (capped), so passes use at most about half the CPU and each one
absorbs every change that arrived during the previous one.
"""

from __future__ import annotations

import time
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
