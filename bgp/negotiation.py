"""What our OPEN offers, what the peer's OPEN must satisfy, and which next hops a session can offer.

RFC 4271 §6.2 (OPEN checks), RFC 5492 (capabilities), RFC 6793 (4-octet AS), RFC 4760 (families),
RFC 4724 (graceful restart), RFC 2545 (IPv6 next hops).
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

from bgp.attributes import AS_TRANS, min_as
from bgp.capabilities import (
    Capability,
    FourOctetAs,
    GracefulRestart,
    GrFamily,
    Multiprotocol,
    RouteRefreshCap,
    encode_capability,
)
from bgp.config import SessionConfig
from bgp.errors import BgpError, ErrorCode, OpenSubcode
from bgp.events import Negotiated
from bgp.families import IPV4_UNICAST, SUPPORTED_FAMILIES, Address
from bgp.messages import Open
from bgp.packing import PathPolicy


def plain(addr: Address) -> Address:
    """An IPv4-mapped IPv6 address (from a dual-stack socket) as the IPv4 address it is."""
    if isinstance(addr, IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def usable(addr: Address | None) -> bool:
    # Never announce an unspecified, loopback, multicast or mapped next hop: the peer could not use it.
    return addr is not None and not (
        addr.is_unspecified
        or addr.is_loopback
        or addr.is_multicast
        or (isinstance(addr, IPv6Address) and addr.ipv4_mapped is not None)
    )


def local_open(cfg: SessionConfig, restarting: bool) -> Open:
    """Our OPEN (RFC 4271 §4.2) with the capabilities lbd supports."""
    caps: list[Capability] = [Multiprotocol(afi, safi) for afi, safi in sorted(cfg.families)]
    caps += [RouteRefreshCap(), FourOctetAs(cfg.local_as)]
    gr = cfg.graceful_restart
    if gr.enabled:
        # RFC 4724 §3: F bit set because forwarding to the services (kube-proxy, nodes) survives an lbd
        # restart; without it the peer would drop our routes at once (§4.2).
        fams = tuple(GrFamily(afi, safi, True) for afi, safi in sorted(cfg.families))
        caps.append(GracefulRestart(restarting, gr.restart_time, fams))
    return Open(min_as(cfg.local_as), cfg.hold_time, cfg.router_id, tuple(caps))


def validate_open(cfg: SessionConfig, msg: Open) -> Negotiated:
    """RFC 4271 §6.2 semantic checks; capabilities per RFC 5492, RFC 6793, RFC 4760."""
    four = next((c.asn for c in msg.capabilities if isinstance(c, FourOctetAs)), None)
    peer_as = four if four is not None else msg.my_as
    if four is not None and four > 0xFFFF and msg.my_as != AS_TRANS:
        # RFC 6793 §4.2.1: a NEW speaker with a 4-octet AS puts AS_TRANS into My Autonomous System.
        raise BgpError(ErrorCode.OPEN_MESSAGE, OpenSubcode.BAD_PEER_AS, b"", "My AS is not AS_TRANS")
    if cfg.dynamic_asn == "internal":
        ok = peer_as == cfg.local_as
    elif cfg.dynamic_asn == "external":
        ok = peer_as != cfg.local_as
    else:
        ok = peer_as == cfg.peer_as
    if not ok:
        raise BgpError(
            ErrorCode.OPEN_MESSAGE, OpenSubcode.BAD_PEER_AS, b"", f"peer AS {peer_as} not expected"
        )
    if msg.hold_time in (1, 2):
        reason = f"hold time {msg.hold_time}"
        raise BgpError(ErrorCode.OPEN_MESSAGE, OpenSubcode.UNACCEPTABLE_HOLD_TIME, b"", reason)
    # RFC 6286 §2.2: zero, or our own identifier from an internal peer.
    if int(msg.bgp_id) == 0 or (msg.bgp_id == cfg.router_id and not cfg.ebgp):
        raise BgpError(ErrorCode.OPEN_MESSAGE, OpenSubcode.BAD_BGP_IDENTIFIER, b"", f"BGP id {msg.bgp_id}")
    mp = {(c.afi, c.safi) for c in msg.capabilities if isinstance(c, Multiprotocol)}
    # RFC 4760 §8: a peer that sends no multiprotocol capability speaks IPv4 unicast only.
    peer_families = mp or {IPV4_UNICAST}
    families = frozenset(peer_families & cfg.families & SUPPORTED_FAMILIES)
    if not families:
        # RFC 5492 §5: Unsupported Capability, data = the capabilities we need.
        ours = b"".join(encode_capability(Multiprotocol(a, s)) for a, s in sorted(cfg.families))
        raise BgpError(ErrorCode.OPEN_MESSAGE, OpenSubcode.UNSUPPORTED_CAPABILITY, ours, "no common family")
    return Negotiated(
        peer_as=peer_as,
        peer_id=str(msg.bgp_id),
        four_octet_as=four is not None,
        families=families,
        route_refresh=any(isinstance(c, RouteRefreshCap) for c in msg.capabilities),
        peer_graceful_restart=next((c for c in msg.capabilities if isinstance(c, GracefulRestart)), None),
    )


def path_policy(cfg: SessionConfig, local: Address) -> PathPolicy:
    """Next hops for each family from the session's local address and the configuration (RFC 4271
    §5.1.3, RFC 2545 §3); a family with no usable next hop gets None/() and is not sent."""
    v4: IPv4Address | None = local if isinstance(local, IPv4Address) else cfg.next_hop_v4
    glob: IPv6Address | None = cfg.next_hop_v6
    link_local: IPv6Address | None = cfg.next_hop_v6_link_local
    if isinstance(local, IPv6Address):
        if local.is_link_local:
            link_local = local
        else:
            glob = local
    # RFC 4271 §5.1.3: the operator may name another address of this node (or a third party on the
    # shared subnet) as the next hop; it wins over the connection's own address.
    v4 = cfg.next_hop_v4_override or v4
    glob = cfg.next_hop_v6_override or glob
    hops6: tuple[IPv6Address, ...] = ()
    if glob is not None and usable(glob) and not glob.is_link_local:
        with_ll = link_local is not None and usable(link_local) and not cfg.multihop
        hops6 = (glob, link_local) if with_ll and link_local is not None else (glob,)
    return PathPolicy(cfg.local_as, cfg.ebgp, v4 if usable(v4) else None, hops6)
