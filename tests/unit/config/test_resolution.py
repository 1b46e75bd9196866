"""Which advertisements cover which pools, warnings for dangling references, ignored kinds."""

from __future__ import annotations

from tests.unit.config.helpers import find, parse
from tests.unit.config.test_rules import BASE_PEER, obj, peer, pool


def test_advertisement_pool_selection() -> None:
    result = parse(
        pool("east", "10.0.0.0/24", labels="zone: east")
        + pool("west", "10.0.1.0/24", labels="zone: west")
        + pool("plain", "10.0.2.0/24")
        + obj("L2Advertisement", "all", "")
        + obj("L2Advertisement", "by-label", "ipAddressPoolSelectors: [{matchLabels: {zone: east}}]")
        + obj(
            "L2Advertisement",
            "by-name-and-label",
            "ipAddressPools: [plain], ipAddressPoolSelectors: "
            "[{matchExpressions: [{key: zone, operator: In, values: [west]}]}]",
        )
        + obj("BGPAdvertisement", "none", "ipAddressPoolSelectors: [{matchLabels: {zone: north}}]")
    )
    config = result.config
    assert config is not None
    assert config.pool_l2 == {
        "east": ("all", "by-label"),
        "west": ("all", "by-name-and-label"),
        "plain": ("all", "by-name-and-label"),
    }
    assert config.pool_bgp == {"east": (), "west": (), "plain": ()}


def test_dangling_references_are_warnings_as_in_metallb() -> None:
    result = parse(
        pool("a", "10.0.0.0/24")
        + peer("p", BASE_PEER)
        + obj("BGPAdvertisement", "x", "ipAddressPools: [a, missing], peers: [p, ghost]")
    )
    assert result.errors == ()
    assert result.config is not None
    assert [(w.field, w.severity.value) for w in result.warnings] == [
        ("spec.peers[1]", "warning"),
        ("spec.ipAddressPools[1]", "warning"),
    ]
    assert result.config.pool_bgp == {"a": ("x",)}


def test_operator_objects_are_ignored_with_a_warning() -> None:
    result = parse(
        "apiVersion: metallb.io/v1beta1\nkind: MetalLB\nmetadata: {name: metallb}\nspec: {logLevel: debug}\n"
    )
    assert result.errors == () and result.config is not None
    assert find(result.warnings, "-", "not used by lbd") is not None


def test_duplicate_legacy_pool_reported_once() -> None:
    legacy = obj(
        "AddressPool",
        "a",
        'protocol: bgp, addresses: ["10.0.0.0/24"], bgpAdvertisements: [{}, {localPref: 0}]',
    )
    result = parse(legacy + legacy.replace("10.0.0.0/24", "10.0.1.0/24"))
    assert [(e.kind, e.field) for e in result.errors] == [("AddressPool", "metadata.name")]


def test_unnumbered_peer_interface_name() -> None:
    good = parse(peer("p", "interface: eth1, peerASN: 64501, myASN: 64500"))
    assert good.config is not None and good.config.peers["p"].interface == "eth1"
    bad = parse(peer("p", "interface: 'eth 1', peerASN: 64501, myASN: 64500"))
    assert find(bad.errors, "spec.interface", "interface name") is not None


def test_config_is_hashable_and_frozen() -> None:
    first = parse(pool("a", "10.0.0.0/24") + obj("L2Advertisement", "l2", "")).config
    second = parse(pool("a", "10.0.0.0/24") + obj("L2Advertisement", "l2", "")).config
    assert first is not None and first == second and hash(first) == hash(second)
