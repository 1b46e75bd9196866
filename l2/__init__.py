"""Sans-I/O ARP and NDP: wire codecs and the responder deciding answers and gratuitous bursts."""

from l2.arp import ArpDrop, ArpPacket, Op
from l2.interfaces import Interface
from l2.ndp import NdpDrop, NdpPacket, solicited_node
from l2.responder import (
    BURST,
    AnswerInfo,
    AnswerStarted,
    AnswerStopped,
    Counters,
    Event,
    Owned,
    Responder,
    Transmit,
)

__all__ = [
    "BURST",
    "AnswerInfo",
    "AnswerStarted",
    "AnswerStopped",
    "ArpDrop",
    "ArpPacket",
    "Counters",
    "Event",
    "Interface",
    "NdpDrop",
    "NdpPacket",
    "Op",
    "Owned",
    "Responder",
    "Transmit",
    "solicited_node",
]
