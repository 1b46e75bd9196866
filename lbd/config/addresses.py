"""Pool address entries: `CIDR` or `start-end`, turned into covering CIDRs as MetalLB's ParseCIDR does."""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import (
    IPv4Address,
    IPv6Address,
    ip_address,
    ip_network,
    summarize_address_range,
)

from lbd.config.model import AddressRange, IPAddress, IPNetwork


def parse_ip(text: str) -> IPAddress:
    """A plain IPv4 or IPv6 address; zone indexes (`fe80::1%eth0`) are not addresses a pool can hold."""
    if "%" in text:
        raise ValueError(f"{text!r}: zone indexes are not allowed")
    try:
        return ip_address(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an IPv4 or IPv6 address") from None


def parse_range(text: str) -> AddressRange:
    """Raise ValueError with a message saying what is allowed."""
    if "-" not in text:
        if "/" not in text:
            try:
                single = parse_ip(text.strip())
            except ValueError:
                raise ValueError(f"{text!r} is not a CIDR (e.g. 192.0.2.0/24) or a start-end range") from None
            bits = 32 if single.version == 4 else 128
            raise ValueError(f"{text!r} is a single address; write {single}/{bits} or {single}-{single}")
        try:
            # Go's net.ParseCIDR accepts host bits (192.0.2.7/24 means 192.0.2.0/24); so do we.
            net: IPNetwork = ip_network(text.strip(), strict=False)
        except ValueError:
            raise ValueError(f"{text!r} is not a valid CIDR (e.g. 192.0.2.0/24 or 2001:db8::/64)") from None
        return AddressRange(text, net.network_address, net.broadcast_address, (net,))
    start_text, _, end_text = text.partition("-")
    try:
        start = parse_ip(start_text.strip())
        end = parse_ip(end_text.strip())
    except ValueError as exc:
        raise ValueError(f"invalid range {text!r}: {exc}") from None
    if start.version != end.version:
        raise ValueError(f"invalid range {text!r}: start and end must be of the same IP family")
    if int(start) > int(end):
        raise ValueError(f"invalid range {text!r}: start {start} is after end {end}")
    return AddressRange(text, start, end, _summarize(start, end))


def _summarize(start: IPAddress, end: IPAddress) -> tuple[IPNetwork, ...]:
    if isinstance(start, IPv4Address) and isinstance(end, IPv4Address):
        return tuple(summarize_address_range(start, end))
    assert isinstance(start, IPv6Address) and isinstance(end, IPv6Address)
    return tuple(summarize_address_range(start, end))


def overlaps(ranges: Iterable[tuple[str, AddressRange]]) -> list[tuple[str, AddressRange, str, AddressRange]]:
    """Pairs of (owner, range) whose addresses intersect; each overlapping pair reported once.

    MetalLB compares the covering CIDRs; two ranges' CIDRs intersect exactly when the ranges do."""
    items = sorted(ranges, key=lambda it: (it[1].version, int(it[1].first), int(it[1].last)))
    found: list[tuple[str, AddressRange, str, AddressRange]] = []
    active: list[tuple[str, AddressRange]] = []
    for owner, rng in items:
        active = [(o, r) for o, r in active if r.version == rng.version and int(r.last) >= int(rng.first)]
        found.extend((o, r, owner, rng) for o, r in active)
        active.append((owner, rng))
    return found
