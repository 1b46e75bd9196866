"""ObjectStore and Backoff, without any I/O."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from lbd.kube import NODES, SERVICES, Backoff, ObjectStore, WatchTarget, default_targets


def _obj(name: str, rv: int, namespace: str = "default", **extra: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace, "resourceVersion": str(rv)}, **extra}


def test_replace_reports_the_difference() -> None:
    store = ObjectStore(SERVICES)
    assert [c.type for c in store.replace([_obj("a", 1), _obj("b", 2)])] == ["ADDED", "ADDED"]
    changes = store.replace([_obj("a", 1), _obj("b", 5), _obj("c", 6)])
    assert [(c.type, c.key) for c in changes] == [("MODIFIED", ("default", "b")), ("ADDED", ("default", "c"))]
    assert changes[0].old == _obj("b", 2)
    changes = store.replace([_obj("c", 6)])
    assert [(c.type, c.key[1]) for c in changes] == [("DELETED", "a"), ("DELETED", "b")]
    assert [o["metadata"]["name"] for o in store] == ["c"]


def test_apply_ignores_replays() -> None:
    store = ObjectStore(NODES)
    node = {"metadata": {"name": "n", "resourceVersion": "3"}}
    added = store.apply("ADDED", node)
    assert added is not None and added.key == ("", "n")
    assert store.apply("MODIFIED", dict(node)) is None
    assert store.apply("DELETED", node) is not None
    assert store.apply("DELETED", node) is None
    assert len(store) == 0


keys = st.sampled_from(["a", "b", "c", "d"])
events = st.lists(st.tuples(st.sampled_from(["ADDED", "MODIFIED", "DELETED"]), keys), max_size=30)


@given(events, st.lists(keys, unique=True))
def test_replaying_changes_reproduces_the_store(ops: list[tuple[str, str]], relisted: list[str]) -> None:
    """Whatever events came before, the changes a re-list reports turn the old content into the new."""
    store = ObjectStore(SERVICES)
    for rv, (type_, name) in enumerate(ops, start=1):
        store.apply("DELETED" if type_ == "DELETED" else "MODIFIED", _obj(name, rv))
    before = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in store}
    fresh = [_obj(name, 1000 + i) for i, name in enumerate(relisted)]
    for change in store.replace(fresh):
        if change.type == "DELETED":
            del before[change.key]
        else:
            assert (change.key in before) == (change.type == "MODIFIED")
            before[change.key] = change.obj
    assert [before[k] for k in sorted(before)] == store.items()


def test_backoff_grows_caps_and_resets() -> None:
    backoff = Backoff(initial=1.0, maximum=8.0, factor=2.0, jitter=0.5, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(6)]
    for delay, base in zip(delays, [1, 2, 4, 8, 8, 8], strict=True):
        assert base <= delay < base * 1.5
    assert backoff.failures == 6
    backoff.reset()
    assert 1.0 <= backoff.next_delay() < 1.5


def test_backoff_survives_a_long_outage() -> None:
    backoff = Backoff(initial=1.0, maximum=30.0, jitter=0.0, failures=10_000)
    assert backoff.next_delay() == 30.0


def test_jitter_spreads_clients() -> None:
    delays = {Backoff(rng=random.Random(seed)).next_delay() for seed in range(20)}
    assert len(delays) == 20
    assert all(0.8 <= d < 1.6 for d in delays)


def test_default_targets() -> None:
    targets = default_targets("lb")
    paths = [t.kind.collection_path(t.namespace) for t in targets]
    assert paths[:4] == [
        "/api/v1/services",
        "/apis/discovery.k8s.io/v1/endpointslices",
        "/api/v1/nodes",
        "/api/v1/namespaces/lb/secrets",
    ]
    assert "/apis/metallb.io/v1beta2/namespaces/lb/bgppeers" in paths
    assert WatchTarget(NODES) in targets
