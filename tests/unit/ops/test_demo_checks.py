"""The demo's expectations come from the reconcile core on examples/demo/, and its checks judge FRR's and
the client's output strictly (wrong communities, a foreign MAC or a missing path fail)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lbd.demo import checks
from lbd.demo.checks import ExpectedRoute
from lbd.demo.frr import router_config
from lbd.demo.scenario import ROUTER_ADDRESS, DemoError, setting

DEMO = Path(__file__).resolve().parents[3] / "examples" / "demo"
LBD = "192.0.2.2"
LBD_MAC = "02:00:00:00:00:02"
ROUTE = ExpectedRoute("198.51.100.10/32", frozenset({"64500:100", "65535:65281"}), frozenset({"64500:1:2"}))


def test_the_demo_config_fits_the_lab() -> None:
    wanted = setting(DEMO, "demo-node")
    assert str(wanted.peer.peer_address) == ROUTER_ADDRESS
    assert (wanted.peer.my_asn, wanted.peer.peer_asn, wanted.bfd_ms) == (64500, 64501, 100)
    assert wanted.expected.routes == (ROUTE,)
    assert wanted.expected.l2_addresses == ("192.0.2.200",)


def test_a_config_without_the_router_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pools.yaml").write_text((DEMO / "pools.yaml").read_text())
    with pytest.raises(DemoError, match=r"exactly one BGPPeer with peerAddress 192\.0\.2\.1"):
        setting(tmp_path, "demo-node")


def test_router_config_peers_with_lbd_using_bfd() -> None:
    text = router_config(asn=64501, router_id="192.0.2.1", neighbor=LBD, neighbor_asn=64500, bfd_ms=100)
    assert " neighbor 192.0.2.2 remote-as 64500\n" in text
    assert " neighbor 192.0.2.2 bfd profile fast\n" in text
    assert "  receive-interval 100\n  transmit-interval 100\n" in text
    assert " no bgp ebgp-requires-policy\n" in text


def frr_path(community: str, large: str, peer: str = LBD) -> dict[str, object]:
    """A path as FRR 8.4 prints it in `show bgp ipv4 unicast PREFIX json`."""
    return {
        "aspath": {"string": "64500", "segments": [{"type": "as-sequence", "list": [64500]}]},
        "community": {"string": community},
        "largeCommunity": {"string": large},
        "peer": {"peerId": peer, "routerId": "192.0.2.2"},
        "nexthops": [{"ip": peer, "afi": "ipv4"}],
    }


def test_route_with_the_planned_communities_passes() -> None:
    detail = {"prefix": "198.51.100.10/32", "paths": [frr_path("64500:100 no-export", "64500:1:2")]}
    check = checks.route(detail, ROUTE, LBD)
    assert check.ok
    assert check.line() == (
        "[ok] FRR received 198.51.100.10/32 from 192.0.2.2 (AS path 64500): "
        "communities 64500:100 no-export, large communities 64500:1:2"
    )


@pytest.mark.parametrize(
    ("community", "large", "peer"),
    [
        ("64500:100", "64500:1:2", LBD),  # no-export lost
        ("64500:100 no-export no-advertise", "64500:1:2", LBD),  # one too many
        ("64500:100 no-export", "", LBD),  # large community lost
        ("64500:100 no-export", "64500:1:2", "192.0.2.9"),  # from somebody else
    ],
)
def test_route_differing_from_the_plan_fails(community: str, large: str, peer: str) -> None:
    detail = {"paths": [frr_path(community, large, peer)]}
    assert not checks.route(detail, ROUTE, LBD).ok


def test_unexpected_routes() -> None:
    table = {"routes": {"198.51.100.10/32": [{"peerId": LBD}], "198.51.100.11/32": [{"peerId": LBD}]}}
    extra = checks.unexpected_routes(table, [ROUTE], LBD)
    assert not extra.ok
    assert "198.51.100.11/32" in extra.what
    assert checks.unexpected_routes({"routes": {"198.51.100.10/32": [{"peerId": LBD}]}}, [ROUTE], LBD).ok


def test_session_and_bfd() -> None:
    assert checks.session({LBD: {"bgpState": "Established"}}, LBD).ok
    assert not checks.session({LBD: {"bgpState": "Active"}}, LBD).ok
    assert not checks.session({}, LBD).ok
    peer = {
        "peer": LBD,
        "status": "up",
        "receive-interval": 100,
        "transmit-interval": 100,
        "detect-multiplier": 3,
    }
    up = checks.bfd([peer], LBD)
    assert up.ok
    assert up.what == "FRR: BFD peer 192.0.2.2 up (receive 100 ms, transmit 100 ms, multiplier 3)"
    assert not checks.bfd([{**peer, "status": "down"}], LBD).ok
    assert not checks.bfd([], LBD).ok


def test_numeric_communities_resolve_frr_names() -> None:
    assert checks.numeric_communities("64500:100 no-export local-AS no-peer") == {
        "64500:100",
        "65535:65281",
        "65535:65283",
        "65535:65284",
    }


def test_client_side() -> None:
    iputils = (
        "ARPING 192.0.2.200 from 192.0.2.3 eth0\n"
        "Unicast reply from 192.0.2.200 [02:00:00:00:00:02]  0.640ms\n"
        "Sent 1 probes (1 broadcast(s))\nReceived 1 response(s)\n"
    )
    mac = checks.arping_mac(iputils)
    assert mac == LBD_MAC
    assert checks.arp_reply("192.0.2.200", mac, LBD_MAC).ok
    assert not checks.arp_reply("192.0.2.200", "02:00:00:00:00:09", LBD_MAC).ok
    assert not checks.arp_reply("192.0.2.200", checks.arping_mac("Received 0 response(s)\n"), LBD_MAC).ok
    entry = {"dst": "192.0.2.200", "dev": "eth0", "lladdr": "02:00:00:00:00:02", "state": ["REACHABLE"]}
    assert checks.neighbour([entry], "192.0.2.200", LBD_MAC).ok
    assert not checks.neighbour([{**entry, "lladdr": "02:00:00:00:00:09"}], "192.0.2.200", LBD_MAC).ok
    assert not checks.neighbour([{"dst": "192.0.2.200", "state": ["FAILED"]}], "192.0.2.200", LBD_MAC).ok


def test_demo_without_its_tools_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from lbd.demo import DemoOptions, run_demo, scenario

    monkeypatch.setattr(scenario.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(scenario.shutil, "which", lambda tool: None)
    said: list[str] = []
    assert run_demo(DemoOptions(config=DEMO), said.append) == 2
    assert said[0].startswith(
        "lbd demo needs: root (namespaces, veths and FRR need it), ip (package iproute2)"
    )
    assert "arping (package arping)" in said[0]
    assert said[1] == "run `bash scripts/bootstrap.sh demo` as root to install everything"


def test_demo_with_a_config_that_does_not_fit_builds_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lbd.demo import DemoOptions, run_demo, scenario

    monkeypatch.setattr(scenario, "missing_requirements", list)
    said: list[str] = []
    assert run_demo(DemoOptions(config=tmp_path), said.append) == 2
    (line,) = said
    assert line.startswith("lbd demo: ")
    assert "has no .yaml, .yml or .json files" in line
