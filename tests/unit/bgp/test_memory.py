"""Memory per route of the engine's Adj-RIB-Out: one dictionary entry per prefix, nothing else.

The table is the engine's largest structure (100,000 routes at scale). Routes are the caller's objects;
what the session keeps on top of them, before and after the whole table went out, is measured with
tracemalloc. The bound has about 30% headroom over the ~30 bytes per route measured; the previous
layout (desired and sent dictionaries plus a list of the last table) took about 66.
"""

from __future__ import annotations

import gc
import tracemalloc
from ipaddress import IPv4Address, IPv4Network

from bgp import Keepalive, Open, Route, Session, SessionConfig, encode
from bgp.capabilities import FourOctetAs, Multiprotocol

COUNT = 5_000
BOUND_PER_ROUTE = 40


def retained(action: object) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        assert callable(action)
        keep = action()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del keep
    return after - before


def test_adj_rib_out_retains_one_small_entry_per_route() -> None:
    base = int(IPv4Address("198.18.0.0"))
    routes = [Route(IPv4Network((base + i, 32)), communities=(0xFDE80064,)) for i in range(COUNT)]

    def announce() -> Session:
        s = Session(SessionConfig(local_as=64512, peer_as=64513, router_id=IPv4Address("192.0.2.1")))
        s.set_routes(0.0, routes)
        s.start(0.0)
        s.connection_made(0.0, 1, IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2"), outbound=True)
        caps = (Multiprotocol(1, 1), FourOctetAs(64513))
        s.data_received(0.0, 1, encode(Open(64513, 90, IPv4Address("192.0.2.2"), caps)))
        s.data_received(0.0, 1, encode(Keepalive()))
        sent = 0
        while True:
            sent += sum(len(data) for _, data in s.data_to_send())
            if not s.more_to_send:
                break
        assert sent > 5 * COUNT  # the whole table went out (5 octets per /32 NLRI)
        assert s.counters.prefixes_announced == COUNT
        while s.next_event() is not None:
            pass
        return s

    per_route = retained(announce) / COUNT
    assert per_route < BOUND_PER_ROUTE, f"{per_route:.1f} bytes per route"
