"""From a snapshot of the world to the desired state: allocations, L2 owners, BGP routes per peer."""

from lbd.reconcile.core import allocate_snapshot, desired_state, reconcile
from lbd.reconcile.types import (
    BGPDecision,
    BGPRoute,
    DesiredState,
    L2Announcement,
    L2Decision,
    NodeVerdict,
    PeerRoutes,
    Reason,
    ServiceState,
    Snapshot,
)

__all__ = [
    "BGPDecision",
    "BGPRoute",
    "DesiredState",
    "L2Announcement",
    "L2Decision",
    "NodeVerdict",
    "PeerRoutes",
    "Reason",
    "ServiceState",
    "Snapshot",
    "allocate_snapshot",
    "desired_state",
    "reconcile",
]
