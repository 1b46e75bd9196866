"""Sans-I/O BGP-4 engine: wire codec, FSM and session state (docs/bgp-engine.md).

Adapters drive a `Session` with `connection_made`/`data_received`/`connection_lost`/`handle_timer`, send
what `data_to_send` returns, re-arm a timer at `get_timer`, and act on `next_event` events.
"""

from bgp.attributes import Handling
from bgp.capabilities import (
    Capability,
    FourOctetAs,
    GracefulRestart,
    GrFamily,
    Multiprotocol,
    RouteRefreshCap,
    UnknownCapability,
)
from bgp.codec import CodecContext, MessageReader, UpdateResult, decode, encode
from bgp.config import GracefulRestartConfig, SessionConfig
from bgp.errors import BgpError, CeaseSubcode, ErrorCode
from bgp.events import (
    CloseConnection,
    ConnectRequested,
    Established,
    Event,
    Negotiated,
    NotificationReceived,
    NotificationSent,
    PeerRestarting,
    PeerRoutesReceived,
    RouteRefreshRequested,
    RoutesNotSent,
    StateChanged,
)
from bgp.families import IPV4_UNICAST, IPV6_UNICAST, Family
from bgp.fsm import State
from bgp.messages import Keepalive, Message, Notification, Open, RouteRefresh, Update
from bgp.packing import PathPolicy, end_of_rib, pack_updates, pack_withdrawals
from bgp.route import Route
from bgp.session import MessageCounters, Session

__all__ = [
    "IPV4_UNICAST",
    "IPV6_UNICAST",
    "BgpError",
    "Capability",
    "CeaseSubcode",
    "CloseConnection",
    "CodecContext",
    "ConnectRequested",
    "ErrorCode",
    "Established",
    "Event",
    "Family",
    "FourOctetAs",
    "GrFamily",
    "GracefulRestart",
    "GracefulRestartConfig",
    "Handling",
    "Keepalive",
    "Message",
    "MessageCounters",
    "MessageReader",
    "Multiprotocol",
    "Negotiated",
    "Notification",
    "NotificationReceived",
    "NotificationSent",
    "Open",
    "PathPolicy",
    "PeerRestarting",
    "PeerRoutesReceived",
    "Route",
    "RouteRefresh",
    "RouteRefreshCap",
    "RouteRefreshRequested",
    "RoutesNotSent",
    "Session",
    "SessionConfig",
    "State",
    "StateChanged",
    "UnknownCapability",
    "Update",
    "UpdateResult",
    "decode",
    "encode",
    "end_of_rib",
    "pack_updates",
    "pack_withdrawals",
]
