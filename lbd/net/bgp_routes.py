"""What the announcer last gave each session, so a new desired state costs O(changes) on the session.

The reconcile core returns a fresh `BGPRoute` for every prefix on every pass. Converting all of them to
engine `Route`s and letting the session diff its whole Adj-RIB-Out costs tens of milliseconds at 10,000
services (hashing `ipaddress` networks is Python code). `RouteDiff` keys each prefix by plain integers,
compares only the attributes the UPDATE carries, converts just the routes that changed, and reports
the prefixes that went away.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bgp.families import Prefix
from bgp.route import Route
from lbd.reconcile import BGPRoute

_Key = tuple[int, int, int]


def route_of(route: BGPRoute) -> Route:
    # Runs for every changed route: list comprehensions only where there is something to convert
    # (generator expressions cost several times more than the rest).
    communities, large = route.communities, route.large_communities
    return Route(
        route.prefix,
        tuple([c.value for c in communities]) if communities else (),
        tuple([(c.global_admin, c.local1, c.local2) for c in large]) if large else (),
        route.local_pref,
    )


def _key(prefix: Prefix) -> _Key:
    return (prefix.version, int(prefix.network_address), prefix.prefixlen)


class RouteDiff:
    """The routes one session was last given."""

    __slots__ = ("_given",)

    def __init__(self) -> None:
        self._given: dict[_Key, tuple[BGPRoute, Route]] = {}

    def full(self, routes: Iterable[BGPRoute]) -> list[Route]:
        """Forget the past: every route, converted (for a session that starts empty)."""
        self._given = {_key(r.prefix): (r, route_of(r)) for r in routes}
        return [converted for _, converted in self._given.values()]

    def update(self, routes: Sequence[BGPRoute]) -> tuple[list[Route], list[Prefix]]:
        """Routes to announce (new or with changed attributes) and prefixes to withdraw.

        The table is edited in place: an unchanged route allocates nothing that outlives the call, so
        a pass over 10,000 routes leaves no garbage for the collector's older generations."""
        given = self._given
        before = len(given)
        announce: list[Route] = []
        kept = 0
        for route in routes:
            prefix = route.prefix  # the key inline: a call per route is measurable here
            key = (prefix.version, int(prefix.network_address), prefix.prefixlen)
            have = given.get(key)
            if have is not None:
                kept += 1
                was = have[0]
                if was is route or (
                    was.local_pref == route.local_pref
                    and was.communities == route.communities
                    and was.large_communities == route.large_communities
                ):
                    continue
            converted = route_of(route)
            given[key] = (route, converted)
            announce.append(converted)
        withdraw: list[Prefix] = []
        if kept < before:
            # Some earlier prefix was not seen again: only then is a second pass worth it.
            seen = {_key(r.prefix) for r in routes}
            for gone in [k for k in given if k not in seen]:
                withdraw.append(given.pop(gone)[1].prefix)
        return announce, withdraw
