"""Exponential backoff with jitter for API retries, sans-I/O: it computes delays, the caller sleeps.

Each failure doubles the base delay up to `maximum`; the delay returned is the base stretched by a
random factor in [1, 1 + jitter), as client-go's `wait.Jitter` does, so that many speakers restarted
together do not hit the API server in lockstep.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(slots=True)
class Backoff:
    initial: float = 0.8
    maximum: float = 30.0
    factor: float = 2.0
    jitter: float = 1.0
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0

    def next_delay(self) -> float:
        # The exponent is capped so that a long outage cannot overflow the float.
        base = min(self.maximum, self.initial * self.factor ** min(self.failures, 64))
        self.failures += 1
        return base * (1.0 + self.jitter * self.rng.random())

    def reset(self) -> None:
        self.failures = 0
