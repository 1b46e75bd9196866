"""NodeConfig spec.bgp (lbd extensions): parsing and errors, GTSM in the peer's socket options, and the
announcer's listener and graceful-restart marker directory taken from it."""

from __future__ import annotations

import textwrap
import time
from ipaddress import ip_address
from pathlib import Path

import pytest
import yaml
from structlog.testing import capture_logs

from lbd.config import ParseResult, parse_objects
from lbd.config.model import NodeBgp
from lbd.daemon.core import DaemonCore
from lbd.metrics import Metrics
from lbd.net.bgp_announcer import BgpAnnouncer
from lbd.net.bgp_peers import PeerSettings, peer_settings
from tests.unit.net.test_bgp_announcer import DOCS


def node_doc(bgp: str) -> str:
    head = "---\napiVersion: lbd.io/v1alpha1\nkind: NodeConfig\nmetadata: {name: node-a}\n"
    return head + f"spec: {{bgp: {bgp}}}\n"


def parse(text: str) -> ParseResult:
    return parse_objects(list(yaml.safe_load_all(textwrap.dedent(DOCS) + text)), "test.yaml")


def test_defaults_and_every_field() -> None:
    result = parse(node_doc("{}"))
    assert result.config is not None
    nc = result.config.node_config("node-a")
    assert nc is not None and nc.bgp == NodeBgp()
    assert (nc.bgp.listen, nc.bgp.listen_port, nc.bgp.ttl_security) == (True, 179, False)
    text = (
        "{listen: false, listenPort: 1179, listenAddresses: [192.0.2.1, '2001:db8::1'],"
        " gracefulRestartStateDir: /var/lib/lbd/gr, ttlSecurity: true}"
    )
    result = parse(node_doc(text))
    assert result.errors == (), [str(e) for e in result.errors]
    assert result.config is not None
    nc = result.config.node_config("node-a")
    assert nc is not None
    assert nc.bgp == NodeBgp(
        False, 1179, (ip_address("192.0.2.1"), ip_address("2001:db8::1")), "/var/lib/lbd/gr", True
    )


@pytest.mark.parametrize(
    ("bad", "field", "fragment"),
    [
        ("{listenPort: 0}", "spec.bgp.listenPort", "1"),
        ("{listenPort: 70000}", "spec.bgp.listenPort", "65535"),
        ("{listenAddresses: [192.0.2.300]}", "spec.bgp.listenAddresses[0]", "192.0.2.300"),
        ("{gracefulRestartStateDir: relative/dir}", "spec.bgp.gracefulRestartStateDir", "absolute"),
        ("{ttlSecurity: 'yes'}", "spec.bgp.ttlSecurity", "true or false"),
        ("{listen: 1}", "spec.bgp.listen", "true or false"),
        ("{gtsm: true}", "spec.bgp.gtsm", "unknown field"),
    ],
)
def test_errors_name_object_and_field(bad: str, field: str, fragment: str) -> None:
    result = parse(node_doc(bad))
    assert result.config is None
    messages = [str(e) for e in result.errors]
    assert any("node-a" in m and field in m and fragment in m for m in messages), messages


def settings_with(bgp: str, **peer: object) -> PeerSettings:
    docs = textwrap.dedent(DOCS)
    for key, value in peer.items():
        docs = docs.replace(f"  {key}: true\n", f"  {key}: {value}\n")
    result = parse_objects(list(yaml.safe_load_all(docs + node_doc(bgp))), "test.yaml")
    assert result.config is not None, [str(e) for e in result.errors]
    settings, _ = peer_settings(result.config, "node-a", ["b"], source=lambda _a, _p: "192.0.2.9")
    return settings["b"]


def test_gtsm_only_towards_directly_connected_ebgp_peers() -> None:
    # RFC 5082 §3: TTL 255 out, 254 minimum in, for a peer one hop away.
    direct = settings_with("{ttlSecurity: true}", ebgpMultiHop="false")
    t = direct.transport()
    assert direct.gtsm and (t.ttl, t.min_ttl) == (255, 254)
    # Off by default: eBGP keeps TTL 1 and no minimum.
    plain = settings_with("{}", ebgpMultiHop="false").transport()
    assert (plain.ttl, plain.min_ttl) == (1, None)
    # A multihop peer is not one hop away: GTSM with 254 would refuse it.
    multihop = settings_with("{ttlSecurity: true}")
    assert not multihop.gtsm and multihop.transport().min_ttl is None


async def test_announcer_listens_and_keeps_its_marker_where_the_node_config_says(tmp_path: Path) -> None:
    state = tmp_path / "gr"
    text = f"{{listenPort: 1, listenAddresses: [127.0.0.1], gracefulRestartStateDir: {state}}}"
    core = DaemonCore("node-a", time.time)
    assert core.offer(parse(node_doc(text))) == ()
    desired = core.compute({})
    assert desired is not None and core.config is not None
    # Port 1 (privileged or not, unused on loopback) would be taken from the NodeConfig; the test
    # overrides only the port so that it can bind, and takes the address and directory from config.
    announcer = BgpAnnouncer(node="node-a", metrics=Metrics(process_metrics=False), listen_port=0)
    try:
        await announcer.apply(core.config, desired)
        listener = announcer.speaker._listener
        assert listener is not None and listener.bound == ["127.0.0.1"]
        assert announcer._marker is not None and announcer._marker.path.parent == state
        # A later change of the listener is only reported: it takes effect when lbd restarts.
        assert core.offer(parse(node_doc(text.replace("listenPort: 1", "listenPort: 2")))) == ()
        changed = core.compute({})
        assert changed is not None and core.config is not None
        with capture_logs() as logs:
            await announcer.apply(core.config, changed)
        warnings = [e for e in logs if e["event"] == "bgpNodeConfigNeedsRestart"]
        assert [e["fields"] for e in warnings] == [["listen_port"]]
        assert listener.bound == ["127.0.0.1"]
    finally:
        await announcer.close()
    # listen: false -> dial only, no listener at all.
    quiet = BgpAnnouncer(node="node-a", metrics=Metrics(process_metrics=False), state_dir=tmp_path)
    core2 = DaemonCore("node-a", time.time)
    assert core2.offer(parse(node_doc("{listen: false}"))) == ()
    desired2 = core2.compute({})
    assert desired2 is not None and core2.config is not None
    try:
        await quiet.apply(core2.config, desired2)
        assert quiet.speaker.listen_port is None
    finally:
        await quiet.close()
