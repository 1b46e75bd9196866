"""From the config model (`lbd.config.model`) to allocator requests, and the `allocate` entry point.

The annotation and field rules are MetalLB's controller (`controller/service.go`, `k8salloc`):
every annotation is read under `metallb.io/` first, then `metallb.universe.tf/`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence

from lbd.allocator.addresses import IPAddress, PoolSpace, Port, SharingKey, Span, go_quote, go_quote_addresses
from lbd.allocator.allocator import allocate_requests
from lbd.allocator.requests import (
    ANNOTATION_PREFIXES,
    AllocationResult,
    Family,
    FamilyPolicy,
    PoolPolicy,
    ServiceRequest,
)
from lbd.config.model import IPAddressPool, Namespace, Service

LOAD_BALANCER_IPS = "loadBalancerIPs"
ADDRESS_POOL = "address-pool"
ALLOW_SHARED_IP = "allow-shared-ip"


def annotation(service: Service, name: str) -> str | None:
    """A MetalLB annotation's value under either prefix (`metallb.io/` first), None when absent."""
    for prefix in ANNOTATION_PREFIXES:
        value = service.annotations.get(prefix + name)
        if value is not None:
            return value
    return None


def is_ours(service: Service, load_balancer_class: str | None) -> bool:
    """LoadBalancer services of our class; with no class configured, only services without a class."""
    return service.type == "LoadBalancer" and service.load_balancer_class == load_balancer_class


def pool_policy(pool: IPAddressPool, namespaces: Iterable[Namespace] = ()) -> PoolPolicy:
    space = PoolSpace(
        pool.name, tuple(Span.between(r.first, r.last) for r in pool.addresses), pool.avoid_buggy_ips
    )
    allocation = pool.service_allocation
    if allocation is None:
        return PoolPolicy(space, auto_assign=pool.auto_assign)
    chosen = set(allocation.namespaces)
    # MetalLB resolves namespaceSelectors against the Namespace objects when the config is loaded.
    chosen.update(
        ns.name for ns in namespaces if any(s.matches(ns.labels) for s in allocation.namespace_selectors)
    )
    return PoolPolicy(
        space,
        auto_assign=pool.auto_assign,
        restricted=True,
        priority=allocation.priority,
        namespaces=frozenset(chosen),
        service_selectors=allocation.service_selectors,
    )


def _family_of_texts(texts: Sequence[str]) -> Family | None:
    versions = []
    for text in texts:
        try:
            versions.append(ipaddress.ip_address(text).version)
        except ValueError:
            return None
    if len(versions) == 1:
        return Family.of(versions[0])
    if len(versions) == 2 and versions[0] != versions[1]:
        return Family.DUAL
    return None


def _family(service: Service, policy: FamilyPolicy) -> tuple[Family, int]:
    """MetalLB `ipfamily.ForService` reads clusterIPs; without them (files) we use spec.ipFamilies, then
    the policy. Returns the family and the primary IP version."""
    from_cluster = _family_of_texts(service.cluster_ips) if service.cluster_ips else None
    declared = [6 if f.lower() == "ipv6" else 4 for f in service.ip_families]
    primary = declared[0] if declared else 4
    if from_cluster is not None:
        if not declared:
            primary = ipaddress.ip_address(service.cluster_ips[0]).version
        return from_cluster, primary
    if len(set(declared)) == 2:
        return Family.DUAL, primary
    if declared:
        return Family.of(declared[0]), primary
    if policy is FamilyPolicy.SINGLE_STACK:
        return Family.IPV4, primary
    return Family.DUAL, primary


def _desired(service: Service) -> tuple[tuple[IPAddress, ...], str | None]:
    """MetalLB `getDesiredLbIPs`: the requested addresses, or the error that makes the request unusable."""
    listed = annotation(service, LOAD_BALANCER_IPS)
    spec = service.load_balancer_ip or None
    if listed and spec:
        return (), "service can not have both metallb.io/loadBalancerIPs and svc.Spec.LoadBalancerIP"
    if listed:
        addresses = []
        for text in listed.split(","):
            try:
                addresses.append(ipaddress.ip_address(text.strip()))
            except ValueError:
                return (), f"invalid metallb.io/loadBalancerIPs: {go_quote(listed)}"
        if len(addresses) > 2:
            return (), (
                f"IPFamilyForAddresses: invalid ips length {len(addresses)} {go_quote_addresses(addresses)}"
            )
        if len(addresses) == 2 and addresses[0].version == addresses[1].version:
            return (), f"IPFamilyForAddresses: same address family {go_quote_addresses(addresses)}"
        return tuple(addresses), None
    if spec:
        try:
            return (ipaddress.ip_address(spec.strip()),), None
        except ValueError:
            return (), f"invalid spec.loadBalancerIP {go_quote(spec)}"
    return (), None


def backend_key(service: Service) -> str:
    """MetalLB `k8salloc.BackendKey`: the pod selector (`k=v,...`, sorted) under Local, else ""."""
    if service.external_traffic_policy != "Local":
        return ""
    return ",".join(f"{k}={v}" for k, v in sorted(service.selector.items()))


def service_request(service: Service, current: Sequence[IPAddress] | None = None) -> ServiceRequest:
    """The allocator's view of a service; `current` overrides the addresses in its status."""
    try:
        policy = FamilyPolicy(service.ip_family_policy or FamilyPolicy.SINGLE_STACK)
    except ValueError:
        policy = FamilyPolicy.SINGLE_STACK
    family, primary = _family(service, policy)
    desired, desired_error = _desired(service)
    if current is None:
        held = []
        for ingress in service.ingress:
            if ingress.ip:
                try:
                    held.append(ipaddress.ip_address(ingress.ip))
                except ValueError:
                    continue
        current = held
    return ServiceRequest(
        key=service.key,
        namespace=service.namespace,
        labels=service.labels,
        ports=tuple(Port(p.protocol, p.port) for p in service.ports),
        sharing=SharingKey(annotation(service, ALLOW_SHARED_IP) or "", backend_key(service)),
        family=family,
        primary=primary,
        policy=policy,
        desired=desired,
        desired_error=desired_error,
        desired_pool=annotation(service, ADDRESS_POOL) or None,
        current=tuple(current),
    )


def allocate(
    pools: Sequence[IPAddressPool],
    services: Iterable[Service],
    *,
    namespaces: Iterable[Namespace] = (),
    load_balancer_class: str | None = None,
    previous: Mapping[str, Sequence[IPAddress]] | None = None,
) -> AllocationResult:
    """Allocate addresses to every LoadBalancer service of our class.

    `previous` maps `namespace/name` to addresses the caller remembers from its last run; they take
    precedence over the service's status (the standalone daemon has no status to read back). Services
    of another class or type are left out of the result.
    """
    namespace_list = tuple(namespaces)
    policies = [pool_policy(p, namespace_list) for p in pools]
    remembered = previous or {}
    requests = [
        service_request(s, remembered.get(s.key)) for s in services if is_ours(s, load_balancer_class)
    ]
    return allocate_requests(policies, requests)
