"""The parsers against output captured from the real tools on this machine."""

from __future__ import annotations

import json

from tests.lab.parsers import (
    BirdProtocol,
    exabgp_rib,
    exabgp_state,
    parse_arping,
    parse_bird_protocols,
    parse_bird_routes,
    parse_exabgp_messages,
    parse_ndisc6,
    parse_neigh,
)

# BIRD pads the columns with trailing blanks; keep them.
BIRD_PROTOCOLS = "\n".join(
    [
        "BIRD 2.0.12 ready.",
        "Name       Proto      Table      State  Since         Info",
        "device1    Device     ---        up     19:02:30.285  ",
        "s4         Static     master4    up     19:02:30.285  ",
        "frr        BGP        ---        up     19:02:31.235  Established   ",
        "down1      BGP        ---        start  19:02:31.235  Active        Socket: Connection refused",
        "",
    ]
)

BIRD_ROUTES = """BIRD 2.0.12 ready.
Table master4:
198.51.100.128/25    blackhole [s4 19:02:42.520] * (200)
\tType: static univ
198.51.100.64/26     unicast [frr 19:02:47.477] * (100) [AS64512i]
\tvia 192.0.2.1 on eth0
\tType: BGP univ
\tBGP.origin: IGP
\tBGP.as_path: 64512 64600
\tBGP.next_hop: 192.0.2.1
\tBGP.med: 0
\tBGP.local_pref: 100
\tBGP.community: (64512,9) (65535,65281)
\tBGP.large_community: (64512, 1, 1) (64512, 2, 3)
                     unicast [other 19:02:48.000] (100) [AS64700i]
\tvia 192.0.2.5 on eth1
\tType: BGP univ
\tBGP.origin: IGP
\tBGP.as_path: 64700
\tBGP.next_hop: 192.0.2.5
\tBGP.local_pref: 100

Table master6:
2001:db8:ffff::/64   unicast [frr6 19:02:47.477] * (100) [AS64512i]
\tvia 2001:db8::1 on eth0
\tType: BGP univ
\tBGP.origin: Incomplete
\tBGP.as_path: 64512
\tBGP.next_hop: 2001:db8::1 fe80::1
\tBGP.local_pref: 200
\tBGP.ext_community: (rt, 64512, 7)
"""


def test_bird_protocols() -> None:
    protocols = parse_bird_protocols(BIRD_PROTOCOLS)
    assert list(protocols) == ["device1", "s4", "frr", "down1"]
    assert protocols["frr"] == BirdProtocol("frr", "BGP", "---", "up", "19:02:31.235", "Established")
    assert protocols["s4"].table == "master4"
    assert protocols["down1"].state == "start"
    assert protocols["down1"].info == "Active        Socket: Connection refused"


def test_bird_routes_with_attributes() -> None:
    routes = parse_bird_routes(BIRD_ROUTES)
    assert set(routes) == {"198.51.100.128/25", "198.51.100.64/26", "2001:db8:ffff::/64"}

    static = routes["198.51.100.128/25"][0]
    assert (static.protocol, static.primary, static.as_path, static.gateway) == ("s4", True, (), None)

    best, other = routes["198.51.100.64/26"]
    assert best.primary and not other.primary
    assert best.protocol == "frr"
    assert (best.gateway, best.interface) == ("192.0.2.1", "eth0")
    assert best.as_path == (64512, 64600)
    assert best.next_hop == ("192.0.2.1",)
    assert (best.med, best.local_pref, best.origin) == (0, 100, "IGP")
    assert best.communities == ((64512, 9), (65535, 65281))
    assert best.large_communities == ((64512, 1, 1), (64512, 2, 3))
    assert other.protocol == "other"
    assert (other.gateway, other.interface, other.as_path, other.med) == ("192.0.2.5", "eth1", (64700,), None)

    v6 = routes["2001:db8:ffff::/64"][0]
    assert v6.next_hop == ("2001:db8::1", "fe80::1")
    assert v6.local_pref == 200
    assert v6.origin == "Incomplete"
    assert v6.ext_communities == ("rt, 64512, 7",)


def test_bird_primary_route_sorts_first() -> None:
    text = """Table master4:
198.51.100.0/24      unicast [b 10:00:00] (100) [AS2i]
\tvia 192.0.2.2 on eth0
                     unicast [a 10:00:00] * (100) [AS1i]
\tvia 192.0.2.1 on eth0
"""
    assert [r.protocol for r in parse_bird_routes(text)["198.51.100.0/24"]] == ["a", "b"]


def test_empty_bird_output() -> None:
    assert parse_bird_routes("BIRD 2.0.12 ready.\n") == {}
    assert parse_bird_protocols("BIRD 2.0.12 ready.\nName Proto Table State Since Info\n") == {}


def test_arping_habets_output() -> None:
    text = """ARPING 192.0.2.2
42 bytes from f2:bd:ec:8c:90:ea (192.0.2.2): index=0 time=8.095 usec

--- 192.0.2.2 statistics ---
1 packets transmitted, 1 packets received,   0% unanswered (0 extra)
"""
    assert parse_arping(text) == "f2:bd:ec:8c:90:ea"


def test_arping_iputils_output() -> None:
    text = "ARPING 192.0.2.2 from 192.0.2.1 eth0\nUnicast reply from 192.0.2.2 [F2:BD:EC:8C:90:EA]  0.620ms\n"
    assert parse_arping(text) == "f2:bd:ec:8c:90:ea"


def test_arping_without_reply() -> None:
    text = """ARPING 192.0.2.2

--- 192.0.2.2 statistics ---
1 packets transmitted, 0 packets received, 100% unanswered (0 extra)
"""
    assert parse_arping(text) is None


def test_ndisc6() -> None:
    text = "Soliciting fd00::1 (fd00::1) on eth0...\nTarget link-layer address: 0A:FE:BD:9F:0F:32\n"
    assert parse_ndisc6(text) == "0a:fe:bd:9f:0f:32"
    assert parse_ndisc6("Soliciting fd00::1 (fd00::1) on eth0...\nTimed out.\nNo response.\n") is None


def test_neigh() -> None:
    text = '[{"dst":"192.0.2.2","dev":"eth0","lladdr":"f2:bd:ec:8c:90:ea","state":["REACHABLE"]}]\n'
    assert parse_neigh(text) == [
        {"dst": "192.0.2.2", "dev": "eth0", "lladdr": "f2:bd:ec:8c:90:ea", "state": ["REACHABLE"]}
    ]
    assert parse_neigh("") == []


def _update(counter: int, update: dict[str, object]) -> str:
    return json.dumps(
        {
            "exabgp": "4.0.1",
            "counter": counter,
            "type": "update",
            "neighbor": {
                "address": {"local": "192.0.2.2", "peer": "192.0.2.1"},
                "direction": "receive",
                "message": {"update": update},
            },
        }
    )


def _state(state: str) -> str:
    return json.dumps(
        {
            "type": "state",
            "neighbor": {"address": {"local": "192.0.2.2", "peer": "192.0.2.1"}, "state": state},
        }
    )


EXABGP_LOG = "\n".join(
    [
        _state("connected"),
        _state("up"),
        _update(
            3,
            {
                "attribute": {"origin": "igp", "as-path": [64512], "community": [[64512, 9]]},
                "announce": {
                    "ipv4 unicast": {"192.0.2.1": [{"nlri": "198.51.100.64/26"}, {"nlri": "198.51.100.1/32"}]}
                },
            },
        ),
        _update(
            4,
            {
                "attribute": {"origin": "igp", "as-path": [64512], "large-community": [[64512, 1, 2]]},
                "announce": {"ipv6 unicast": {"2001:db8::1": [{"nlri": "2001:db8:ffff::/64"}]}},
            },
        ),
        _update(5, {"withdraw": {"ipv4 unicast": [{"nlri": "198.51.100.64/26"}]}}),
        _update(
            6,
            {
                "attribute": {"origin": "igp", "as-path": [64512, 64512], "local-preference": 50},
                "announce": {"ipv4 unicast": {"192.0.2.1": [{"nlri": "198.51.100.1/32"}]}},
            },
        ),
        _state("down"),
    ]
)


def test_exabgp_rib_replays_announces_and_withdraws() -> None:
    rib = exabgp_rib(parse_exabgp_messages(EXABGP_LOG + "\n"))
    assert set(rib) == {"198.51.100.1/32", "2001:db8:ffff::/64"}
    assert rib["198.51.100.1/32"]["as-path"] == [64512, 64512]
    assert rib["198.51.100.1/32"]["local-preference"] == 50
    assert "community" not in rib["198.51.100.1/32"]
    assert rib["198.51.100.1/32"]["next-hop"] == "192.0.2.1"
    assert rib["2001:db8:ffff::/64"]["large-community"] == [[64512, 1, 2]]
    assert rib["2001:db8:ffff::/64"]["family"] == "ipv6 unicast"
    assert rib["2001:db8:ffff::/64"]["peer"] == "192.0.2.1"


def test_exabgp_state_is_the_last_one() -> None:
    messages = parse_exabgp_messages(EXABGP_LOG)
    assert exabgp_state(messages, "192.0.2.1") == "down"
    assert exabgp_state(messages[:2], "192.0.2.1") == "up"
    assert exabgp_state(messages, "192.0.2.9") is None


def test_exabgp_torn_last_line_is_ignored() -> None:
    assert len(parse_exabgp_messages(_state("up") + "\n" + '{"type": "upd')) == 1
