"""GoBGP 3 inside a lab namespace: ``gobgpd -f CONF.toml`` with gRPC on 127.0.0.1:50051 of that namespace."""

from __future__ import annotations

import json as jsonlib
from collections.abc import Sequence
from typing import Any

from tests.lab.netns import Lab, Netns
from tests.lab.proc import LabCommandError, Proc, wait_for

API = "127.0.0.1:50051"

# gobgp's numeric session states (api.PeerState.SessionState).
SESSION_STATES = {
    0: "unknown",
    1: "idle",
    2: "connect",
    3: "active",
    4: "opensent",
    5: "openconfirm",
    6: "established",
}


class GoBgp:
    def __init__(self, lab: Lab, ns: Netns, config: str) -> None:
        self.lab = lab
        self.ns = ns
        self.config = config
        self.conf_path = lab.artifacts / f"{ns.short}-gobgpd.toml"
        self.proc: Proc | None = None

    def __repr__(self) -> str:
        return f"GoBgp({self.ns.name!r})"

    def start(self, timeout: float = 10.0) -> None:
        self.conf_path.write_text(self.config)
        check = self.ns.run(["gobgpd", "-d", "-f", str(self.conf_path)], check=False)
        if check.returncode != 0:
            raise LabCommandError(
                f"gobgpd rejects {self.conf_path}: {check.stdout.strip()} {check.stderr.strip()}"
            )
        self.proc = self.ns.spawn(
            ["gobgpd", "-f", str(self.conf_path), "-p", "--api-hosts", API, "--pprof-disable", "-l", "info"],
            name="gobgpd",
        )
        self.lab.add_cleanup(repr(self), self.stop)
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 10.0) -> None:
        proc = self.proc
        if proc is None:
            raise RuntimeError("gobgpd not started")

        def ready() -> bool:
            proc.check_alive()
            self.gobgp(["global"])
            return True

        wait_for(ready, timeout, 0.05, f"gobgpd gRPC in {self.ns.name}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(timeout=2.0)

    def gobgp(self, args: Sequence[str], json: bool = True, timeout: float = 10.0) -> Any:
        """Run the ``gobgp`` CLI in the namespace: parsed ``-j`` output, or text with ``json=False``."""
        argv = ["gobgp", "-u", "127.0.0.1", "-p", "50051", *args]
        if json:
            argv.append("-j")
        out = self.ns.run(argv, timeout=timeout).stdout
        if not json:
            return out
        return jsonlib.loads(out) if out.strip() else None

    def neighbors(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self.gobgp(["neighbor"]) or []
        return data

    def neighbor_state(self, address: str) -> str | None:
        """Session state of neighbour ``address`` as a lower-case name (``established``...)."""
        for peer in self.neighbors():
            if peer.get("conf", {}).get("neighbor_address") == address:
                state = peer.get("state", {}).get("session_state")
                return SESSION_STATES.get(state, str(state)) if isinstance(state, int) else str(state).lower()
        return None

    def wait_established(self, address: str, timeout: float = 15.0) -> None:
        wait_for(
            lambda: self.neighbor_state(address) == "established",
            timeout,
            0.2,
            lambda: (
                f"GoBGP {self.ns.name} session to {address} established (now {self.neighbor_state(address)})"
            ),
        )

    def add_route(self, prefix: str, *attributes: str) -> None:
        """``gobgp global rib add PREFIX ATTR...``, e.g. attributes ``"nexthop", "192.0.2.1"``."""
        family = "ipv6" if ":" in prefix else "ipv4"
        self.gobgp(["global", "rib", "add", "-a", family, prefix, *attributes], json=False)

    def del_route(self, prefix: str) -> None:
        family = "ipv6" if ":" in prefix else "ipv4"
        self.gobgp(["global", "rib", "del", "-a", family, prefix], json=False)

    def rib(self, family: str = "ipv4") -> dict[str, list[dict[str, Any]]]:
        """Global (Loc-)RIB: prefix -> paths."""
        data: dict[str, list[dict[str, Any]]] = self.gobgp(["global", "rib", "-a", family]) or {}
        return data

    def adj_in(self, address: str, family: str = "ipv4") -> dict[str, list[dict[str, Any]]]:
        """Adj-RIB-In from neighbour ``address``: what GoBGP received from it."""
        data: dict[str, list[dict[str, Any]]] = (
            self.gobgp(["neighbor", address, "adj-in", "-a", family]) or {}
        )
        return data
