"""What the announcer last gave each session, so a new desired state costs O(changes) on the session.

The reconcile core lists each peer's routes sorted by `BGPRoute.key` and keeps the same `BGPRoute`
object for a prefix while nothing about it changes. `RouteDiff` therefore remembers only the sequence
it was last given (the very tuple the desired state holds, so nothing per route) and walks the new one
beside it: an identical object costs one identity check, only changed routes are converted to engine
`Route`s, and prefixes left behind are withdrawn.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from bgp.families import Prefix
from bgp.route import Route, prefix_key
from bgp.route import RouteAttributes as EngineAttributes
from lbd.reconcile import BGPRoute
from lbd.reconcile.types import RouteAttributes


def route_of(route: BGPRoute) -> Route:
    """The engine's `Route` for `route`: its prefix key (for an IPv4 /32, the address's own int) and
    the engine's interned attributes, built without an `ipaddress` network."""
    attributes = route.attributes
    if attributes.version == 4 and attributes.prefixlen == 32:
        key = route.network
    else:
        key = prefix_key(route.prefix)
    return Route.from_key(key, _engine_attributes(attributes))


# The last conversion: consecutive routes almost always share one attributes object.
_last: list[tuple[RouteAttributes, EngineAttributes]] = []


def _engine_attributes(attributes: RouteAttributes) -> EngineAttributes:
    if _last and _last[0][0] is attributes:
        return _last[0][1]
    communities, large = attributes.communities, attributes.large_communities
    # List comprehensions only where there is something to convert (generator expressions cost
    # several times more than the rest).
    converted = EngineAttributes.of(
        attributes.version,
        tuple([c.value for c in communities]) if communities else (),
        tuple([(c.global_admin, c.local1, c.local2) for c in large]) if large else (),
        attributes.local_pref,
    )
    _last[:] = [(attributes, converted)]
    return converted


class RouteDiff:
    """The routes one session was last given."""

    __slots__ = ("_given",)

    def __init__(self) -> None:
        self._given: tuple[BGPRoute, ...] = ()

    def full(self, routes: Iterable[BGPRoute]) -> Iterator[Route]:
        """Forget the past: every route, converted as the session takes it (for a session that starts
        empty; 100,000 engine `Route`s never exist at once)."""
        self._given = tuple(routes)
        return map(route_of, self._given)

    def update(self, routes: Sequence[BGPRoute]) -> tuple[list[Route], list[Prefix]]:
        """Routes to announce (new or with changed attributes) and prefixes to withdraw. `routes` are
        in `BGPRoute.key` order, as `PeerRoutes.routes` lists them; the services behind a route do not
        matter."""
        old = self._given
        announce: list[Route] = []
        withdraw: list[Prefix] = []
        if routes is old:
            return announce, withdraw
        i, count = 0, len(old)
        for route in routes:
            if i < count and old[i] is route:
                i += 1
                continue
            key = route.key
            while i < count and old[i].key < key:
                withdraw.append(old[i].prefix)
                i += 1
            if i < count and old[i].key == key:
                was = old[i].attributes
                i += 1
                if was is route.attributes or was == route.attributes:
                    continue
            announce.append(route_of(route))
        withdraw.extend(r.prefix for r in old[i:])
        self._given = tuple(routes)
        return announce, withdraw
