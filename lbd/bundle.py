"""The support bundle (`lbd support-bundle`, the docs' must-gather): one tarball with what it takes to
diagnose a node without logging into it, and without any secret in it.

Theory of operation: `collect` asks the running daemon over its control socket for the list of views,
then for every view (the running config among them), scrapes the metrics endpoint, reads recent logs
(the systemd journal of the unit, or a log file), and records the kernel's view of interfaces, neighbours
and routes plus versions. A part that cannot be had (daemon down, no journal) is noted in
`manifest.json` and the rest is still collected, since a bundle is most wanted when something is broken.

Secrets are removed in two passes. Structured data (views, JSON log lines) loses the value of every
field whose name says secret (password, key, secret, token) and the data of Secret objects, and every
value removed that way is remembered. Then every member, structured or not, is scrubbed of those
values and of `name: value` / `name=value` pairs with a secret-like name, so a password quoted in an
error message or a plain-text log line goes too.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import json
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from lbd.config import load_paths
from lbd.control.client import ControlError, query

REDACTED = "<redacted>"

# Field names (lower case, separators removed) containing one of these hold secrets wherever they are.
_SECRET_WORDS = ("password", "passwd", "secret", "token")
# A bare `key` is a secret only under these parents (NodeConfig spec.membership.key); elsewhere it names
# a label (selector expressions), a service or a session.
_KEY_PARENTS = ("membership", "auth")
# Values shorter than this are not scrubbed from free text: "ab" would eat half the bundle.
_MIN_SCRUB = 4
# `name: value`, `name=value` and `"name": "value"` in free text, for names that cannot be anything but
# a secret (`key` alone is not one of them: `- key: kubernetes.io/hostname`).
_TEXT_SECRET = re.compile(
    r"(?i)(?P<name>[\w.-]*(?:password|passwd|secret|token)[\w.-]*|[\w.-]+key)"
    r"(?P<sep>\"?\s*[:=]\s*\"?)(?P<value>[^\s\"',{}\[\]]+)"
)

Query = Callable[[str, Mapping[str, Any] | None], Any]
Runner = Callable[[Sequence[str]], tuple[int, str]]


@dataclass(frozen=True, slots=True)
class BundleOptions:
    socket: Path
    metrics_url: str | None = None
    log_file: Path | None = None
    journal_unit: str = "lbd"
    log_lines: int = 5000
    timeout: float = 5.0


@dataclass(slots=True)
class Bundle:
    """Members by path inside the tarball, and what could not be collected."""

    members: dict[str, bytes] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)


# -- redaction -------------------------------------------------------------------------------------------


def is_secret_name(name: str, parent: str = "") -> bool:
    plain = re.sub(r"[^a-z0-9]", "", name.lower())
    if any(word in plain for word in _SECRET_WORDS):
        return True
    if plain == "key":
        return any(word in parent.lower() for word in _KEY_PARENTS)
    # authKey, membershipKey, md5Key; keyFile is a path, but hiding a path to a secret costs nothing.
    return plain.endswith("key") or plain == "keyfile"


def redact(value: Any, found: set[str], parent: str = "") -> Any:
    """A copy of a JSON-like value without secrets; every value removed is added to `found`.

    A mapping under a secret-like name is a reference (`passwordSecret: {name: ...}`) and is walked,
    not hidden; the scalars under secret-like names are hidden.
    """
    if isinstance(value, Mapping):
        secret_object = value.get("kind") == "Secret"
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = str(key)
            if secret_object and name in {"data", "stringData"} and isinstance(item, Mapping):
                out[name] = {k: _remember(v, found, encoded=name == "data") for k, v in item.items()}
            elif is_secret_name(name, parent) and not isinstance(item, Mapping):
                out[name] = _remember(item, found, encoded=False)
            else:
                out[name] = redact(item, found, name)
        return out
    if isinstance(value, list | tuple):
        return [redact(item, found, parent) for item in value]
    return value


def _remember(value: Any, found: set[str], *, encoded: bool) -> str:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        text = str(value)
        found.add(text)
        if encoded:
            with contextlib.suppress(binascii.Error, UnicodeDecodeError):
                found.add(base64.b64decode(text, validate=True).decode())
    elif value is not None:
        # A nested secret (a list of keys, a mapping): remember its leaves, hide the whole.
        for leaf in _leaves(value):
            found.add(leaf)
    return REDACTED


def _leaves(value: Any) -> list[str]:
    if isinstance(value, Mapping):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, list | tuple):
        return [leaf for item in value for leaf in _leaves(item)]
    return [str(value)] if value is not None else []


def scrub_text(text: str, secrets: set[str]) -> str:
    """Remove known secret values and `secret-name: value` pairs from free text."""
    for secret in sorted((s for s in secrets if len(s) >= _MIN_SCRUB), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return _TEXT_SECRET.sub(lambda m: f"{m['name']}{m['sep']}{REDACTED}", text)


def redact_log(text: str, found: set[str]) -> str:
    """Log lines: JSON lines (lbd's own) are redacted field by field, others are kept for scrubbing."""
    out = []
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            out.append(line)
            continue
        out.append(json.dumps(redact(event, found)) if isinstance(event, dict) else line)
    return "\n".join(out) + ("\n" if out else "")


# -- collection ------------------------------------------------------------------------------------------


def view_names(ask: Query) -> list[str]:
    """The daemon's views. The control protocol lists them in its answer to an unknown view."""
    try:
        ask("", None)
    except ControlError as exc:
        match = re.search(r"known: (.*)$", str(exc))
        if match:
            return [name.strip() for name in match[1].split(",") if name.strip()]
        raise
    return []


def file_name(view: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", view).strip("-") or "view"


def collect(options: BundleOptions, *, ask: Query | None = None, runner: Runner | None = None) -> Bundle:
    bundle = Bundle()
    ask = ask or _socket_query(options)
    runner = runner or _run
    views = _collect_views(bundle, ask)
    summary = views.get("summary")
    if options.metrics_url is not None:
        _collect_metrics(bundle, options.metrics_url, "--metrics", options.timeout)
    elif isinstance(summary, Mapping) and summary.get("metrics") == "off":
        bundle.problems.append("metrics: the daemon serves none (lbd run --metrics off)")
    elif views:
        _collect_metrics(bundle, *metrics_url(views), timeout=options.timeout)
    else:
        bundle.problems.append("metrics: the daemon did not answer; use --metrics URL")
    _collect_logs(bundle, options, runner)
    for name, argv in _NETWORK:
        rc, out = runner(argv)
        if rc == 0:
            bundle.members[f"network/{name}.json"] = out.encode()
        else:
            bundle.problems.append(f"network/{name}: {' '.join(argv)} exited {rc}: {out.strip()[:200]}")
    bundle.members["versions.json"] = _json(_versions(summary, runner))
    return bundle


_NETWORK: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("links", ("ip", "-j", "-s", "link", "show")),
    ("addresses", ("ip", "-j", "addr", "show")),
    ("neighbours", ("ip", "-j", "neigh", "show")),
    ("routes-ipv4", ("ip", "-j", "-4", "route", "show", "table", "all")),
    ("routes-ipv6", ("ip", "-j", "-6", "route", "show", "table", "all")),
)


# Views about one item, asked once per row of a listing view: (listing view, row field, argument name).
_PER_ITEM: Mapping[str, tuple[str, str, str]] = {
    "bgp neighbor": ("bgp summary", "peer", "peer"),
    "explain": ("services", "service", "service"),
}


def _collect_views(bundle: Bundle, ask: Query) -> dict[str, Any]:
    """Every view the daemon serves, by name (raw, for the collector's own use; redacted in the bundle)."""
    try:
        names = view_names(ask)
    except ControlError as exc:
        bundle.problems.append(f"status: {exc}")
        return {}
    seen: dict[str, Any] = {}
    for name in [n for n in names if n not in _PER_ITEM]:
        try:
            seen[name] = data = ask(name, None)
        except ControlError as exc:
            bundle.problems.append(f"status/{name}: {exc}")
            continue
        path = "config.json" if name == "config" else f"status/{file_name(name)}.json"
        bundle.members[path] = _json(redact(data, bundle.secrets))
    for name in [n for n in names if n in _PER_ITEM]:
        listing, row_field, argument = _PER_ITEM[name]
        rows = seen.get(listing)
        items = [row.get(row_field) for row in rows or [] if isinstance(row, Mapping)]
        for item in [i for i in items if isinstance(i, str)]:
            try:
                data = ask(name, {argument: item})
            except ControlError as exc:
                bundle.problems.append(f"status/{name} {item}: {exc}")
                continue
            path = f"status/{file_name(name)}/{file_name(item)}.json"
            bundle.members[path] = _json(redact(data, bundle.secrets))
    return seen


def metrics_url(views: Mapping[str, Any]) -> tuple[str, str]:
    """The scrape URL and where it came from: the summary view if it reports an address, else the
    running node's NodeConfig `metricsAddress` read from the config files, else the default."""
    summary = views.get("summary")
    url = metrics_url_from(summary)
    if url is not None:
        return url, "summary view"
    config = views.get("config")
    node = summary.get("node") if isinstance(summary, Mapping) else None
    paths = config.get("paths") if isinstance(config, Mapping) else None
    if isinstance(node, str) and isinstance(paths, list) and paths:
        loaded = load_paths([str(p) for p in paths])
        node_config = loaded.config.node_config(node) if loaded.config is not None else None
        if node_config is not None:
            url = metrics_url_from({"metrics": str(node_config.metrics_address)})
            if url is not None:
                return url, f"NodeConfig of {node}"
    return "http://127.0.0.1:7472/metrics", "default address"


def metrics_url_from(summary: Any) -> str | None:
    """The scrape URL from the summary view's metrics address (`host:port`, `[v6]:port` or `:port`)."""
    if not isinstance(summary, Mapping):
        return None
    for key, value in summary.items():
        if "metrics" in str(key).lower() and isinstance(value, str) and ":" in value:
            if value.startswith("http"):
                return value
            host, _, port = value.rpartition(":")
            host = host.strip("[]")
            if host in {"", "0.0.0.0"}:
                host = "127.0.0.1"
            elif host == "::":
                host = "::1"
            return f"http://[{host}]:{port}/metrics" if ":" in host else f"http://{host}:{port}/metrics"
    return None


def _collect_metrics(bundle: Bundle, url: str, source: str, timeout: float) -> None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            bundle.members["metrics.txt"] = reply.read()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        bundle.problems.append(f"metrics: {url} (from {source}): {exc}")


def _collect_logs(bundle: Bundle, options: BundleOptions, runner: Runner) -> None:
    if options.log_file is not None:
        try:
            lines = options.log_file.read_text(errors="replace").splitlines()[-options.log_lines :]
        except OSError as exc:
            bundle.problems.append(f"logs: {exc}")
            return
        text = "\n".join(lines) + "\n"
    elif shutil.which("journalctl"):
        argv = [
            "journalctl",
            "-u",
            options.journal_unit,
            "-n",
            str(options.log_lines),
            "--no-pager",
            "-o",
            "cat",
        ]
        rc, text = runner(argv)
        if rc != 0:
            bundle.problems.append(f"logs: {' '.join(argv)} exited {rc}: {text.strip()[:200]}")
            return
    else:
        bundle.problems.append("logs: no journalctl here; pass --log FILE")
        return
    bundle.members["logs/lbd.log"] = redact_log(text, bundle.secrets).encode()


def _versions(summary: Any, runner: Runner) -> dict[str, Any]:
    try:
        lbd_version = metadata.version("lbd")
    except metadata.PackageNotFoundError:
        lbd_version = "unknown"
    rc, iproute = runner(["ip", "-V"])
    daemon = summary.get("version") if isinstance(summary, Mapping) else None
    return {
        "lbd": lbd_version,
        "daemon": daemon,
        "python": sys.version,
        "platform": platform.platform(),
        "kernel": platform.release(),
        "iproute2": iproute.strip() if rc == 0 else None,
    }


def _socket_query(options: BundleOptions) -> Query:
    def ask(view: str, args: Mapping[str, Any] | None) -> Any:
        return query(view, args, options.socket, options.timeout)

    return ask


def _run(argv: Sequence[str]) -> tuple[int, str]:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, str(exc)
    return result.returncode, result.stdout if result.returncode == 0 else result.stderr


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True, default=str).encode() + b"\n"


# -- writing ---------------------------------------------------------------------------------------------


def write(bundle: Bundle, path: Path, *, now: float | None = None) -> list[str]:
    """Write the tarball (mode 0600: it holds the topology) and return the member names."""
    when = now if now is not None else time.time()
    stamp = time.gmtime(when)
    root = path.name.removesuffix(".tar.gz").removesuffix(".tgz") or "lbd-support"
    members = {
        name: scrub_text(data.decode(errors="replace"), bundle.secrets).encode()
        for name, data in bundle.members.items()
    }
    members["manifest.json"] = _json(
        {
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", stamp),
            "members": sorted(members),
            "problems": [scrub_text(p, bundle.secrets) for p in bundle.problems],
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in sorted(members.items()):
            info = tarfile.TarInfo(f"{root}/{name}")
            info.size = len(data)
            info.mtime = int(when)
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(data))
    return sorted(members)


def default_path(now: float | None = None) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now if now is not None else time.time()))
    return Path(f"lbd-support-{platform.node() or 'host'}-{stamp}.tar.gz")
