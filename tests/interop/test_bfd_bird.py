"""lbd's BFD against BIRD 2's BFD protocol: BIRD sees the session Up and notices a cut in time."""

from __future__ import annotations

import time

import pytest

from tests.interop.test_bfd_frr import start_lbd
from tests.lab import AddressPlan, Lab, cut, wait_for
from tests.lab.bird import Bird
from tests.lab.fixtures import BirdFactory

pytestmark = pytest.mark.lab


def bird_session(router: Bird, peer: str) -> list[str] | None:
    """The `show bfd sessions` row for `peer`: IP, interface, state, since, interval, timeout."""
    for line in router.birdc("show bfd sessions").splitlines():
        fields = line.split()
        if fields and fields[0] == peer:
            return fields
    return None


def wait_bird_state(
    router: Bird, peer: str, state: str, timeout: float, interval: float, *, tx: float | None = None
) -> list[str]:
    def seen() -> list[str] | None:
        row = bird_session(router, peer)
        if row is None or row[2] != state or (tx is not None and float(row[-2]) != tx):
            return None
        return row

    row: list[str] = wait_for(seen, timeout, interval, lambda: f"BIRD {state}: {bird_session(router, peer)}")
    return row


def test_bird_session_up_and_cut_detected(lab: Lab, bird: BirdFactory) -> None:
    net = AddressPlan().v4_link()
    me, router_ns = lab.netns("lbd"), lab.netns("bird")
    lab.link(me, router_ns, a_addrs=[net.iface(2)], b_addrs=[net.iface(1)])
    lbd_ip, bird_ip = net.ip(2), net.ip(1)
    router = bird(
        router_ns,
        f"""
router id {bird_ip};
protocol device {{}}
protocol bfd {{
    interface "eth0" {{ min rx interval 100 ms; min tx interval 100 ms; multiplier 3; }};
    neighbor {lbd_ip} dev "eth0" local {bird_ip};
}}
""",
    )
    fast = {"transmit_interval_ms": 100, "receive_interval_ms": 100}
    lbd = start_lbd(lab, me, {"peer": bird_ip, "local": lbd_ip, "interface": "eth0"}, fast)

    # Up, with both Poll Sequences done: BIRD's transmit interval and detection timeout in seconds.
    row = wait_bird_state(router, lbd_ip, "Up", 10.0, 0.1, tx=0.1)
    assert float(row[-1]) == pytest.approx(0.3)

    cut(me)
    start = time.monotonic()
    wait_bird_state(router, lbd_ip, "Down", 3.0, 0.01)
    elapsed = time.monotonic() - start
    assert elapsed < 0.3 + 0.25, f"BIRD took {elapsed:.3f}s to declare the session down"
    lbd.proc.check_alive()
