"""FRR 8.4 inside a lab namespace: zebra, bgpd and bfdd in the path space ``-N <ns>``.

Each instance lives in ``/run/frr/<ns>`` (owned frr:frr, with an empty ``vtysh.conf``); every daemon reads
the one integrated ``frr.conf`` and ignores the other daemons' lines. Daemons run in the foreground as
tracked lab processes (no ``-d``), so teardown can kill them by process group.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.lab.names import FRR_RUN_ROOT
from tests.lab.netns import Lab, Netns
from tests.lab.proc import Proc, run, wait_for
from tests.lab.requirements import FRR_SBIN

DEFAULT_DAEMONS = ("zebra", "bgpd", "bfdd")


class Frr:
    """One FRR instance. ``no_zebra=True`` runs ``bgpd -Z`` alone (a fast receiver for benchmarks)."""

    def __init__(
        self,
        lab: Lab,
        ns: Netns,
        config: str,
        *,
        daemons: Sequence[str] | None = None,
        no_zebra: bool = False,
    ) -> None:
        self.lab = lab
        self.ns = ns
        self.config = config
        self.no_zebra = no_zebra
        chosen = tuple(daemons) if daemons is not None else (("bgpd",) if no_zebra else DEFAULT_DAEMONS)
        if no_zebra and "zebra" in chosen:
            raise ValueError("no_zebra=True runs bgpd -Z: do not also start zebra")
        # zebra first: the others connect to its zserv socket at start-up.
        self.daemons = tuple(sorted(chosen, key=lambda d: d != "zebra"))
        self.dir = FRR_RUN_ROOT / ns.name
        self.procs: dict[str, Proc] = {}

    def __repr__(self) -> str:
        return f"Frr({self.ns.name!r}, daemons={self.daemons})"

    @property
    def conf_path(self) -> Path:
        return self.dir / "frr.conf"

    def start(self, timeout: float = 10.0) -> None:
        FRR_RUN_ROOT.mkdir(exist_ok=True)
        shutil.chown(FRR_RUN_ROOT, "frr", "frr")
        self.dir.mkdir(exist_ok=True)
        self.conf_path.write_text(self.config)
        (self.dir / "vtysh.conf").write_text("")
        (self.lab.artifacts / f"{self.ns.short}-frr.conf").write_text(self.config)
        for path in (self.dir, self.conf_path, self.dir / "vtysh.conf"):
            shutil.chown(path, "frr", "frr")
        self.lab.add_cleanup(repr(self), self.stop)
        for daemon in self.daemons:
            argv = [
                str(FRR_SBIN / daemon),
                "-N",
                self.ns.name,
                "-f",
                str(self.conf_path),
                "-i",
                str(self.dir / f"{daemon}.pid"),
                "--log",
                "stdout",
            ]
            if daemon == "bgpd" and self.no_zebra:
                argv.append("-Z")
            proc = self.ns.spawn(argv, name=f"frr-{daemon}")
            self.procs[daemon] = proc
            if daemon == "zebra":
                self._wait_zserv(proc, timeout)
        self.wait_ready(timeout)

    def _wait_zserv(self, zebra: Proc, timeout: float) -> None:
        def listening() -> bool:
            zebra.check_alive()
            return (self.dir / "zserv.api").exists()

        wait_for(listening, timeout, 0.02, f"zebra of {self.ns.name} to open zserv.api")

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Every daemon has its vty socket and answers vtysh."""

        def ready() -> bool:
            for daemon, proc in self.procs.items():
                proc.check_alive()
                if not (self.dir / f"{daemon}.vty").exists():
                    return False
            self.vtysh("show version")
            return True

        wait_for(ready, timeout, 0.05, f"FRR daemons {self.daemons} in {self.ns.name}")

    def stop(self) -> None:
        for daemon in reversed(self.daemons):
            proc = self.procs.get(daemon)
            if proc is not None:
                proc.stop(timeout=2.0)
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- queries --------------------------------------------------------------------------------------

    def vtysh(self, *commands: str, timeout: float = 10.0) -> str:
        """Run vtysh commands (each one ``-c``; e.g. ``"configure terminal", "router bgp 1", ...``)."""
        argv = ["vtysh", "-N", self.ns.name, "--config_dir", str(self.dir)]
        for command in commands:
            argv += ["-c", command]
        # vtysh only talks to the daemons' unix sockets, so it needs no netns exec.
        return run(None, argv, timeout=timeout).stdout

    def vtysh_json(self, command: str) -> Any:
        out = self.vtysh(command)
        return json.loads(out) if out.strip() else {}

    def configure(self, config: str) -> str:
        """Apply configuration lines (as in ``frr.conf``) at run time through ``configure terminal``."""
        lines = [line for line in config.splitlines() if line.strip() and not line.lstrip().startswith("!")]
        return self.vtysh("configure terminal", *lines)

    def bgp_summary(self, afi: str = "ipv4") -> dict[str, Any]:
        """``show bgp <afi> unicast summary json`` (``peers`` maps address -> state, pfxRcd, ...)."""
        data: dict[str, Any] = self.vtysh_json(f"show bgp {afi} unicast summary json")
        return data

    def neighbor(self, address: str) -> dict[str, Any]:
        """``show bgp neighbors ADDR json`` for one neighbour ({} if FRR does not know it)."""
        data: dict[str, Any] = self.vtysh_json(f"show bgp neighbors {address} json").get(address, {})
        return data

    def neighbor_state(self, address: str) -> str | None:
        state = self.neighbor(address).get("bgpState")
        return str(state) if state is not None else None

    def routes(self, afi: str = "ipv4") -> dict[str, list[dict[str, Any]]]:
        """``show bgp <afi> unicast json`` -> prefix -> paths."""
        data: dict[str, list[dict[str, Any]]] = self.vtysh_json(f"show bgp {afi} unicast json").get(
            "routes", {}
        )
        return data

    def route(self, prefix: str) -> dict[str, Any]:
        """``show bgp ipv4|ipv6 unicast PREFIX json`` (``paths`` with communities, localpref...)."""
        afi = "ipv6" if ":" in prefix else "ipv4"
        data: dict[str, Any] = self.vtysh_json(f"show bgp {afi} unicast {prefix} json")
        return data

    def bfd_peers(self) -> list[dict[str, Any]]:
        """``show bfd peers json``."""
        data: list[dict[str, Any]] = self.vtysh_json("show bfd peers json") or []
        return data

    def wait_established(self, address: str, timeout: float = 15.0) -> None:
        wait_for(
            lambda: self.neighbor_state(address) == "Established",
            timeout,
            0.2,
            lambda: (
                f"FRR {self.ns.name} session to {address} Established (now {self.neighbor_state(address)})"
            ),
        )

    def wait_route(
        self, prefix: str, timeout: float = 15.0, *, afi: str | None = None
    ) -> list[dict[str, Any]]:
        """Wait until ``prefix`` is in the BGP table and return its paths."""
        family = afi or ("ipv6" if ":" in prefix else "ipv4")
        return wait_for(
            lambda: self.routes(family).get(prefix),
            timeout,
            0.2,
            f"{prefix} in FRR {self.ns.name} BGP {family} table",
        )
