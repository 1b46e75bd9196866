"""From the config model (`lbd.config.model`) to allocator requests, and the `allocate` entry point.

The annotation and field rules are MetalLB's controller (`controller/service.go`, `k8salloc`):
every annotation is read under `metallb.io/` first, then `metallb.universe.tf/`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from operator import itemgetter

from lbd.allocator.addresses import IPAddress, PoolSpace, Port, SharingKey, Span, go_quote, go_quote_addresses
from lbd.allocator.allocator import AllocationRun, gc_paused, no_pools
from lbd.allocator.requests import (
    ANNOTATION_PREFIXES,
    NO_SHARING,
    AllocationResult,
    Entry,
    Family,
    FamilyPolicy,
    HeldAddress,
    PoolPolicy,
    RequestedAddress,
    ServiceRequest,
)
from lbd.config.model import IPAddressPool, Namespace, Service, ServicePort

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


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_DOTTED_QUAD = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}")
"""What `ipaddress` accepts as IPv4: four decimal octets up to 255, ASCII digits, no leading zero."""


def parse_address(text: str) -> IPAddress:
    """`ipaddress.ip_address`, with dotted-quad IPv4 (nearly every address we read) matched and
    converted here in a third of the time; anything else goes to `ipaddress`, which raises ValueError
    as before."""
    if _DOTTED_QUAD.fullmatch(text) is not None:
        a, b, c, d = text.split(".")
        return ipaddress.IPv4Address(int(a) << 24 | int(b) << 16 | int(c) << 8 | int(d))
    return ipaddress.ip_address(text)


def _family_of_texts(texts: Sequence[str]) -> Family | None:
    versions = []
    for text in texts:
        try:
            versions.append(parse_address(text).version)
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
    if from_cluster is None:
        return _declared_family(service.ip_families, policy)
    declared = [6 if f.lower() == "ipv6" else 4 for f in service.ip_families]
    primary = declared[0] if declared else parse_address(service.cluster_ips[0]).version
    return from_cluster, primary


def _declared_family(ip_families: Sequence[str], policy: FamilyPolicy) -> tuple[Family, int]:
    """The family from spec.ipFamilies, else the policy, and the primary IP version."""
    declared = [6 if f.lower() == "ipv6" else 4 for f in ip_families]
    primary = declared[0] if declared else 4
    if len(set(declared)) == 2:
        return Family.DUAL, primary
    if declared:
        return Family.of(declared[0]), primary
    if policy is FamilyPolicy.SINGLE_STACK:
        return Family.IPV4, primary
    return Family.DUAL, primary


def _desired(listed: str | None, spec: str | None) -> tuple[tuple[IPAddress, ...], str | None]:
    """MetalLB `getDesiredLbIPs` over the loadBalancerIPs annotation and spec.loadBalancerIP: the
    requested addresses, or the error that makes the request unusable."""
    if listed and spec:
        return (), "service can not have both metallb.io/loadBalancerIPs and svc.Spec.LoadBalancerIP"
    if listed:
        if "," not in listed:
            try:
                return (parse_address(listed.strip()),), None
            except ValueError:
                return (), f"invalid metallb.io/loadBalancerIPs: {go_quote(listed)}"
        addresses = []
        for text in listed.split(","):
            try:
                addresses.append(parse_address(text.strip()))
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
            return (parse_address(spec.strip()),), None
        except ValueError:
            return (), f"invalid spec.loadBalancerIP {go_quote(spec)}"
    return (), None


def backend_key(service: Service) -> str:
    """MetalLB `k8salloc.BackendKey`: the pod selector (`k=v,...`, sorted) under Local, else ""."""
    if service.external_traffic_policy != "Local":
        return ""
    return ",".join(f"{k}={v}" for k, v in sorted(service.selector.items()))


def _held(service: Service) -> tuple[IPAddress, ...]:
    """The addresses in the service's status."""
    held = []
    for ingress in service.ingress:
        if ingress.ip:
            try:
                held.append(parse_address(ingress.ip))
            except ValueError:
                continue
    return tuple(held)


_POLICIES = {p.value: p for p in FamilyPolicy}
# Full annotation name -> its slot in `_annotations`' answer: name by name, `metallb.io/` first.
_SLOTS = {
    prefix + name: 2 * n + rank
    for n, name in enumerate((LOAD_BALANCER_IPS, ALLOW_SHARED_IP, ADDRESS_POOL))
    for rank, prefix in enumerate(ANNOTATION_PREFIXES)
}
_NONE_FOUND = (None, None, None)


def _annotations(annotations: Mapping[str, str]) -> tuple[str | None, str | None, str | None]:
    """The loadBalancerIPs, allow-shared-ip and address-pool annotations, as `annotation` reads them,
    in one walk over the service's annotations."""
    found: list[str | None] | None = None
    for name in annotations:
        slot = _SLOTS.get(name)
        if slot is not None:
            if found is None:
                found = [None] * 6
            found[slot] = annotations.get(name)
    if found is None:
        return _NONE_FOUND
    return (
        found[0] if found[0] is not None else found[1],
        found[2] if found[2] is not None else found[3],
        found[4] if found[4] is not None else found[5],
    )


class RequestBuilder:
    """Builds the requests of one pass. Services mostly have the same ports, sharing key and family
    settings, so those are built once per distinct value and shared (a pass over 100,000 services
    would otherwise build 100,000 equal Port tuples and SharingKeys). Lives for one pass: its caches
    hold what they were given."""

    __slots__ = ("_families", "_ports", "_ports_of", "_sharing")

    def __init__(self) -> None:
        self._ports: dict[tuple[tuple[str, int], ...], tuple[Port, ...]] = {}
        # The same by the identity of a Service's ports tuple (the config loader shares equal ones).
        self._ports_of: dict[int, tuple[tuple[ServicePort, ...], tuple[Port, ...]]] = {}
        self._sharing: dict[tuple[str, str], SharingKey] = {("", ""): NO_SHARING}
        self._families: dict[tuple[tuple[str, ...], str | None], tuple[FamilyPolicy, Family, int]] = {}

    def request(
        self, key: str, service: Service, current: Sequence[IPAddress] | None = None
    ) -> ServiceRequest:
        """The allocator's view of `service` (keyed `key`, its namespace/name); `current` overrides
        the addresses in its status."""
        made = self._build(key, service, current, compact=False)
        assert isinstance(made, ServiceRequest)  # compact=False never answers a RequestedAddress
        return made

    def entry(self, key: str, service: Service, current: Sequence[IPAddress] | int | None = None) -> Entry:
        """`request`, or a RequestedAddress or HeldAddress when the service has that shape. `current`
        may also be one IPv4 address as its int (as `HeldAddresses.packed` gives it)."""
        return self._build(key, service, current, compact=True)

    def full(self, entry: RequestedAddress | HeldAddress) -> ServiceRequest:
        """The ServiceRequest of a compact entry, for the general steps."""
        if isinstance(entry, HeldAddress):
            return self.request(entry.key, entry.service, (ipaddress.IPv4Address(entry.value),))
        return self.request(entry.key, entry.service)

    def _build(
        self, key: str, service: Service, current: Sequence[IPAddress] | int | None, *, compact: bool
    ) -> Entry:
        settings = (service.ip_families, service.ip_family_policy)
        known = self._families.get(settings)
        if known is None:
            policy = _POLICIES.get(service.ip_family_policy or "", FamilyPolicy.SINGLE_STACK)
            known = self._families[settings] = (policy, *_declared_family(service.ip_families, policy))
        policy, family, primary = known
        if service.cluster_ips:
            family, primary = _family(service, policy)
        listed, shared, wanted_pool = _annotations(service.annotations)
        spec = service.load_balancer_ip
        value = None
        if listed and not spec and _DOTTED_QUAD.fullmatch(listed) is not None:
            # `_desired` for the usual one IPv4 address, inline.
            a, b, c, d = listed.split(".")
            value = int(a) << 24 | int(b) << 16 | int(c) << 8 | int(d)
        if (
            compact
            and family is Family.IPV4
            and not wanted_pool
            and not shared
            and not spec
            and service.external_traffic_policy != "Local"
        ):
            if value is not None and current is None and not service.ingress:
                return tuple.__new__(RequestedAddress, (key, value, service))
            held: int | None = None
            if isinstance(current, int):
                held = current
            elif current is not None and len(current) == 1 and current[0].__class__ is ipaddress.IPv4Address:
                # `int()` of the address: the very int a verdict or HeldAddresses held.
                held = int(current[0])
            if held is not None and (not listed or value == held):
                return tuple.__new__(HeldAddress, (key, held, service))
        given = service.ports
        seen = self._ports_of.get(id(given))
        if seen is not None and seen[0] is given:
            ports = seen[1]
        else:
            shape = tuple([(p.protocol, p.port) for p in given])
            shared_ports = self._ports.get(shape)
            if shared_ports is None:
                shared_ports = self._ports[shape] = tuple(Port(protocol, port) for protocol, port in shape)
            ports = shared_ports
            # Keeping `given` alive keeps its id from being reused while this builder lives.
            self._ports_of[id(given)] = (given, ports)
        if not shared and service.external_traffic_policy != "Local":
            sharing = NO_SHARING
        else:
            backend = backend_key(service)
            known_sharing = self._sharing.get((shared or "", backend))
            if known_sharing is None:
                known_sharing = self._sharing[shared or "", backend] = SharingKey(shared or "", backend)
            sharing = known_sharing
        if value is not None:
            desired: tuple[IPAddress, ...] = (ipaddress.IPv4Address(value),)
            desired_error = None
        else:
            desired, desired_error = _desired(listed, spec or None)
        if isinstance(current, int):
            current = (ipaddress.IPv4Address(current),)
        elif current is not None:
            current = tuple(current)
        elif service.ingress:
            current = _held(service)
        else:
            current = ()
        # tuple.__new__ straight: the named tuple's own __new__ is a Python function around it.
        return tuple.__new__(
            ServiceRequest,
            (
                key,
                service.namespace,
                service.labels,
                ports,
                sharing,
                family,
                primary,
                policy,
                desired,
                desired_error,
                wanted_pool or None,
                current,
            ),
        )


def service_request(service: Service, current: Sequence[IPAddress] | None = None) -> ServiceRequest:
    """The allocator's view of a service; `current` overrides the addresses in its status."""
    return RequestBuilder().request(service.key, service, current)


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
    builder = RequestBuilder()
    with gc_paused():
        ordered: list[Entry] = []
        for service in services:
            if is_ours(service, load_balancer_class):
                key = service.key
                ordered.append(builder.entry(key, service, remembered.get(key)))
        ordered.sort(key=itemgetter(0))  # by key, as `allocate_requests`
        if not policies:
            return AllocationResult(no_pools(ordered))
        return AllocationResult(tuple(AllocationRun(policies).allocate(ordered, builder.full)))
