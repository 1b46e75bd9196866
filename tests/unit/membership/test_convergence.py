"""Property: whatever happened before (kills, restarts, clean stops, partitions, loss), once the network
is whole again every running member agrees that exactly the running members are live."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lbd.membership import Timers
from tests.unit.membership.sim import Cluster

NAMES = ["a", "b", "c", "d"]
T = Timers()

actions = st.lists(
    st.tuples(
        st.sampled_from(["kill", "start", "stop", "isolate", "cut", "heal", "lossy", "wait"]),
        st.sampled_from(NAMES),
        st.sampled_from(NAMES),
        st.floats(0.0, 0.4),
    ),
    max_size=12,
)


@settings(max_examples=40, deadline=None)
@given(actions, st.integers(0, 2**16))
def test_views_converge_once_the_network_is_whole(
    steps: list[tuple[str, str, str, float]], seed: int
) -> None:
    cluster = Cluster(NAMES, seed=seed)
    cluster.run_for(0.3)
    for action, x, y, pause in steps:
        up = cluster.nodes[x].engine is not None
        if action == "kill" and up:
            cluster.kill(x)
        elif action == "stop" and up:
            cluster.stop(x)
        elif action == "start" and not up:
            cluster.start(x)
        elif action == "isolate":
            cluster.isolate(x)
        elif action == "cut" and x != y:
            cluster.cut(x, y)
        elif action == "heal":
            cluster.heal()
        elif action == "lossy":
            cluster.loss = 0.1
        cluster.run_for(pause)
    cluster.heal()
    cluster.loss = 0.0
    # A heartbeat round, a handshake, and a failure timeout for whoever died last.
    cluster.run_for(T.failure_timeout + 2 * T.interval + 0.01)
    running = frozenset(n for n in NAMES if cluster.nodes[n].engine is not None)
    for name in running:
        assert cluster.live(name) == running, (name, cluster.live(name), running)
