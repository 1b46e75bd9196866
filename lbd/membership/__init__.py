"""Sans-I/O membership among lbd speakers: authenticated heartbeats with relays and probes, so that a
dead speaker is noticed in about 150 ms and packet loss does not make a live one look dead."""

from lbd.membership.codec import (
    MAX_HEALTH,
    BadMac,
    DecodeError,
    HealthPage,
    Kind,
    Message,
    Relay,
    decode,
    encode,
    member_id,
    service_id,
)
from lbd.membership.core import Drop, MemberCounters, MemberInfo, Membership
from lbd.membership.events import Event, MemberDown, MemberHealth, MemberLeft, MemberSuspect, MemberUp
from lbd.membership.fsm import MemberState
from lbd.membership.timers import Timers

__all__ = [
    "MAX_HEALTH",
    "BadMac",
    "DecodeError",
    "Drop",
    "Event",
    "HealthPage",
    "Kind",
    "MemberCounters",
    "MemberDown",
    "MemberHealth",
    "MemberInfo",
    "MemberLeft",
    "MemberState",
    "MemberSuspect",
    "MemberUp",
    "Membership",
    "Message",
    "Relay",
    "Timers",
    "decode",
    "encode",
    "member_id",
    "service_id",
]
