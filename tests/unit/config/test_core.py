"""Core objects parsed from the camelCase JSON the Kubernetes API returns."""

from __future__ import annotations

from typing import Any

from lbd.config import parse_objects
from lbd.config.model import Endpoint, LoadBalancerIngress, ServicePort

SERVICE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {
        "name": "web",
        "namespace": "shop",
        "uid": "0518eed3",
        "resourceVersion": "9041",
        "labels": {"app": "web"},
        "annotations": {"metallb.universe.tf/address-pool": "gold"},
        "managedFields": [{"manager": "kubectl"}],
    },
    "spec": {
        "type": "LoadBalancer",
        "clusterIP": "10.96.0.10",
        "clusterIPs": ["10.96.0.10", "fd00::10"],
        "ipFamilies": ["IPv4", "IPv6"],
        "ipFamilyPolicy": "PreferDualStack",
        "externalTrafficPolicy": "Local",
        "healthCheckNodePort": 30001,
        "sessionAffinity": "None",
        "loadBalancerIP": "192.0.2.10",
        "loadBalancerClass": "example.com/lbd",
        "selector": {"app": "web"},
        "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP", "nodePort": 30080}],
    },
    "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10", "ipMode": "VIP"}]}},
}

SLICE: dict[str, Any] = {
    "apiVersion": "discovery.k8s.io/v1",
    "kind": "EndpointSlice",
    "metadata": {"name": "web-abc", "namespace": "shop", "labels": {"kubernetes.io/service-name": "web"}},
    "addressType": "IPv4",
    "endpoints": [
        {
            "addresses": ["10.244.0.5"],
            "conditions": {"ready": True, "serving": True, "terminating": False},
            "nodeName": "n1",
            "targetRef": {"kind": "Pod"},
        },
        {"addresses": ["10.244.0.6"], "conditions": {}, "nodeName": "n2"},
        {"addresses": ["10.244.0.7"], "conditions": {"ready": False, "serving": True, "terminating": True}},
    ],
    "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
}

NODE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Node",
    "metadata": {"name": "n1", "labels": {"kubernetes.io/hostname": "n1"}},
    "spec": {"podCIDR": "10.244.0.0/24"},
    "status": {
        "conditions": [
            {"type": "Ready", "status": "True"},
            {"type": "NetworkUnavailable", "status": "False", "reason": "RouteCreated"},
        ],
        "addresses": [{"type": "InternalIP", "address": "192.0.2.21"}, {"type": "Hostname", "address": "n1"}],
    },
}


def test_service_fields() -> None:
    result = parse_objects([SERVICE])
    assert result.errors == ()
    svc = result.world.services["shop/web"]
    assert svc.key == "shop/web"
    assert svc.type == "LoadBalancer"
    assert svc.load_balancer_ip == "192.0.2.10"
    assert svc.load_balancer_class == "example.com/lbd"
    assert svc.ip_families == ("IPv4", "IPv6")
    assert svc.ip_family_policy == "PreferDualStack"
    assert svc.external_traffic_policy == "Local"
    assert svc.cluster_ips == ("10.96.0.10", "fd00::10")
    assert svc.ports == (ServicePort(80, "TCP", "http", "http", 30080),)
    assert dict(svc.selector) == {"app": "web"}
    assert svc.annotations["metallb.universe.tf/address-pool"] == "gold"
    assert dict(svc.labels) == {"app": "web"}
    assert svc.ingress == (LoadBalancerIngress("192.0.2.10"),)
    assert hash(svc) == hash(parse_objects([SERVICE]).world.services["shop/web"])


def test_service_defaults_and_bad_values() -> None:
    minimal = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {"ports": [{"port": 53}]},
    }
    svc = parse_objects([minimal]).world.services["default/s"]
    assert (svc.type, svc.external_traffic_policy, svc.namespace) == ("ClusterIP", "Cluster", "default")
    bad = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {"type": "Balancer", "externalTrafficPolicy": "local", "ports": [{"port": 0}]},
    }
    fields = {e.field for e in parse_objects([bad]).errors}
    assert fields == {"spec.type", "spec.externalTrafficPolicy", "spec.ports[0].port"}


def test_endpoint_slice_conditions_follow_the_api_defaults() -> None:
    result = parse_objects([SERVICE, SLICE])
    slices = result.world.endpoint_slices_for(result.world.services["shop/web"])
    assert len(slices) == 1
    assert slices[0].service_name == "web"
    assert slices[0].endpoints == (
        Endpoint(("10.244.0.5",), True, True, False, "n1"),
        Endpoint(("10.244.0.6",), True, True, False, "n2"),
        Endpoint(("10.244.0.7",), False, True, True, None),
    )


def test_node_conditions_and_addresses() -> None:
    node = parse_objects([NODE]).world.nodes["n1"]
    assert node.condition("Ready") == "True"
    assert node.network_unavailable is False
    assert [(a.type, a.address) for a in node.addresses] == [("InternalIP", "192.0.2.21"), ("Hostname", "n1")]
    down = {**NODE, "status": {"conditions": [{"type": "NetworkUnavailable", "status": "True"}]}}
    assert parse_objects([down]).world.nodes["n1"].network_unavailable is True


def test_secret_data_and_string_data() -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "bgp", "namespace": "metallb-system"},
        "type": "kubernetes.io/basic-auth",
        "data": {"password": "c2VjcmV0", "username": "dXNlcg=="},
        "stringData": {"password": "override"},
    }
    parsed = parse_objects([secret]).world.secrets["metallb-system/bgp"]
    assert dict(parsed.data) == {"password": b"override", "username": b"user"}
    bad = {**secret, "data": {"password": "not base64!"}, "stringData": {}}
    assert [e.field for e in parse_objects([bad]).errors] == ["data.password"]


def test_password_secret_resolves_into_the_peer() -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "bgp", "namespace": "metallb-system"},
        "type": "kubernetes.io/basic-auth",
        "stringData": {"password": "s3cret"},
    }
    peer = {
        "apiVersion": "metallb.io/v1beta2",
        "kind": "BGPPeer",
        "metadata": {"name": "p"},
        "spec": {
            "myASN": 64500,
            "peerASN": 64501,
            "peerAddress": "192.0.2.1",
            "passwordSecret": {"name": "bgp"},
        },
    }
    config = parse_objects([peer, secret]).config
    assert config is not None
    assert config.peers["p"].password == "s3cret"


def test_kind_list_is_expanded_and_every_error_is_reported() -> None:
    bad_pool = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": "a"},
        "spec": {"addresses": ["10.0.0.9-10.0.0.1", "x"]},
    }
    bad_peer = {
        "apiVersion": "metallb.io/v1beta2",
        "kind": "BGPPeer",
        "metadata": {"name": "p"},
        "spec": {"myASN": 0, "peerASN": 1, "peerAddress": "10.0.0.1", "holdTime": "1s"},
    }
    result = parse_objects(
        [{"apiVersion": "v1", "kind": "List", "items": [bad_pool, bad_peer, NODE]}], "dump"
    )
    assert [(e.kind, e.name, e.field) for e in result.errors] == [
        ("IPAddressPool", "metallb-system/a", "spec.addresses[0]"),
        ("IPAddressPool", "metallb-system/a", "spec.addresses[1]"),
        ("BGPPeer", "metallb-system/p", "spec.myASN"),
        ("BGPPeer", "metallb-system/p", "spec.holdTime"),
    ]
    assert result.errors[0].source == "dump#1 items[0]"
    assert "n1" in result.world.nodes


def test_documents_that_are_not_objects() -> None:
    result = parse_objects([None, ["a"], {"kind": "Service"}])
    assert [str(e) for e in result.errors] == [
        "- - -: a document must be an object, got list",
        "Service - apiVersion: apiVersion and kind are required strings",
    ]
