"""From the configuration to the sessions this node runs: one `PeerSettings` per selected BGPPeer.

The reconcile core already chose the peers (`DesiredState.bgp` has one `PeerRoutes` per BGPPeer whose
nodeSelectors select this node); here each is resolved into what a session and its socket need. The
configuration has already resolved `passwordSecret` into `password`. Fields lbd does not implement are
reported as warnings and the session runs without them: `vrf` (the session runs in the default VRF),
unnumbered peers (`interface` without `peerAddress`: no session at all).

Router ID (RFC 4271 §4.2 BGP Identifier, RFC 6286): `routerID` when configured (validation makes it the
same on every peer); otherwise the IPv4 address this node uses towards its first IPv4 peer (by name),
which is the node's address on that peer's network and does not change across restarts; on an
IPv6-only node a value derived from the node name.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Literal

from bfd import Profile
from lbd.config import BFDProfile, BGPPeer, Config
from lbd.config.model import NodeBgp
from lbd.net.bgp_transport import GTSM_MIN_TTL, GTSM_TTL, TransportOptions, normalize, ttl_for

# How long one dial may take (three SYNs at the kernel's 1 s, 2 s backoff); connectTime is the interval
# between attempts, not this.
DEFAULT_CONNECT_TIMEOUT = 5.0

SourceLookup = Callable[[str, int], str | None]


@dataclass(frozen=True, slots=True)
class PeerSettings:
    """One session as configured. Times are seconds; None means "the engine's default"."""

    name: str
    address: str
    port: int
    my_asn: int
    peer_asn: int
    dynamic_asn: Literal["internal", "external"] | None
    ibgp: bool
    router_id: IPv4Address
    hold_time: float | None
    keepalive_time: float | None
    connect_time: float | None
    source_address: str | None
    password: str | None
    ebgp_multihop: bool
    graceful_restart: bool
    disable_mp: bool
    dual_stack: bool
    bfd: Profile | None
    # NodeConfig spec.bgp.ttlSecurity: GTSM (RFC 5082) if this peer is directly connected eBGP.
    ttl_security: bool = False
    # NodeConfig spec.bgp.nextHops: the next hop of each family's routes, instead of the session's and
    # its interface's addresses (None: those).
    next_hop_v4: IPv4Address | None = None
    next_hop_v6: IPv6Address | None = None

    @property
    def gtsm(self) -> bool:
        """RFC 5082 §3: only for a peer one hop away (eBGP without multihop)."""
        return self.ttl_security and not self.ibgp and not self.ebgp_multihop

    def transport(self) -> TransportOptions:
        """Socket options of this peer's connections; the dial timeout comes from the session
        (`ConnectRequested.timeout`)."""
        if self.gtsm:
            # RFC 5082 §3: send with TTL 255, accept only what arrives with 254 or more (one hop).
            ttl: int | None = GTSM_TTL
            min_ttl: int | None = GTSM_MIN_TTL
        else:
            ttl, min_ttl = ttl_for(ibgp=self.ibgp, multihop=self.ebgp_multihop), None
        return TransportOptions(
            peer=self.address,
            port=self.port,
            source=self.source_address,
            password=self.password,
            ttl=ttl,
            min_ttl=min_ttl,
        )


@dataclass(frozen=True, slots=True)
class PeerProblem:
    """A configured peer field lbd ignores, or a peer it cannot run, for the logs and `bgp neighbor`."""

    peer: str
    message: str


def kernel_source(peer: str, port: int) -> str | None:
    """The source address the kernel picks towards `peer` (a UDP connect sends nothing), or None
    when there is no route."""
    address = ipaddress.ip_address(peer)
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((peer, port))
        except OSError:
            return None
        return normalize(probe.getsockname()[0])


def bfd_profile(profile: BFDProfile) -> Profile:
    return Profile(
        receive_interval_ms=profile.receive_interval_ms,
        transmit_interval_ms=profile.transmit_interval_ms,
        detect_multiplier=profile.detect_multiplier,
        echo_interval_ms=profile.echo_interval_ms,
        echo_mode=profile.echo_mode,
        passive_mode=profile.passive_mode,
        minimum_ttl=profile.minimum_ttl,
    )


def router_id(node: str, peers: Iterable[BGPPeer], source: SourceLookup = kernel_source) -> IPv4Address:
    chosen = sorted(peers, key=lambda p: p.name)
    for peer in chosen:
        if peer.router_id is not None:
            return peer.router_id
    for peer in chosen:
        if isinstance(peer.source_address, IPv4Address):
            return peer.source_address
        if isinstance(peer.peer_address, IPv4Address):
            local = source(str(peer.peer_address), peer.peer_port)
            if local is not None:
                return IPv4Address(local)
    # RFC 6286 §2.1: any non-zero 32-bit value unique within the AS.
    digest = int.from_bytes(hashlib.sha256(node.encode()).digest()[:4], "big")
    return IPv4Address(digest or 1)


def peer_settings(
    config: Config, node: str, names: Iterable[str], source: SourceLookup = kernel_source
) -> tuple[dict[str, PeerSettings], list[PeerProblem]]:
    """Settings of the named peers (the reconcile output's peers), plus what was ignored or refused."""
    peers = [config.peers[n] for n in names if n in config.peers]
    node_config = config.node_config(node)
    node_bgp = node_config.bgp if node_config is not None else NodeBgp()
    rid = router_id(node, peers, source)
    settings: dict[str, PeerSettings] = {}
    problems: list[PeerProblem] = []
    for entry in node_bgp.next_hops:
        if entry.peer is not None and entry.peer not in config.peers:
            problems.append(PeerProblem(entry.peer, "NodeConfig spec.bgp.nextHops names no such BGPPeer"))
    for peer in peers:
        if peer.peer_address is None:
            problems.append(PeerProblem(peer.name, "unnumbered BGP (interface) is not supported: no session"))
            continue
        if peer.vrf:
            problems.append(
                PeerProblem(peer.name, f"vrf {peer.vrf!r} is ignored: the session runs in the default VRF")
            )
        profile = config.bfd_profile_of(peer)
        next_hop_v4, next_hop_v6 = node_bgp.next_hops_for(peer.name)
        settings[peer.name] = PeerSettings(
            name=peer.name,
            address=normalize(str(peer.peer_address)),
            port=peer.peer_port,
            my_asn=peer.my_asn,
            peer_asn=peer.peer_asn,
            dynamic_asn=peer.dynamic_asn,
            ibgp=peer.is_ibgp,
            router_id=rid,
            hold_time=peer.hold_time,
            keepalive_time=peer.keepalive_time,
            connect_time=peer.connect_time,
            source_address=str(peer.source_address) if peer.source_address is not None else None,
            password=peer.password or None,
            ebgp_multihop=peer.ebgp_multihop,
            graceful_restart=peer.enable_graceful_restart,
            disable_mp=peer.disable_mp,
            dual_stack=peer.dual_stack_address_family,
            bfd=bfd_profile(profile) if profile is not None else None,
            ttl_security=node_bgp.ttl_security,
            next_hop_v4=next_hop_v4,
            next_hop_v6=next_hop_v6,
        )
    return settings, problems
