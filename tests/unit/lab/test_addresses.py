from __future__ import annotations

import ipaddress

import pytest

from tests.lab.addresses import AddressPlan, LabAddressError, check_address


@pytest.mark.parametrize(
    "value",
    [
        "192.0.2.1",
        "192.0.2.1/30",
        "198.51.100.0/24",
        "203.0.113.255",
        "2001:db8::1/64",
        "2001:db8:ffff::/48",
        "fd00::1",
        "fdff:ffff::/32",
    ],
)
def test_lab_ranges_are_accepted(value: str) -> None:
    assert check_address(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "10.0.0.1",
        "192.0.3.1",
        "192.0.2.0/23",
        "0.0.0.0/0",
        "8.8.8.8",
        "2001:db9::1",
        "2001:db8::/31",
        "fc00::1",
        "fe80::1",
        "::1",
        "not-an-address",
    ],
)
def test_anything_else_is_refused(value: str) -> None:
    with pytest.raises(LabAddressError):
        check_address(value)


def test_link_local_only_where_allowed() -> None:
    assert check_address("fe80::1", allow_link_local=True) == "fe80::1"
    with pytest.raises(LabAddressError):
        check_address("169.254.0.1", allow_link_local=True)


def test_plan_hands_out_disjoint_subnets_inside_the_lab_ranges() -> None:
    plan = AddressPlan()
    subnets = [plan.v4_link(), plan.v4_link(), plan.v4_lan(), plan.v4_prefix(25), plan.v4_prefix()]
    subnets += [plan.v6_link(), plan.v6_link(), plan.v6_lan(), plan.v6_prefix(64), plan.v6_prefix()]
    for subnet in subnets:
        check_address(subnet.prefix)
    for i, a in enumerate(subnets):
        for b in subnets[i + 1 :]:
            assert a.network.version != b.network.version or not a.network.overlaps(b.network)  # type: ignore[arg-type]


def test_subnet_hosts() -> None:
    plan = AddressPlan()
    link = plan.v4_link()
    assert (link.prefix, link.ip(1), link.iface(2)) == ("192.0.2.0/30", "192.0.2.1", "192.0.2.2/30")
    assert plan.v4_link().prefix == "192.0.2.4/30"
    assert plan.v6_link().iface(1) == "2001:db8::1/64"
    assert plan.v6_link().prefix == "2001:db8:0:1::/64"
    assert plan.v4_prefix().ip(0) == "198.51.100.0"
    with pytest.raises(LabAddressError):
        link.ip(4)


def test_plan_runs_out_loudly() -> None:
    plan = AddressPlan()
    taken = [plan.v4_link(25) for _ in range(2)]
    assert ipaddress.ip_network("192.0.2.0/24") == taken[0].network.supernet(1)
    with pytest.raises(LabAddressError):
        plan.v4_link()
