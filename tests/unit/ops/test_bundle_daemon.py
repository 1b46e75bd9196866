"""`lbd support-bundle` against a real `lbd run` in a lab namespace, whose configuration holds a BGP
password and a membership key: the bundle has the daemon's views, metrics and log, and neither secret."""

from __future__ import annotations

import json
import sys
import tarfile
from pathlib import Path

import pytest

from lbd.control import query
from tests.lab import Lab, wait_for

pytestmark = pytest.mark.lab

PASSWORD = "md5-secret-of-the-bundle-test"
MEMBERSHIP_KEY = "membership-key-of-the-bundle-test"

CONFIG = f"""
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: vips}}
spec: {{addresses: [192.0.2.200-192.0.2.210]}}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {{name: l2}}
spec: {{ipAddressPools: [vips]}}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{name: router}}
spec: {{myASN: 64500, peerASN: 64501, peerAddress: 192.0.2.9, password: {PASSWORD}}}
---
apiVersion: lbd.io/v1alpha1
kind: NodeConfig
metadata: {{name: node-a}}
spec:
  interfaces: [eth0]
  metricsAddress: 127.0.0.1:7472
  membership:
    bindAddress: 192.0.2.1
    key: {MEMBERSHIP_KEY}
    peers: [{{name: node-b, address: 192.0.2.2}}]
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: default}}
spec:
  type: LoadBalancer
  ports: [{{port: 80, protocol: TCP}}]
"""


def test_bundle_of_a_running_daemon(lab: Lab, tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG)
    node = lab.netns("node")
    lab.attach(node, lab.switch("sw"), ifname="eth0", addrs=["192.0.2.1/24"])
    socket_path = lab.path("lbd.sock")
    argv = [sys.executable, "-m", "lbd.cli", "run", "--config", str(tmp_path / "config.yaml")]
    daemon = node.spawn([*argv, "--node", "node-a", "--socket", str(socket_path), "--log-level", "debug"])

    def loaded() -> bool:
        daemon.check_alive()
        return bool(socket_path.exists() and query("summary", None, socket_path)["config_generation"] == 1)

    wait_for(loaded, timeout=20, message="lbd to load its configuration")
    out = tmp_path / "bundle.tar.gz"
    bundle_argv = [sys.executable, "-m", "lbd.cli", "support-bundle", "--socket", str(socket_path)]
    result = node.run([*bundle_argv, "-o", str(out), "--log", str(daemon.log)], timeout=60)
    assert result.stdout.startswith(f"wrote {out}"), result.stdout + result.stderr

    with tarfile.open(out) as tar:
        members = {}
        for member in tar.getmembers():
            handle = tar.extractfile(member)
            assert handle is not None
            members[member.name.split("/", 1)[1]] = handle.read()
    assert {
        "config.json",
        "status/summary.json",
        "status/services.json",
        "metrics.txt",
        "logs/lbd.log",
    } <= set(members)
    assert b'metallb_allocator_addresses_total{pool="vips"} 11.0' in members["metrics.txt"]
    assert json.loads(members["status/summary.json"])["node"] == "node-a"
    assert b"configLoaded" in members["logs/lbd.log"]
    everything = b"".join(members.values())
    assert PASSWORD.encode() not in everything
    assert MEMBERSHIP_KEY.encode() not in everything
