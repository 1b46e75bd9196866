"""`lbd support-bundle`: every view, metrics, logs and network state in one tarball, and no secret in it."""

from __future__ import annotations

import asyncio
import base64
import json
import stat
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from lbd.bundle import (
    REDACTED,
    BundleOptions,
    collect,
    is_secret_name,
    metrics_url,
    metrics_url_from,
    redact,
    scrub_text,
    write,
)
from lbd.cli import main
from lbd.control import ControlError, ControlServer
from lbd.control.server import ViewError
from lbd.metrics import Metrics
from lbd.metrics_http import start_metrics_server

PASSWORD = "md5-Pa55word-of-the-lab"
MEMBERSHIP_KEY = "membership-key-0123456789abcdef"
SECRET_DATA = "secret-from-a-Secret-object"

CONFIG = {
    "loaded_at": "2026-11-29T09:00:00Z",
    "documents": [
        {
            "apiVersion": "metallb.io/v1beta2",
            "kind": "BGPPeer",
            "metadata": {"name": "router", "namespace": "metallb-system"},
            "spec": {
                "myASN": 64500,
                "peerASN": 64501,
                "peerAddress": "192.0.2.1",
                "password": PASSWORD,
                "passwordSecret": {"name": "router-md5"},
                "nodeSelectors": [{"matchExpressions": [{"key": "rack", "operator": "In", "values": ["a"]}]}],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "router-md5", "namespace": "metallb-system"},
            "type": "kubernetes.io/basic-auth",
            "data": {"password": base64.b64encode(SECRET_DATA.encode()).decode()},
        },
        {
            "apiVersion": "lbd.io/v1alpha1",
            "kind": "NodeConfig",
            "metadata": {"name": "node-a"},
            "spec": {"membership": {"key": MEMBERSHIP_KEY, "peers": [{"name": "node-b"}]}},
        },
    ],
}


def bgp_neighbor(args: Mapping[str, Any]) -> Any:
    if args.get("peer") != "192.0.2.1":
        raise ViewError(f"no BGP neighbor {args.get('peer')!r}")
    return {"peer": "192.0.2.1", "configured": {"md5": True, "password": PASSWORD}}


def views(metrics_address: str) -> dict[str, Any]:
    return {
        "summary": lambda args: {"node": "node-a", "version": "0.1.0", "metrics_address": metrics_address},
        "config": lambda args: CONFIG,
        "bgp summary": lambda args: [
            {"peer": "192.0.2.1", "state": "Active", "last_error": f"MD5 key {PASSWORD!r} rejected by peer"},
            {"peer": "192.0.2.9", "state": "Idle"},
        ],
        "bgp neighbor": bgp_neighbor,
        "services": lambda args: [{"key": "default/web", "ips": ["198.51.100.5"]}],
    }


def fake_ip(argv: Sequence[str]) -> tuple[int, str]:
    if argv[:2] == ["ip", "-V"]:
        return 0, "ip utility, iproute2-6.1.0\n"
    if "neigh" in argv:
        return 1, "Cannot talk to rtnetlink"
    return 0, json.dumps([{"ifname": "eth0", "argv": list(argv)}])


def read_tarball(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        out = {}
        for member in tar.getmembers():
            handle = tar.extractfile(member)
            assert handle is not None
            out[member.name.split("/", 1)[1]] = handle.read()
        return out


async def serve(tmp_path: Path) -> tuple[ControlServer, Any, str]:
    metrics = Metrics(process_metrics=False)
    metrics.set("metallb_bgp_session_up", 0, peer="192.0.2.1")
    runner = await start_metrics_server(metrics, "127.0.0.1", 0)
    host, port = runner.addresses[0][:2]
    server = ControlServer(tmp_path / "lbd.sock", views(f"{host}:{port}"))
    await server.start()
    return server, runner, f"{host}:{port}"


async def test_bundle_has_every_part_and_no_secret(tmp_path: Path) -> None:
    server, runner, _ = await serve(tmp_path)
    log = tmp_path / "lbd.log"
    log.write_text(
        json.dumps({"event": "sessionDown", "peer": "192.0.2.1", "password": PASSWORD}) + "\n"
        f"plain line: md5 password={PASSWORD} for peer 192.0.2.1\n"
        f"an error quoting the secret: {SECRET_DATA}\n"
    )
    try:
        options = BundleOptions(socket=server.path, log_file=log)
        bundle = await asyncio.to_thread(collect, options, runner=fake_ip)
    finally:
        await server.close()
        await runner.cleanup()
    path = tmp_path / "out" / "bundle.tar.gz"
    names = write(bundle, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    members = read_tarball(path)
    assert set(members) == set(names)
    assert {
        "config.json",
        "status/summary.json",
        "status/bgp-summary.json",
        "status/services.json",
        "status/bgp-neighbor/192.0.2.1.json",
        "metrics.txt",
        "logs/lbd.log",
        "network/links.json",
        "network/addresses.json",
        "network/routes-ipv4.json",
        "network/routes-ipv6.json",
        "versions.json",
        "manifest.json",
    } <= set(members)

    everything = b"".join(members.values())
    for secret in (PASSWORD, MEMBERSHIP_KEY, SECRET_DATA, base64.b64encode(SECRET_DATA.encode()).decode()):
        assert secret.encode() not in everything, secret

    config = json.loads(members["config.json"])
    peer, secret_object, node = config["documents"]
    assert peer["spec"]["password"] == REDACTED
    # References and label keys are not secrets: they stay, so the config is still readable.
    assert peer["spec"]["passwordSecret"] == {"name": "router-md5"}
    assert peer["spec"]["nodeSelectors"][0]["matchExpressions"][0]["key"] == "rack"
    assert secret_object["data"] == {"password": REDACTED}
    assert node["spec"]["membership"] == {"key": REDACTED, "peers": [{"name": "node-b"}]}
    assert json.loads(members["status/services.json"]) == [{"key": "default/web", "ips": ["198.51.100.5"]}]
    session, _ = json.loads(members["status/bgp-summary.json"])
    assert session["last_error"] == f"MD5 key '{REDACTED}' rejected by peer"

    assert b'metallb_bgp_session_up{peer="192.0.2.1"} 0.0' in members["metrics.txt"]
    log_lines = members["logs/lbd.log"].decode().splitlines()
    assert json.loads(log_lines[0]) == {"event": "sessionDown", "peer": "192.0.2.1", "password": REDACTED}
    assert log_lines[1] == f"plain line: md5 password={REDACTED} for peer 192.0.2.1"
    assert log_lines[2] == f"an error quoting the secret: {REDACTED}"

    assert json.loads(members["versions.json"])["daemon"] == "0.1.0"
    manifest = json.loads(members["manifest.json"])
    problems = "\n".join(manifest["problems"])
    neighbor = json.loads(members["status/bgp-neighbor/192.0.2.1.json"])
    assert neighbor["configured"] == {"md5": True, "password": REDACTED}
    # A view that refuses an item, and a command that failed, are reported, not fatal.
    assert "status/bgp neighbor 192.0.2.9: no BGP neighbor '192.0.2.9'" in problems
    assert "network/neighbours: ip -j neigh show exited 1: Cannot talk to rtnetlink" in problems


def test_daemon_down_still_writes_what_it_can(tmp_path: Path) -> None:
    options = BundleOptions(socket=tmp_path / "absent.sock", log_file=tmp_path / "absent.log", timeout=1)
    bundle = collect(options)
    write(bundle, tmp_path / "b.tar.gz")
    members = read_tarball(tmp_path / "b.tar.gz")
    # The real `ip` answers JSON for the host's own namespace (read-only queries).
    assert isinstance(json.loads(members["network/addresses.json"]), list)
    problems = json.loads(members["manifest.json"])["problems"]
    assert any(p.startswith("status: no lbd control socket") for p in problems)
    assert any(p.startswith("metrics: the daemon did not answer") for p in problems)
    assert any(p.startswith("logs: ") for p in problems)
    assert "config.json" not in members


async def test_cli_writes_the_tarball(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server, runner, address = await serve(tmp_path)
    out = tmp_path / "cli.tar.gz"
    log = tmp_path / "x.log"
    log.write_text("")
    try:
        argv = ["support-bundle", "--socket", str(server.path), "-o", str(out), "--log", str(log)]
        rc = await asyncio.to_thread(main, argv)
    finally:
        await server.close()
        await runner.cleanup()
    assert rc == 0
    assert f"wrote {out}" in capsys.readouterr().out
    members = read_tarball(out)
    assert PASSWORD.encode() not in b"".join(members.values())
    assert address.encode() in members["status/summary.json"]


@pytest.mark.parametrize(
    ("name", "parent", "secret"),
    [
        ("password", "", True),
        ("md5_password", "", True),
        ("passwordSecret", "spec", True),
        ("clientSecret", "", True),
        ("token", "", True),
        ("authKey", "", True),
        ("keyFile", "membership", True),
        ("key", "membership", True),
        ("key", "matchExpressions", False),
        ("key", "", False),
        ("peer", "", False),
        ("keepaliveTime", "spec", False),
    ],
)
def test_secret_names(name: str, parent: str, secret: bool) -> None:
    assert is_secret_name(name, parent) is secret


def test_nested_secret_scalars_are_remembered() -> None:
    found: set[str] = set()
    assert redact({"spec": {"password": ["a1b2c3", "d4e5f6"]}}, found) == {"spec": {"password": REDACTED}}
    assert found == {"a1b2c3", "d4e5f6"}


def test_scrub_text_keeps_short_values_and_plain_keys() -> None:
    text = "- key: kubernetes.io/hostname\nauthKey=abcdef\nx"
    assert scrub_text(text, {"x"}) == f"- key: kubernetes.io/hostname\nauthKey={REDACTED}\nx"


@pytest.mark.parametrize(
    ("address", "url"),
    [
        ("127.0.0.1:7472", "http://127.0.0.1:7472/metrics"),
        (":7472", "http://127.0.0.1:7472/metrics"),
        ("0.0.0.0:7472", "http://127.0.0.1:7472/metrics"),
        ("[::]:7472", "http://[::1]:7472/metrics"),
        ("[2001:db8::1]:9000", "http://[2001:db8::1]:9000/metrics"),
        ("http://192.0.2.1:7472/metrics", "http://192.0.2.1:7472/metrics"),
    ],
)
def test_metrics_url_from_summary(address: str, url: str) -> None:
    assert metrics_url_from({"metricsAddress": address}) == url
    assert metrics_url_from({"node": "a"}) is None


def test_metrics_address_from_the_running_nodes_config_files(tmp_path: Path) -> None:
    (tmp_path / "node.yaml").write_text(
        "apiVersion: lbd.io/v1alpha1\nkind: NodeConfig\nmetadata: {name: node-a}\n"
        "spec: {metricsAddress: '[::]:9472'}\n"
    )
    views = {"summary": {"node": "node-a"}, "config": {"paths": [str(tmp_path)]}}
    assert metrics_url(views) == ("http://[::1]:9472/metrics", "NodeConfig of node-a")
    assert metrics_url({"summary": {"node": "node-b"}, "config": {"paths": [str(tmp_path)]}}) == (
        "http://127.0.0.1:7472/metrics",
        "default address",
    )


def test_metrics_off_is_reported_not_scraped(tmp_path: Path) -> None:
    def ask(view: str, args: Mapping[str, Any] | None) -> Any:
        if view == "":
            raise ControlError("unknown view ''; known: summary")
        return {"node": "node-a", "metrics": "off"}

    bundle = collect(
        BundleOptions(socket=tmp_path / "x.sock", log_file=tmp_path / "none"), ask=ask, runner=fake_ip
    )
    assert "metrics.txt" not in bundle.members
    assert "metrics: the daemon serves none (lbd run --metrics off)" in bundle.problems
