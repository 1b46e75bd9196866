"""The common shape of a v1 Service, read without the `Fields` machinery.

A configuration of 100,000 Services spends most of its load time in per-field bookkeeping that only
matters when something is wrong. `quick_service` reads a well-formed Service directly and returns None
at the first thing it does not vouch for; the caller then runs the general path (`parse_core.service`),
which reports every problem with its field path. So this path never reports anything: for any input it
returns either None or a Service equal to what the general path builds without errors.

Repeated values are shared: interned strings (namespace, type, policies, protocols), one tuple of
ServicePorts per distinct `ports`, one FrozenMap per distinct labels or selector.
"""

from __future__ import annotations

from typing import Any

from lbd.config import shared
from lbd.config.bounded import Table
from lbd.config.fields import DNS_SUBDOMAIN as _NAME
from lbd.config.frozen import EMPTY, FrozenMap
from lbd.config.model import LoadBalancerIngress, Service, ServicePort
from lbd.config.parse_selectors import label_key_problem, label_value_problem

# The allowed values, keyed by themselves: a lookup both checks a value and returns the one shared copy.
SERVICE_TYPES = {t: t for t in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")}
TRAFFIC_POLICIES = {t: t for t in ("Cluster", "Local")}
IP_FAMILIES = {t: t for t in ("IPv4", "IPv6")}
IP_FAMILY_POLICIES = {t: t for t in ("SingleStack", "PreferDualStack", "RequireDualStack")}
PROTOCOLS = {t: t for t in ("TCP", "UDP", "SCTP")}

PortKey = tuple[int, str, str, int | str | None, int | None]
_PORTS: Table[tuple[PortKey, ...], tuple[ServicePort, ...]] = Table()
_FAMILIES: Table[tuple[str, ...], tuple[str, ...]] = Table()
_LABELS: Table[tuple[tuple[str, str], ...], FrozenMap[str, str]] = Table()


def _line(value: object) -> bool:
    """A string the general path's `Fields.string` accepts."""
    return type(value) is str and "\n" not in value and "\r" not in value


def _strings(value: object) -> bool:
    """A string map the general path accepts without a problem (keys as given, values strings)."""
    return type(value) is dict and all(type(k) is str and type(v) is str for k, v in value.items())


def _labels(value: object) -> FrozenMap[str, str] | None:
    if value is None:
        return EMPTY
    if not _strings(value):
        return None
    assert isinstance(value, dict)
    if not value:
        return EMPTY
    key = tuple(value.items())
    found = _LABELS.get(key)
    if found is not None:
        return found
    for k, v in key:
        if label_key_problem(k) or label_value_problem(v):
            return None
    return _LABELS.put(key, shared.string_map(value))


def _ports(value: object) -> tuple[ServicePort, ...] | None:
    if value is None:
        return ()
    if type(value) is not list:
        return None
    keys: list[PortKey] = []
    for item in value:
        if type(item) is not dict:
            return None
        port = item.get("port")
        if type(port) is not int or not 1 <= port <= 65535:
            return None
        protocol = item.get("protocol")
        if protocol is None:
            protocol = "TCP"
        elif type(protocol) is not str or (protocol := PROTOCOLS.get(protocol)) is None:
            return None
        name = item.get("name")
        if name is None:
            name = ""
        elif not _line(name):
            return None
        target = item.get("targetPort")
        if target is not None and not (
            (type(target) is str and target) or (type(target) is int and 1 <= target <= 65535)
        ):
            return None
        node_port = item.get("nodePort")
        if node_port is not None and (type(node_port) is not int or not 0 <= node_port <= 65535):
            return None
        keys.append((port, protocol, name, target, node_port or None))
    key = tuple(keys)
    found = _PORTS.get(key)
    if found is not None:
        return found
    ports = tuple(
        ServicePort(p, proto, shared.word(n), shared.word(t) if isinstance(t, str) else t, np)
        for p, proto, n, t, np in key
    )
    return _PORTS.put(key, ports)


def _families(value: object) -> tuple[str, ...] | None:
    if value is None:
        return ()
    if type(value) is not list:
        return None
    out: list[str] = []
    for item in value:
        if type(item) is not str or (family := IP_FAMILIES.get(item)) is None or family in out:
            return None
        out.append(family)
    key = tuple(out)
    return _FAMILIES.get(key) or _FAMILIES.put(key, key)


def _ingress(status: object) -> tuple[LoadBalancerIngress, ...] | None:
    if status is None:
        return ()
    if type(status) is not dict:
        return None
    lb = status.get("loadBalancer")
    if lb is None:
        return ()
    if type(lb) is not dict:
        return None
    items = lb.get("ingress")
    if items is None:
        return ()
    if type(items) is not list:
        return None
    out: list[LoadBalancerIngress] = []
    for item in items:
        if type(item) is not dict:
            return None
        ip, hostname = item.get("ip"), item.get("hostname")
        if (ip is not None and not _line(ip)) or (hostname is not None and not _line(hostname)):
            return None
        out.append(LoadBalancerIngress(ip, hostname))
    return tuple(out)


def quick_service(body: dict[str, Any]) -> Service | None:
    """The Service `body` describes when it is well-formed in every field lbd reads; None otherwise."""
    meta = body.get("metadata")
    if type(meta) is not dict:
        return None
    name = meta.get("name")
    if type(name) is not str or not _NAME.fullmatch(name) or len(name) > 253:
        return None  # (a name matching the pattern has no line break)
    namespace = meta.get("namespace")
    if namespace is None or namespace == "":
        namespace = "default"
    elif not _line(namespace):
        return None
    labels = _labels(meta.get("labels"))
    annotations = meta.get("annotations")
    if labels is None or (annotations is not None and not _strings(annotations)):
        return None
    spec = body.get("spec")
    if spec is None:
        spec = {}
    elif type(spec) is not dict:
        return None
    ingress = _ingress(body.get("status"))
    if ingress is None:
        return None
    fields = _spec(spec)
    if fields is None:
        return None
    service_type, lb_ip, lb_class, families, policy, traffic, cluster_ips, ports, selector = fields
    return Service(
        name,
        shared.word(namespace),
        type=service_type,
        load_balancer_ip=lb_ip,
        load_balancer_class=lb_class,
        ip_families=families,
        ip_family_policy=policy,
        external_traffic_policy=traffic,
        cluster_ips=cluster_ips,
        ports=ports,
        selector=selector,
        labels=labels,
        annotations=FrozenMap(annotations) if annotations else EMPTY,
        ingress=ingress,
    )


_Spec = tuple[
    str,
    str | None,
    str | None,
    tuple[str, ...],
    str | None,
    str,
    tuple[str, ...],
    tuple[ServicePort, ...],
    FrozenMap[str, str],
]


def _spec(spec: dict[str, Any]) -> _Spec | None:
    """The spec fields lbd reads, walking the keys present (a few) rather than asking for each field;
    keys lbd does not read are ignored, as the general path ignores them."""
    service_type, traffic = "ClusterIP", "Cluster"
    lb_ip = lb_class = policy = None
    families: tuple[str, ...] | None = ()
    ports: tuple[ServicePort, ...] | None = ()
    selector: FrozenMap[str, str] = EMPTY
    listed: object = None
    single: object = None
    for key, value in spec.items():
        if value is None:
            continue
        if key == "ports":
            ports = _ports(value)
        elif key == "type":
            if type(value) is not str or (value := SERVICE_TYPES.get(value)) is None:
                return None
            service_type = value
        elif key == "selector":
            if not _strings(value):
                return None
            selector = shared.string_map(value) if value else EMPTY
        elif key == "clusterIP":
            single = value
        elif key == "clusterIPs":
            listed = value
        elif key == "ipFamilies":
            families = _families(value)
        elif key == "ipFamilyPolicy":
            if type(value) is not str or (policy := IP_FAMILY_POLICIES.get(value)) is None:
                return None
        elif key == "externalTrafficPolicy":
            if type(value) is not str or (value := TRAFFIC_POLICIES.get(value)) is None:
                return None
            traffic = value
        elif key == "loadBalancerIP":
            if value != "" and not _line(value):
                return None
            lb_ip = value or None
        elif key == "loadBalancerClass":
            if value != "" and not _line(value):
                return None
            lb_class = value or None
    cluster_ips = _cluster_ips(listed, single)
    if ports is None or families is None or cluster_ips is None:
        return None
    return service_type, lb_ip, lb_class, families, policy, traffic, cluster_ips, ports, selector


def _cluster_ips(listed: object, single: object) -> tuple[str, ...] | None:
    """`clusterIPs`, or `clusterIP` when that list is empty, as the general path reads them."""
    if single is not None and not _line(single):
        return None
    if listed is None:
        listed = []
    elif type(listed) is not list or not all(type(ip) is str and ip for ip in listed):
        return None
    if listed:
        return tuple(listed)
    return (single,) if single else ()  # type: ignore[return-value]
