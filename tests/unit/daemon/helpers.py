"""Config documents for daemon tests: a pool with L2 and BGP advertisements and standalone services."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from lbd.config import ParseResult, parse_objects

NODE = "node-a"


def pool(name: str = "vips", addresses: str = "192.0.2.200-192.0.2.210") -> dict[str, Any]:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": name, "namespace": "metallb-system"},
        "spec": {"addresses": [addresses]},
    }


def l2(name: str = "l2") -> dict[str, Any]:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "L2Advertisement",
        "metadata": {"name": name, "namespace": "metallb-system"},
        "spec": {},
    }


def service(
    name: str,
    annotations: Mapping[str, str] | None = None,
    ip: str | None = None,
    namespace: str = "default",
) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}]}
    if ip is not None:
        spec["loadBalancerIP"] = ip
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "annotations": dict(annotations or {})},
        "spec": spec,
    }


def parsed(*docs: Mapping[str, Any]) -> ParseResult:
    return parse_objects(docs)


def dump(*docs: Mapping[str, Any]) -> str:
    return yaml.safe_dump_all([dict(d) for d in docs])


def service_documents(
    services: Mapping[str, str], *, l2: bool = False, checks: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """One pool, a BGP peer and advertisement (or an L2 advertisement); a Service per name -> IP,
    with the lbd.io/health-check annotation of `checks` where it names the Service."""
    meta = {"name": "p", "namespace": "metallb-system"}
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": meta,
            "spec": {"addresses": ["192.0.2.0/24"]},
        },
    ]
    if l2:
        docs.append({"apiVersion": "metallb.io/v1beta1", "kind": "L2Advertisement", "metadata": meta})
    else:
        docs += [
            {
                "apiVersion": "metallb.io/v1beta2",
                "kind": "BGPPeer",
                "metadata": meta,
                "spec": {"myASN": 64512, "peerASN": 64513, "peerAddress": "198.51.100.1"},
            },
            {"apiVersion": "metallb.io/v1beta1", "kind": "BGPAdvertisement", "metadata": meta},
        ]
    for name, ip in services.items():
        annotations = {"metallb.universe.tf/loadBalancerIPs": ip}
        if checks and name in checks:
            annotations["lbd.io/health-check"] = checks[name]
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "namespace": "default", "annotations": annotations},
                "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
            }
        )
    return docs
