"""`lbd status [VIEW...] [--socket PATH] [--json]`: the running daemon's views over its control socket.

`lbd status` alone shows the summary. The words name a view (`bgp summary`, `bfd peers`, `l2`,
`services`, `members`, `config`, ...); words after the longest view name that matches are that view's
argument, e.g. `lbd status bgp neighbor 192.0.2.1` or `lbd status bgp routes 198.51.100.7/32`.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from lbd.commands.explain_cmd import render_text as render_explain
from lbd.control.client import DEFAULT_SOCKET, ControlError, query
from lbd.control.tables import render_fields, render_table

# The argument name of views about one item; others get `name`.
ARGUMENTS: Mapping[str, str] = {
    "bgp neighbor": "peer",
    "bgp routes": "prefix",
    "bfd peers": "peer",
    "explain": "service",
}


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser("status", help="show the running daemon's state (summary, bgp, bfd, l2, ...)")
    parser.add_argument("view", nargs="*", metavar="VIEW", help="view name and argument (default: summary)")
    parser.add_argument("--socket", default=DEFAULT_SOCKET, help=f"control socket (default {DEFAULT_SOCKET})")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=run)


def view_names(socket: str) -> list[str]:
    """The daemon's views: the control protocol lists them when asked for one it does not know."""
    try:
        query("", None, socket)
    except ControlError as exc:
        _, sep, known = str(exc).partition("known: ")
        if sep:
            return [n.strip() for n in known.split(",") if n.strip()]
        raise
    return []


def resolve(words: Sequence[str], names: Sequence[str]) -> tuple[str, dict[str, Any]] | None:
    """(view, args) for the longest view name that `words` start with; None if none matches."""
    for length in range(len(words), 0, -1):
        name = " ".join(words[:length])
        if name in names:
            rest = list(words[length:])
            if not rest:
                return name, {}
            return name, {ARGUMENTS.get(name, "name"): " ".join(rest)}
    return None


def run(args: argparse.Namespace) -> int:
    words = args.view or ["summary"]
    try:
        names = view_names(args.socket)
        resolved = resolve(words, names)
        if resolved is None:
            print(f"lbd status: no view {' '.join(words)!r}; known: {', '.join(names)}", file=sys.stderr)
            return 2
        name, view_args = resolved
        data = query(name, view_args, args.socket)
    except ControlError as exc:
        print(f"lbd status: {exc}", file=sys.stderr)
        return 1
    if args.json:
        json.dump(data, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print(render(name, data))
    return 0


def render(name: str, data: Any) -> str:
    """Human form: a few views have their own layout, every other one a generic table or field list."""
    if name == "explain" and isinstance(data, dict):
        return render_explain(data)
    if name == "config" and isinstance(data, dict):
        return render_config(data)
    if name == "services" and isinstance(data, list):
        return render_table(
            data,
            [
                ("SERVICE", "service"),
                ("STATE", "state"),
                ("IPS", "ips"),
                ("POOL", "pool"),
                ("L2 OWNER", "l2_owner"),
                ("BGP PEERS", "bgp_peers"),
                ("HEALTHY", "healthy"),
                ("REASON", "reason"),
            ],
        )
    return render_generic(data)


def render_generic(data: Any) -> str:
    if isinstance(data, list) and all(isinstance(row, dict) for row in data):
        if not data:
            return "(none)"
        keys: list[str] = []
        for row in data:
            keys.extend(k for k in row if k not in keys)
        rows = [{k: _flat(k, v) for k, v in row.items()} for row in data]
        return render_table(rows, [(k.upper().replace("_", " "), k) for k in keys])
    if isinstance(data, dict):
        return render_fields([(k, _flat(k, v)) for k, v in data.items()])
    return json.dumps(data, indent=2, default=str)


def render_config(doc: Mapping[str, Any]) -> str:
    lines = [
        render_fields(
            [
                ("paths", doc.get("paths")),
                ("generation", doc.get("generation")),
                ("loaded at", _time(doc.get("loaded_at"))),
            ]
        )
    ]
    rejected = doc.get("rejected")
    if rejected:
        lines += ["", f"Last update REJECTED at {_time(rejected.get('at'))}; the config above is in force:"]
        lines.append(
            render_table(
                rejected.get("errors", []),
                [
                    ("KIND", "kind"),
                    ("NAME", "name"),
                    ("FIELD", "field"),
                    ("ERROR", "message"),
                    ("SOURCE", "source"),
                ],
            )
        )
    for kind, objects in (doc.get("objects") or {}).items():
        if not objects:
            continue
        lines += ["", kind]
        if isinstance(objects, dict):
            rows = [{"name": n, **{k: _flat(k, v) for k, v in o.items()}} for n, o in objects.items()]
            keys = list(dict.fromkeys(k for row in rows for k in row))
            lines.append(render_table(rows, [(k.upper(), k) for k in keys]))
        else:
            lines.append("  " + ", ".join(str(o) for o in objects))
    warnings = doc.get("warnings") or []
    if warnings:
        lines += ["", "Warnings"]
        lines.append(
            render_table(
                warnings, [("KIND", "kind"), ("NAME", "name"), ("FIELD", "field"), ("WARNING", "message")]
            )
        )
    return "\n".join(lines)


def _flat(key: str, value: Any) -> Any:
    if key.endswith("_at"):
        return _time(value)
    if isinstance(value, dict):
        return json.dumps(value, default=str, separators=(",", ":"))
    if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        return json.dumps(value, default=str, separators=(",", ":"))
    return value


def _time(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.datetime.fromtimestamp(value, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return value
