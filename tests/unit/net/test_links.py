"""LinkTracker's table from rtnetlink messages (fakes with pyroute2's message interface)."""

from __future__ import annotations

import socket
from ipaddress import IPv6Address
from typing import Any

from l2 import Interface
from l2.ethernet import parse_mac
from lbd.net import links
from lbd.net.links import IFF_BROADCAST, IFF_LOWER_UP, IFF_NOARP, IFF_UP, LinkTracker


class Msg(dict[str, Any]):
    def __init__(self, event: str, attrs: dict[str, Any], **fields: Any) -> None:
        super().__init__(event=event, **fields)
        self.attrs = attrs

    def get_attr(self, name: str) -> Any:
        return self.attrs.get(name)


def link(index: int, name: str, flags: int, mac: str = "02:00:00:00:00:01", **attrs: Any) -> Msg:
    return Msg("RTM_NEWLINK", {"IFLA_IFNAME": name, "IFLA_ADDRESS": mac, **attrs}, index=index, flags=flags)


def addr(index: int, address: str, flags: int = 0, event: str = "RTM_NEWADDR") -> Msg:
    return Msg(
        event,
        {"IFA_ADDRESS": address, "IFA_FLAGS": flags},
        index=index,
        family=socket.AF_INET6,
        scope=links.RT_SCOPE_LINK,
        flags=flags & 0xFF,
    )


UP = IFF_UP | IFF_LOWER_UP | IFF_BROADCAST


def tracker(*msgs: Msg) -> LinkTracker:
    t = LinkTracker(lambda _: None)
    for msg in msgs:
        t._apply(msg)
    return t


def test_link_and_link_local() -> None:
    t = tracker(link(2, "eth0", UP), addr(2, "fe80::1"), addr(2, "fd00::1"))
    assert t.interfaces == (
        Interface(
            2,
            "eth0",
            parse_mac("02:00:00:00:00:01"),
            True,
            True,
            True,
            False,
            False,
            False,
            IPv6Address("fe80::1"),
        ),
    )
    assert t.interfaces[0].arp and t.interfaces[0].ndp


def test_global_addresses_are_not_link_local() -> None:
    # The fake marks everything scope link; the tracker also filters by family and scope.
    msg = addr(2, "fd00::1")
    msg["scope"] = 0
    t = tracker(link(2, "eth0", UP), msg)
    assert t.interfaces[0].link_local is None


def test_tentative_link_local_is_not_usable_until_dad_ends() -> None:
    t = tracker(link(2, "eth0", UP), addr(2, "fe80::1", links.IFA_F_TENTATIVE))
    assert t.interfaces[0].link_local is None and not t.interfaces[0].ndp
    t._apply(addr(2, "fe80::1"))
    assert t.interfaces[0].link_local == IPv6Address("fe80::1")


def test_link_update_keeps_addresses_and_flags_follow() -> None:
    t = tracker(link(2, "eth0", UP), addr(2, "fe80::1"))
    t._apply(link(2, "eth0", IFF_BROADCAST))
    [eth0] = t.interfaces
    assert (eth0.up, eth0.carrier, eth0.link_local) == (False, False, IPv6Address("fe80::1"))
    assert eth0.ineligible() == "down"


def test_enslaved_noarp_and_non_ethernet() -> None:
    t = tracker(
        link(2, "eth0", UP, IFLA_MASTER=5),
        link(3, "lbd0", UP | IFF_NOARP),
        link(4, "tun0", IFF_UP | IFF_LOWER_UP, mac="00:00:00:00"),
    )
    assert [i.ineligible() for i in t.interfaces] == ["enslaved", "NOARP", "no Ethernet address"]


def test_deleted_link_and_address() -> None:
    t = tracker(link(2, "eth0", UP), addr(2, "fe80::1"), link(3, "eth1", UP))
    t._apply(addr(2, "fe80::1", event="RTM_DELADDR"))
    t._apply(Msg("RTM_DELLINK", {}, index=3))
    assert [(i.name, i.link_local) for i in t.interfaces] == [("eth0", None)]


def test_address_of_unknown_link_is_ignored() -> None:
    assert tracker(addr(9, "fe80::1")).interfaces == ()
