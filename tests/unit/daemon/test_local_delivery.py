"""Local delivery against fake netlink: addresses follow the announcements, settings follow reloads."""

from __future__ import annotations

import errno
import ipaddress
from typing import Any

from structlog.testing import capture_logs

from lbd.config import Config, IPAddress
from lbd.daemon.core import DaemonCore
from lbd.net.local_delivery import SYSCTLS, LocalDeliveryAnnouncer
from lbd.reconcile import DesiredState
from tests.unit.daemon.helpers import NODE, l2, parsed, pool, service


class FakeLinks:
    def __init__(self, dummy: bool = True) -> None:
        self.dummy = dummy
        self.links: dict[str, tuple[int, str]] = {}
        self.addrs: dict[int, set[IPAddress]] = {}
        self.up: set[int] = set()
        self.closed = False

    async def find(self, ifname: str) -> tuple[int, str | None] | None:
        return self.links.get(ifname)

    async def create(self, ifname: str, kind: str) -> int:
        if kind == "dummy" and not self.dummy:
            raise OSError(errno.EOPNOTSUPP, "Operation not supported")
        index = 10 + len(self.links)
        self.links[ifname] = (index, kind)
        self.addrs[index] = set()
        return index

    async def set_up(self, index: int) -> None:
        self.up.add(index)

    async def addresses(self, index: int) -> set[IPAddress]:
        return set(self.addrs[index])

    async def add(self, index: int, address: IPAddress) -> None:
        self.addrs[index].add(address)

    async def remove(self, index: int, address: IPAddress) -> None:
        self.addrs[index].discard(address)

    async def delete(self, index: int) -> None:
        self.links = {k: v for k, v in self.links.items() if v[0] != index}
        del self.addrs[index]

    async def close(self) -> None:
        self.closed = True


def node_config(enabled: bool = True, ifname: str = "lbd0") -> dict[str, Any]:
    return {
        "apiVersion": "lbd.io/v1alpha1",
        "kind": "NodeConfig",
        "metadata": {"name": NODE},
        "spec": {"localDelivery": {"enabled": enabled, "dummyInterface": ifname}},
    }


def state(*docs: dict[str, Any]) -> tuple[Config, DesiredState]:
    core = DaemonCore(NODE, lambda: 0.0)
    assert core.offer(parsed(*docs)) == ()
    desired = core.compute({})
    assert core.config is not None and desired is not None
    return core.config, desired


def ips(*texts: str) -> set[IPAddress]:
    return {ipaddress.ip_address(t) for t in texts}


async def test_addresses_follow_announcements_and_go_at_close() -> None:
    links, sysctls = FakeLinks(), dict[str, str]()
    announcer = LocalDeliveryAnnouncer(NODE, links, sysctls.__setitem__)
    await announcer.apply(*state(node_config(), pool(), l2(), service("a"), service("b")))
    index, kind = links.links["lbd0"]
    assert kind == "dummy" and index in links.up
    assert links.addrs[index] == ips("192.0.2.200", "192.0.2.201")
    assert sysctls == dict(SYSCTLS)
    await announcer.apply(*state(node_config(), pool(), l2(), service("b", ip="192.0.2.205")))
    assert links.addrs[index] == ips("192.0.2.205")
    assert announcer.views()["local-delivery"]({}) == {
        "enabled": True,
        "interface": "lbd0",
        "addresses": ["192.0.2.205"],
    }
    await announcer.close()
    assert links.links == {} and links.closed


async def test_disabled_by_default_and_turning_off_cleans_up() -> None:
    links = FakeLinks()
    announcer = LocalDeliveryAnnouncer(NODE, links, lambda _n, _v: None)
    await announcer.apply(*state(pool(), l2(), service("a")))
    assert links.links == {}
    await announcer.apply(*state(node_config(), pool(), l2(), service("a")))
    assert links.addrs[links.links["lbd0"][0]] == ips("192.0.2.200")
    await announcer.apply(*state(node_config(enabled=False), pool(), l2(), service("a")))
    assert links.links == {}


async def test_rename_moves_addresses() -> None:
    links = FakeLinks()
    announcer = LocalDeliveryAnnouncer(NODE, links, lambda _n, _v: None)
    await announcer.apply(*state(node_config(), pool(), l2(), service("a")))
    await announcer.apply(*state(node_config(ifname="vips"), pool(), l2(), service("a")))
    assert set(links.links) == {"vips"}
    assert links.addrs[links.links["vips"][0]] == ips("192.0.2.200")


async def test_stale_addresses_of_a_predecessor_are_removed() -> None:
    links = FakeLinks()
    index = await links.create("lbd0", "dummy")
    links.addrs[index] = ips("192.0.2.209", "2001:db8::9")
    announcer = LocalDeliveryAnnouncer(NODE, links, lambda _n, _v: None)
    await announcer.apply(*state(node_config(), pool(), l2(), service("a")))
    assert links.addrs[index] == ips("192.0.2.200")
    await announcer.close()
    # Not created by us: emptied, left in place.
    assert links.addrs[index] == set() and "lbd0" in links.links


async def test_foreign_link_is_never_touched() -> None:
    links = FakeLinks()
    links.links["lbd0"] = (3, "veth")
    links.addrs[3] = ips("192.0.2.1")
    announcer = LocalDeliveryAnnouncer(NODE, links, lambda _n, _v: None)
    await announcer.apply(*state(node_config(), pool(), l2(), service("a")))
    assert links.addrs[3] == ips("192.0.2.1") and 3 not in links.up


async def test_kernel_without_dummy_gets_ifb() -> None:
    links = FakeLinks(dummy=False)
    announcer = LocalDeliveryAnnouncer(NODE, links, lambda _n, _v: None)
    await announcer.apply(*state(node_config(), pool(), l2(), service("a")))
    assert links.links["lbd0"][1] == "ifb"


async def test_no_address_without_the_arp_sysctls() -> None:
    links = FakeLinks()

    def read_only(name: str, value: str) -> None:
        raise OSError(30, "Read-only file system")

    announcer = LocalDeliveryAnnouncer(NODE, links, read_only)
    with capture_logs() as logs:
        await announcer.apply(*state(node_config(), pool(), l2(), service("a")))
    assert links.links == {}
    assert [e["event"] for e in logs] == ["localDeliverySysctl"]
    assert logs[0]["sysctl"] == "net.ipv4.conf.all.arp_ignore"
