"""What the demo expects (from `lbd plan` on its own configuration) and how it judges what the other side
reports: FRR's BGP and BFD JSON, arping's output and the client's neighbour cache. Pure functions, no
I/O: the demo feeds them the tools' output.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lbd.config.communities import WELL_KNOWN
from lbd.reconcile.plan import Plan

_MAC = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}")


@dataclass(frozen=True, slots=True)
class Check:
    ok: bool
    what: str

    def line(self) -> str:
        return f"[{'ok' if self.ok else 'FAIL'}] {self.what}"


@dataclass(frozen=True, slots=True)
class ExpectedRoute:
    prefix: str
    # Numeric `A:B` (well-known names resolved) and `A:B:C`, as compared with FRR's strings.
    communities: frozenset[str]
    large_communities: frozenset[str]


@dataclass(frozen=True, slots=True)
class Expected:
    peer: str
    routes: tuple[ExpectedRoute, ...]
    l2_addresses: tuple[str, ...]


def expected(result: Plan, node: str, peer: str) -> Expected:
    """The routes `node` sends to `peer` and the addresses it answers for on L2, per the reconcile core."""
    routes = tuple(
        ExpectedRoute(
            str(r.prefix),
            frozenset(str(c) for c in r.communities),
            frozenset(str(c).removeprefix("large:") for c in r.large_communities),
        )
        for r in result.bgp
        if r.peer == peer and node in r.nodes
    )
    l2 = tuple(str(p.announcement.address) for p in result.l2 if p.node == node)
    return Expected(peer, routes, l2)


def numeric_communities(text: str) -> frozenset[str]:
    """FRR prints well-known communities by name (`no-export`, `local-AS`): back to `A:B`."""
    out = set()
    for word in text.split():
        known = WELL_KNOWN.get(word.lower())
        out.add(str(known) if known is not None else word)
    return frozenset(out)


def session(neighbors: Mapping[str, Any], address: str) -> Check:
    """From `show bgp neighbors ADDR json`."""
    state = (neighbors.get(address) or {}).get("bgpState", "unknown")
    return Check(state == "Established", f"FRR: BGP session with lbd ({address}) {state}")


def route(detail: Mapping[str, Any], want: ExpectedRoute, source: str) -> Check:
    """From `show bgp ipv4 unicast PREFIX json`: a path from `source` with the expected communities."""
    for path in detail.get("paths") or []:
        if (path.get("peer") or {}).get("peerId") != source:
            continue
        communities = numeric_communities((path.get("community") or {}).get("string", ""))
        large = frozenset((path.get("largeCommunity") or {}).get("string", "").split())
        shown = (path.get("community") or {}).get("string", "none")
        shown_large = (path.get("largeCommunity") or {}).get("string", "none")
        as_path = (path.get("aspath") or {}).get("string", "")
        ok = communities == want.communities and large == want.large_communities
        text = (
            f"FRR received {want.prefix} from {source} (AS path {as_path or '-'}): "
            f"communities {shown}, large communities {shown_large}"
        )
        if not ok:
            wanted = " ".join(sorted(want.communities)) or "none"
            text += f" (expected {wanted}; large {' '.join(sorted(want.large_communities)) or 'none'})"
        return Check(ok, text)
    return Check(False, f"FRR has no path for {want.prefix} from {source}")


def unexpected_routes(table: Mapping[str, Any], wanted: Iterable[ExpectedRoute], source: str) -> Check:
    """From `show bgp ipv4 unicast json`: nothing from lbd beyond what the plan says."""
    want = {r.prefix for r in wanted}
    extra = sorted(
        prefix
        for prefix, paths in (table.get("routes") or {}).items()
        if prefix not in want and any(_from(path, source) for path in paths)
    )
    if extra:
        return Check(False, f"FRR received prefixes lbd should not send: {', '.join(extra)}")
    return Check(True, f"FRR has no prefix from {source} beyond the {len(want)} of the plan")


def _from(path: Mapping[str, Any], source: str) -> bool:
    return bool(
        path.get("peerId") == source or any(h.get("ip") == source for h in path.get("nexthops") or [])
    )


def bfd(peers: Iterable[Mapping[str, Any]], address: str) -> Check:
    """From `show bfd peers json`."""
    for peer in peers:
        if peer.get("peer") == address:
            status = peer.get("status", "unknown")
            rx, tx = peer.get("receive-interval", "?"), peer.get("transmit-interval", "?")
            timers = f"receive {rx} ms, transmit {tx} ms, multiplier {peer.get('detect-multiplier', '?')}"
            return Check(status == "up", f"FRR: BFD peer {address} {status} ({timers})")
    return Check(False, f"FRR: no BFD peer {address}")


def arping_mac(output: str) -> str | None:
    """The replying MAC from arping's output (iputils' or Habets'), lower case."""
    for line in output.splitlines():
        if "from" in line.lower():
            match = _MAC.search(line)
            if match:
                return match.group(0).lower()
    return None


def arp_reply(vip: str, mac: str | None, lbd_mac: str) -> Check:
    if mac is None:
        return Check(False, f"client: no ARP reply for {vip}")
    owner = "lbd's eth0" if mac == lbd_mac else f"not lbd's {lbd_mac}"
    return Check(mac == lbd_mac, f"client: arping {vip} answered by {mac} ({owner})")


def neighbour(entries: Iterable[Mapping[str, Any]], vip: str, lbd_mac: str) -> Check:
    """From the client's `ip -j neigh show VIP`."""
    for entry in entries:
        if entry.get("dst") == vip and entry.get("lladdr"):
            mac = str(entry["lladdr"]).lower()
            state = ",".join(entry.get("state") or []) or "?"
            return Check(mac == lbd_mac, f"client: ip neigh {vip} lladdr {mac} {state} (lbd's MAC {lbd_mac})")
    return Check(False, f"client: no neighbour entry for {vip}")
