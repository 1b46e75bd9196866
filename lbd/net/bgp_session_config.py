"""From `PeerSettings` to the engine's `SessionConfig`, with the next hops this node can offer.

Families (MetalLB's documented model: one BGPPeer per family for dual stack): a session carries the
family of its peer address; `dualStackAddressFamily` adds the other family (RFC 4760) on the same
session. `disableMP` keeps a session to its own family, which is already the default.

Next hops of the other family (and the IPv6 link-local one of RFC 2545 §3) are addresses of the
interface that holds the session's local address: the configured sourceAddress, else the address the
kernel picks towards the peer. They are looked up through rtnetlink when the session is created; a
session created before such an address exists withholds that family's routes (the engine reports
`RoutesNotSent`) until the session is recreated.

NodeConfig `spec.bgp.nextHops` overrides the IPv4 and/or IPv6 next hop (of either family, own or
other); the link-local one still comes from the interface. A configured next hop that is not an address
of this node when the session is created is kept (it may be a third party on the link, or an address
about to be added) and reported as a warning of the session.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from ipaddress import IPv4Address, IPv6Address

from bgp.config import DEFAULT_HOLD_TIME, GracefulRestartConfig, SessionConfig
from bgp.families import IPV4_UNICAST, IPV6_UNICAST, SUPPORTED_FAMILIES
from lbd.net.bgp_peers import DEFAULT_CONNECT_TIMEOUT, PeerSettings, kernel_source

# linux/rtnetlink.h scopes, linux/if_addr.h flags: an address still doing DAD cannot be a next hop.
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_LINK = 253
IFA_F_DADFAILED = 0x08
IFA_F_TENTATIVE = 0x40


@dataclass(frozen=True, slots=True)
class NextHops:
    v4: IPv4Address | None = None
    v6: IPv6Address | None = None
    v6_link_local: IPv6Address | None = None


def session_config(settings: PeerSettings, restarting: bool, hops: NextHops = NextHops()) -> SessionConfig:
    own = IPV6_UNICAST if ipaddress.ip_address(settings.address).version == 6 else IPV4_UNICAST
    families = SUPPORTED_FAMILIES if settings.dual_stack and not settings.disable_mp else frozenset({own})
    config = SessionConfig(
        local_as=settings.my_asn,
        peer_as=settings.peer_asn,
        router_id=settings.router_id,
        hold_time=int(settings.hold_time) if settings.hold_time is not None else DEFAULT_HOLD_TIME,
        keepalive_time=settings.keepalive_time,
        connect_time=DEFAULT_CONNECT_TIMEOUT,
        families=families,
        graceful_restart=GracefulRestartConfig(enabled=settings.graceful_restart, restarting=restarting),
        description=settings.name,
        next_hop_v4=hops.v4,
        next_hop_v6=hops.v6,
        next_hop_v6_link_local=None if settings.ebgp_multihop else hops.v6_link_local,
        next_hop_v4_override=settings.next_hop_v4,
        next_hop_v6_override=settings.next_hop_v6,
        multihop=settings.ebgp_multihop,
        dynamic_asn=settings.dynamic_asn,
    )
    if settings.connect_time is not None:
        # MetalLB's connectTime is the interval between connection attempts: no backoff beyond it.
        config = replace(config, connect_retry=settings.connect_time, connect_retry_max=settings.connect_time)
    return config


@dataclass(frozen=True, slots=True)
class SessionSetup:
    """The engine's configuration of one session and what its creation found wrong."""

    config: SessionConfig
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AddressEntry:
    """One address of this node, as rtnetlink lists it."""

    index: int
    scope: int
    flags: int
    address: IPv4Address | IPv6Address


async def node_addresses() -> list[AddressEntry]:
    """Every address of every interface of this node (its network namespace)."""
    # Imported here: only a session needing more than its own address uses it, and pyroute2 costs ~9 MiB.
    from pyroute2 import AsyncIPRoute

    entries: list[AddressEntry] = []
    async with AsyncIPRoute() as ipr:
        async for msg in await ipr.get_addr():
            address = msg.get("IFA_ADDRESS")
            if address is None:
                continue
            flags = msg.get("IFA_FLAGS") or msg["flags"]
            entries.append(AddressEntry(msg["index"], msg["scope"], flags, ipaddress.ip_address(address)))
    return entries


def interface_hops(entries: list[AddressEntry], local: str) -> NextHops:
    """Global IPv4 (the primary), global IPv6 (the oldest) and link-local IPv6 addresses of the
    interface holding `local`."""
    wanted = ipaddress.ip_address(local)
    index = next((e.index for e in entries if e.address == wanted), None)
    if index is None:
        return NextHops()
    v4: IPv4Address | None = None
    v6: IPv6Address | None = None
    link_local: IPv6Address | None = None
    for e in entries:
        if e.index != index or e.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED):
            continue
        a = e.address
        if isinstance(a, IPv4Address) and e.scope == RT_SCOPE_UNIVERSE and v4 is None:
            v4 = a
        elif isinstance(a, IPv6Address) and e.scope == RT_SCOPE_UNIVERSE:
            # The kernel lists an interface's IPv6 addresses newest first: keep the oldest, so that an
            # address added later (a second one, a temporary one) does not become the next hop.
            v6 = a
        elif isinstance(a, IPv6Address) and e.scope == RT_SCOPE_LINK and link_local is None:
            link_local = a
    # The session's own address is the natural next hop of its own family.
    if isinstance(wanted, IPv4Address):
        v4 = wanted
    elif not wanted.is_link_local:
        v6 = wanted
    return NextHops(v4, v6, link_local)


async def interface_next_hops(local: str) -> NextHops:
    return interface_hops(await node_addresses(), local)


def needs_interface_hops(settings: PeerSettings) -> bool:
    """Whether the session needs addresses beyond its own: the other family's next hop (dual stack)
    or, on an IPv6 session, the link-local next hop (RFC 2545 §3). An IPv4-only session's next hop is
    its own address, so it skips the rtnetlink lookup (and pyroute2's import)."""
    other_family = settings.dual_stack and not settings.disable_mp
    return other_family or ipaddress.ip_address(settings.address).version == 6


def foreign_next_hops(config: SessionConfig, entries: list[AddressEntry]) -> tuple[str, ...]:
    """Configured next hops of the session's families that no interface of this node holds: the peer
    will forward to an address this node may not answer for."""
    own = {e.address for e in entries if not e.flags & IFA_F_DADFAILED}
    configured = {IPV4_UNICAST: config.next_hop_v4_override, IPV6_UNICAST: config.next_hop_v6_override}
    return tuple(
        f"configured next hop {address} is not an address of this node"
        for family, address in configured.items()
        if address is not None and family in config.families and address not in own
    )


async def build_session_config(settings: PeerSettings, restarting: bool) -> SessionSetup:
    configured = settings.next_hop_v4 is not None or settings.next_hop_v6 is not None
    if not needs_interface_hops(settings) and not configured:
        return SessionSetup(session_config(settings, restarting))
    entries = await node_addresses()
    local = settings.source_address or kernel_source(settings.address, settings.port)
    hops = interface_hops(entries, local) if local is not None else NextHops()
    config = session_config(settings, restarting, hops)
    return SessionSetup(config, foreign_next_hops(config, entries))
