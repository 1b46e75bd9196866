"""Solicited-node memberships against a real kernel: more groups than one socket can hold, joined and
left, as the kernel reports them in /proc/net/igmp6."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.lab import Lab

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, socket
from ipaddress import IPv6Address
from lbd.net.l2_packet import Memberships
from l2 import solicited_node

def groups(ifname):
    rows = [line.split() for line in open("/proc/net/igmp6")]
    return sum(1 for r in rows if r[1] == ifname and r[2].startswith("ff0200000000000000000001ff"))

index = socket.if_nametoindex("eth0")
base = groups("eth0")  # the link-local's own group
wanted = frozenset((index, solicited_node(IPv6Address("2001:db8:ffff::") + i)) for i in range(5000))
m = Memberships()
m.sync(wanted, print)
joined, sockets = groups("eth0") - base, m.sockets
m.sync(frozenset(list(wanted)[:10]), print)
after_leave = groups("eth0") - base
m.close()
closed = groups("eth0") - base
print(json.dumps({"joined": joined, "sockets": sockets, "after_leave": after_leave, "closed": closed}))
"""


def test_thousands_of_groups_spread_over_sockets(lab: Lab) -> None:
    ns, peer = lab.netns("node"), lab.netns("peer")
    lab.link(ns, peer)
    out = ns.run([sys.executable, "-c", SCRIPT], env={"PYTHONPATH": str(REPO)}, timeout=60).stdout
    result = json.loads(out.strip().splitlines()[-1])
    # 5,000 groups need more than one socket at any optmem_max up to 256 KiB.
    assert result == {"joined": 5000, "sockets": result["sockets"], "after_leave": 10, "closed": 0}
    assert result["sockets"] >= 2
