"""Sans-I/O BFD engine (RFC 5880/5881/5883)."""

from bfd.demux import Demux
from bfd.events import EchoChanged, Event, PollCompleted, StateChanged
from bfd.packet import ControlPacket, Diag, DropReason, EchoPacket, State, decode_control, decode_echo
from bfd.profile import Profile
from bfd.session import Channel, Datagram, Session

__all__ = [
    "Channel",
    "ControlPacket",
    "Datagram",
    "Demux",
    "Diag",
    "DropReason",
    "EchoChanged",
    "EchoPacket",
    "Event",
    "PollCompleted",
    "Profile",
    "Session",
    "State",
    "StateChanged",
    "decode_control",
    "decode_echo",
]
