"""The three-node example in examples/standalone-three-node is valid and its members agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from lbd.config import load_paths

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "standalone-three-node"


def test_three_node_example() -> None:
    result = load_paths([EXAMPLE])
    assert result.errors == ()
    assert result.config is not None
    nodes = result.config.node_configs
    assert sorted(nodes) == ["node-a", "node-b", "node-c"]
    addresses = {name: nc.membership.bind_address for name, nc in nodes.items()}
    for name, nc in nodes.items():
        m = nc.membership
        # Each lists exactly the others, at the addresses they bind, with the same key and timers.
        assert {p.name: p.address for p in m.peers} == {n: a for n, a in addresses.items() if n != name}
        assert m.key == nodes["node-a"].membership.key
        assert (m.heartbeat_interval, m.failure_timeout) == pytest.approx((0.05, 0.15))
