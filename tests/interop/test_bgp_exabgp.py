"""lbd's BGP speaker with ExaBGP 4 as the receiving peer: iBGP/eBGP, IPv4/IPv6/dual stack, attributes."""

from __future__ import annotations

import pytest

from tests.interop.test_bgp_harness import CASES, Case, Seen, Wiring, check_receiver, exabgp_conf
from tests.lab import ExaBgp, Lab
from tests.lab.fixtures import ExaBgpFactory

pytestmark = pytest.mark.lab


class ExaReceiver:
    def __init__(self, exabgp: ExaBgp, lbd: str) -> None:
        self.exabgp = exabgp
        self.lbd = lbd

    def wait_up(self) -> None:
        self.exabgp.wait_up(self.lbd)

    def route(self, prefix: str) -> Seen | None:
        attrs = self.exabgp.routes().get(prefix)
        if attrs is None:
            return None
        return Seen(
            as_path=tuple(attrs.get("as-path", [])),
            next_hops=self.next_hops(prefix),
            communities=frozenset(tuple(c) for c in attrs.get("community", [])),
            large_communities=frozenset(tuple(c) for c in attrs.get("large-community", [])),
            local_pref=attrs.get("local-preference"),
        )

    def next_hops(self, prefix: str) -> frozenset[str]:
        """Every next hop of the last UPDATE announcing `prefix`: ExaBGP lists an IPv6 global and
        link-local pair (RFC 2545 §3) as two next-hop keys of one announcement."""
        hops: frozenset[str] = frozenset()
        for message in self.exabgp.received():
            update = message.get("neighbor", {}).get("message", {}).get("update", {})
            found = {
                hop
                for by_hop in update.get("announce", {}).values()
                for hop, nlris in by_hop.items()
                if any(n.get("nlri") == prefix for n in nlris)
            }
            if found:
                hops = frozenset(found)
        return hops


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_exabgp_receives(lab: Lab, exabgp: ExaBgpFactory, case: Case) -> None:
    def start(w: Wiring) -> ExaReceiver:
        conf = exabgp_conf(w.v4.ip(1), w.peer_address, w.lbd_address, w.peer_asn, w.lbd_asn, api=ExaBgp.API)
        return ExaReceiver(exabgp(w.peer_ns, conf), w.lbd_address)

    check_receiver(lab, case, start)
