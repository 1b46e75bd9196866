"""From config-model Services and pools to allocator requests; `allocate` end to end."""

from __future__ import annotations

import ipaddress

import pytest

from lbd.allocator.inputs import allocate, backend_key, is_ours, service_request
from lbd.allocator.requests import Family, FamilyPolicy, State
from lbd.config.frozen import FrozenMap
from lbd.config.model import (
    AddressRange,
    IPAddressPool,
    LoadBalancerIngress,
    Namespace,
    Service,
    ServiceAllocation,
    ServicePort,
)
from lbd.config.selectors import LabelSelector

A = ipaddress.ip_address


def rng(first: str, last: str) -> AddressRange:
    return AddressRange(f"{first}-{last}", A(first), A(last), ())


def service(name: str = "s", ns: str = "ns", **kw: object) -> Service:
    annotations = kw.pop("annotations", {})
    selector = kw.pop("selector", {})
    labels = kw.pop("labels", {})
    return Service(
        name=name,
        namespace=ns,
        type=str(kw.pop("type", "LoadBalancer")),
        annotations=FrozenMap(annotations),  # type: ignore[arg-type]
        selector=FrozenMap(selector),  # type: ignore[arg-type]
        labels=FrozenMap(labels),  # type: ignore[arg-type]
        ports=(ServicePort(80),),
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("svc", "our_class", "ours"),
    [
        (service(), None, True),
        (service(type="ClusterIP"), None, False),
        (service(type="NodePort"), None, False),
        (service(load_balancer_class="other"), None, False),
        (service(load_balancer_class="lbd.io/lbd"), "lbd.io/lbd", True),
        (service(), "lbd.io/lbd", False),
    ],
)
def test_class_filter(svc: Service, our_class: str | None, ours: bool) -> None:
    assert is_ours(svc, our_class) is ours


@pytest.mark.parametrize("prefix", ["metallb.io/", "metallb.universe.tf/"])
def test_both_annotation_prefixes(prefix: str) -> None:
    req = service_request(
        service(
            annotations={
                prefix + "loadBalancerIPs": "192.0.2.1, 2001:db8::1",
                prefix + "address-pool": "gold",
                prefix + "allow-shared-ip": "web",
            },
            ip_families=("IPv4", "IPv6"),
            ip_family_policy="RequireDualStack",
        )
    )
    assert req.desired == (A("192.0.2.1"), A("2001:db8::1"))
    assert req.desired_pool == "gold"
    assert req.sharing.sharing == "web"
    assert (req.family, req.policy) == (Family.DUAL, FamilyPolicy.REQUIRE_DUAL_STACK)


def test_metallb_io_prefix_wins() -> None:
    req = service_request(
        service(annotations={"metallb.io/address-pool": "new", "metallb.universe.tf/address-pool": "old"})
    )
    assert req.desired_pool == "new"


@pytest.mark.parametrize(
    ("kw", "error"),
    [
        (
            {"load_balancer_ip": "192.0.2.1", "annotations": {"metallb.io/loadBalancerIPs": "192.0.2.2"}},
            "service can not have both metallb.io/loadBalancerIPs and svc.Spec.LoadBalancerIP",
        ),
        ({"load_balancer_ip": "bogus"}, 'invalid spec.loadBalancerIP "bogus"'),
        (
            {"annotations": {"metallb.io/loadBalancerIPs": "192.0.2.1,x"}},
            'invalid metallb.io/loadBalancerIPs: "192.0.2.1,x"',
        ),
        (
            {"annotations": {"metallb.io/loadBalancerIPs": "192.0.2.1,192.0.2.2"}},
            'IPFamilyForAddresses: same address family ["192.0.2.1" "192.0.2.2"]',
        ),
    ],
)
def test_request_errors(kw: dict[str, object], error: str) -> None:
    assert service_request(service(**kw)).desired_error == error


@pytest.mark.parametrize(
    ("kw", "family", "primary"),
    [
        ({}, Family.IPV4, 4),
        ({"ip_families": ("IPv6",)}, Family.IPV6, 6),
        ({"ip_families": ("IPv6", "IPv4"), "ip_family_policy": "PreferDualStack"}, Family.DUAL, 6),
        ({"ip_family_policy": "RequireDualStack"}, Family.DUAL, 4),
        ({"cluster_ips": ("10.96.0.1",), "ip_family_policy": "PreferDualStack"}, Family.IPV4, 4),
        ({"cluster_ips": ("fd00::1", "10.96.0.1")}, Family.DUAL, 6),
    ],
)
def test_family(kw: dict[str, object], family: Family, primary: int) -> None:
    req = service_request(service(**kw))
    assert (req.family, req.primary) == (family, primary)


def test_backend_key() -> None:
    assert backend_key(service(selector={"b": "2", "a": "1"})) == ""
    assert backend_key(service(selector={"b": "2", "a": "1"}, external_traffic_policy="Local")) == "a=1,b=2"


def test_current_from_status_or_previous() -> None:
    svc = service(ingress=(LoadBalancerIngress(ip="192.0.2.5"), LoadBalancerIngress(hostname="x")))
    assert service_request(svc).current == (A("192.0.2.5"),)
    assert service_request(svc, (A("192.0.2.6"),)).current == (A("192.0.2.6"),)


def test_allocate_end_to_end_with_namespace_selector() -> None:
    pools = [
        IPAddressPool("general", "metallb-system", (rng("192.0.2.1", "192.0.2.9"),)),
        IPAddressPool(
            "team",
            "metallb-system",
            (rng("198.51.100.1", "198.51.100.9"),),
            service_allocation=ServiceAllocation(
                namespace_selectors=(LabelSelector(FrozenMap({"team": "x"})),)
            ),
        ),
    ]
    result = allocate(
        pools,
        [service("a", "teamns"), service("b", "other"), service("c", "other", type="ClusterIP")],
        namespaces=[Namespace("teamns", FrozenMap({"team": "x"})), Namespace("other")],
    )
    assert [(s.key, s.pool, s.state) for s in result.services] == [
        ("other/b", "general", State.ALLOCATED),
        ("teamns/a", "team", State.ALLOCATED),
    ]
