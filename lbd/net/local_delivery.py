"""Local delivery: make this host accept traffic for the addresses it announces (standalone daemon).

Theory of operation. On a plain host nothing else makes the kernel treat a VIP as local, so packets
that BGP or ARP attract would be dropped. The announcer keeps exactly the addresses this node currently
announces (by L2 or to any BGP peer) on an interface it owns (`localDelivery.dummyInterface`, default
`lbd0`), as /32 and /128 host addresses, added with the announcement and removed with it and at stop.

The kernel must never answer ARP or NDP for these addresses by itself, or every node would claim the
VIP on the segment and the L2 election would mean nothing:
- IPv4: by default Linux answers ARP on any interface for any local address. `arp_ignore=1` makes it
  answer only for addresses configured on the interface the request came in on, and `arp_announce=2`
  keeps it from using a VIP as the sender address of its own requests. Both are set on `all`, which
  the kernel combines with each interface's value by maximum, so interfaces added later are covered.
- IPv6: the kernel answers a Neighbour Solicitation only for a target configured on the receiving
  interface (ndisc_recv_ns looks the target up strictly on that device), and addresses go on with
  `nodad` so they are usable at once. The lab test checks both families against a real client.
Only the elected owner's ARP/NDP responder (lbd.net.l2_announcer) then answers for an L2 VIP.

The interface is a `dummy` link; kernels built without the dummy driver get an `ifb` link instead,
which likewise never transmits and has no ARP (logged once as `localDeliveryIfb`). An existing link of
another kind with the configured name is never touched. Off under Kubernetes, where kube-proxy does this.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import structlog

from lbd.config import Config, IPAddress, LocalDelivery
from lbd.control.server import View
from lbd.daemon.core import announced_addresses
from lbd.reconcile import DesiredState

log = structlog.get_logger("lbd.local_delivery")

OWNED_KINDS = ("dummy", "ifb")
IFA_F_NODAD = 0x02
# The kernel's max(all, interface) rule for these two makes setting `all` enough (ip-sysctl.rst).
SYSCTLS: Mapping[str, str] = {
    "net/ipv4/conf/all/arp_ignore": "1",
    "net/ipv4/conf/all/arp_announce": "2",
}


class Links(Protocol):
    """The few netlink operations local delivery needs (PyrouteLinks; a fake in unit tests)."""

    async def find(self, ifname: str) -> tuple[int, str | None] | None:
        """(index, link kind) of `ifname`, or None when there is no such link."""
        ...

    async def create(self, ifname: str, kind: str) -> int: ...

    async def set_up(self, index: int) -> None: ...

    async def addresses(self, index: int) -> set[IPAddress]:
        """Global-scope addresses on the link (the kernel's own IPv6 link-local is not ours)."""
        ...

    async def add(self, index: int, address: IPAddress) -> None: ...

    async def remove(self, index: int, address: IPAddress) -> None: ...

    async def delete(self, index: int) -> None: ...

    async def close(self) -> None: ...


@contextlib.contextmanager
def _as_oserror() -> Iterator[None]:
    """pyroute2's NetlinkError carries a kernel errno: give callers the OSError they expect of I/O."""
    from pyroute2.netlink.exceptions import NetlinkError

    try:
        yield
    except NetlinkError as exc:
        raise OSError(exc.code, os.strerror(exc.code)) from exc


class PyrouteLinks:
    """`Links` over pyroute2's asyncio netlink socket, in the daemon's network namespace. pyroute2 is
    imported on first use: a daemon with local delivery off does not pay its ~9 MiB."""

    __slots__ = ("_ipr",)

    def __init__(self) -> None:
        self._ipr: Any = None

    async def _socket(self) -> Any:
        if self._ipr is None:
            from pyroute2 import AsyncIPRoute

            ipr = AsyncIPRoute()
            await ipr.setup_endpoint()
            self._ipr = ipr
        return self._ipr

    async def find(self, ifname: str) -> tuple[int, str | None] | None:
        ipr = await self._socket()
        with _as_oserror():
            indexes = await ipr.link_lookup(ifname=ifname)
            if not indexes:
                return None
            (link,) = await ipr.link("get", index=indexes[0])
        return indexes[0], link.get(("IFLA_LINKINFO", "IFLA_INFO_KIND"))

    async def create(self, ifname: str, kind: str) -> int:
        ipr = await self._socket()
        with _as_oserror():
            await ipr.link("add", ifname=ifname, kind=kind)
            indexes: list[int] = await ipr.link_lookup(ifname=ifname)
        return indexes[0]

    async def set_up(self, index: int) -> None:
        with _as_oserror():
            await (await self._socket()).link("set", index=index, state="up")

    async def addresses(self, index: int) -> set[IPAddress]:
        found: set[IPAddress] = set()
        with _as_oserror():
            async for msg in await (await self._socket()).addr("dump", index=index):
                # RT_SCOPE_UNIVERSE (0) only: link-local and host-scope addresses are the kernel's.
                if msg["scope"] == 0 and msg.get("IFA_ADDRESS"):
                    found.add(ipaddress.ip_address(msg.get("IFA_ADDRESS")))
        return found

    async def add(self, index: int, address: IPAddress) -> None:
        flags = IFA_F_NODAD if address.version == 6 else 0
        prefixlen = address.max_prefixlen
        try:
            with _as_oserror():
                await (await self._socket()).addr(
                    "add", index=index, address=str(address), prefixlen=prefixlen, flags=flags
                )
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise

    async def remove(self, index: int, address: IPAddress) -> None:
        try:
            with _as_oserror():
                await (await self._socket()).addr(
                    "del", index=index, address=str(address), prefixlen=address.max_prefixlen
                )
        except OSError as exc:
            if exc.errno not in (errno.EADDRNOTAVAIL, errno.ENODEV):
                raise

    async def delete(self, index: int) -> None:
        try:
            with _as_oserror():
                await (await self._socket()).link("del", index=index)
        except OSError as exc:
            if exc.errno != errno.ENODEV:
                raise

    async def close(self) -> None:
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None


def write_sysctl(name: str, value: str) -> None:
    path = Path("/proc/sys") / name
    if path.read_text().strip() != value:
        path.write_text(value)


class LocalDeliveryAnnouncer:
    """An announcer that puts announced addresses on this node's dummy interface (see module doc)."""

    __slots__ = ("_created", "_index", "_links", "_node", "_present", "_settings", "_sysctl", "_warned")

    def __init__(
        self,
        node: str,
        links: Links | None = None,
        sysctl: Callable[[str, str], None] = write_sysctl,
    ) -> None:
        self._node = node
        self._links: Links = links if links is not None else PyrouteLinks()
        self._sysctl = sysctl
        self._settings = LocalDelivery()
        self._index: int | None = None
        self._created = False
        self._present: set[IPAddress] = set()
        self._warned = False

    @property
    def name(self) -> str:
        return "local-delivery"

    @property
    def addresses(self) -> frozenset[IPAddress]:
        return frozenset(self._present)

    async def apply(self, config: Config, desired: DesiredState) -> None:
        node_config = config.node_config(self._node)
        settings = node_config.local_delivery if node_config is not None else LocalDelivery()
        if settings != self._settings and self._index is not None:
            # Turned off or renamed: nothing may stay behind on the old interface.
            await self._release()
        self._settings = settings
        if not settings.enabled:
            return
        try:
            await self._converge(announced_addresses(desired))
        except OSError as exc:
            # Not the peer's fault and not fatal: the next desired state tries again.
            log.error("localDeliveryFailed", interface=settings.dummy_interface, error=str(exc))

    async def close(self) -> None:
        try:
            await self._release()
        except OSError as exc:
            log.error("localDeliveryFailed", interface=self._settings.dummy_interface, error=str(exc))
        await self._links.close()

    def views(self) -> Mapping[str, View]:
        return {"local-delivery": self._view}

    def _view(self, _args: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "enabled": self._settings.enabled,
            "interface": self._settings.dummy_interface,
            "addresses": [str(a) for a in sorted(self._present, key=lambda a: (a.version, int(a)))],
        }

    async def _converge(self, wanted: frozenset[IPAddress]) -> None:
        index = await self._ensure_link()
        if index is None:
            return
        current = await self._links.addresses(index)
        for address in sorted(wanted - current, key=lambda a: (a.version, int(a))):
            await self._links.add(index, address)
            log.info("localAddressAdded", ip=str(address), interface=self._settings.dummy_interface)
        for address in sorted(current - wanted, key=lambda a: (a.version, int(a))):
            await self._links.remove(index, address)
            log.info("localAddressRemoved", ip=str(address), interface=self._settings.dummy_interface)
        self._present = set(wanted)

    async def _ensure_link(self) -> int | None:
        ifname = self._settings.dummy_interface
        if self._index is None:
            for name, value in SYSCTLS.items():
                try:
                    self._sysctl(name, value)
                except OSError as exc:
                    # e.g. systemd's ProtectKernelTunables: without these every node would answer
                    # ARP for the VIPs, which is worse than not delivering them. Retried next time.
                    log.error(
                        "localDeliverySysctl",
                        sysctl=name.replace("/", "."),
                        wanted=value,
                        error=str(exc),
                        remedy="set it in /etc/sysctl.d (docs/standalone.md); no VIP is added until then",
                    )
                    return None
        found = await self._links.find(ifname)
        if found is not None and found[1] not in OWNED_KINDS:
            if not self._warned:
                log.error("localDeliveryForeignLink", interface=ifname, kind=found[1])
                self._warned = True
            return None
        if found is None:
            try:
                index = await self._links.create(ifname, "dummy")
            except OSError as exc:
                if exc.errno != errno.EOPNOTSUPP:
                    raise
                log.warning("localDeliveryIfb", interface=ifname, reason="kernel has no dummy driver")
                index = await self._links.create(ifname, "ifb")
            self._created = True
        else:
            index = found[0]
        if index != self._index:
            await self._links.set_up(index)
            self._index = index
        return index

    async def _release(self) -> None:
        index = self._index
        if index is None:
            return
        # What the kernel holds, not what we remember: a crashed predecessor may have left more.
        for address in sorted(await self._links.addresses(index), key=lambda a: (a.version, int(a))):
            await self._links.remove(index, address)
            log.info("localAddressRemoved", ip=str(address), interface=self._settings.dummy_interface)
        self._present.clear()
        if self._created:
            await self._links.delete(index)
        self._index = None
        self._created = False
