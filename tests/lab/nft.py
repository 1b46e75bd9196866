"""Link faults without netem: nftables rules inside one namespace (tables ``inet``/``arp lbdt_fault``).

``cut`` makes the namespace silent (drop all input and output except loopback), ``loss`` drops a random
``percent`` of packets in both directions, ``restore`` removes the table. Optional ``iface`` limits the
rules to one interface.
"""

from __future__ import annotations

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
