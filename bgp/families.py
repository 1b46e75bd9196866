"""Address families: AFI/SAFI pairs (RFC 4760 §5, IANA registries)."""

from __future__ import annotations

import enum
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network


class Afi(enum.IntEnum):
    IPV4 = 1
    IPV6 = 2


class Safi(enum.IntEnum):
    UNICAST = 1


Family = tuple[int, int]
IPV4_UNICAST: Family = (Afi.IPV4, Safi.UNICAST)
IPV6_UNICAST: Family = (Afi.IPV6, Safi.UNICAST)
SUPPORTED_FAMILIES: frozenset[Family] = frozenset({IPV4_UNICAST, IPV6_UNICAST})

Prefix = IPv4Network | IPv6Network
Address = IPv4Address | IPv6Address


def family_of(prefix: Prefix) -> Family:
    return IPV4_UNICAST if prefix.version == 4 else IPV6_UNICAST
