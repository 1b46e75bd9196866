"""BGP engine throughput: packing 100,000 /32 prefixes, decoding them, and Adj-RIB-Out diffing.

Run: .venv/bin/python bench/bench_bgp_codec.py
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network

from bgp import CodecContext, Keepalive, MessageReader, Open, Route, Session, SessionConfig, encode
from bgp.capabilities import FourOctetAs, Multiprotocol, RouteRefreshCap
from bgp.packing import PathPolicy, pack_updates

BASE = int(IPv4Address("198.18.0.0"))


def prefixes(n: int) -> list[IPv4Network]:
    return [IPv4Network((BASE + i, 32)) for i in range(n)]


def best_of(runs: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def median_of(runs: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def established_session(routes: list[Route]) -> Session:
    s = Session(SessionConfig(local_as=64512, peer_as=64513, router_id=IPv4Address("192.0.2.1")))
    s.set_routes(0.0, routes)
    s.start(0.0)
    s.connection_made(0.0, 1, IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2"), outbound=True)
    caps = (Multiprotocol(1, 1), RouteRefreshCap(), FourOctetAs(64513))
    s.data_received(0.0, 1, encode(Open(64513, 90, IPv4Address("192.0.2.2"), caps)))
    s.data_received(0.0, 1, encode(Keepalive()))
    return s


def drain(s: Session) -> list[tuple[int, bytes]]:
    """Everything the session has to send (a large burst comes in several calls)."""
    out = s.data_to_send()
    while s.more_to_send:
        out += s.data_to_send()
    return out


def main() -> None:
    n = 100_000
    nets = prefixes(n)
    routes = [Route(p, communities=(0xFDE80064,)) for p in nets]
    ctx = CodecContext()
    policy = PathPolicy(64512, True, IPv4Address("192.0.2.1"), ())

    msgs = pack_updates(routes, ctx, policy)
    t_pack = best_of(5, lambda: pack_updates(routes, ctx, policy))
    wire = b"".join(msgs)
    print(f"pack_updates: {n} /32 prefixes, shared attributes -> {len(msgs)} UPDATEs, {len(wire)} octets")
    print(f"  best of 5: {t_pack * 1000:.1f} ms ({n / t_pack:,.0f} prefixes/s)")

    def decode_all() -> int:
        return len(MessageReader(ctx).feed(wire))

    t_decode = best_of(3, decode_all)
    print(f"decode of those UPDATEs: best of 3: {t_decode * 1000:.1f} ms")

    t_full = best_of(3, lambda: drain(established_session(routes)))
    print(
        f"session: Established with {n} routes queued -> all UPDATEs ready: best of 3 {t_full * 1000:.1f} ms"
    )

    def longest_call() -> float:
        """The longest single engine call of that burst: what another session's event waits for."""
        s = Session(SessionConfig(local_as=64512, peer_as=64513, router_id=IPv4Address("192.0.2.1")))
        s.set_routes(0.0, routes)
        s.start(0.0)
        s.connection_made(0.0, 1, IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2"), outbound=True)
        caps = (Multiprotocol(1, 1), RouteRefreshCap(), FourOctetAs(64513))
        s.data_received(0.0, 1, encode(Open(64513, 90, IPv4Address("192.0.2.2"), caps)))
        t0 = time.perf_counter()
        s.data_received(0.0, 1, encode(Keepalive()))  # Established: the whole table is due
        longest = time.perf_counter() - t0
        while True:
            t0 = time.perf_counter()
            s.data_to_send()
            longest = max(longest, time.perf_counter() - t0)
            if not s.more_to_send:
                return longest

    t_longest = min(longest_call() for _ in range(5))
    print(f"  longest single call of that burst: best of 5 {t_longest * 1000:.1f} ms")

    # Incremental change with 10,000 routes installed.
    base = routes[:10_000]
    s = established_session(base)
    drain(s)
    toggle = [Route(nets[5], communities=(1,)), Route(nets[5], communities=(0xFDE80064,))]
    state = {"i": 0}

    def change_one() -> None:
        state["i"] += 1
        s.change_routes(0.0, announce=[toggle[state["i"] % 2]])
        drain(s)

    t_change = median_of(200, change_one)
    print(f"change_routes: one route changed among 10,000: median {t_change * 1e6:.1f} us")

    tables = [list(base), list(base)]
    tables[0][5] = toggle[0]
    tables[1][5] = toggle[1]

    def replace_one() -> None:
        state["i"] += 1
        s.set_routes(0.0, tables[state["i"] % 2])
        drain(s)

    t_replace = median_of(50, replace_one)
    print(f"set_routes: same 10,000 Route objects with one replaced: median {t_replace * 1000:.2f} ms")

    def rebuild_one() -> None:
        state["i"] += 1
        fresh = [Route(r.prefix, r.communities) for r in tables[state["i"] % 2]]
        t0 = time.perf_counter()
        s.set_routes(0.0, fresh)
        drain(s)
        rebuilt.append(time.perf_counter() - t0)

    rebuilt: list[float] = []
    for _ in range(20):
        rebuild_one()
    t_rebuilt = statistics.median(rebuilt)
    print(f"set_routes: 10,000 freshly built Route objects, one changed: median {t_rebuilt * 1000:.2f} ms")
    print(f"python {sys.version.split()[0]}; command: .venv/bin/python bench/bench_bgp_codec.py")


if __name__ == "__main__":
    main()
