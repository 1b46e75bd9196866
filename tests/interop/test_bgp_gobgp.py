"""lbd's BGP speaker with GoBGP 3 as the receiving peer: iBGP/eBGP, IPv4/IPv6/dual stack, attributes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.interop.test_bgp_harness import CASES, Case, Seen, Wiring, check_receiver, gobgp_toml
from tests.lab import Lab
from tests.lab.fixtures import GoBgpFactory
from tests.lab.gobgp import GoBgp

pytestmark = pytest.mark.lab

# BGP path attribute type codes (RFC 4271 §5, RFC 1997, RFC 4760, RFC 8092) in GoBGP's JSON.
AS_PATH, NEXT_HOP, LOCAL_PREF, COMMUNITIES, MP_REACH, LARGE = 2, 3, 5, 8, 14, 32


class GoBgpReceiver:
    def __init__(self, gobgp: GoBgp, lbd: str) -> None:
        self.gobgp = gobgp
        self.lbd = lbd

    def wait_up(self) -> None:
        self.gobgp.wait_established(self.lbd)

    def route(self, prefix: str) -> Seen | None:
        family = "ipv6" if ":" in prefix else "ipv4"
        paths = self.gobgp.adj_in(self.lbd, family).get(prefix)
        if not paths:
            return None
        attrs: dict[int, dict[str, Any]] = {a["type"]: a for a in paths[0]["attrs"]}
        as_path = tuple(asn for seg in attrs.get(AS_PATH, {}).get("as_paths", []) for asn in seg["asns"])
        hops = set()
        if NEXT_HOP in attrs:
            hops.add(attrs[NEXT_HOP]["nexthop"])
        if MP_REACH in attrs:
            hops.add(attrs[MP_REACH]["nexthop"])
        communities = {(c >> 16, c & 0xFFFF) for c in attrs.get(COMMUNITIES, {}).get("communities", [])}
        large = {(c["ASN"], c["LocalData1"], c["LocalData2"]) for c in attrs.get(LARGE, {}).get("value", [])}
        pref = attrs.get(LOCAL_PREF, {}).get("value")
        return Seen(as_path, frozenset(hops), frozenset(communities), frozenset(large), pref)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_gobgp_receives(lab: Lab, gobgp: GoBgpFactory, case: Case) -> None:
    def start(w: Wiring) -> GoBgpReceiver:
        conf = gobgp_toml(w.v4.ip(1), w.peer_asn, w.lbd_address, w.lbd_asn)
        return GoBgpReceiver(gobgp(w.peer_ns, conf), w.lbd_address)

    check_receiver(lab, case, start)
