"""ExaBGP 4.2 inside a lab namespace, usable as a sender and as a receiver.

The helper adds two API processes in front of the given configuration:

- ``lab-recv`` appends every JSON message ExaBGP sends it to ``received_path``; ``received()``,
  ``routes()`` and ``state()`` read that file back.
- ``lab-ctl`` follows ``commands_path`` with ``tail -F``, so ``announce("announce route ...")`` appends a
  line that ExaBGP executes at once.

Both only serve neighbours whose block includes ``ExaBgp.API``
(``api { processes [ lab-recv lab-ctl ]; neighbor-changes; receive { parsed; update; } }``): ExaBGP 4
applies a process's commands only to the neighbours bound to it.

ExaBGP only dials out unless ``env={"exabgp_tcp_bind": "ADDR"}`` makes it listen as well.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from tests.lab.netns import Lab, Netns
from tests.lab.parsers import exabgp_rib, exabgp_state, parse_exabgp_messages
from tests.lab.proc import Proc, wait_for

ENV = {
    "exabgp_daemon_user": "root",
    "exabgp_log_level": "WARNING",
    # Our command process never reads ExaBGP's acknowledgements; unread, they would fill its pipe.
    "exabgp_api_ack": "false",
    # The CLI's named pipes would live in the shared /run: parallel instances would collide.
    "exabgp_api_cli": "false",
}

RECEIVER = "lab-recv"
COMMANDER = "lab-ctl"


class ExaBgp:
    API = f"api {{ processes [ {RECEIVER} {COMMANDER} ]; neighbor-changes; receive {{ parsed; update; }} }}"

    def __init__(self, lab: Lab, ns: Netns, config: str, *, env: Mapping[str, str] | None = None) -> None:
        self.lab = lab
        self.ns = ns
        self.config = config
        self.env = {**ENV, **(env or {})}
        self.conf_path = lab.artifacts / f"{ns.short}-exabgp.conf"
        self.received_path = lab.artifacts / f"{ns.short}-exabgp-received.jsonl"
        self.commands_path = lab.artifacts / f"{ns.short}-exabgp-commands.txt"
        self._ready_path = lab.path(f"exabgp-{ns.short}.ready")
        self.proc: Proc | None = None

    def __repr__(self) -> str:
        return f"ExaBgp({self.ns.name!r})"

    def start(self, timeout: float = 15.0) -> None:
        recv = self.lab.path(f"exabgp-{self.ns.short}-recv.sh")
        # No exec: the shell keeps the stdout pipe open; ExaBGP takes EOF on it for a dead process.
        recv.write_text(f"#!/bin/sh\ncat >> {shlex.quote(str(self.received_path))}\n")
        ctl = self.lab.path(f"exabgp-{self.ns.short}-ctl.sh")
        ctl.write_text(
            "#!/bin/sh\n"
            f"touch {shlex.quote(str(self._ready_path))}\n"
            # ExaBGP writes to every process of the neighbour's api block; unread, the pipe would fill.
            "cat > /dev/null &\n"
            f"exec tail -n +1 -F {shlex.quote(str(self.commands_path))} 2>/dev/null\n"
        )
        for script in (recv, ctl):
            script.chmod(0o755)
        self.received_path.write_text("")
        self.commands_path.write_text("")
        self.conf_path.write_text(
            f"process {RECEIVER} {{\n    run {recv};\n    encoder json;\n}}\n"
            f"process {COMMANDER} {{\n    run {ctl};\n    encoder text;\n}}\n\n{self.config}"
        )
        self.proc = self.ns.spawn(["exabgp", str(self.conf_path)], name="exabgp", env=self.env)
        self.lab.add_cleanup(repr(self), self.stop)
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 15.0) -> None:
        """ExaBGP parsed its configuration and started its API processes."""
        proc = self.proc
        if proc is None:
            raise RuntimeError("ExaBGP not started")

        def ready() -> bool:
            proc.check_alive()
            return self._ready_path.exists()

        wait_for(ready, timeout, 0.05, lambda: f"ExaBGP in {self.ns.name} to start; log:\n{proc.tail()}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(timeout=2.0)

    def announce(self, *commands: str) -> None:
        """Send API commands, e.g. ``announce route 198.51.100.1/32 next-hop self community [65000:1]``."""
        with self.commands_path.open("a") as out:
            for command in commands:
                out.write(command.rstrip("\n") + "\n")

    def received(self) -> list[dict[str, Any]]:
        """Every JSON message received so far (updates, state changes), oldest first."""
        return parse_exabgp_messages(self.received_path.read_text())

    def routes(self) -> dict[str, dict[str, Any]]:
        """The routes currently announced to ExaBGP: prefix -> attributes (+ next-hop, family, peer)."""
        return exabgp_rib(self.received())

    def state(self, peer: str) -> str | None:
        """The last state (``up``/``down``/``connected``) ExaBGP reported for ``peer``."""
        return exabgp_state(self.received(), peer)

    def wait_up(self, peer: str, timeout: float = 15.0) -> None:
        wait_for(
            lambda: self.state(peer) == "up", timeout, 0.2, f"ExaBGP {self.ns.name} session to {peer} up"
        )

    def wait_route(self, prefix: str, timeout: float = 15.0) -> dict[str, Any]:
        return wait_for(lambda: self.routes().get(prefix), timeout, 0.2, f"{prefix} received by ExaBGP")
