"""What the membership engine reports: one event per state change of a member."""

from __future__ import annotations

from dataclasses import dataclass

from lbd.membership.fsm import MemberState


@dataclass(frozen=True, slots=True)
class MemberUp:
    """Heard again (`previous` DEAD or SUSPECT), heard for the first time, or restarted (`previous`
    ALIVE with a new incarnation)."""

    name: str
    incarnation: int
    previous: MemberState


@dataclass(frozen=True, slots=True)
class MemberSuspect:
    """Silent on every path for `silent` seconds, past the suspicion threshold. Still live."""

    name: str
    silent: float


@dataclass(frozen=True, slots=True)
class MemberDown:
    """Silent on every path for `silent` seconds, past the failure timeout. No longer live."""

    name: str
    silent: float


@dataclass(frozen=True, slots=True)
class MemberLeft:
    """Said goodbye (stopped cleanly). No longer live."""

    name: str


@dataclass(frozen=True, slots=True)
class MemberHealth:
    """A member's health set changed: the ids (`codec.service_id`) of the services healthy on it, as
    of its set `version`. Version 0 with an empty set: unknown again (the member restarted)."""

    name: str
    version: int
    healthy: frozenset[bytes]


Event = MemberUp | MemberSuspect | MemberDown | MemberLeft | MemberHealth
