"""L2Announcer over fake links, ports and memberships: what apply/close/link changes make it send."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

import pytest

from l2 import Interface, arp, ndp
from l2.ethernet import parse_mac
from lbd.allocator.requests import AllocationResult, Assignment, State
from lbd.allocator.requests import Reason as AllocationReason
from lbd.config import Config, parse_documents
from lbd.daemon.announcer import Announcer, StatusSource
from lbd.metrics import Metrics
from lbd.net.l2_announcer import LINK_RETURN_HOLD, REANNOUNCE_SETTLE, L2Announcer
from lbd.reconcile import DesiredState
from lbd.reconcile.types import L2Announcement, L2Decision, ServiceState

MAC = parse_mac("02:00:00:00:00:01")
ETH0 = Interface(4, "eth0", MAC, True, True, True, False, False, False, IPv6Address("fe80::1"))
VIP = "203.0.113.20"
VIP6 = "fd00::20"


class FakeLinks:
    def __init__(self, on_change: Callable[[tuple[Interface, ...]], None]) -> None:
        self.on_change = on_change
        self.closed = False

    async def start(self) -> tuple[Interface, ...]:
        return (ETH0,)

    async def close(self) -> None:
        self.closed = True


class FakePort:
    def __init__(self, world: World, interface: str, fail: bool) -> None:
        if fail:
            raise OSError(19, "No such device")
        self.world, self.interface = world, interface
        self.open = True

    def send(self, frame: bytes) -> bool:
        assert self.open
        self.world.sent.append((self.interface, frame))
        return True

    def close(self) -> None:
        self.open = False


class FakeGroups:
    def __init__(self, world: World) -> None:
        self.world = world

    def sync(self, wanted: frozenset[Any], log: Callable[..., object]) -> None:
        self.world.groups = wanted

    def close(self) -> None:
        self.world.groups = frozenset()


class World:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []
        self.ports: dict[str, FakePort] = {}
        self.links: FakeLinks | None = None
        self.groups: frozenset[Any] = frozenset()
        self.fail_ports = False
        self.metrics = Metrics(process_metrics=False)

    def announcer(self) -> L2Announcer:
        def links(on_change: Callable[[tuple[Interface, ...]], None]) -> FakeLinks:
            self.links = FakeLinks(on_change)
            return self.links

        def port(
            _loop: asyncio.AbstractEventLoop, name: str, _deliver: Callable[[str, bytes], None]
        ) -> FakePort:
            self.ports[name] = FakePort(self, name, self.fail_ports)
            return self.ports[name]

        return L2Announcer(
            node="n1", metrics=self.metrics, links=links, port=port, groups=lambda: FakeGroups(self)
        )

    def take(self) -> list[bytes]:
        frames = [f for _, f in self.sent]
        self.sent.clear()
        return frames


CONFIG: Config | None = parse_documents([]).config


def desired(*vips: str, interfaces: tuple[str, ...] = ("eth0",)) -> DesiredState:
    l2 = tuple(L2Announcement(ip_address(v), "ns/svc", interfaces, False) for v in vips)
    return DesiredState("n1", AllocationResult(()), (), l2, ())


async def apply(announcer: L2Announcer, state: DesiredState) -> None:
    assert CONFIG is not None
    await announcer.apply(CONFIG, state)


def test_is_an_announcer_and_status_source() -> None:
    announcer: Announcer = World().announcer()
    assert isinstance(announcer, StatusSource)
    assert announcer.name == "l2"


async def test_apply_sends_the_first_gratuitous_round_before_returning() -> None:
    world = World()
    announcer = world.announcer()
    await apply(announcer, desired(VIP))
    frames = world.take()
    assert [arp.decode_frame(f) for f in frames] == [
        arp.ArpPacket(arp.Op.REQUEST, MAC, IPv4Address(VIP), bytes(6), IPv4Address(VIP)),
        arp.ArpPacket(arp.Op.REPLY, MAC, IPv4Address(VIP), MAC, IPv4Address(VIP)),
    ]
    # The following rounds (0.05 s and 0.2 s) come from the loop's timer, in order.
    await asyncio.sleep(0.25)
    assert len(world.take()) == 4
    await announcer.close()


async def test_answers_requests_from_the_port_and_counts() -> None:
    world = World()
    announcer = world.announcer()
    await apply(announcer, desired(VIP))
    world.take()
    client = parse_mac("02:00:00:00:00:99")
    request = arp.ArpPacket(arp.Op.REQUEST, client, IPv4Address("203.0.113.1"), bytes(6), IPv4Address(VIP))
    announcer._on_frame("eth0", arp.encode_frame(b"\xff" * 6, request))
    [reply] = world.take()
    assert reply[:6] == client
    [row] = announcer.views()["l2"]({})
    assert row == {
        "ip": VIP,
        "service": "ns/svc",
        "node": "n1",
        "protocol": "ARP",
        "selected": ["eth0"],
        "interfaces": ["eth0"],
        "macs": ["02:00:00:00:00:01"],
        "gratuitous_sent": 2,
        "requests_received": 1,
        "responses_sent": 1,
    }
    samples = {(s.name, s.labels["ip"]): s.value for f in world.metrics.samples().values() for s in f}
    assert samples[("metallb_layer2_requests_received", VIP)] == 1
    assert samples[("metallb_layer2_responses_sent", VIP)] == 1
    assert samples[("metallb_layer2_gratuitous_sent", VIP)] == 2
    await announcer.close()


async def test_release_stops_at_once_and_closes_the_port() -> None:
    world = World()
    announcer = world.announcer()
    await apply(announcer, desired(VIP))
    await apply(announcer, desired())
    world.take()
    assert not world.ports["eth0"].open
    await asyncio.sleep(0.1)
    assert world.take() == []
    assert announcer.views()["l2"]({}) == []
    await announcer.close()


async def test_ipv6_joins_the_solicited_node_group_and_leaves_it() -> None:
    world = World()
    announcer = world.announcer()
    await apply(announcer, desired(VIP6))
    assert world.groups == {(4, ndp.solicited_node(IPv6Address(VIP6)))}
    [frame] = world.take()
    advert = ndp.decode_frame(frame)
    assert isinstance(advert, ndp.NdpPacket) and advert.override and advert.destination == ndp.ALL_NODES
    await apply(announcer, desired())
    assert world.groups == frozenset()
    await announcer.close()


async def test_link_down_and_up_from_netlink() -> None:
    world = World()
    announcer = world.announcer()
    await apply(announcer, desired(VIP))
    world.take()
    assert world.links is not None
    world.links.on_change((replace(ETH0, up=False),))
    assert not world.ports["eth0"].open
    assert announcer.views()["l2"]({})[0]["interfaces"] == []
    world.links.on_change((ETH0,))
    # The link is back, but this node may have been cut off by it: it waits for the healed election.
    assert world.take() == []
    await asyncio.sleep(LINK_RETURN_HOLD + 0.03)
    assert world.ports["eth0"].open
    assert len(world.take()) == 2  # a new burst on the link that came back
    await announcer.close()
    assert world.links.closed


async def test_vip_released_while_its_link_is_held_is_never_claimed() -> None:
    world = World()
    announcer = world.announcer()
    await apply(announcer, desired(VIP))
    assert world.links is not None
    world.links.on_change((replace(ETH0, carrier=False),))
    world.take()
    world.links.on_change((ETH0,))
    # Membership heals within the hold: the election gives the VIP to another node.
    await apply(announcer, desired())
    await asyncio.sleep(LINK_RETURN_HOLD + 0.03)
    assert world.take() == []
    await announcer.close()


async def test_link_created_again_gets_a_new_port() -> None:
    world = World()
    announcer = world.announcer()
    await apply(announcer, desired(VIP))
    first = world.ports["eth0"]
    assert world.links is not None
    world.links.on_change((replace(ETH0, index=9),))
    assert not first.open and world.ports["eth0"] is not first and world.ports["eth0"].open
    await announcer.close()


async def test_close_stops_everything() -> None:
    world = World()
    announcer = world.announcer()
    await apply(announcer, desired(VIP, VIP6))
    await announcer.close()
    world.take()
    assert not world.ports["eth0"].open and world.groups == frozenset()
    await asyncio.sleep(0.1)
    assert world.take() == []


@pytest.mark.parametrize("vip", [VIP, VIP6])
async def test_port_that_cannot_open_is_counted_not_raised(vip: str) -> None:
    world = World()
    world.fail_ports = True
    announcer = world.announcer()
    await apply(announcer, desired(vip))
    assert world.sent == [] and announcer.send_failures >= 1
    await announcer.close()


def elected(*candidates: str, vips: tuple[str, ...] = (VIP,)) -> DesiredState:
    """This node (n1) owns `vips` of ns/svc, elected among `candidates`."""
    addresses = tuple(ip_address(v) for v in vips)
    assignment = Assignment("ns/svc", State.ALLOCATED, AllocationReason.KEPT, addresses)
    decision = L2Decision("n1", candidates, (), ("eth0",), False, None)
    l2 = tuple(L2Announcement(a, "ns/svc", ("eth0",), False) for a in addresses)
    return DesiredState("n1", AllocationResult(()), (ServiceState(assignment, decision, None),), l2, ())


async def test_kept_vip_is_announced_again_once_a_rejoined_candidate_settles() -> None:
    world = World()
    announcer = world.announcer()
    await apply(announcer, elected("n1"))
    await asyncio.sleep(1.2)  # the takeover burst is over
    world.take()
    # n2 comes back (a partition heals): nothing at once, a new burst once the live set had time to settle.
    await apply(announcer, elected("n1", "n2"))
    assert world.take() == []
    await asyncio.sleep(REANNOUNCE_SETTLE + 0.03)
    assert [arp.decode_frame(f) for f in world.take()] == [
        arp.ArpPacket(arp.Op.REQUEST, MAC, IPv4Address(VIP), bytes(6), IPv4Address(VIP)),
        arp.ArpPacket(arp.Op.REPLY, MAC, IPv4Address(VIP), MAC, IPv4Address(VIP)),
    ]
    # A candidate leaving, or the same candidates again, is no reason to speak.
    await asyncio.sleep(1.2)
    world.take()
    await apply(announcer, elected("n1"))
    await apply(announcer, elected("n1"))
    await asyncio.sleep(REANNOUNCE_SETTLE + 0.03)
    assert world.take() == []
    await announcer.close()


async def test_vip_lost_before_the_settle_is_not_announced_again() -> None:
    world = World()
    announcer = world.announcer()
    await apply(announcer, elected("n1"))
    await asyncio.sleep(1.2)
    world.take()
    # Partial heal: n3 is heard first (n1 keeps the VIP), then n2, who wins it: n1 must stay silent.
    await apply(announcer, elected("n1", "n3"))
    await apply(announcer, desired())
    await asyncio.sleep(REANNOUNCE_SETTLE + 0.03)
    assert world.take() == []
    await announcer.close()


async def test_no_link_tracking_without_answers_then_eligible_interfaces_reported() -> None:
    world = World()
    announcer = world.announcer()
    changes: list[tuple[str, ...]] = []
    announcer.on_interfaces_changed = lambda: changes.append(announcer.eligible_interfaces())
    await apply(announcer, desired())
    assert world.links is None and announcer.eligible_interfaces() == ()  # unknown: nothing to answer
    await apply(announcer, desired(VIP))
    assert world.links is not None and changes == [("eth0",)]
    world.links.on_change((replace(ETH0, up=False),))
    assert changes[-1] == ()
    world.links.on_change((ETH0,))
    # Back up, but held until the link-return hold ends: still not eligible.
    assert changes[-1] == ()
    await asyncio.sleep(LINK_RETURN_HOLD + 0.03)
    assert changes[-1] == ("eth0",) and len(changes) == 3
    await announcer.close()
