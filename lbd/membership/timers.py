"""The protocol's timers, all derived from the two configured ones.

With the defaults (50 ms heartbeats, 150 ms failure timeout) a member killed at a random moment is
declared dead 100 to 150 ms later: its last heartbeat left between 0 and 50 ms before it died, and it is
dead once nothing was heard from it for 150 ms on any path. See docs/membership.md for why 5% random
loss does not cause false downs at these values.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Timers:
    """`interval`: heartbeat period; `failure_timeout`: silence on every path that makes a member dead."""

    interval: float = 0.05
    failure_timeout: float = 0.15

    def __post_init__(self) -> None:
        if not 0 < 2 * self.interval <= self.failure_timeout:
            raise ValueError("failure_timeout must be at least twice the heartbeat interval")

    @property
    def probe_after(self) -> float:
        """Direct silence after which the member is probed: one heartbeat late by half an interval."""
        return 1.5 * self.interval

    @property
    def probe_interval(self) -> float:
        """Probes are sent five times per interval, so several fit before the failure timeout."""
        return self.interval / 5

    @property
    def suspect_after(self) -> float:
        """Silence on every path that shows the member as suspect: one interval before the timeout."""
        return max(self.probe_after, self.failure_timeout - self.interval)

    @property
    def revive_age(self) -> float:
        """A relayed contact at most this old brings a dead or suspect member back."""
        return self.interval

    @property
    def answer_gap(self) -> float:
        """At most one immediate answer per member per this time, whatever the member asks."""
        return self.interval / 10

    @property
    def settle_time(self) -> float:
        """After start, how long until members not heard yet are taken as really dead."""
        return self.failure_timeout + self.interval
