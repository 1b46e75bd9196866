"""Core Kubernetes objects (v1 Service, Node, Secret, Namespace; discovery.k8s.io/v1 EndpointSlice).

These come from the API server in the watch loop, so unknown fields are ignored (the API has many more
than lbd needs); only the fields read here are type-checked.
"""

from __future__ import annotations

import base64
import binascii

from lbd.config.fields import Fields, join
from lbd.config.frozen import FrozenMap
from lbd.config.model import (
    Endpoint,
    EndpointSlice,
    LoadBalancerIngress,
    Namespace,
    Node,
    NodeAddress,
    NodeCondition,
    Secret,
    Service,
    ServicePort,
)
from lbd.config.parse_metallb import Meta

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
TRAFFIC_POLICIES = ("Cluster", "Local")
IP_FAMILIES = ("IPv4", "IPv6")
IP_FAMILY_POLICIES = ("SingleStack", "PreferDualStack", "RequireDualStack")
PROTOCOLS = ("TCP", "UDP", "SCTP")


def _choice(fields: Fields, key: str, allowed: tuple[str, ...], default: str | None) -> str | None:
    value = fields.string(key)
    if value is None:
        return default
    if value not in allowed:
        fields.error(key, f"{value!r} is not one of {', '.join(allowed)}")
        return default
    return value


def _port(item: Fields) -> ServicePort | None:
    port = item.integer("port", 1, 65535, required=True)
    protocol = _choice(item, "protocol", PROTOCOLS, "TCP") or "TCP"
    name = item.string("name") or ""
    target_raw = item.raw("targetPort")
    target: int | str | None = None
    if isinstance(target_raw, str) and target_raw:
        target = target_raw
    elif target_raw is not None:
        target = item.check_integer("targetPort", target_raw, 1, 65535, None)
    node_port = item.integer("nodePort", 0, 65535, None)
    if port is None:
        return None
    return ServicePort(port, protocol, name, target, node_port or None)


def service(meta: Meta, annotations: FrozenMap[str, str], spec: Fields, status: Fields) -> Service:
    ports = tuple(p for _, item in spec.items("ports") if (p := _port(item)) is not None)
    families = spec.string_list("ipFamilies", unique=True)
    for i, fam in enumerate(families):
        if fam not in IP_FAMILIES:
            spec.error(join("ipFamilies", i), f"{fam!r} is not one of IPv4, IPv6")
    cluster_ips = spec.string_list("clusterIPs")
    cluster_ip = spec.string("clusterIP")
    if not cluster_ips and cluster_ip:
        cluster_ips = (cluster_ip,)
    ingress: list[LoadBalancerIngress] = []
    lb = status.mapping("loadBalancer")
    if lb is not None:
        for _, item in lb.items("ingress"):
            ingress.append(LoadBalancerIngress(item.string("ip"), item.string("hostname")))
    return Service(
        meta.name,
        meta.namespace,
        type=_choice(spec, "type", SERVICE_TYPES, "ClusterIP") or "ClusterIP",
        load_balancer_ip=spec.string("loadBalancerIP", allow_empty=False),
        load_balancer_class=spec.string("loadBalancerClass", allow_empty=False),
        ip_families=families,
        ip_family_policy=_choice(spec, "ipFamilyPolicy", IP_FAMILY_POLICIES, None),
        external_traffic_policy=_choice(spec, "externalTrafficPolicy", TRAFFIC_POLICIES, "Cluster")
        or "Cluster",
        cluster_ips=cluster_ips,
        ports=ports,
        selector=FrozenMap(spec.string_map("selector")),
        labels=meta.labels,
        annotations=annotations,
        ingress=tuple(ingress),
    )


def _condition(conditions: Fields | None, key: str, default: bool) -> bool:
    if conditions is None:
        return default
    value = conditions.raw(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        conditions.error(key, "must be true, false or null")
        return default
    return value


def endpoint_slice(meta: Meta, body: Fields) -> EndpointSlice:
    endpoints: list[Endpoint] = []
    for _, item in body.items("endpoints"):
        addresses = item.string_list("addresses", required=True)
        conditions = item.mapping("conditions")
        # discovery.k8s.io/v1: ready=nil means ready; serving=nil defers to ready.
        ready = _condition(conditions, "ready", True)
        serving = _condition(conditions, "serving", ready)
        terminating = _condition(conditions, "terminating", False)
        endpoints.append(Endpoint(addresses, ready, serving, terminating, item.string("nodeName")))
    return EndpointSlice(
        meta.name,
        meta.namespace,
        meta.labels.get(SERVICE_NAME_LABEL),
        body.string("addressType") or "IPv4",
        tuple(endpoints),
        meta.labels,
    )


def node(meta: Meta, spec: Fields, status: Fields) -> Node:
    conditions = tuple(
        NodeCondition(t, s)
        for _, item in status.items("conditions")
        if (t := item.string("type", required=True)) is not None
        and (s := item.string("status", required=True)) is not None
    )
    addresses = tuple(
        NodeAddress(t, a)
        for _, item in status.items("addresses")
        if (t := item.string("type", required=True)) is not None
        and (a := item.string("address", required=True)) is not None
    )
    return Node(meta.name, meta.labels, conditions, addresses, spec.boolean("unschedulable"))


def secret(meta: Meta, body: Fields) -> Secret:
    data: dict[str, bytes] = {}
    for key, value in body.string_map("data").items():
        try:
            data[key] = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            body.error(f"data.{key}", "must be base64 (use stringData for plain text)")
    for key, text in body.string_map("stringData").items():
        data[key] = text.encode()
    return Secret(meta.name, meta.namespace, body.string("type") or "Opaque", FrozenMap(data))


def namespace(meta: Meta) -> Namespace:
    return Namespace(meta.name, meta.labels)
