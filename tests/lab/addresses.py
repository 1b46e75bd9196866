"""Address plan of the lab: only documentation and unique-local ranges, never anything routable.

RFC 5737 (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24), RFC 3849 (2001:db8::/32) and RFC 4193
(fd00::/8). Anything else raises, so a typo cannot put a real address on a lab link.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import TypeAlias

Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWED: tuple[Network, ...] = (
    ipaddress.ip_network("192.0.2.0/24"),
    ipaddress.ip_network("198.51.100.0/24"),
    ipaddress.ip_network("203.0.113.0/24"),
    ipaddress.ip_network("2001:db8::/32"),
    ipaddress.ip_network("fd00::/8"),
)

# Link-local addresses never leave the link, so routes via them and neighbours on them are fine.
_LINK_LOCAL = ipaddress.ip_network("fe80::/10")


class LabAddressError(ValueError):
    """An address outside the lab's ranges."""


def check_address(value: str, *, allow_link_local: bool = False) -> str:
    """Return ``value`` (an address, ``addr/len`` interface or network) if it is inside the lab ranges."""
    try:
        iface = ipaddress.ip_interface(value)
    except ValueError as exc:
        raise LabAddressError(f"{value!r} is not an IP address or prefix") from exc
    net = iface.network
    if allow_link_local and net.version == 6 and net.subnet_of(_LINK_LOCAL):  # type: ignore[arg-type]
        return value
    for allowed in ALLOWED:
        if net.version == allowed.version and net.subnet_of(allowed):  # type: ignore[arg-type]
            return value
    ranges = ", ".join(str(n) for n in ALLOWED)
    raise LabAddressError(f"{value} is outside the lab ranges ({ranges})")


@dataclass(frozen=True, slots=True)
class Subnet:
    """One subnet handed out by the plan. Host ``n`` is the network address plus ``n``."""

    network: Network

    def ip(self, host: int) -> str:
        """The plain address of host number ``host`` (``192.0.2.1``)."""
        if not 0 <= host < self.network.num_addresses:
            raise LabAddressError(f"host {host} does not fit in {self.network}")
        return str(self.network.network_address + host)

    def iface(self, host: int) -> str:
        """Host number ``host`` with the prefix length (``192.0.2.1/30``), as ``ip addr add`` takes it."""
        return f"{self.ip(host)}/{self.network.prefixlen}"

    @property
    def prefix(self) -> str:
        return str(self.network)


@dataclass
class _Pool:
    parent: Network
    taken: list[Network] = field(default_factory=list)

    def take(self, prefixlen: int) -> Subnet:
        """The lowest free subnet of that size, skipping over taken ones rather than walking them."""
        if prefixlen < self.parent.prefixlen:
            raise LabAddressError(f"/{prefixlen} does not fit in {self.parent}")
        size = 1 << (self.parent.max_prefixlen - prefixlen)
        start = int(self.parent.network_address)
        end = int(self.parent.broadcast_address)
        while start + size - 1 <= end:
            candidate = ipaddress.ip_network((start, prefixlen))
            clash = [t for t in self.taken if candidate.overlaps(t)]  # type: ignore[arg-type]
            if not clash:
                self.taken.append(candidate)
                return Subnet(candidate)
            past = max(int(t.broadcast_address) for t in clash) + 1
            start = -(-past // size) * size
        raise LabAddressError(f"no free /{prefixlen} left in {self.parent}")


class AddressPlan:
    """Hands out non-overlapping subnets for one lab.

    - point-to-point links: /30 from 192.0.2.0/24 and /64 from 2001:db8:0::/48;
    - LANs (bridged segments): from 203.0.113.0/24 and fd00::/8 (fd00:0:<n>::/64);
    - announced prefixes and service VIPs: from 198.51.100.0/24 and 2001:db8:ffff::/48.
    """

    def __init__(self) -> None:
        self._v4_link = _Pool(ipaddress.ip_network("192.0.2.0/24"))
        self._v6_link = _Pool(ipaddress.ip_network("2001:db8::/48"))
        self._v4_lan = _Pool(ipaddress.ip_network("203.0.113.0/24"))
        self._v6_lan = _Pool(ipaddress.ip_network("fd00::/48"))
        self._v4_vip = _Pool(ipaddress.ip_network("198.51.100.0/24"))
        self._v6_vip = _Pool(ipaddress.ip_network("2001:db8:ffff::/48"))

    def v4_link(self, prefixlen: int = 30) -> Subnet:
        return self._v4_link.take(prefixlen)

    def v6_link(self, prefixlen: int = 64) -> Subnet:
        return self._v6_link.take(prefixlen)

    def v4_lan(self, prefixlen: int = 27) -> Subnet:
        return self._v4_lan.take(prefixlen)

    def v6_lan(self, prefixlen: int = 64) -> Subnet:
        return self._v6_lan.take(prefixlen)

    def v4_prefix(self, prefixlen: int = 32) -> Subnet:
        return self._v4_vip.take(prefixlen)

    def v6_prefix(self, prefixlen: int = 128) -> Subnet:
        return self._v6_vip.take(prefixlen)
