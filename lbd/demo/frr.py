"""FRR 8.4 (Debian package `frr`) as the demo's router: zebra, bgpd and bfdd in one namespace.

Each instance uses the path space `-N <namespace>`: its directory is `/run/frr/<namespace>`, owned by
frr:frr with an empty `vtysh.conf`, and every daemon reads the one integrated `frr.conf`. zebra starts
first because the others connect to its `zserv.api` socket.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lbd.demo.netns import FRR_RUN, Daemon, LabError, Namespace, Topology, run

FRR_SBIN = Path("/usr/lib/frr")
DAEMONS = ("zebra", "bgpd", "bfdd")


def router_config(*, asn: int, router_id: str, neighbor: str, neighbor_asn: int, bfd_ms: int) -> str:
    """eBGP to lbd with BFD at `bfd_ms` x 3. FRR 8.4 needs `no bgp ebgp-requires-policy` to accept eBGP
    routes without route-maps, and `timers connect 1` to retry at once while lbd starts."""
    return f"""frr defaults traditional
hostname demo-router
log stdout informational
!
bfd
 profile fast
  receive-interval {bfd_ms}
  transmit-interval {bfd_ms}
  detect-multiplier 3
 !
!
router bgp {asn}
 bgp router-id {router_id}
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor {neighbor} remote-as {neighbor_asn}
 neighbor {neighbor} timers connect 1
 neighbor {neighbor} bfd profile fast
 !
 address-family ipv4 unicast
  neighbor {neighbor} activate
 exit-address-family
!
"""


class Frr:
    __slots__ = ("daemons", "dir", "ns")

    def __init__(self, ns: Namespace) -> None:
        self.ns = ns
        self.dir = FRR_RUN / ns.name
        self.daemons: dict[str, Daemon] = {}

    def start(self, topology: Topology, config: str, logs: Path, timeout: float = 15.0) -> None:
        FRR_RUN.mkdir(exist_ok=True)
        shutil.chown(FRR_RUN, "frr", "frr")
        self.dir.mkdir(exist_ok=True)
        conf = self.dir / "frr.conf"
        conf.write_text(config)
        (self.dir / "vtysh.conf").write_text("")
        for path in (self.dir, conf, self.dir / "vtysh.conf"):
            shutil.chown(path, "frr", "frr")
        deadline = time.monotonic() + timeout
        for name in DAEMONS:
            argv = [str(FRR_SBIN / name), "-N", self.ns.name, "-f", str(conf)]
            argv += ["-i", str(self.dir / f"{name}.pid"), "--log", "stdout"]
            self.daemons[name] = topology.spawn(self.ns, argv, f"frr-{name}", logs)
            if name == "zebra":
                self._wait((self.dir / "zserv.api").exists, deadline, "zebra's zserv.api")
        self._wait(self._ready, deadline, "FRR's vty sockets")

    def _ready(self) -> bool:
        if not all((self.dir / f"{name}.vty").exists() for name in self.daemons):
            return False
        self.vtysh("show version")
        return True

    def _wait(self, ready: Callable[[], bool], deadline: float, what: str) -> None:
        while True:
            for name, daemon in self.daemons.items():
                if not daemon.alive():
                    raise LabError(f"FRR {name} exited:\n{daemon.tail()}")
            try:
                if ready():
                    return
            except LabError:
                pass
            if time.monotonic() > deadline:
                raise LabError(f"timed out waiting for {what}")
            time.sleep(0.05)

    def vtysh(self, command: str) -> str:
        # vtysh only talks to the daemons' unix sockets, so it needs no `ip netns exec`.
        return run(["vtysh", "-N", self.ns.name, "--config_dir", str(self.dir), "-c", command]).stdout

    def vtysh_json(self, command: str) -> Any:
        out = self.vtysh(command)
        return json.loads(out) if out.strip() else {}
