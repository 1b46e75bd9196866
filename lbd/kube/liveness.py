"""Which nodes have a live speaker, for L2 elections (MetalLB's speakerlist without memberlist).

MetalLB, with memberlist disabled, counts a node as live when its speaker pod is Running and Ready.
lbd does the same from a watch of the speaker pods (`speaker_pods`), or, for clusters where the
speakers are not pods of this namespace (a speaker on a host managed otherwise), from the Nodes'
Ready condition (`ready_nodes`). The node running the computation is always live: it is running.
A membership layer (lbd's UDP heartbeat protocol) can replace both by passing its own live set.
"""

from __future__ import annotations

from collections.abc import Iterable

from lbd.config import World
from lbd.kube.store import Obj


def ready_nodes(world: World) -> frozenset[str]:
    return frozenset(name for name, node in world.nodes.items() if node.condition("Ready") == "True")


def speaker_pods(pods: Iterable[Obj]) -> frozenset[str]:
    """Nodes with a speaker pod that is Running, Ready and not being deleted."""
    live: set[str] = set()
    for pod in pods:
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        status = pod.get("status") or {}
        node = spec.get("nodeName")
        if not node or meta.get("deletionTimestamp") or status.get("phase") != "Running":
            continue
        conditions = status.get("conditions") or []
        if any(
            isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "True" for c in conditions
        ):
            live.add(str(node))
    return frozenset(live)
