"""Pure parsers of the text the lab's tools print (no I/O; unit-tested in tests/unit/lab/)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

_MAC = r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}"

# -- BIRD -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BirdProtocol:
    """One line of ``birdc show protocols``; ``info`` holds e.g. ``Established`` or ``Active``."""

    name: str
    proto: str
    table: str
    state: str
    since: str
    info: str


def parse_bird_protocols(text: str) -> dict[str, BirdProtocol]:
    """``birdc show protocols`` -> name -> protocol."""
    result: dict[str, BirdProtocol] = {}
    for line in text.splitlines():
        fields = line.split(None, 5)
        if len(fields) < 5 or fields[0] in {"BIRD", "Name"} or line[:1].isspace():
            continue
        # "Since" is a time (and maybe a date before it when older than a day): keep it as one token.
        name, proto, table, state, rest = fields[0], fields[1], fields[2], fields[3], line.split(None, 4)[4]
        since, _, info = rest.partition("  ")
        result[name] = BirdProtocol(name, proto, table, state, since.strip(), info.strip())
    return result


@dataclass(frozen=True, slots=True)
class BirdRoute:
    """One route of ``birdc show route all``; the BGP attributes are parsed, all others kept raw."""

    prefix: str
    protocol: str
    primary: bool
    gateway: str | None = None
    interface: str | None = None
    as_path: tuple[int, ...] = ()
    next_hop: tuple[str, ...] = ()
    local_pref: int | None = None
    med: int | None = None
    origin: str | None = None
    communities: tuple[tuple[int, int], ...] = ()
    large_communities: tuple[tuple[int, int, int], ...] = ()
    ext_communities: tuple[str, ...] = ()
    attributes: dict[str, str] = field(default_factory=dict)


# "198.51.100.0/24      unicast [peer1 18:59:03.456] * (100) [AS65001i]"; continuation routes for the
# same prefix start with blanks instead of the prefix.
_ROUTE_HEAD = re.compile(
    r"^(?P<prefix>\S+)?\s+(?P<kind>unicast|blackhole|unreachable|prohibited|multipath)\s+"
    r"\[(?P<proto>\S+)[^\]]*\]\s*(?P<primary>\*)?"
)
_VIA = re.compile(r"^\s+via\s+(?P<gw>\S+)\s+on\s+(?P<dev>\S+)")
_DEV = re.compile(r"^\s+dev\s+(?P<dev>\S+)")
_ATTR = re.compile(r"^\s+(?P<key>[A-Za-z][\w.]*):\s*(?P<value>.*)$")


def parse_bird_routes(text: str) -> dict[str, list[BirdRoute]]:
    """``birdc show route all`` -> prefix -> routes (the primary one first)."""
    raw: list[dict[str, Any]] = []
    prefix: str | None = None
    for line in text.splitlines():
        if not line.strip() or line.startswith(("BIRD ", "Table ")):
            continue
        head = _ROUTE_HEAD.match(line)
        if head:
            prefix = head["prefix"] or prefix
            if prefix is None:
                continue
            raw.append(
                {"prefix": prefix, "proto": head["proto"], "primary": bool(head["primary"]), "attrs": {}}
            )
            continue
        if not raw:
            continue
        current = raw[-1]
        if via := _VIA.match(line):
            current.setdefault("gw", via["gw"])
            current.setdefault("dev", via["dev"])
        elif dev := _DEV.match(line):
            current.setdefault("dev", dev["dev"])
        elif attr := _ATTR.match(line):
            current["attrs"][attr["key"]] = attr["value"].strip()
    routes: dict[str, list[BirdRoute]] = {}
    for item in raw:
        route = _bird_route(item)
        routes.setdefault(route.prefix, []).append(route)
    for prefix_routes in routes.values():
        prefix_routes.sort(key=lambda r: not r.primary)
    return routes


def _bird_route(item: dict[str, Any]) -> BirdRoute:
    attrs: dict[str, str] = item["attrs"]
    pref = attrs.get("BGP.local_pref")
    med = attrs.get("BGP.med")
    return BirdRoute(
        prefix=item["prefix"],
        protocol=item["proto"],
        primary=item["primary"],
        gateway=item.get("gw"),
        interface=item.get("dev"),
        as_path=tuple(int(a) for a in re.findall(r"\d+", attrs.get("BGP.as_path", ""))),
        next_hop=tuple(attrs.get("BGP.next_hop", "").split()),
        local_pref=int(pref) if pref else None,
        med=int(med) if med else None,
        origin=attrs.get("BGP.origin"),
        communities=tuple(
            (int(a), int(b)) for a, b in re.findall(r"\((\d+),\s*(\d+)\)", attrs.get("BGP.community", ""))
        ),
        large_communities=tuple(
            (int(a), int(b), int(c))
            for a, b, c in re.findall(r"\((\d+),\s*(\d+),\s*(\d+)\)", attrs.get("BGP.large_community", ""))
        ),
        ext_communities=tuple(re.findall(r"\(([^)]*)\)", attrs.get("BGP.ext_community", ""))),
        attributes=attrs,
    )


# -- Linux client tools -----------------------------------------------------------------------------


def parse_arping(text: str) -> str | None:
    """The replying MAC (lower case) from ``arping`` output (Habets' or iputils'), or None."""
    for line in text.splitlines():
        if "from" in line.lower():
            match = re.search(_MAC, line)
            if match:
                return match.group(0).lower()
    return None


def parse_ndisc6(text: str) -> str | None:
    """The MAC from ``ndisc6`` output (``Target link-layer address: ...``), or None."""
    match = re.search(rf"Target link-layer address:\s*({_MAC})", text)
    return match.group(1).lower() if match else None


def parse_neigh(text: str) -> list[dict[str, Any]]:
    """``ip -j neigh show`` -> entries (``dst``, ``dev``, ``lladdr``, ``state`` list, ...)."""
    if not text.strip():
        return []
    entries = json.loads(text)
    if not isinstance(entries, list):
        raise ValueError(f"ip -j neigh printed {type(entries).__name__}, not a list")
    return entries


# -- ExaBGP -----------------------------------------------------------------------------------------


def parse_exabgp_messages(text: str) -> list[dict[str, Any]]:
    """The JSON lines ExaBGP's ``json`` encoder wrote; a torn last line (still being written) is ignored."""
    messages = []
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            messages.append(json.loads(line))
        except json.JSONDecodeError:
            if index == len(lines) - 1:
                break
            raise
    return messages


def exabgp_rib(messages: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Replay received updates into the current Adj-RIB-In: prefix -> attributes (plus ``next-hop``,
    ``family`` and ``peer``). A withdraw removes the prefix; a later announce replaces it."""
    rib: dict[str, dict[str, Any]] = {}
    for message in messages:
        if message.get("type") != "update":
            continue
        neighbor = message.get("neighbor", {})
        peer = neighbor.get("address", {}).get("peer")
        update = neighbor.get("message", {}).get("update", {})
        for prefixes in update.get("withdraw", {}).values():
            for nlri in prefixes:
                rib.pop(_nlri_prefix(nlri), None)
        attributes = update.get("attribute", {})
        for family, by_next_hop in update.get("announce", {}).items():
            for next_hop, nlris in by_next_hop.items():
                for nlri in nlris:
                    rib[_nlri_prefix(nlri)] = {
                        **attributes,
                        "next-hop": next_hop,
                        "family": family,
                        "peer": peer,
                    }
    return rib


def _nlri_prefix(nlri: Any) -> str:
    if isinstance(nlri, dict):
        return str(nlri["nlri"])
    return str(nlri)


def exabgp_state(messages: Iterable[dict[str, Any]], peer: str) -> str | None:
    """The last session state (``up``, ``down``, ``connected``) ExaBGP reported for ``peer``."""
    state = None
    for message in messages:
        neighbor = message.get("neighbor", {})
        if message.get("type") == "state" and neighbor.get("address", {}).get("peer") == peer:
            state = neighbor.get("state")
    return state
