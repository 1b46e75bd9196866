"""The seam between the daemon and whatever makes an announcement real.

The daemon computes one `DesiredState` per change (config reload, health flip, membership change) and
hands it, with the config in force, to every announcer: the BGP speaker, the ARP/NDP responder, local
delivery. An announcer converges to it; it never computes what to announce itself. Announcers that
have something to show in `lbd status` also implement `StatusSource`; their views replace the daemon's
default view of the same name (the daemon's `l2` shows the desired answers; an ARP/NDP responder's `l2`
adds MACs and packet counters).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from lbd.config import Config
from lbd.control.server import View
from lbd.reconcile import DesiredState


class Announcer(Protocol):
    """One kind of announcement. `apply` is called with every new desired state, in order, never
    concurrently; `close` once at shutdown, after which the announcement must be gone (BGP: Cease sent;
    L2: no more answers; local delivery: addresses removed)."""

    @property
    def name(self) -> str: ...

    async def apply(self, config: Config, desired: DesiredState) -> None: ...

    async def close(self) -> None: ...


@runtime_checkable
class StatusSource(Protocol):
    """Control-socket views an announcer serves, by view name (`bgp summary`, `bfd peers`, `l2`, ...)."""

    def views(self) -> Mapping[str, View]: ...
