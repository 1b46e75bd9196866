"""tcpdump captures inside a lab namespace, written to the test's artifact directory."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from tests.lab.netns import Lab, Netns
from tests.lab.proc import Proc, wait_for


class Capture:
    """``start`` begins capturing on ``iface`` to ``artifacts/<ns>-<iface>.pcap``; ``stop`` returns it."""

    def __init__(self, lab: Lab, ns: Netns, iface: str, bpf: str = "") -> None:
        self.lab = lab
        self.ns = ns
        self.iface = iface
        self.bpf = bpf
        self.path = lab.artifacts / f"{ns.short}-{iface}.pcap"
        self.proc: Proc | None = None

    def start(self, timeout: float = 5.0) -> Capture:
        # --immediate-mode: without it TPACKET_V3 hands packets over a block at a time (up to 1 s late),
        # and a capture stopped sooner loses them.
        argv = ["tcpdump", "-i", self.iface, "-n", "-U", "--immediate-mode", "-w", str(self.path)]
        if self.bpf:
            argv.append(self.bpf)
        proc = self.ns.spawn(argv, name=f"tcpdump-{self.iface}")
        self.proc = proc

        def listening() -> bool:
            proc.check_alive()
            return "listening on" in proc.text()

        wait_for(listening, timeout, 0.05, f"tcpdump on {self.ns.name}/{self.iface}")
        return self

    def stop(self) -> Path:
        """Stop (SIGINT lets tcpdump flush) and return the pcap path."""
        if self.proc is not None and self.proc.alive():
            self.proc.signal(signal.SIGINT)
            try:
                self.proc.popen.wait(2.0)
            except subprocess.TimeoutExpired:
                self.proc.stop(timeout=2.0)
        return self.path
