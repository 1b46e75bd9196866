"""`lbd plan` and `lbd explain` end to end on files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lbd.cli import main

CONFIG = """
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: gold, namespace: metallb-system}
spec: {addresses: [192.0.2.10-192.0.2.20]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: reserved, namespace: metallb-system}
spec: {addresses: [198.51.100.0/28], autoAssign: false}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2, namespace: metallb-system}
spec: {ipAddressPools: [gold], interfaces: [eth0]}
---
apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: names, namespace: metallb-system}
spec:
  communities: [{name: keep-local, value: "65535:65282"}]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: bgp, namespace: metallb-system}
spec: {communities: [keep-local, "large:64500:1:2"], localPref: 50}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor, namespace: metallb-system}
spec: {myASN: 64500, peerASN: 64500, peerAddress: 192.0.2.1}
---
apiVersion: v1
kind: Node
metadata: {name: n1}
---
apiVersion: v1
kind: Node
metadata: {name: n2}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {type: LoadBalancer, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: default, annotations: {metallb.universe.tf/address-pool: reserved}}
spec: {type: LoadBalancer, externalTrafficPolicy: Local, ports: [{port: 5432}]}
---
apiVersion: v1
kind: Service
metadata: {name: bad, namespace: default}
spec: {type: LoadBalancer, loadBalancerIP: 4.3.2.1, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: internal, namespace: default}
spec: {type: ClusterIP, ports: [{port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints: [{addresses: [10.244.0.5], nodeName: n1}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: db-1, namespace: default, labels: {kubernetes.io/service-name: db}}
addressType: IPv4
endpoints: [{addresses: [10.244.0.9], nodeName: n2}]
"""


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "cluster.yaml"
    path.write_text(CONFIG)
    return path


def plan_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:  # type: ignore[type-arg]
    assert main(["plan", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_plan_json(config_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = plan_json(capsys, "--config", str(config_path))
    assert set(doc) == {"services", "l2", "bgp"}
    services = {f"{s['namespace']}/{s['name']}": s for s in doc["services"]}
    assert set(services) == {"default/bad", "default/db", "default/web"}
    assert services["default/web"]["ips"] == ["192.0.2.10"]
    assert services["default/web"]["state"] == "allocated"
    assert services["default/db"]["pool"] == "reserved"
    assert services["default/bad"]["state"] == "pending"
    assert services["default/bad"]["events"][0]["message"] == (
        'Failed to allocate IP for "default/bad": "4.3.2.1" is not allowed in config'
    )
    # web: Cluster policy, both nodes live; n2 wins sha256("n2#192.0.2.10") < sha256("n1#192.0.2.10").
    assert doc["l2"] == [
        {
            "ip": "192.0.2.10",
            "service": "default/web",
            "node": "n2",
            "interfaces": ["eth0"],
            "all_interfaces": False,
        }
    ]
    assert doc["bgp"] == [
        {
            "peer": "tor",
            "prefix": "192.0.2.10/32",
            "communities": ["65535:65282"],
            "large_communities": ["large:64500:1:2"],
            "local_pref": 50,
            "nodes": ["n1", "n2"],
            "services": ["default/web"],
        },
        {
            "peer": "tor",
            "prefix": "198.51.100.0/32",
            "communities": ["65535:65282"],
            "large_communities": ["large:64500:1:2"],
            "local_pref": 50,
            "nodes": ["n2"],
            "services": ["default/db"],
        },
    ]


def test_plan_node_filter(config_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = plan_json(capsys, "--config", str(config_path), "--node", "n1")
    assert doc["l2"] == []
    assert [(r["prefix"], r["nodes"]) for r in doc["bgp"]] == [("192.0.2.10/32", ["n1"])]


def test_plan_text(config_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--config", str(config_path)]) == 0
    out = capsys.readouterr().out
    assert "default/web  allocated  192.0.2.10" in out
    assert "192.0.2.10  default/web  n2    eth0" in out


def test_plan_rejects_bad_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\n"
        "metadata: {name: x}\nspec: {addresses: [nope]}\n"
    )
    assert main(["plan", "--config", str(path)]) == 1
    assert "error:" in capsys.readouterr().err


def test_explain(config_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "default/db", "--config", str(config_path)]) == 0
    out = capsys.readouterr().out
    assert "198.51.100.0 from pool reserved" in out
    assert "n1: not announced: noLocalEndpoints" in out
    assert "L2: no L2Advertisement covers the pool" in out


def test_explain_json(config_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "default/web", "--config", str(config_path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["l2"]["owner"] == "n2"
    assert doc["l2"]["candidates"] == ["n2", "n1"]
    assert doc["bgp"]["nodes"]["n1"]["peers"] == ["tor"]


@pytest.mark.parametrize(
    ("name", "code", "text"),
    [("default/internal", 0, "ignored (type ClusterIP"), ("default/nope", 1, "no such Service")],
)
def test_explain_not_ours(
    config_path: Path, capsys: pytest.CaptureFixture[str], name: str, code: int, text: str
) -> None:
    assert main(["explain", name, "--config", str(config_path)]) == code
    assert text in capsys.readouterr().out
