"""Interfaces and their IPv6 link-local addresses, tracked through rtnetlink with pyroute2's asyncio API.

Theory of operation. One netlink socket subscribes to link and IPv6 address notifications *before* a
second one dumps every link and address, so no change can fall between the dump and the first
notification (a notification older than the dump is replayed after it, and the next one in order wins
again). Every batch of notifications updates the table and hands the full, current tuple of
`l2.Interface` to `on_change`. When the kernel overflows the notification socket (ENOBUFS) or the
socket fails otherwise, the tracker reopens it and dumps again, so it never runs on a stale view.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv6Address
from typing import Any

import structlog

from l2 import Interface
from l2.ethernet import parse_mac

log = structlog.get_logger("lbd.links")

# linux/if.h net_device_flags.
IFF_UP = 0x1
IFF_BROADCAST = 0x2
IFF_LOOPBACK = 0x8
IFF_NOARP = 0x80
IFF_LOWER_UP = 0x10000
# linux/rtnetlink.h multicast groups.
RTMGRP_LINK = 0x1
RTMGRP_IPV6_IFADDR = 0x100
# linux/if_addr.h: an address still doing (or having failed) DAD cannot be a source yet.
IFA_F_DADFAILED = 0x08
IFA_F_TENTATIVE = 0x40
RT_SCOPE_LINK = 253
# Pause before reopening a failed notification socket; bounded so a broken netlink cannot spin.
_RESYNC_DELAY = 0.2


@dataclass(slots=True)
class _Link:
    name: str
    flags: int
    mac: bytes
    master: bool
    link_locals: dict[IPv6Address, int] = field(default_factory=dict)


class LinkTracker:
    """The node's links as `l2.Interface` values, kept current from rtnetlink notifications."""

    __slots__ = ("_events", "_links", "_on_change", "_task")

    def __init__(self, on_change: Callable[[tuple[Interface, ...]], None]) -> None:
        self._on_change = on_change
        self._links: dict[int, _Link] = {}
        self._events: Any = None
        self._task: asyncio.Task[None] | None = None

    @property
    def interfaces(self) -> tuple[Interface, ...]:
        return tuple(_interface(index, link) for index, link in sorted(self._links.items()))

    async def start(self) -> tuple[Interface, ...]:
        """Subscribe, dump, and keep following changes; returns the interfaces found."""
        await self._sync()
        self._task = asyncio.get_running_loop().create_task(self._follow(), name="lbd.links")
        return self.interfaces

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._close_events()

    def _close_events(self) -> None:
        if self._events is not None:
            self._events.close()
            self._events = None

    async def _sync(self) -> None:
        # Imported here: a daemon without L2 advertisements never tracks links nor pays for pyroute2.
        from pyroute2 import AsyncIPRoute

        self._close_events()
        events = AsyncIPRoute()
        await events.setup_endpoint()
        await events.bind(groups=RTMGRP_LINK | RTMGRP_IPV6_IFADDR)
        self._events = events
        links: dict[int, _Link] = {}
        async with AsyncIPRoute() as ipr:
            async for msg in await ipr.get_links():
                _apply_link(links, msg)
            async for msg in await ipr.get_addr(family=socket.AF_INET6):
                _apply_addr(links, msg)
        self._links = links

    async def _follow(self) -> None:
        while True:
            try:
                async for msg in self._events.get():
                    self._apply(msg)
                self._on_change(self.interfaces)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # ENOBUFS (notifications lost) or a dead socket: the table may be stale, so start over.
                log.warning("linkTrackerResync", error=str(exc))
                await asyncio.sleep(_RESYNC_DELAY)
                with contextlib.suppress(Exception):
                    await self._sync()
                    self._on_change(self.interfaces)

    def _apply(self, msg: Any) -> None:
        event = msg.get("event")
        if event == "RTM_NEWLINK":
            _apply_link(self._links, msg)
        elif event == "RTM_DELLINK":
            self._links.pop(msg["index"], None)
        elif event in ("RTM_NEWADDR", "RTM_DELADDR"):
            _apply_addr(self._links, msg)


def _apply_link(links: dict[int, _Link], msg: Any) -> None:
    index = msg["index"]
    name = msg.get_attr("IFLA_IFNAME")
    if name is None:
        return
    address = msg.get_attr("IFLA_ADDRESS")
    try:
        mac = parse_mac(address) if isinstance(address, str) else b""
    except ValueError:
        mac = b""  # not Ethernet (tunnels, infiniband): never eligible
    previous = links.get(index)
    link = _Link(name, msg["flags"], mac, bool(msg.get_attr("IFLA_MASTER")))
    if previous is not None:
        link.link_locals = previous.link_locals
    links[index] = link


def _apply_addr(links: dict[int, _Link], msg: Any) -> None:
    if msg["family"] != socket.AF_INET6 or msg["scope"] != RT_SCOPE_LINK:
        return
    link = links.get(msg["index"])
    text = msg.get_attr("IFA_ADDRESS")
    if link is None or text is None:
        return
    address = IPv6Address(text)
    if not address.is_link_local:
        return
    if msg.get("event") == "RTM_DELADDR":
        link.link_locals.pop(address, None)
    else:
        # IFA_FLAGS carries all 32 bits; the header's flags byte only the low eight.
        link.link_locals[address] = msg.get_attr("IFA_FLAGS") or msg["flags"]


def _interface(index: int, link: _Link) -> Interface:
    usable = sorted(a for a, f in link.link_locals.items() if not f & (IFA_F_TENTATIVE | IFA_F_DADFAILED))
    return Interface(
        index=index,
        name=link.name,
        mac=link.mac,
        up=bool(link.flags & IFF_UP),
        carrier=bool(link.flags & IFF_LOWER_UP),
        broadcast=bool(link.flags & IFF_BROADCAST),
        noarp=bool(link.flags & IFF_NOARP),
        loopback=bool(link.flags & IFF_LOOPBACK),
        enslaved=link.master,
        link_local=usable[0] if usable else None,
    )
