"""A route lbd announces: a prefix and the attributes the configuration controls."""

from __future__ import annotations

from dataclasses import dataclass

from bgp.families import Prefix


@dataclass(frozen=True, slots=True)
class Route:
    """One prefix with its RFC 1997 communities (32-bit values), RFC 8092 large communities and
    LOCAL_PREF (sent to internal peers only; None = not set). Next hops are the session's choice."""

    prefix: Prefix
    communities: tuple[int, ...] = ()
    large_communities: tuple[tuple[int, int, int], ...] = ()
    local_pref: int | None = None
