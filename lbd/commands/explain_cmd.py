"""`lbd explain NAMESPACE/NAME --config PATH...`: why a service has its address, which node answers for
it on L2 and why, which peers receive which prefixes from which nodes and why not the others."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from lbd.allocator.inputs import is_ours
from lbd.commands.plan_cmd import add_common_arguments, load, make_plan
from lbd.config.model import Service
from lbd.control.client import DEFAULT_SOCKET, ControlError, query
from lbd.reconcile.plan import Plan
from lbd.reconcile.types import L2Decision

_ALLOCATION_WHY = {
    "kept": "already held and still valid, kept",
    "requestedAddress": "requested by spec.loadBalancerIP / loadBalancerIPs",
    "requestedPool": "taken from the pool named by the address-pool annotation",
    "autoAssigned": "assigned automatically",
}


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "explain", help="explain one service's allocation and announcements (files, or the running daemon)"
    )
    parser.add_argument("service", metavar="NAMESPACE/NAME")
    add_common_arguments(parser, config_required=False)
    parser.add_argument(
        "--socket", default=DEFAULT_SOCKET, help="without --config, ask the daemon on this control socket"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=run)


def explain(result: Plan, key: str, service: Service | None) -> dict[str, Any]:
    """Everything known about one service, as a JSON-able document."""
    if service is None:
        return {"service": key, "found": False}
    lb_class = result.load_balancer_class
    verdict = result.allocations.get(key)
    if verdict is None or not is_ours(service, lb_class):
        why = (
            f"type {service.type}, not LoadBalancer"
            if service.type != "LoadBalancer"
            else f"loadBalancerClass {service.load_balancer_class!r} is not ours ({lb_class!r})"
        )
        return {"service": key, "found": True, "ignored": why}
    doc: dict[str, Any] = {
        "service": key,
        "found": True,
        "state": verdict.state.value,
        "ips": [str(a) for a in verdict.addresses],
        "pool": verdict.pool,
        "reason": verdict.reason.value,
        "error": verdict.error,
        "events": [{"type": e.type.value, "reason": e.reason, "message": e.message} for e in verdict.events],
    }
    l2: L2Decision | None = None
    nodes: dict[str, Any] = {}
    for node, state in result.states.items():
        st = state.service(key)
        if st is None:
            continue
        l2 = st.l2 or l2
        if st.bgp is not None:
            nodes[node] = {
                "reason": st.bgp.reason.value if st.bgp.reason else None,
                "peers": list(st.bgp.peers),
                "skipped_peers": {p: r.value for p, r in st.bgp.skipped_peers},
            }
    if l2 is not None:
        doc["l2"] = {
            "owner": l2.owner,
            "reason": l2.reason.value if l2.reason else None,
            "candidates": list(l2.candidates),
            "interfaces": list(l2.interfaces),
            "all_interfaces": l2.all_interfaces,
            "nodes": {v.node: v.reason.value if v.reason else "candidate" for v in l2.nodes},
        }
    if nodes:
        routes = [
            {"peer": r.peer, "prefix": str(r.prefix), "nodes": list(r.nodes)}
            for r in result.bgp
            if key in r.services
        ]
        doc["bgp"] = {"nodes": nodes, "routes": routes}
    return doc


def render_text(doc: dict[str, Any]) -> str:
    key = doc["service"]
    if not doc["found"]:
        return f"{key}: no such Service in the files"
    if "ignored" in doc:
        return f"{key}: ignored ({doc['ignored']})"
    lines = [f"Service {key}"]
    if doc["state"] == "allocated":
        why = _ALLOCATION_WHY.get(doc["reason"], doc["reason"])
        lines.append(f"  address: {', '.join(doc['ips'])} from pool {doc['pool']} ({why})")
    else:
        lines.append(f"  address: pending: {doc['error']}")
    lines.extend(f"  event: {e['type']} {e['reason']}: {e['message']}" for e in doc["events"])
    l2 = doc.get("l2")
    if l2 is not None:
        if l2["owner"] and not l2["reason"]:
            where = "all eligible interfaces" if l2["all_interfaces"] else ", ".join(l2["interfaces"])
            lines.append(f"  L2: answered by {l2['owner']} on {where}")
            lines.append(f"      election order: {', '.join(l2['candidates'])}")
        else:
            lines.append(f"  L2: not announced: {l2['reason']}")
        lines.extend(f"      {node}: {why}" for node, why in sorted(l2["nodes"].items()))
    elif doc["state"] == "allocated":
        lines.append("  L2: no L2Advertisement covers the pool")
    bgp = doc.get("bgp")
    if bgp is not None:
        lines.append("  BGP:")
        for node, info in sorted(bgp["nodes"].items()):
            if info["reason"]:
                lines.append(f"      {node}: not announced: {info['reason']}")
                continue
            skipped = ", ".join(f"{p} ({r})" for p, r in sorted(info["skipped_peers"].items()))
            lines.append(
                f"      {node}: to {', '.join(info['peers']) or 'no peer'}"
                + (f"; not to {skipped}" if skipped else "")
            )
        lines.extend(
            f"      route {r['prefix']} -> {r['peer']} from {', '.join(r['nodes'])}" for r in bgp["routes"]
        )
    elif doc["state"] == "allocated":
        lines.append("  BGP: no BGPAdvertisement covers the pool")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if "/" not in args.service:
        print("error: the service must be given as NAMESPACE/NAME", file=sys.stderr)
        return 2
    if args.config is None:
        try:
            doc = query("explain", {"service": args.service}, args.socket)
        except ControlError as exc:
            print(f"lbd explain: {exc}", file=sys.stderr)
            return 1
    else:
        result = load(args)
        if result is None:
            return 1
        planned = make_plan(args, result)
        doc = explain(planned, args.service, result.world.services.get(args.service))
    if args.json:
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(render_text(doc))
    return 0 if doc["found"] else 1
