"""Facts about nodes and endpoints, with MetalLB's definitions (`epslices`, `k8s/nodes`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from lbd.config.model import Endpoint, EndpointSlice, Node
from lbd.reconcile.types import Reason

EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"


def can_serve(endpoint: Endpoint) -> bool:
    """MetalLB `EndpointCanServe`: ready (unset counts as ready), or serving while terminating."""
    return endpoint.ready or endpoint.serving


def any_endpoint_can_serve(slices: Iterable[EndpointSlice]) -> bool:
    """MetalLB `activeEndpointExists`."""
    return any(can_serve(e) for s in slices for e in s.endpoints)


def nodes_with_serving_endpoint(slices: Iterable[EndpointSlice]) -> frozenset[str]:
    """MetalLB `usableNodes` before the speaker filter: nodes with at least one endpoint that can serve."""
    return frozenset(e.node_name for s in slices for e in s.endpoints if e.node_name and can_serve(e))


def has_healthy_endpoint(slices: Iterable[EndpointSlice], node: str | None) -> bool:
    """MetalLB BGP `hasHealthyEndpoint`: an address is healthy only if no endpoint listing it is unready;
    `node` restricts to endpoints on that node (None: any node)."""
    ready: dict[str, bool] = {}
    for s in slices:
        for e in s.endpoints:
            if node is not None and e.node_name != node:
                continue
            serving = can_serve(e)
            for address in e.addresses:
                if not serving:
                    ready[address] = False
                else:
                    ready.setdefault(address, True)
    return any(ready.values())


def availability(node: Node | None) -> Reason | None:
    """MetalLB `IsNodeAvailable` then `IsNodeExcludedFromBalancers`; a node without a Node object
    (a standalone host) is available."""
    if node is None:
        return None
    if node.unschedulable:
        return Reason.NODE_UNSCHEDULABLE
    if node.network_unavailable:
        return Reason.NODE_NETWORK_UNAVAILABLE
    if EXCLUDE_LABEL in node.labels:
        return Reason.NODE_EXCLUDED
    return None


def labels_of(nodes: Mapping[str, Node], name: str) -> Mapping[str, str]:
    node = nodes.get(name)
    return node.labels if node is not None else {}
