"""What the responder needs to know about a network interface, and which interfaces may answer.

Eligibility follows MetalLB's speaker (`internal/layer2/announcer.go` updateInterfaces): an interface
answers only when it is up, not enslaved to a bond, bridge or VRF (the master answers instead), not
NOARP, and has an Ethernet address; ARP additionally needs a broadcast-capable link, NDP a usable IPv6
link-local address (IPv6 is enabled on the link and its DAD is done). We also need carrier
(IFF_LOWER_UP): a link without carrier drops what we send, and its coming back is when the segment
must hear from us again.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv6Address


@dataclass(frozen=True, slots=True)
class Interface:
    """One link as netlink reports it (RTM_NEWLINK flags and IFLA_* attributes, RTM_NEWADDR)."""

    index: int
    name: str
    mac: bytes
    up: bool
    """IFF_UP: administratively up."""
    carrier: bool
    """IFF_LOWER_UP: the driver reports the physical link up."""
    broadcast: bool
    """IFF_BROADCAST."""
    noarp: bool
    """IFF_NOARP: the link does no address resolution."""
    loopback: bool
    enslaved: bool
    """IFLA_MASTER is set: a bond, bridge or VRF port."""
    link_local: IPv6Address | None = None
    """A usable (not tentative) IPv6 link-local address: IPv6 works on this link."""

    def ineligible(self) -> str | None:
        """Why neither ARP nor NDP may answer here, or None."""
        if self.loopback:
            return "loopback"
        if not self.up:
            return "down"
        if not self.carrier:
            return "no carrier"
        if self.enslaved:
            return "enslaved"
        if self.noarp:
            return "NOARP"
        if len(self.mac) != 6 or self.mac == bytes(6):
            return "no Ethernet address"
        return None

    @property
    def arp(self) -> bool:
        return self.ineligible() is None and self.broadcast

    @property
    def ndp(self) -> bool:
        return self.ineligible() is None and self.link_local is not None
