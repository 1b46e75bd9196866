"""`lbd plan`: run the reconcile function offline on files and print allocations, L2 owners and BGP
routes per peer (docs/plan-output.md describes the output)."""

from __future__ import annotations

import argparse
import json
import socket
import sys
from typing import Any

from lbd.config import ConfigError, ParseResult, load_paths
from lbd.control.tables import render_table
from lbd.reconcile.plan import Plan, plan


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser("plan", help="show what lbd would allocate and announce, from files, offline")
    add_common_arguments(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output (docs/plan-output.md)")
    parser.set_defaults(handler=run)


def add_common_arguments(parser: argparse.ArgumentParser, config_required: bool = True) -> None:
    parser.add_argument(
        "--config",
        "-c",
        nargs="+",
        action="extend",
        required=config_required,
        metavar="PATH",
        help="YAML/JSON files or directories: MetalLB objects, NodeConfig, Services, EndpointSlices, Nodes",
    )
    parser.add_argument("--node", help="plan for this node only (default: every node in the files)")
    parser.add_argument("--namespace", default="metallb-system", help="namespace of the MetalLB objects")
    parser.add_argument(
        "--load-balancer-class",
        help="our loadBalancerClass (default: the node's NodeConfig; unset serves services without a class)",
    )


def load(args: argparse.Namespace) -> ParseResult | None:
    """Load the files; print problems to stderr; None when the configuration is unusable."""
    result = load_paths(args.config, namespace=args.namespace)
    for warning in result.warnings:
        print(f"warning: {_problem(warning)}", file=sys.stderr)
    for error in result.errors:
        print(f"error: {_problem(error)}", file=sys.stderr)
    return result if result.config is not None else None


def _problem(error: ConfigError) -> str:
    return f"{error.source}: {error}" if error.source else str(error)


def make_plan(args: argparse.Namespace, result: ParseResult) -> Plan:
    config, world = result.config, result.world
    assert config is not None  # load() returned it
    # Every known node takes part (L2 elections need them all); --node only narrows the output.
    nodes: set[str] = set(world.nodes) | ({args.node} if args.node else set())
    if not nodes:
        nodes = {c.node_name for c in config.node_configs.values()}
    if not nodes:
        nodes = {socket.gethostname()}
    lb_class = args.load_balancer_class
    if lb_class is None:
        own = [c for c in config.node_configs.values() if c.node_name in nodes and c.load_balancer_class]
        lb_class = own[0].load_balancer_class if own else None
    # Files without any EndpointSlice describe a standalone host: services count as served (the daemon
    # does the same); with slices present, endpoints gate announcements as under Kubernetes.
    return plan(config, world, nodes, load_balancer_class=lb_class, standalone=not world.endpoint_slices)


def plan_json(result: Plan, node: str | None = None) -> dict[str, Any]:
    """The `--json` document; `node` restricts `l2` and `bgp` to what that node does."""
    services = []
    for s in result.allocations.services:
        services.append(
            {
                "namespace": s.namespace,
                "name": s.name,
                "ips": [str(a) for a in s.addresses],
                "pool": s.pool,
                "state": s.state.value,
                "reason": s.reason.value,
                "error": s.error,
                "events": [
                    {"type": e.type.value, "reason": e.reason, "message": e.message} for e in s.events
                ],
            }
        )
    l2 = [
        {
            "ip": str(p.announcement.address),
            "service": p.announcement.service,
            "node": p.node,
            "interfaces": list(p.announcement.interfaces),
            "all_interfaces": p.announcement.all_interfaces,
        }
        for p in result.l2
        if node is None or p.node == node
    ]
    bgp = [
        {
            "peer": r.peer,
            "prefix": str(r.prefix),
            "communities": [str(c) for c in r.communities],
            "large_communities": [str(c) for c in r.large_communities],
            "local_pref": r.local_pref,
            "nodes": [n for n in r.nodes if node is None or n == node],
            "services": list(r.services),
        }
        for r in result.bgp
        if node is None or node in r.nodes
    ]
    return {"services": services, "l2": l2, "bgp": bgp}


def render_text(doc: dict[str, Any]) -> str:
    services = [
        {**s, "service": f"{s['namespace']}/{s['name']}", "detail": s["error"] or s["reason"]}
        for s in doc["services"]
    ]
    parts = [
        "Services",
        render_table(
            services,
            [
                ("SERVICE", "service"),
                ("STATE", "state"),
                ("IPS", "ips"),
                ("POOL", "pool"),
                ("REASON", "detail"),
            ],
        ),
        "",
        "L2 announcements",
        render_table(
            [
                {**a, "interfaces": a["interfaces"] or ("all" if a["all_interfaces"] else "")}
                for a in doc["l2"]
            ],
            [("IP", "ip"), ("SERVICE", "service"), ("NODE", "node"), ("INTERFACES", "interfaces")],
        ),
        "",
        "BGP announcements",
        render_table(
            doc["bgp"],
            [
                ("PEER", "peer"),
                ("PREFIX", "prefix"),
                ("COMMUNITIES", "communities"),
                ("LARGE", "large_communities"),
                ("LOCALPREF", "local_pref"),
                ("NODES", "nodes"),
            ],
        ),
    ]
    return "\n".join(parts)


def run(args: argparse.Namespace) -> int:
    result = load(args)
    if result is None:
        return 1
    doc = plan_json(make_plan(args, result), args.node)
    if args.json:
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(render_text(doc))
    return 0
