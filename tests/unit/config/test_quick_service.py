"""The Service fast path: for any document it either steps aside or builds what the general path builds.

A `MappingProxyType` around a document is a Mapping but not a dict, so it always takes the general
path (`Fields`); the same document as a dict may take the fast path. Both must give the same errors
(field paths and messages) and equal Services.
"""

from __future__ import annotations

import copy
from types import MappingProxyType
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lbd.config import parse_objects
from lbd.config.parse_service import quick_service


def _one_of(*values: object) -> st.SearchStrategy[Any]:
    return st.sampled_from(values)


# Well-formed values per field (the fast path must take these and agree), ...
_PORT = st.fixed_dictionaries(
    {"port": _one_of(80, 53, 65535)},
    optional={
        "protocol": _one_of("TCP", "UDP", "SCTP"),
        "name": _one_of("http", ""),
        "targetPort": _one_of("http", 8080),
        "nodePort": _one_of(30080, 0),
        "appProtocol": _one_of("http"),
    },
)
_SPEC = st.fixed_dictionaries(
    {},
    optional={
        "type": _one_of("LoadBalancer", "ClusterIP", "NodePort", None),
        "ports": st.lists(_PORT, max_size=3),
        "ipFamilies": _one_of(["IPv4"], ["IPv6", "IPv4"], None),
        "ipFamilyPolicy": _one_of("SingleStack", "RequireDualStack", None),
        "externalTrafficPolicy": _one_of("Local", "Cluster"),
        "clusterIP": _one_of("10.96.0.1", ""),
        "clusterIPs": _one_of([], ["10.96.0.1", "fd00::1"]),
        "loadBalancerIP": _one_of("192.0.2.1", ""),
        "loadBalancerClass": _one_of("example.com/lbd", ""),
        "selector": _one_of({}, {"app": "web"}),
        "sessionAffinity": _one_of("None"),
    },
)
_METADATA = st.fixed_dictionaries(
    {"name": _one_of("web", "a.b-c")},
    optional={
        "namespace": _one_of("shop", "", None),
        "labels": _one_of(None, {}, {"app": "web"}),
        "annotations": _one_of(None, {}, {"metallb.universe.tf/loadBalancerIPs": "192.0.2.1"}),
        "uid": _one_of("0518eed3"),
    },
)
_STATUS = _one_of(
    None,
    {},
    {"loadBalancer": None},
    {"loadBalancer": {}},
    {"loadBalancer": {"ingress": [{"ip": "192.0.2.1", "ipMode": "VIP"}, {"hostname": "lb.example"}]}},
)
# ... and values each path must report (or, for the odd ones the general path accepts, build the same).
EDGES: dict[tuple[str | int, ...], tuple[object, ...]] = {
    ("metadata",): (None, "x"),
    ("metadata", "name"): ("", "Web", "x\n", "-x", 5, None),
    ("metadata", "namespace"): ("a\nb", 3),
    ("metadata", "labels"): ({"app": 1}, {"bad key!": "x"}, {"k": "bad value!"}, "x", {1: "a"}),
    ("metadata", "annotations"): ({"a": 1}, [], "x", {2: "b"}),
    ("spec",): (None, "x", []),
    ("spec", "type"): ("Balancer", "", 3),
    ("spec", "ports"): (None, "80", [None], ["x"], [{}], ({"port": 80},)),
    ("spec", "ports", 0, "port"): (0, 70000, 80.0, True, "80", None),
    ("spec", "ports", 0, "protocol"): ("tcp", "", 6),
    ("spec", "ports", 0, "name"): ("a\nb", 5),
    ("spec", "ports", 0, "targetPort"): ("", 0, 70000, 8080.0, False, "a\nb"),
    ("spec", "ports", 0, "nodePort"): (70000, "x", -1, 30080.0),
    ("spec", "ipFamilies"): (["IPv4", "IPv4"], ["ipv4"], [""], "IPv4", [1]),
    ("spec", "ipFamilyPolicy"): ("Single", "", 1),
    ("spec", "externalTrafficPolicy"): ("local", "", 2),
    ("spec", "clusterIP"): ("a\nb", 5),
    ("spec", "clusterIPs"): ([""], "x", [1], ["a\nb"]),
    ("spec", "loadBalancerIP"): ("a\nb", 7),
    ("spec", "loadBalancerClass"): ("a\rb", 7),
    ("spec", "selector"): ({"app": 1}, "x", {3: "x"}),
    ("status",): ("x", []),
    ("status", "loadBalancer"): ("x", []),
    ("status", "loadBalancer", "ingress"): ("x", [None], [{"ip": 1}], [{"hostname": "a\nb", "ip": ""}], [{}]),
}


def _set(body: dict[str, Any], path: tuple[str | int, ...], value: object) -> None:
    node: Any = body
    for step in path[:-1]:
        if isinstance(step, int):
            if not isinstance(node, list) or not node or not isinstance(node[0], dict):
                return
            node = node[0]
            continue
        if not isinstance(node, dict):
            return
        nxt = node.get(step)
        if not isinstance(nxt, dict | list):
            nxt = node[step] = [{"port": 80}] if step == "ports" else {}
        node = nxt
    if isinstance(node, dict):
        node[path[-1]] = value


@st.composite
def services(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Service", "metadata": draw(_METADATA)}
    if draw(st.booleans()):
        body["spec"] = draw(_SPEC)
    if draw(st.booleans()):
        body["status"] = draw(_STATUS)
    for path in draw(st.lists(st.sampled_from(sorted(EDGES, key=str)), max_size=2)):
        _set(body, path, draw(st.sampled_from(EDGES[path])))
    return body


def _agree(body: dict[str, Any]) -> None:
    fast, general = parse_objects([body]), parse_objects([MappingProxyType(body)])
    assert fast.errors == general.errors
    assert fast.world.services == general.world.services
    quick = quick_service(body)
    if quick is not None:
        assert general.errors == ()
        assert general.world.services[quick.key] == quick


FULL: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {
        "name": "web",
        "namespace": "shop",
        "labels": {"app": "web"},
        "annotations": {"metallb.universe.tf/loadBalancerIPs": "192.0.2.10"},
    },
    "spec": {
        "type": "LoadBalancer",
        "clusterIP": "10.96.0.10",
        "clusterIPs": ["10.96.0.10"],
        "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack",
        "externalTrafficPolicy": "Local",
        "loadBalancerIP": "192.0.2.10",
        "loadBalancerClass": "example.com/lbd",
        "selector": {"app": "web"},
        "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP", "nodePort": 30080}],
    },
    "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}},
}


def test_every_edge_value_alone_in_a_full_and_a_minimal_service() -> None:
    for base in (FULL, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}}):
        for path, values in EDGES.items():
            for value in values:
                body = copy.deepcopy(base)
                _set(body, path, value)
                _agree(body)


@settings(max_examples=500, deadline=None)
@given(services())
def test_the_fast_path_and_the_general_path_agree(body: dict[str, Any]) -> None:
    _agree(body)


def test_a_complete_well_formed_service_takes_the_fast_path() -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "labels": {"app": "web"},
            "annotations": {"metallb.universe.tf/loadBalancerIPs": "192.0.2.10"},
        },
        "spec": {
            "type": "LoadBalancer",
            "clusterIPs": ["10.96.0.10"],
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "externalTrafficPolicy": "Local",
            "loadBalancerClass": "example.com/lbd",
            "selector": {"app": "web"},
            "ports": [
                {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP", "nodePort": 30080}
            ],
        },
        "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}},
    }
    quick = quick_service(body)
    assert quick is not None
    assert quick == parse_objects([MappingProxyType(body)]).world.services["shop/web"]


def test_equal_parts_of_services_are_shared() -> None:
    def body(i: int) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": f"s{i}", "labels": {"app": "web"}, "annotations": {"k": str(i)}},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80}], "selector": {"app": "web"}},
        }

    a, b = parse_objects([body(1), body(2)]).world.services.values()
    assert a.ports is b.ports and a.labels is b.labels and a.selector is b.selector
    assert a.namespace is b.namespace and a.type is b.type
    assert a.annotations != b.annotations
