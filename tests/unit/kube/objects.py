"""Builders of the Kubernetes objects the controller and speaker tests create in the emulator."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from lbd.kube import ReflectorSettings
from lbd.kube.lease import LeaseSettings

NS = "metallb-system"
Obj = dict[str, Any]

FAST = ReflectorSettings(
    watch_timeout=30.0,
    read_grace=5.0,
    request_timeout=2.0,
    connect_timeout=0.5,
    backoff_initial=0.05,
    backoff_max=0.3,
    backoff_jitter=0.5,
    min_watch_duration=0.2,
)
# Short for tests, but with room for a loaded 2-core machine stalling the loop for a second: a leader
# only steps down after 1.5 s without a renewal.
SHORT_LEASE = LeaseSettings(lease_duration=2, renew_deadline=1.5, retry_period=0.1)


def pool(name: str, *addresses: str, **spec: Any) -> Obj:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"addresses": list(addresses), **spec},
    }


def l2(name: str, **spec: Any) -> Obj:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "L2Advertisement",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


def bgp_adv(name: str, **spec: Any) -> Obj:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "BGPAdvertisement",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


def peer(name: str, address: str, my_asn: int = 64500, peer_asn: int = 64501, **spec: Any) -> Obj:
    return {
        "apiVersion": "metallb.io/v1beta2",
        "kind": "BGPPeer",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"myASN": my_asn, "peerASN": peer_asn, "peerAddress": address, **spec},
    }


def service(name: str, namespace: str = "default", *, ingress: tuple[str, ...] = (), **spec: Any) -> Obj:
    obj: Obj = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}], **spec},
    }
    if ingress:
        obj["status"] = {"loadBalancer": {"ingress": [{"ip": ip} for ip in ingress]}}
    return obj


def node(name: str, ready: bool = True, **labels: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **labels}},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def endpoints(service_name: str, node_name: str, namespace: str = "default", ready: bool = True) -> Obj:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{service_name}-{node_name}",
            "namespace": namespace,
            "labels": {"kubernetes.io/service-name": service_name},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": ready}, "nodeName": node_name}],
    }


def speaker_pod(node_name: str, ready: bool = True) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"speaker-{node_name}",
            "namespace": NS,
            "labels": {"app.kubernetes.io/component": "speaker"},
        },
        "spec": {"nodeName": node_name},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


async def eventually(predicate: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last value {value!r}")
        await asyncio.sleep(0.02)
