"""BIRD 2 inside a lab namespace, run in the foreground with per-instance socket and pid file."""

from __future__ import annotations

from tests.lab.netns import Lab, Netns
from tests.lab.parsers import BirdProtocol, BirdRoute, parse_bird_protocols, parse_bird_routes
from tests.lab.proc import LabCommandError, Proc, run, wait_for


class Bird:
    def __init__(self, lab: Lab, ns: Netns, config: str) -> None:
        self.lab = lab
        self.ns = ns
        self.config = config
        self.conf_path = lab.artifacts / f"{ns.short}-bird.conf"
        self.socket = lab.path(f"bird-{ns.short}.ctl")
        self.pid_file = lab.path(f"bird-{ns.short}.pid")
        self.proc: Proc | None = None

    def __repr__(self) -> str:
        return f"Bird({self.ns.name!r})"

    def start(self, timeout: float = 10.0) -> None:
        self.conf_path.write_text(self.config)
        # Parse first: a config error then fails with BIRD's own message instead of a start-up timeout.
        check = run(None, ["bird", "-p", "-c", str(self.conf_path)], check=False)
        if check.returncode != 0:
            raise LabCommandError(f"BIRD rejects {self.conf_path}: {check.stderr.strip()}")
        self.proc = self.ns.spawn(
            ["bird", "-f", "-c", str(self.conf_path), "-s", str(self.socket), "-P", str(self.pid_file)],
            name="bird",
        )
        self.lab.add_cleanup(repr(self), self.stop)
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 10.0) -> None:
        proc = self.proc
        if proc is None:
            raise RuntimeError("BIRD not started")

        def ready() -> bool:
            proc.check_alive()
            return self.socket.exists() and "Daemon is up and running" in self.birdc("show status")

        wait_for(ready, timeout, 0.05, f"BIRD in {self.ns.name} to answer on {self.socket}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(timeout=2.0)

    def birdc(self, command: str, timeout: float = 10.0) -> str:
        """Run one birdc command (e.g. ``show route all``) and return its text."""
        return run(None, ["birdc", "-s", str(self.socket), command], timeout=timeout).stdout

    def configure(self, config: str) -> str:
        """Replace the configuration and reload it (``birdc configure``)."""
        self.config = config
        self.conf_path.write_text(config)
        return self.birdc("configure")

    def protocols(self) -> dict[str, BirdProtocol]:
        return parse_bird_protocols(self.birdc("show protocols"))

    def routes(self, table: str | None = None) -> dict[str, list[BirdRoute]]:
        """``show route all [table T]`` -> prefix -> routes (primary first)."""
        command = "show route all" + (f" table {table}" if table else "")
        return parse_bird_routes(self.birdc(command))

    def best_routes(self, table: str | None = None) -> dict[str, BirdRoute]:
        """prefix -> the primary (best) route."""
        return {prefix: routes[0] for prefix, routes in self.routes(table).items()}

    def wait_established(self, protocol: str, timeout: float = 15.0) -> None:
        def established() -> bool:
            proto = self.protocols().get(protocol)
            return proto is not None and proto.state == "up" and proto.info.startswith("Established")

        wait_for(
            established,
            timeout,
            0.2,
            lambda: f"BIRD {self.ns.name} protocol {protocol} Established: {self.protocols().get(protocol)}",
        )

    def wait_route(self, prefix: str, timeout: float = 15.0) -> BirdRoute:
        return wait_for(
            lambda: self.best_routes().get(prefix), timeout, 0.2, f"{prefix} in BIRD {self.ns.name}"
        )
