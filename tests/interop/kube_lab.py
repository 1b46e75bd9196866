"""Running the API-server emulator and `lbd kube` inside a lab namespace, for the kube interop tests.

The test process cannot reach a namespace's loopback, so objects are created and read through
`python -m tests.kube_emulator.ctl` run inside the namespace.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.lab import Lab, Netns, wait_for
from tests.lab.proc import Proc

REPO = Path(__file__).resolve().parents[2]
PYTHON = str(REPO / ".venv/bin/python")
ENV = {"PYTHONPATH": str(REPO)}
API = "http://127.0.0.1:6443"
NS = "metallb-system"
# Unique per test process: the BGP announcer keeps its restart marker under /run/lbd/bgp/<node>, and
# /run is shared by every namespace.
NODE = f"kube{os.getpid()}"

Obj = dict[str, Any]


def node() -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": NODE},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


def metallb(kind: str, name: str, spec: Obj, version: str = "v1beta1") -> Obj:
    return {
        "apiVersion": f"metallb.io/{version}",
        "kind": kind,
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


def service(name: str) -> list[Obj]:
    """A LoadBalancer Service with one ready endpoint on our node."""
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}]},
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{name}-{NODE}",
                "namespace": "default",
                "labels": {"kubernetes.io/service-name": name},
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": True}, "nodeName": NODE}],
        },
    ]


def start(lab: Lab, ns: Netns, objects: list[Obj], tmp_path: Path) -> tuple[Proc, Proc]:
    """The emulator (enforcing deploy/crds.yaml, seeded with `objects`) and `lbd kube` with both roles."""
    seed = tmp_path / "objects.json"
    seed.write_text(json.dumps(objects))
    kubeconfig = tmp_path / "kubeconfig"
    emulator_args = ["--port", "6443", "--crds", str(REPO / "deploy" / "crds.yaml"), "--load", str(seed)]
    emulator_args += ["--kubeconfig", str(kubeconfig), "--bookmark-interval", "1"]
    api = lab.spawn(
        ns, [PYTHON, "-m", "tests.kube_emulator", *emulator_args], name="apiserver", env=ENV, cwd=REPO
    )
    wait_for(kubeconfig.exists, 10, message="the emulator writing its kubeconfig")
    lbd_args = ["--kubeconfig", str(kubeconfig), "--node", NODE, "--liveness", "nodes", "--metrics", "off"]
    lbd_args += ["--lease-duration", "2", "--renew-deadline", "1.5", "--retry-period", "0.3"]
    lbd_args += ["--socket", str(lab.path("lbd-kube.sock"))]
    lbd = lab.spawn(ns, [PYTHON, "-m", "lbd.cli", "kube", *lbd_args], name="lbd", env=ENV, cwd=REPO)
    return api, lbd


def ctl(ns: Netns, *args: str, stdin: str | None = None) -> Any:
    out = ns.run(
        [PYTHON, "-m", "tests.kube_emulator.ctl", "--server", API, *args], input=stdin, env=ENV, timeout=20
    )
    return json.loads(out.stdout)


def create(ns: Netns, objects: list[Obj]) -> None:
    ctl(ns, "create", "-", stdin=json.dumps(objects))


def ingress(ns: Netns, name: str) -> list[str]:
    svc = ctl(ns, "get", "v1", "Service", name, "default")
    return [i["ip"] for i in svc.get("status", {}).get("loadBalancer", {}).get("ingress", [])]


def events(ns: Netns, name: str) -> list[tuple[str, str]]:
    found = ctl(ns, "list", "v1", "Event", "default")
    return sorted((e["reason"], e["message"]) for e in found if e["involvedObject"]["name"] == name)
