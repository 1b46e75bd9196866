"""lbd's BGP speaker with BIRD 2 as the receiving peer: iBGP/eBGP, IPv4/IPv6/dual stack, attributes."""

from __future__ import annotations

import pytest

from tests.interop.test_bgp_harness import CASES, Case, Seen, Wiring, bird_conf, check_receiver
from tests.lab import Lab
from tests.lab.bird import Bird
from tests.lab.fixtures import BirdFactory

pytestmark = pytest.mark.lab


class BirdReceiver:
    def __init__(self, bird: Bird) -> None:
        self.bird = bird

    def wait_up(self) -> None:
        self.bird.wait_established("lbd")

    def route(self, prefix: str) -> Seen | None:
        routes = self.bird.routes().get(prefix)
        if not routes:
            return None
        r = routes[0]
        return Seen(
            as_path=r.as_path,
            next_hops=frozenset(r.next_hop),
            communities=frozenset(r.communities),
            large_communities=frozenset(r.large_communities),
            local_pref=r.local_pref,
        )


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bird_receives(lab: Lab, bird: BirdFactory, case: Case) -> None:
    def start(w: Wiring) -> BirdReceiver:
        # `protocol direct` gives iBGP's recursive next-hop resolution the link's subnets.
        extra = "protocol direct { ipv4; ipv6; }"
        conf = bird_conf(w.v4.ip(1), w.peer_address, w.lbd_address, w.peer_asn, w.lbd_asn) + extra
        return BirdReceiver(bird(w.peer_ns, conf))

    check_receiver(lab, case, start)
