"""Every YAML example of both documentation seeds (examples/config/seeds/, one file per example).

Each example validates on its own, except the ones listed in FAILS with the reason. Examples that are
steps of one procedure are also validated together (PROCEDURES), which is how the docs apply them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lbd.config import load_paths

SEEDS = Path(__file__).resolve().parents[3] / "examples" / "config" / "seeds"
FILES = sorted(p.name for p in SEEDS.glob("*.yaml"))

PLACEHOLDER = ("metadata.name", "'<service_name>' must be a lowercase RFC 1123 subdomain")

# file -> (field, message fragment) of the one expected error, and why.
FAILS: dict[str, tuple[tuple[str, str], str]] = {
    "ocp4.12-31.5.4-advertising-an-ip-address-pool-from-a-subset-of-nodes-2.yaml": (
        ("spec.nodeSelector", "unknown field"),
        "the docs write `nodeSelector`; the CRD field is `nodeSelectors`. The API server's strict field "
        "validation rejects it, and MetalLB would otherwise announce from every node, not NodeA and NodeB",
    ),
    "ocp4.12-31.6.4.2-example-specify-a-bfd-profile-for-a-bgp-peer.yaml": (
        ("spec.bfdProfile", "'doc-example-bfd-profile-full' does not exist"),
        "the profile is created in section 31.8.2 (see PROCEDURES)",
    ),
    "ocp4.10-26.4.3-example-specify-a-bfd-profile-for-a-bgp-peer.yaml": (
        ("spec.bfdProfile", "'doc-example-bfd-profile-full' does not exist"),
        "the profile is created in section 26.5.2 (see PROCEDURES)",
    ),
    "ocp4.12-31.7.2-configuring-metallb-with-a-bgp-advertisement-and-community-alias-4.yaml": (
        ("spec.communities[0]", "'NO_ADVERTISE' is not A:B"),
        "the alias is defined by the Community object of step 2 (see PROCEDURES)",
    ),
    "ocp4.12-31.9.1-request-a-specific-ip-address.yaml": (PLACEHOLDER, "a template with <placeholders>"),
    "ocp4.12-31.9.2-request-an-ip-address-from-a-specific-pool.yaml": (PLACEHOLDER, "a template"),
    "ocp4.12-31.9.3-accept-any-ip-address.yaml": (PLACEHOLDER, "a template"),
    "ocp4.10-26.6.1-request-a-specific-ip-address.yaml": (PLACEHOLDER, "a template"),
    "ocp4.10-26.6.2-request-an-ip-address-from-a-specific-pool.yaml": (PLACEHOLDER, "a template"),
    "ocp4.10-26.6.3-accept-any-ip-address.yaml": (PLACEHOLDER, "a template"),
}

# Procedures whose steps are separate examples: (files by prefix, expected warnings as field fragments).
PROCEDURES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "4.12 BGP advertisement with community alias": (
        ("ocp4.12-31.7.2-",),
        # The docs' advertisement names peer `doc-example-peer` but step 3 creates `doc-example-bgp-peer`;
        # MetalLB ignores unknown peers, so this is only a warning.
        ("spec.peers[0]",),
    ),
    "4.12 BFD profile for a BGP peer": (("ocp4.12-31.6.4.2-", "ocp4.12-31.8.2-"), ()),
    "4.10 BFD profile for a BGP peer": (("ocp4.10-26.4.3-example-specify-a-bfd", "ocp4.10-26.5.2-"), ()),
    "4.12 basic BGP advertisement": (("ocp4.12-31.5.2.1-",), ()),
    "4.12 advanced BGP advertisement": (("ocp4.12-31.5.3.1-",), ()),
    "4.12 pools to specific peers": (("ocp4.12-31.6.3-",), ()),
    "4.12 L2 advertisement": (("ocp4.12-31.5.6-",), ()),
    "4.12 L2 advertisement with label": (("ocp4.12-31.5.7-",), ()),
}


def test_every_seed_example_is_extracted() -> None:
    assert len([f for f in FILES if f.startswith("ocp4.12-")]) == 45
    assert len([f for f in FILES if f.startswith("ocp4.10-")]) == 22
    assert set(FAILS) <= set(FILES)


@pytest.mark.parametrize("name", FILES)
def test_seed_example(name: str) -> None:
    result = load_paths([SEEDS / name])
    if name not in FAILS:
        assert result.errors == (), [str(e) for e in result.errors]
        assert result.config is not None
        return
    (field, fragment), _why = FAILS[name]
    assert result.config is None
    assert [(e.field, fragment in e.message) for e in result.errors] == [(field, True)], [
        str(e) for e in result.errors
    ]


@pytest.mark.parametrize("procedure", sorted(PROCEDURES))
def test_seed_procedure(procedure: str) -> None:
    prefixes, warnings = PROCEDURES[procedure]
    files = [SEEDS / f for f in FILES if f.startswith(prefixes)]
    assert len(files) >= 2
    result = load_paths(files)
    assert result.errors == (), [str(e) for e in result.errors]
    assert tuple(w.field for w in result.warnings) == warnings


def test_seed_advanced_bgp_advertisement_model() -> None:
    result = load_paths([SEEDS / f for f in FILES if f.startswith("ocp4.12-31.5.3.1-")])
    assert result.config is not None
    advs = result.config.bgp_advertisements_for("doc-example-bgp-adv")
    assert [(a.name, a.aggregation_length, a.aggregation_length_v6, a.local_pref) for a in advs] == [
        ("bgpadvertisement-adv-1", 32, 128, 100),
        ("bgpadvertisement-adv-2", 30, 124, 0),
    ]
    assert [str(c) for a in advs for c in a.communities] == ["65535:65282", "8000:800"]
    assert result.config.pools["doc-example-bgp-adv"].auto_assign is False


def test_seed_legacy_pool_becomes_pool_and_advertisements() -> None:
    result = load_paths([SEEDS / "ocp4.10-26.3.3-example-bgp-mode-with-custom-advertisement.yaml"])
    assert result.config is not None
    pool = result.config.pools["doc-example-bgp-adv"]
    assert pool.source_kind == "AddressPool"
    advs = result.config.bgp_advertisements_for(pool.name)
    assert [(a.aggregation_length, a.aggregation_length_v6, a.local_pref) for a in advs] == [
        (32, 128, 100),
        (30, 124, 0),
    ]
    layer2 = load_paths([SEEDS / "ocp4.10-26.3.2-configuring-an-address-pool.yaml"]).config
    assert layer2 is not None
    assert [a.name for a in layer2.l2_advertisements_for("doc-example")] == ["doc-example.layer2"]
    assert layer2.bgp_advertisements_for("doc-example") == ()


def test_standalone_example() -> None:
    result = load_paths([SEEDS.parent / "standalone"])
    assert result.errors == () and result.warnings == ()
    config = result.config
    assert config is not None
    assert [a.name for a in config.l2_advertisements_for("l2-pool")] == ["l2"]
    assert config.l2_advertisements_for("bgp-pool") == ()
    assert [str(c) for c in config.bgp_advertisements_for("bgp-pool")[0].communities] == [
        "65535:65281",
        "64500:100",
    ]
    assert config.peers["router"].password == "lab-only-password"
    assert config.bfd_profile_of(config.peers["router"]) == config.bfd_profiles["fast"]
    node_a = config.node_config("node-a")
    assert node_a is not None and [p.name for p in node_a.membership.peers] == ["node-b"]
