"""Per-peer session configuration (RFC 4271 §8.1.1 attributes, RFC 4724 §3 graceful restart)."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Literal

from bgp.families import SUPPORTED_FAMILIES, Family

# RFC 4271 §10: suggested Hold Time and the large OpenSent value of §8.2.2 ("4 minutes").
DEFAULT_HOLD_TIME = 90
OPEN_SENT_HOLD_TIME = 240.0


@dataclass(frozen=True, slots=True)
class GracefulRestartConfig:
    """RFC 4724. `restarting` is True for the first session after lbd itself restarted (sets the R bit)."""

    enabled: bool = False
    restart_time: int = 120
    restarting: bool = False


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """One BGP peer as the engine sees it; the adapter owns addresses, ports, TTL and TCP-MD5.

    `peer_as` must be set unless `dynamic_asn` is "internal" or "external" (then any AS of that kind is
    accepted). Times are seconds. `keepalive_time` None means hold/3 (RFC 4271 §10). `connect_retry` is
    the first retry delay, doubling per consecutive failure up to `connect_retry_max`. `passive` never
    dials; `accept_inbound` False refuses the peer's connections. `next_hop_v4`/`next_hop_v6` are this
    node's addresses used as next hop for prefixes of the family the session's own address is not
    (and IPv6 global when the session runs over link-local); `next_hop_v6_link_local` is added to IPv6
    next hops on a shared link (RFC 2545 §3), which `multihop` rules out. `next_hop_v4_override` /
    `next_hop_v6_override` replace the next hop of their family whatever the session runs over (a
    configured next hop, RFC 4271 §5.1.3); the link-local one stays `next_hop_v6_link_local`.
    """

    local_as: int
    peer_as: int
    router_id: IPv4Address
    hold_time: int = DEFAULT_HOLD_TIME
    keepalive_time: float | None = None
    connect_time: float = 30.0
    connect_retry: float = 2.0
    connect_retry_max: float = 120.0
    passive: bool = False
    accept_inbound: bool = True
    families: frozenset[Family] = SUPPORTED_FAMILIES
    graceful_restart: GracefulRestartConfig = GracefulRestartConfig()
    description: str = ""
    next_hop_v4: IPv4Address | None = None
    next_hop_v6: IPv6Address | None = None
    next_hop_v6_link_local: IPv6Address | None = None
    next_hop_v4_override: IPv4Address | None = None
    next_hop_v6_override: IPv6Address | None = None
    multihop: bool = False
    dynamic_asn: Literal["internal", "external"] | None = None

    def __post_init__(self) -> None:
        # RFC 4271 §4.2: Hold Time is 0 or at least 3 whole seconds; these are configuration bugs, not peer
        # errors.
        if not isinstance(self.hold_time, int) or not (self.hold_time == 0 or 3 <= self.hold_time <= 0xFFFF):
            raise ValueError(f"hold time {self.hold_time} must be 0 or 3..65535")
        if self.keepalive_time is not None and self.keepalive_time < 0:
            raise ValueError("keepalive time must not be negative")
        if not 0 < self.local_as <= 0xFFFFFFFF:
            raise ValueError(f"local AS {self.local_as} out of range")
        if self.dynamic_asn is None and not 0 < self.peer_as <= 0xFFFFFFFF:
            raise ValueError(f"peer AS {self.peer_as} out of range")
        if self.connect_retry <= 0 or self.connect_retry_max < self.connect_retry or self.connect_time <= 0:
            raise ValueError("connect timers must be positive, retry max >= retry")
        if not 0 <= self.graceful_restart.restart_time <= 0x0FFF:
            raise ValueError("graceful restart time must fit 12 bits (RFC 4724 §3)")

    @property
    def ebgp(self) -> bool:
        if self.dynamic_asn is not None:
            return self.dynamic_asn == "external"
        return self.local_as != self.peer_as

    @property
    def keepalive(self) -> float:
        if self.keepalive_time is not None:
            return self.keepalive_time
        return self.hold_time / 3
