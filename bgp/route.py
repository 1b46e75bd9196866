"""A route lbd announces: a prefix and the attributes the configuration controls.

At 100,000 services the table is the engine's largest structure, so a `Route` holds two references:
the prefix as one integer (`prefix_key`) and a `RouteAttributes` shared by every route with the same
attributes. The integer of an IPv4 /32 is its address, the very int object its `IPv4Address` already
holds, so the common route costs one small object; an `ipaddress` network is built only on request.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network
from typing import ClassVar

from bgp.families import Prefix

# Prefix keys: an IPv4 /32 is its address (< 2**32); any other IPv4 prefix is tagged with bit 40 above
# (address << 8 | length); an IPv6 prefix with bit 136 above (address << 8 | length). The three ranges
# are disjoint, so one int names one prefix.
_V4_HOST_END = 1 << 32
_V4_TAG = 1 << 40
_V6_TAG = 1 << 136


def prefix_key(prefix: Prefix) -> int:
    """The integer naming `prefix` (a dictionary key that allocates nothing for an IPv4 /32)."""
    length = prefix.prefixlen
    network = int(prefix.network_address)
    if prefix.version == 4:
        return network if length == 32 else _V4_TAG | network << 8 | length
    return _V6_TAG | network << 8 | length


def key_version(key: int) -> int:
    return 4 if key < _V6_TAG else 6


def key_prefix(key: int) -> Prefix:
    if key < _V4_HOST_END:
        return IPv4Network((key, 32))
    if key < _V6_TAG:
        return IPv4Network(((key >> 8) & 0xFFFFFFFF, key & 0xFF))
    return IPv6Network(((key >> 8) & ((1 << 128) - 1), key & 0xFF))


def key_nlri(key: int) -> bytes:
    """RFC 4271 §4.3 / RFC 4760 §5: length octet, then the prefix in as few octets as it needs."""
    if key < _V4_HOST_END:
        return b"\x20" + key.to_bytes(4, "big")
    length = key & 0xFF
    octets = (length + 7) >> 3
    bits = 32 if key < _V6_TAG else 128
    network = (key >> 8) & ((1 << bits) - 1)
    return bytes((length,)) + (network >> (bits - 8 * octets)).to_bytes(octets, "big")


@dataclass(frozen=True, slots=True, eq=False)
class RouteAttributes:
    """What routes that share UPDATE messages have in common: the IP version (NEXT_HOP or MP_REACH_NLRI,
    RFC 4760) and the attributes the configuration sets: RFC 1997 communities (32-bit values), RFC 8092
    large communities, LOCAL_PREF (internal peers only; None = not set).

    Interned by `of`: one object per distinct value, so identity is equality (and a cheap hash) and
    100,000 routes with the same attributes share one object. Build them only through `of`.
    """

    version: int
    communities: tuple[int, ...]
    large_communities: tuple[tuple[int, int, int], ...]
    local_pref: int | None

    _interned: ClassVar[dict[tuple[object, ...], RouteAttributes]] = {}

    @classmethod
    def of(
        cls,
        version: int,
        communities: tuple[int, ...] = (),
        large_communities: tuple[tuple[int, int, int], ...] = (),
        local_pref: int | None = None,
    ) -> RouteAttributes:
        value = (version, communities, large_communities, local_pref)
        found = cls._interned.get(value)
        if found is None:
            # A configuration has few distinct attribute sets; the table grows with those, not with routes.
            found = cls._interned[value] = cls(version, communities, large_communities, local_pref)
        return found


@dataclass(frozen=True, slots=True, init=False, repr=False)
class Route:
    """One prefix with its attributes. Next hops are the session's choice.

    Built as `Route(prefix, communities, large_communities, local_pref)`; `prefix` and the attribute
    fields are views of the two stored references."""

    key: int
    attributes: RouteAttributes

    def __init__(
        self,
        prefix: Prefix,
        communities: tuple[int, ...] = (),
        large_communities: tuple[tuple[int, int, int], ...] = (),
        local_pref: int | None = None,
    ) -> None:
        attributes = RouteAttributes.of(prefix.version, communities, large_communities, local_pref)
        object.__setattr__(self, "key", prefix_key(prefix))
        object.__setattr__(self, "attributes", attributes)

    @classmethod
    def from_key(cls, key: int, attributes: RouteAttributes) -> Route:
        route = object.__new__(cls)
        object.__setattr__(route, "key", key)
        object.__setattr__(route, "attributes", attributes)
        return route

    @property
    def prefix(self) -> Prefix:
        return key_prefix(self.key)

    @property
    def communities(self) -> tuple[int, ...]:
        return self.attributes.communities

    @property
    def large_communities(self) -> tuple[tuple[int, int, int], ...]:
        return self.attributes.large_communities

    @property
    def local_pref(self) -> int | None:
        return self.attributes.local_pref

    def __repr__(self) -> str:
        a = self.attributes
        return f"Route({self.prefix}, {a.communities}, {a.large_communities}, {a.local_pref})"
