"""Events a `bfd.Session` reports through `next_event()`."""

from __future__ import annotations

from dataclasses import dataclass

from bfd.packet import State


@dataclass(frozen=True, slots=True)
class StateChanged:
    """bfd.SessionState moved; `diag` is bfd.LocalDiag after the move (RFC 5880 §6.8.1)."""

    old: State
    new: State
    diag: int


@dataclass(frozen=True, slots=True)
class PollCompleted:
    """A Poll Sequence got its Final (RFC 5880 §6.5); the timers below now apply. Seconds."""

    tx_interval: float
    detection_time: float | None


@dataclass(frozen=True, slots=True)
class EchoChanged:
    """The Echo function started or stopped (RFC 5880 §6.4, §6.8.9)."""

    active: bool


Event = StateChanged | PollCompleted | EchoChanged
