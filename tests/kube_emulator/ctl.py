"""`python -m tests.kube_emulator.ctl --server URL VERB ...`: a tiny kubectl for the emulator.

For lab tests whose emulator runs inside a network namespace, where the test process cannot connect:
the test runs this there (`ip netns exec`). Plain HTTP with the standard library, JSON on stdout.

    create FILE          create every object of a JSON list (or one object) in FILE ('-': stdin)
    get APIVERSION KIND NAME [NAMESPACE]
    list APIVERSION KIND [NAMESPACE]
    delete APIVERSION KIND NAME [NAMESPACE]
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.kube_emulator.resources import RESOURCE_TYPES, ResourceType


def _type(api_version: str, kind: str) -> tuple[ResourceType, str]:
    group, _, version = api_version.rpartition("/")
    for rt in RESOURCE_TYPES:
        if rt.group == group and rt.kind == kind and version in rt.versions:
            return rt, version
    raise SystemExit(f"unknown kind {api_version} {kind}")


def _path(api_version: str, kind: str, namespace: str | None, name: str | None = None) -> str:
    rt, version = _type(api_version, kind)
    prefix = f"/apis/{rt.group}/{version}" if rt.group else f"/api/{version}"
    ns = f"/namespaces/{namespace or 'default'}" if rt.namespaced and namespace != "" else ""
    return f"{prefix}{ns}/{rt.plural}" + (f"/{name}" if name else "")


def _request(server: str, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        server + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as e:
        raise SystemExit(f"{method} {path}: {e.code} {e.read().decode(errors='replace')}") from e


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.kube_emulator.ctl")
    parser.add_argument("--server", required=True)
    parser.add_argument("verb", choices=("create", "get", "list", "delete"))
    parser.add_argument("args", nargs="*")
    args = parser.parse_args(argv)
    out: Any
    if args.verb == "create":
        (source,) = args.args
        text = sys.stdin.read() if source == "-" else Path(source).read_text()
        docs = json.loads(text)
        out = []
        for doc in docs if isinstance(docs, list) else [docs]:
            namespace = doc.get("metadata", {}).get("namespace")
            path = _path(doc["apiVersion"], doc["kind"], namespace)
            out.append(_request(args.server, "POST", path, doc))
    elif args.verb == "list":
        api_version, kind, *rest = args.args
        out = _request(args.server, "GET", _path(api_version, kind, rest[0] if rest else ""))["items"]
    else:
        api_version, kind, name, *rest = args.args
        method = "GET" if args.verb == "get" else "DELETE"
        out = _request(args.server, method, _path(api_version, kind, rest[0] if rest else None, name))
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
