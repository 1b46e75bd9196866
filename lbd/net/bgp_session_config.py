"""From `PeerSettings` to the engine's `SessionConfig`, with the next hops this node can offer.

Families (MetalLB's documented model: one BGPPeer per family for dual stack): a session carries the
family of its peer address; `dualStackAddressFamily` adds the other family (RFC 4760) on the same
session. `disableMP` keeps a session to its own family, which is already the default.

Next hops of the other family (and the IPv6 link-local one of RFC 2545 §3) are addresses of the
interface that holds the session's local address: the configured sourceAddress, else the address the
kernel picks towards the peer. They are looked up through rtnetlink when the session is created; a
session created before such an address exists withholds that family's routes (the engine reports
`RoutesNotSent`) until the session is recreated.
"""

from __future__ import annotations

import ipaddress
import socket
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
        multihop=settings.ebgp_multihop,
        dynamic_asn=settings.dynamic_asn,
    )
    if settings.connect_time is not None:
        # MetalLB's connectTime is the interval between connection attempts: no backoff beyond it.
        config = replace(config, connect_retry=settings.connect_time, connect_retry_max=settings.connect_time)
    return config


async def interface_next_hops(local: str) -> NextHops:
    """Global IPv4, global IPv6 and link-local IPv6 addresses of the interface holding `local`."""
    # Imported here: only a session carrying the other family needs it, and pyroute2 costs ~9 MiB.
    from pyroute2 import AsyncIPRoute

    entries: list[tuple[int, int, int, int, str]] = []
    async with AsyncIPRoute() as ipr:
        async for msg in await ipr.get_addr():
            address = msg.get("IFA_ADDRESS")
            if address is None:
                continue
            flags = msg.get("IFA_FLAGS") or msg["flags"]
            entries.append((msg["index"], msg["family"], msg["scope"], flags, str(address)))
    wanted = ipaddress.ip_address(local)
    index = next((i for i, _, _, _, a in entries if ipaddress.ip_address(a) == wanted), None)
    if index is None:
        return NextHops()
    v4: IPv4Address | None = None
    v6: IPv6Address | None = None
    link_local: IPv6Address | None = None
    for i, family, scope, flags, text in entries:
        if i != index or flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED):
            continue
        address = ipaddress.ip_address(text)
        if family == socket.AF_INET and scope == RT_SCOPE_UNIVERSE and v4 is None:
            v4 = IPv4Address(address)
        elif family == socket.AF_INET6 and scope == RT_SCOPE_UNIVERSE and v6 is None:
            v6 = IPv6Address(address)
        elif family == socket.AF_INET6 and scope == RT_SCOPE_LINK and link_local is None:
            link_local = IPv6Address(address)
    # The session's own address is the natural next hop of its own family.
    if isinstance(wanted, IPv4Address):
        v4 = wanted
    elif not wanted.is_link_local:
        v6 = wanted
    return NextHops(v4, v6, link_local)


def needs_interface_hops(settings: PeerSettings) -> bool:
    """Whether the session needs addresses beyond its own: the other family's next hop (dual stack)
    or, on an IPv6 session, the link-local next hop (RFC 2545 §3). An IPv4-only session's next hop is
    its own address, so it skips the rtnetlink lookup (and pyroute2's import)."""
    other_family = settings.dual_stack and not settings.disable_mp
    return other_family or ipaddress.ip_address(settings.address).version == 6


async def build_session_config(settings: PeerSettings, restarting: bool) -> SessionConfig:
    if not needs_interface_hops(settings):
        return session_config(settings, restarting)
    local = settings.source_address or kernel_source(settings.address, settings.port)
    hops = await interface_next_hops(local) if local is not None else NextHops()
    return session_config(settings, restarting, hops)
