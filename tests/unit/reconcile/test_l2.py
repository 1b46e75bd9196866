"""L2 owner election and interfaces, MetalLB-compatible."""

from __future__ import annotations

import hashlib
import ipaddress

import pytest

from lbd.config.model import L2Advertisement, NodeConfig
from lbd.reconcile import Reason, Snapshot, reconcile
from lbd.reconcile.l2 import election_order
from tests.unit.reconcile.helpers import NS, config, node, pool, selector, service, slice_for, world

POOL = pool("p", ("192.0.2.10", "192.0.2.20"))
ADV = L2Advertisement("l2", NS)
NODES = ("n1", "n2", "n3", "n4")


def owner_by_hash(nodes: list[str], ip: str) -> str:
    return min(nodes, key=lambda n: hashlib.sha256(f"{n}#{ip}".encode()).digest())


def test_election_order_is_sha256_of_name_hash_ip() -> None:
    ip = ipaddress.ip_address("192.0.2.10")
    order = election_order(NODES, ip)
    assert order == sorted(NODES, key=lambda n: hashlib.sha256(f"{n}#192.0.2.10".encode()).digest())
    # A fixed vector so a change of the hashed text cannot go unnoticed.
    assert order == ["n2", "n3", "n4", "n1"]


def state(
    svc_local: bool = False, endpoints: tuple[tuple[str | None, bool], ...] = (("n1", True),), **kw: object
):
    svc = service("web", local=svc_local)
    nodes = kw.pop("nodes", [node(n) for n in NODES])
    advs = kw.pop("advs", (ADV,))
    node_configs = kw.pop("node_configs", ())
    snap = Snapshot(
        config=config([POOL], l2=advs, node_configs=node_configs),  # type: ignore[arg-type]
        world=world([svc], [slice_for(svc, *endpoints)] if endpoints else [], nodes),  # type: ignore[arg-type]
        node=str(kw.pop("me", "n1")),
        **kw,  # type: ignore[arg-type]
    )
    result = reconcile(snap)
    st = result.service("default/web")
    assert st is not None
    return result, st


def test_cluster_policy_owner_is_first_by_hash_among_all_live() -> None:
    result, st = state()
    assert st.l2 is not None
    assert st.l2.owner == owner_by_hash(list(NODES), "192.0.2.10") == "n2"
    assert st.l2.candidates == ("n2", "n3", "n4", "n1")
    assert result.l2 == ()  # n1 is not the owner


def test_owner_node_answers() -> None:
    result, _ = state(me="n2")
    assert [(str(a.address), a.service, a.all_interfaces) for a in result.l2] == [
        ("192.0.2.10", "default/web", True)
    ]


@pytest.mark.parametrize(
    ("nodes", "live", "excluded"),
    [
        (
            [node("n1"), node("n3"), node("n2", unavailable=True), node("n4")],
            None,
            ("n2", Reason.NODE_NETWORK_UNAVAILABLE),
        ),
        (
            [
                node("n1"),
                node("n3"),
                node("n2", **{"node.kubernetes.io/exclude-from-external-load-balancers": ""}),
                node("n4"),
            ],
            None,
            ("n2", Reason.NODE_EXCLUDED),
        ),
        (
            [node("n1"), node("n3"), node("n2", unschedulable=True), node("n4")],
            None,
            ("n2", Reason.NODE_UNSCHEDULABLE),
        ),
        ([node(n) for n in NODES], frozenset({"n1", "n3", "n4"}), ("n2", Reason.NOT_LIVE)),
    ],
)
def test_unavailable_nodes_are_not_candidates(
    nodes: list, live: frozenset[str] | None, excluded: tuple
) -> None:
    _, st = state(nodes=nodes, live_nodes=live)
    assert st.l2 is not None
    assert "n2" not in st.l2.candidates
    assert st.l2.owner == owner_by_hash(["n1", "n3", "n4"], "192.0.2.10")
    assert excluded in [(v.node, v.reason) for v in st.l2.nodes]


def test_node_selectors_limit_candidates() -> None:
    nodes = [node("n1", zone="a"), node("n2", zone="b"), node("n3", zone="b"), node("n4", zone="a")]
    adv = L2Advertisement("l2", NS, node_selectors=(selector(zone="a"),))
    _, st = state(nodes=nodes, advs=(adv,))
    assert st.l2 is not None
    assert set(st.l2.candidates) == {"n1", "n4"}
    assert ("n3", Reason.NOT_SELECTED) in [(v.node, v.reason) for v in st.l2.nodes]


def test_local_policy_only_nodes_with_ready_endpoint() -> None:
    _, st = state(svc_local=True, endpoints=(("n2", True), ("n4", True), ("n3", False)))
    assert st.l2 is not None
    assert set(st.l2.candidates) == {"n2", "n4"}
    assert ("n3", Reason.NO_LOCAL_ENDPOINTS) in [(v.node, v.reason) for v in st.l2.nodes]


def test_local_policy_without_eligible_endpoint_node() -> None:
    _, st = state(svc_local=True, endpoints=(("n9", True),))
    assert st.l2 is not None
    assert (st.l2.owner, st.l2.reason) == (None, Reason.NO_LOCAL_ENDPOINTS)


@pytest.mark.parametrize("endpoints", [(), (("n1", False), ("n2", False))])
def test_no_ready_endpoint_anywhere_is_not_announced(endpoints: tuple) -> None:
    result, st = state(endpoints=endpoints, me="n2")
    assert st.l2 is not None
    assert (st.l2.owner, st.l2.reason) == (None, Reason.NO_ENDPOINTS)
    assert result.l2 == ()


def test_standalone_service_without_slices_is_served_everywhere() -> None:
    _, st = state(endpoints=(), standalone=True)
    assert st.l2 is not None and st.l2.owner == "n2"


def test_pool_without_l2_advertisement() -> None:
    _, st = state(advs=())
    assert st.l2 is None


@pytest.mark.parametrize(
    ("advs", "known", "want", "all_ifaces", "reason"),
    [
        (
            (L2Advertisement("a", NS, interfaces=("eth1",)), L2Advertisement("b", NS, interfaces=("eth0",))),
            None,
            ("eth0", "eth1"),
            False,
            None,
        ),
        ((L2Advertisement("a", NS, interfaces=("eth1",)), L2Advertisement("b", NS)), None, (), True, None),
        ((L2Advertisement("a", NS, interfaces=("eth1", "eth2")),), ("eth0", "eth2"), ("eth2",), False, None),
        ((L2Advertisement("a", NS),), ("eth0", "eth2"), ("eth0", "eth2"), False, None),
        ((L2Advertisement("a", NS, interfaces=("eth9",)),), ("eth0",), (), False, Reason.NO_INTERFACES),
    ],
)
def test_interfaces(
    advs: tuple, known: tuple[str, ...] | None, want: tuple, all_ifaces: bool, reason: Reason | None
) -> None:
    result, st = state(advs=advs, me="n2", interfaces=known or ())
    assert st.l2 is not None
    assert (st.l2.interfaces, st.l2.all_interfaces, st.l2.reason) == (want, all_ifaces, reason)
    assert len(result.l2) == (0 if reason else 1)


def test_node_config_interfaces_apply_to_other_nodes() -> None:
    _, st = state(node_configs=(NodeConfig("n2cfg", "n2", interfaces=("bond0",)),))
    assert st.l2 is not None
    assert (st.l2.owner, st.l2.interfaces) == ("n2", ("bond0",))


def test_dual_stack_follows_first_address() -> None:
    dual = pool("p", ("192.0.2.10", "192.0.2.20"), ("2001:db8::10", "2001:db8::20"))
    svc = service("web", **{"metallb.io/loadBalancerIPs": "192.0.2.15,2001:db8::15"})
    svc = svc.replace(ip_families=("IPv4", "IPv6"), ip_family_policy="RequireDualStack")
    want = owner_by_hash(list(NODES), "192.0.2.15")
    snap = Snapshot(
        config=config([dual], l2=[ADV]),
        world=world([svc], [slice_for(svc, ("n1", True))], [node(n) for n in NODES]),
        node=want,
    )
    result = reconcile(snap)
    assert [str(a.address) for a in result.l2] == ["192.0.2.15", "2001:db8::15"]
