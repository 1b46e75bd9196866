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
from lbd.config.fields import dns_subdomain_problem
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
_PORTS: shared.Table[tuple[PortKey, ...], tuple[ServicePort, ...]] = shared.Table()
_FAMILIES: shared.Table[tuple[str, ...], tuple[str, ...]] = shared.Table()
_LABELS: shared.Table[tuple[tuple[str, str], ...], FrozenMap[str, str]] = shared.Table()


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


def _choice(spec: dict[str, Any], key: str, allowed: dict[str, str], default: str | None) -> str | None:
    """The shared allowed value, `default` when unset, or "" when the general path must judge it."""
    value = spec.get(key)
    if value is None:
        return default
    if type(value) is not str:
        return ""
    return allowed.get(value, "")


def _optional_line(spec: dict[str, Any], key: str) -> tuple[bool, str | None]:
    """`Fields.string(key, allow_empty=False)` without problems: (True, the value or None); or False."""
    value = spec.get(key)
    if value is None or value == "":
        return True, None
    return (True, value) if _line(value) else (False, None)


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
    if not _line(name) or not name or dns_subdomain_problem(name):
        return None
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
    ports = _ports(spec.get("ports"))
    families = _families(spec.get("ipFamilies"))
    ingress = _ingress(body.get("status"))
    if ports is None or families is None or ingress is None:
        return None
    service_type = _choice(spec, "type", SERVICE_TYPES, "ClusterIP")
    policy = _choice(spec, "ipFamilyPolicy", IP_FAMILY_POLICIES, None)
    traffic = _choice(spec, "externalTrafficPolicy", TRAFFIC_POLICIES, "Cluster")
    if not service_type or policy == "" or not traffic:
        return None
    ip_ok, lb_ip = _optional_line(spec, "loadBalancerIP")
    class_ok, lb_class = _optional_line(spec, "loadBalancerClass")
    if not ip_ok or not class_ok:
        return None
    cluster_ips = _cluster_ips(spec)
    selector = spec.get("selector")
    if cluster_ips is None or (selector is not None and not _strings(selector)):
        return None
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
        selector=shared.string_map(selector) if selector else EMPTY,
        labels=labels,
        annotations=FrozenMap(annotations) if annotations else EMPTY,
        ingress=ingress,
    )


def _cluster_ips(spec: dict[str, Any]) -> tuple[str, ...] | None:
    """`clusterIPs`, or `clusterIP` when that list is empty, as the general path reads them."""
    listed = spec.get("clusterIPs")
    single = spec.get("clusterIP")
    if single is not None and not _line(single):
        return None
    if listed is None:
        listed = []
    elif type(listed) is not list or not all(type(ip) is str and ip for ip in listed):
        return None
    if listed:
        return tuple(listed)
    return (single,) if single else ()
