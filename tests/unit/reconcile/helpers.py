"""Builders for reconcile tests: a Config and World from a few keyword arguments."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping

from lbd.config.frozen import FrozenMap
from lbd.config.model import (
    AddressRange,
    BGPAdvertisement,
    BGPPeer,
    Config,
    Endpoint,
    EndpointSlice,
    IPAddressPool,
    L2Advertisement,
    Node,
    NodeCondition,
    NodeConfig,
    Service,
    ServicePort,
    World,
)
from lbd.config.selectors import LabelSelector

NS = "metallb-system"


def selector(**labels: str) -> LabelSelector:
    return LabelSelector(FrozenMap(labels))


def pool(name: str, *ranges: tuple[str, str]) -> IPAddressPool:
    return IPAddressPool(
        name,
        NS,
        tuple(
            AddressRange(f"{a}-{b}", ipaddress.ip_address(a), ipaddress.ip_address(b), ()) for a, b in ranges
        ),
    )


def config(
    pools: Iterable[IPAddressPool],
    l2: Iterable[L2Advertisement] = (),
    bgp: Iterable[BGPAdvertisement] = (),
    peers: Iterable[BGPPeer] = (),
    node_configs: Iterable[NodeConfig] = (),
) -> Config:
    pool_map = {p.name: p for p in pools}
    l2_map = {a.name: a for a in l2}
    bgp_map = {a.name: a for a in bgp}

    def covering(
        advs: Mapping[str, L2Advertisement] | Mapping[str, BGPAdvertisement],
    ) -> FrozenMap[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        for p in pool_map.values():
            names = []
            for name in sorted(advs):
                adv = advs[name]
                chosen = not adv.ip_address_pools and not adv.ip_address_pool_selectors
                chosen = chosen or p.name in adv.ip_address_pools
                chosen = chosen or any(s.matches(p.labels) for s in adv.ip_address_pool_selectors)
                if chosen:
                    names.append(name)
            out[p.name] = tuple(names)
        return FrozenMap(out)

    return Config(
        namespace=NS,
        pools=FrozenMap(pool_map),
        l2_advertisements=FrozenMap(l2_map),
        bgp_advertisements=FrozenMap(bgp_map),
        peers=FrozenMap({p.name: p for p in peers}),
        bfd_profiles=FrozenMap(),
        communities=FrozenMap(),
        node_configs=FrozenMap({c.name: c for c in node_configs}),
        pool_l2=covering(l2_map),
        pool_bgp=covering(bgp_map),
    )


def node(name: str, unavailable: bool = False, unschedulable: bool = False, **labels: str) -> Node:
    conditions = (NodeCondition("NetworkUnavailable", "True"),) if unavailable else ()
    return Node(name, FrozenMap(labels), conditions, unschedulable=unschedulable)


def service(
    name: str, ns: str = "default", local: bool = False, ip: str | None = None, **annotations: str
) -> Service:
    return Service(
        name=name,
        namespace=ns,
        type="LoadBalancer",
        load_balancer_ip=ip,
        external_traffic_policy="Local" if local else "Cluster",
        ports=(ServicePort(80),),
        annotations=FrozenMap(annotations),
    )


def slice_for(svc: Service, *endpoints: tuple[str | None, bool], name: str | None = None) -> EndpointSlice:
    """endpoints: (node name, ready)."""
    return EndpointSlice(
        name or f"{svc.name}-x",
        svc.namespace,
        svc.name,
        endpoints=tuple(
            Endpoint((f"10.244.0.{i + 1}",), ready=ready, serving=ready, node_name=n)
            for i, (n, ready) in enumerate(endpoints)
        ),
    )


def world(
    services: Iterable[Service] = (), slices: Iterable[EndpointSlice] = (), nodes: Iterable[Node] = ()
) -> World:
    return World(
        services=FrozenMap({s.key: s for s in services}),
        endpoint_slices=FrozenMap({f"{s.namespace}/{s.name}": s for s in slices}),
        nodes=FrozenMap({n.name: n for n in nodes}),
    )


def peer(name: str, my_asn: int = 64500, peer_asn: int = 64501, **kw: object) -> BGPPeer:
    return BGPPeer(name, NS, "metallb.io/v1beta2", my_asn, peer_asn, **kw)  # type: ignore[arg-type]
