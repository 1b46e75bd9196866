"""NLRI prefix encoding: length in bits, then the fewest octets that hold it (RFC 4271 §4.3, RFC 4760 §5)."""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Network, IPv6Network

from bgp.families import Prefix


class PrefixError(ValueError):
    """An NLRI field that cannot be parsed (RFC 7606 §5.3)."""


def encode_prefix(prefix: Prefix) -> bytes:
    plen = prefix.prefixlen
    nbytes = (plen + 7) // 8
    return bytes((plen,)) + prefix.network_address.packed[:nbytes]


def encode_prefixes(prefixes: Iterable[Prefix]) -> bytes:
    return b"".join(encode_prefix(p) for p in prefixes)


def decode_prefixes(data: bytes, afi: int) -> tuple[Prefix, ...]:
    """Prefixes of one family; bits beyond the length are ignored as RFC 4271 §4.3 allows."""
    width = 4 if afi == 1 else 16
    out: list[Prefix] = []
    pos = 0
    while pos < len(data):
        plen = data[pos]
        if plen > width * 8:
            raise PrefixError(f"prefix length {plen} too long")
        nbytes = (plen + 7) // 8
        if pos + 1 + nbytes > len(data):
            raise PrefixError("prefix overruns the field")
        addr = int.from_bytes(data[pos + 1 : pos + 1 + nbytes].ljust(width, b"\x00"), "big")
        addr &= ((1 << plen) - 1) << (width * 8 - plen)
        out.append(IPv4Network((addr, plen)) if width == 4 else IPv6Network((addr, plen)))
        pos += 1 + nbytes
    return tuple(out)


def decode_ipv4_prefixes(data: bytes) -> tuple[IPv4Network, ...]:
    """The classic IPv4 NLRI and Withdrawn Routes fields (RFC 4271 §4.3)."""
    return tuple(p for p in decode_prefixes(data, 1) if isinstance(p, IPv4Network))
