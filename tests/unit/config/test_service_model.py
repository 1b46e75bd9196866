"""The compact Service: a value object like the dataclasses around it."""

from __future__ import annotations

import pytest

from lbd.config.frozen import FrozenMap
from lbd.config.model import SERVICE_FIELDS, Service, ServicePort


def web(**changes: object) -> Service:
    fields: dict[str, object] = {
        "type": "LoadBalancer",
        "ports": (ServicePort(80),),
        "selector": FrozenMap({"app": "web"}),
        "annotations": FrozenMap({"metallb.universe.tf/loadBalancerIPs": "192.0.2.10"}),
        **changes,
    }
    return Service("web", "prod", **fields)  # type: ignore[arg-type]


def test_fields_read_back_and_the_key_names_namespace_and_name() -> None:
    s = web(external_traffic_policy="Local", cluster_ips=("10.0.0.1",))
    assert (s.name, s.namespace, s.key) == ("web", "prod", "prod/web")
    assert s.type == "LoadBalancer" and s.external_traffic_policy == "Local"
    assert s.cluster_ips == ("10.0.0.1",) and s.selector == {"app": "web"}
    assert s.load_balancer_ip is None and s.ip_families == () and s.labels == {}
    assert repr(s).startswith("Service(name='web', namespace='prod', type='LoadBalancer'")
    assert all(f"{name}=" in repr(s) for name in SERVICE_FIELDS)


def test_equality_and_hash_follow_every_field() -> None:
    assert web() == web() and hash(web()) == hash(web())
    assert len({web(), web()}) == 1
    for change in (
        {"type": "NodePort"},
        {"load_balancer_class": "x"},
        {"ports": ()},
        {"labels": FrozenMap({"a": "b"})},
        {"annotations": FrozenMap()},
        {"cluster_ips": ("10.0.0.2",)},
    ):
        assert web(**change) != web(), change
    assert Service("web", "prod") != Service("web", "dev")
    assert Service("a", "b/c") != Service(
        "b/a", "b"
    )  # the key alone would not tell them apart... but it does


def test_immutable_and_replace_like_dataclasses() -> None:
    s = web()
    with pytest.raises(AttributeError):
        s.key = "x"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del s.ports
    local = s.replace(external_traffic_policy="Local", name="web2")
    assert (local.name, local.external_traffic_policy, local.ports) == ("web2", "Local", s.ports)
    assert s.external_traffic_policy == "Cluster"
    with pytest.raises(TypeError, match="no field 'colour'"):
        s.replace(colour="red")


def test_services_alike_share_their_spec() -> None:
    a, b = (
        web(),
        Service(
            "api", "prod", type="LoadBalancer", ports=(ServicePort(80),), selector=FrozenMap({"app": "web"})
        ),
    )
    assert a._spec is b._spec
