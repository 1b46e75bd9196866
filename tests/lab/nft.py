"""Link faults without netem: nftables rules inside one namespace (tables ``inet``/``arp lbdt_fault``).

``cut`` makes the namespace silent (drop all input and output except loopback), ``loss`` drops a random
``percent`` of packets in both directions, ``restore`` removes the table. Optional ``iface`` limits the
rules to one interface.
"""

from __future__ import annotations

import subprocess

from tests.lab.netns import Netns

TABLE = "lbdt_fault"


def _apply(ns: Netns, verdict_rule: str, iface: str | None) -> None:
    in_match = f'iifname "{iface}" ' if iface else 'iifname != "lo" '
    out_match = f'oifname "{iface}" ' if iface else 'oifname != "lo" '
    # The inet family sees IPv4 and IPv6 (NDP included); ARP needs a table of its own.
    tables = []
    for family in ("inet", "arp"):
        tables.append(f"""
table {family} {TABLE}
delete table {family} {TABLE}
table {family} {TABLE} {{
    chain input {{
        type filter hook input priority -300; policy accept;
        {in_match}{verdict_rule}
    }}
    chain output {{
        type filter hook output priority -300; policy accept;
        {out_match}{verdict_rule}
    }}
}}
""")
    ns.run(["nft", "-f", "-"], input="".join(tables))


def cut(ns: Netns, *, iface: str | None = None) -> None:
    """Drop everything ``ns`` sends or receives (on ``iface`` only, if given). Loopback keeps working."""
    _apply(ns, "drop", iface)


def loss(ns: Netns, percent: int, *, iface: str | None = None) -> None:
    """Drop about ``percent`` % of packets in each direction (``numgen random mod 100 < N drop``)."""
    if not 0 <= percent <= 100:
        raise ValueError(f"loss percent {percent} is not in 0..100")
    if percent == 0:
        restore(ns)
    elif percent == 100:
        # nft rejects "< 100" for a value in 0..99.
        _apply(ns, "drop", iface)
    else:
        _apply(ns, f"numgen random mod 100 < {percent} drop", iface)


def restore(ns: Netns) -> None:
    """Remove every fault rule (no error if there was none)."""
    ns.run(
        ["nft", "-f", "-"],
        input="".join(f"table {f} {TABLE}\ndelete table {f} {TABLE}\n" for f in ("inet", "arp")),
    )


class FastCut:
    """`nft -i` kept running inside a namespace with an empty table ready, so a cut takes effect about
    a millisecond after it is asked for instead of after an `ip netns exec nft` start-up (tens of ms):
    for benchmarks that time detection from the cut."""

    def __init__(self, ns: Netns, table: str = "lbdt_fastcut") -> None:
        self.table = table
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns.name, "stdbuf", "-oL", "nft", "-i"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        self._send(
            f"add table inet {table}",
            f"add chain inet {table} input {{ type filter hook input priority -300; policy accept; }}",
            f"add chain inet {table} output {{ type filter hook output priority -300; policy accept; }}",
        )

    def _send(self, *commands: str) -> None:
        # nft -i prints nothing for a successful command: each batch ends with a listing whose closing
        # brace tells us that everything before it was applied.
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("\n".join([*commands, f"list table inet {self.table}"]) + "\n")
        self.proc.stdin.flush()
        depth = 0
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("nft -i exited")
            depth += line.count("{") - line.count("}")
            if "}" in line and depth == 0:
                return

    def cut(self, *, ingress_only: bool = False) -> None:
        """Drop everything but loopback coming in, and going out unless `ingress_only`."""
        rules = [f'add rule inet {self.table} input iifname != "lo" drop']
        if not ingress_only:
            rules.append(f'add rule inet {self.table} output oifname != "lo" drop')
        self._send(*rules)

    def restore(self) -> None:
        self._send(f"flush chain inet {self.table} input", f"flush chain inet {self.table} output")

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
