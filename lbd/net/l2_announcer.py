"""The L2 announcer: the daemon's desired L2 state made real with ARP/NDP answers on the node's links.

It joins three things on the daemon's event loop: the sans-I/O `l2.Responder` (what to answer and when
to send gratuitous packets), a `LinkTracker` (which links exist and may answer) and one `PacketPort` per
link that currently answers for a VIP, plus the solicited-node multicast memberships for IPv6 VIPs.

`apply` is cheap and synchronous in effect: it replaces the owned VIPs and sends the first gratuitous
round of every takeover before it returns, so the daemon, which calls `apply` again whenever membership
or health changes the election, needs no separate takeover hook. Releasing a VIP stops its answers and
its pending gratuitous rounds at once. Log events use MetalLB's names (createARPResponder,
deleteARPResponder, createNDPResponder, deleteNDPResponder) plus gratuitousAnnounce and stopAnswering
per VIP and interface.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from ipaddress import IPv4Address, IPv6Address
from typing import Any, Protocol

import structlog

from l2 import AnswerStarted, AnswerStopped, Interface, Owned, Responder, Transmit
from l2.ethernet import format_mac
from lbd.config import Config
from lbd.control.server import View
from lbd.metrics import Metrics, Sample
from lbd.net.l2_packet import Memberships, PacketPort
from lbd.net.links import LinkTracker
from lbd.reconcile import DesiredState

log = structlog.get_logger("lbd.l2")

# A healing partition is seen peer by peer (each one's first heartbeat arrives within a heartbeat
# interval, 50 ms by default), so an election in between may give this node, for a moment, a VIP it
# loses at the next push. A VIP whose election gained a candidate is announced again only once the
# live set had two default intervals to settle, and only if it is still ours then.
REANNOUNCE_SETTLE = 0.1  # the daemon passes twice its membership's heartbeatInterval
# A link of ours that was down or without carrier may have cut this node off: its membership saw every
# peer die and the election gave it their VIPs. When the link returns, its answers and its burst wait
# this long (the default failure timeout: a heartbeat from every peer, the handshake and the daemon's
# push fit in it), so the healed election, not the isolated one, decides what it claims.
LINK_RETURN_HOLD = 0.15  # the daemon passes its membership's failureTimeout


class Port(Protocol):
    def send(self, frame: bytes) -> bool: ...

    def close(self) -> None: ...


class Links(Protocol):
    async def start(self) -> tuple[Interface, ...]: ...

    async def close(self) -> None: ...


class Groups(Protocol):
    def sync(self, wanted: frozenset[Any], log: Callable[..., object]) -> None: ...

    def close(self) -> None: ...


PortFactory = Callable[[asyncio.AbstractEventLoop, str, Callable[[str, bytes], None]], Port]
LinksFactory = Callable[[Callable[[tuple[Interface, ...]], None]], Links]


class L2Announcer:
    """`Announcer` and `StatusSource` (lbd.daemon.announcer) for layer 2 (view `l2`)."""

    def __init__(
        self,
        *,
        node: str,
        metrics: Metrics,
        links: LinksFactory = LinkTracker,
        port: PortFactory = PacketPort,
        groups: Callable[[], Groups] = Memberships,
        link_return_hold: float = LINK_RETURN_HOLD,
        reannounce_settle: float = REANNOUNCE_SETTLE,
    ) -> None:
        self._node = node
        self._responder = Responder()
        self._links_factory = links
        self._port_factory = port
        self._groups_factory = groups
        self._links: Links | None = None
        self._groups: Groups | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ports: dict[str, Port] = {}
        self._port_index: dict[str, int] = {}
        self._families: dict[str, frozenset[int]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._candidates: dict[str, frozenset[str]] = {}
        self._rejoined: set[IPv4Address | IPv6Address] = set()
        self._reannounce_timer: asyncio.TimerHandle | None = None
        self._interfaces: dict[str, Interface] = {}
        self._held: dict[str, float] = {}
        self._hold_timer: asyncio.TimerHandle | None = None
        self._link_return_hold = link_return_hold
        self._reannounce_settle = reannounce_settle
        self.send_failures = 0
        # Called when the set of eligible interfaces changes (the Kubernetes speaker recomputes: its
        # decisions and ServiceL2Status objects name them).
        self.on_interfaces_changed: Callable[[], None] | None = None
        self._eligible: tuple[str, ...] = ()
        metrics.add_provider(self._samples)

    @property
    def name(self) -> str:
        return "l2"

    @property
    def responder(self) -> Responder:
        return self._responder

    def eligible_interfaces(self) -> tuple[str, ...]:
        """Names of the interfaces ARP/NDP may answer on now (empty until link tracking started, that
        is until this node first had an address to answer for: unknown, not none)."""
        return self._eligible

    async def apply(self, config: Config, desired: DesiredState) -> None:
        if self._loop is None and not desired.l2:
            # Nothing to answer yet: no link tracking (a netlink socket, and pyroute2's ~9 MiB) on a
            # node that only speaks BGP.
            return
        loop = await self._started()
        owned = [Owned(a.address, a.service, a.interfaces, a.all_interfaces) for a in desired.l2]
        kept = {o.address for o in self._responder.owned}
        # A VIP we keep while its election gained a candidate: that node may have owned the VIP on
        # its side of a partition that just healed, and it now releases it silently. Tell the segment
        # again, or the clients there keep its MAC until their entries expire (seconds). Only
        # answered services matter, so a push without answers does not walk every service.
        candidates = (
            {s.key: frozenset(s.l2.candidates) for s in desired.services if s.l2 is not None}
            if desired.l2
            else {}
        )
        before = self._candidates
        rejoined = [
            a.address
            for a in desired.l2
            if a.address in kept
            and candidates.get(a.service, frozenset()) - before.get(a.service, frozenset())
        ]
        self._candidates = candidates
        self._responder.set_owned(owned, loop.time())
        self._pump()
        if rejoined:
            self._rejoined.update(rejoined)
            if self._reannounce_timer is None:
                self._reannounce_timer = loop.call_later(self._reannounce_settle, self._reannounce)

    async def close(self) -> None:
        if self._loop is not None:
            self._responder.set_owned((), self._loop.time())
            self._pump()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for handle in (self._reannounce_timer, self._hold_timer):
            if handle is not None:
                handle.cancel()
        self._reannounce_timer = self._hold_timer = None
        for port in self._ports.values():
            port.close()
        self._ports.clear()
        self._port_index.clear()
        if self._groups is not None:
            self._groups.close()
            self._groups = None
        if self._links is not None:
            await self._links.close()
            self._links = None

    def views(self) -> Mapping[str, View]:
        return {"l2": self._view}

    # --- event loop side ---------------------------------------------------------------------------

    async def _started(self) -> asyncio.AbstractEventLoop:
        if self._loop is not None:
            return self._loop
        loop = asyncio.get_running_loop()
        links = self._links_factory(self._on_interfaces)
        # Netlink failing here is ours to report: the next apply tries again from scratch.
        try:
            interfaces = await links.start()
        except BaseException:
            await links.close()
            raise
        self._links, self._groups, self._loop = links, self._groups_factory(), loop
        self._interfaces = {i.name: i for i in interfaces}
        self._show_interfaces()
        return loop

    def _on_interfaces(self, interfaces: tuple[Interface, ...]) -> None:
        if self._loop is None:
            return
        now = self._loop.time()
        for interface in interfaces:
            before = self._interfaces.get(interface.name)
            if before is not None and before.ineligible() and not interface.ineligible():
                self._held[interface.name] = now + self._link_return_hold
        self._interfaces = {i.name: i for i in interfaces}
        self._show_interfaces()

    def _show_interfaces(self) -> None:
        """Hand the responder the links, those back from down or no carrier shown as still without
        carrier until their hold ends, and re-arm the hold timer."""
        if self._loop is None:
            return
        now = self._loop.time()
        self._held = {n: t for n, t in self._held.items() if t > now and n in self._interfaces}
        shown = [replace(i, carrier=False) if i.name in self._held else i for i in self._interfaces.values()]
        self._responder.set_interfaces(shown, now)
        self._pump()
        eligible = tuple(sorted(i.name for i in shown if i.ineligible() is None))
        if eligible != self._eligible:
            self._eligible = eligible
            if self.on_interfaces_changed is not None:
                self.on_interfaces_changed()
        if self._hold_timer is not None:
            self._hold_timer.cancel()
            self._hold_timer = None
        if self._held:
            self._hold_timer = self._loop.call_at(min(self._held.values()), self._show_interfaces)

    def _reannounce(self) -> None:
        self._reannounce_timer = None
        owned = {o.address for o in self._responder.owned}
        addresses = sorted((a for a in self._rejoined if a in owned), key=lambda a: (a.version, int(a)))
        self._rejoined.clear()
        if addresses and self._loop is not None:
            log.info("gratuitousReannounce", ip=[str(a) for a in addresses], reason="candidates rejoined")
            self._responder.reannounce(addresses, self._loop.time())
            self._pump()

    def _on_frame(self, interface: str, frame: bytes) -> None:
        responder = self._responder
        responder.receive(interface, frame, 0.0 if self._loop is None else self._loop.time())
        for transmit in responder.transmits():
            self._send(transmit)

    def _on_timer(self) -> None:
        self._timer = None
        if self._loop is not None:
            self._responder.handle_timer(self._loop.time())
            self._pump()

    def _pump(self) -> None:
        """After any input change: log, close/open ports, send, fix memberships, re-arm the timer."""
        responder = self._responder
        events = responder.events()
        for event in events:
            if isinstance(event, AnswerStopped):
                log.info(
                    "stopAnswering", ip=str(event.address), interface=event.interface, reason=event.reason
                )
        self._sync_ports()
        for event in events:
            if isinstance(event, AnswerStarted):
                log.info(
                    "gratuitousAnnounce",
                    ip=str(event.address),
                    interface=event.interface,
                    mac=format_mac(event.mac),
                )
        for transmit in responder.transmits():
            self._send(transmit)
        if self._groups is not None:
            self._groups.sync(responder.groups(), log.warning)
        self._arm()

    def _sync_ports(self) -> None:
        families: dict[str, set[int]] = {}
        indexes: dict[str, int] = {}
        for answer in self._responder.answering():
            families.setdefault(answer.interface, set()).add(answer.owned.address.version)
            indexes[answer.interface] = answer.index
        wanted = {name: frozenset(v) for name, v in families.items()}
        for name in sorted(set(self._families) | set(wanted)):
            before, after = self._families.get(name, frozenset()), wanted.get(name, frozenset())
            for version, kind in ((4, "ARP"), (6, "NDP")):
                if version in after and version not in before:
                    log.info(
                        f"create{kind}Responder",
                        interface=name,
                        msg=f"created {kind} responder for interface",
                    )
                elif version in before and version not in after:
                    log.info(
                        f"delete{kind}Responder",
                        interface=name,
                        msg=f"deleted {kind} responder for interface",
                    )
        self._families = wanted
        # A port is bound to the link's index at opening: a link created again under the same name
        # needs a new one.
        for name in [n for n, i in self._port_index.items() if indexes.get(n) != i]:
            self._ports.pop(name).close()
            del self._port_index[name]
        for name in wanted:
            if name not in self._ports and self._loop is not None:
                try:
                    self._ports[name] = self._port_factory(self._loop, name, self._on_frame)
                    self._port_index[name] = indexes[name]
                except OSError as exc:
                    # The link vanished between the netlink event and now; its removal event follows.
                    log.warning("packetSocketFailed", interface=name, error=exc.strerror)

    def _send(self, transmit: Transmit) -> None:
        port = self._ports.get(transmit.interface)
        if port is None or not port.send(transmit.frame):
            self.send_failures += 1

    def _arm(self) -> None:
        due = self._responder.get_timer()
        if self._timer is not None and (due is None or self._timer.when() != due):
            self._timer.cancel()
            self._timer = None
        if due is not None and self._timer is None and self._loop is not None:
            self._timer = self._loop.call_at(due, self._on_timer)

    # --- status ------------------------------------------------------------------------------------

    def _view(self, _args: Mapping[str, Any]) -> list[dict[str, Any]]:
        answering: dict[str, list[tuple[str, str]]] = {}
        for answer in self._responder.answering():
            answering.setdefault(str(answer.owned.address), []).append(
                (answer.interface, format_mac(answer.mac))
            )
        rows = []
        for owned in sorted(self._responder.owned, key=lambda o: (o.address.version, int(o.address))):
            ip = str(owned.address)
            counters = self._responder.counters.get(owned.address)
            rows.append(
                {
                    "ip": ip,
                    "service": owned.service,
                    "node": self._node,
                    "protocol": "ARP" if isinstance(owned.address, IPv4Address) else "NDP",
                    "selected": "all" if owned.all_interfaces else list(owned.interfaces),
                    "interfaces": [name for name, _ in answering.get(ip, [])],
                    "macs": [mac for _, mac in answering.get(ip, [])],
                    "gratuitous_sent": counters.gratuitous if counters else 0,
                    "requests_received": counters.requests if counters else 0,
                    "responses_sent": counters.responses if counters else 0,
                }
            )
        return rows

    def _samples(self) -> Iterable[Sample]:
        for address, counters in self._responder.counters.items():
            labels = {"ip": str(address)}
            yield Sample("metallb_layer2_requests_received", labels, counters.requests)
            yield Sample("metallb_layer2_responses_sent", labels, counters.responses)
            yield Sample("metallb_layer2_gratuitous_sent", labels, counters.gratuitous)
