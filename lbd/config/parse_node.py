"""lbd.io/v1alpha1 NodeConfig: node-local settings (documented field by field in docs/configuration.md)."""

from __future__ import annotations

import ipaddress

from lbd.config.addresses import parse_ip
from lbd.config.fields import Fields, join
from lbd.config.model import (
    DEFAULT_CONTROL_SOCKET,
    DEFAULT_MEMBERSHIP_PORT,
    UNSPECIFIED_V4,
    HostPort,
    IPAddress,
    LocalDelivery,
    LogLevel,
    MemberPeer,
    Membership,
    NextHopSetting,
    NodeBgp,
    NodeConfig,
)
from lbd.config.parse_metallb import Meta, interface_problem
from lbd.config.parse_selectors import label_key_problem

MIN_KEY_LENGTH = 16
MIN_HEARTBEAT = 0.01
MAX_HEARTBEAT = 10.0


def parse_host_port(text: str) -> HostPort:
    """`host:port`, `[v6]:port` or `:port` (all addresses); raise ValueError saying what is allowed."""
    if text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
        if not sep:
            raise ValueError(f"{text!r} must be [IPv6]:port")
        ipaddress.IPv6Address(host)
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or ":" in host:
            raise ValueError(f"{text!r} must be host:port, [IPv6]:port or :port")
    if not port_text.isascii() or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"{text!r}: port must be 1..65535")
    return HostPort(host, int(port_text))


def _path(fields: Fields, key: str, default: str | None) -> str | None:
    value = fields.string(key, allow_empty=False)
    if value is None:
        return default
    if not value.startswith("/") or "\0" in value:
        fields.error(key, f"{value!r} must be an absolute path")
        return default
    return value


def _membership(spec: Fields, node_name: str) -> Membership:
    m = spec.mapping("membership")
    if m is None:
        return Membership()
    bind_text = m.string("bindAddress", allow_empty=False)
    bind: IPAddress = UNSPECIFIED_V4
    if bind_text is not None:
        try:
            bind = parse_ip(bind_text)
        except ValueError as exc:
            m.error("bindAddress", str(exc))
    bind_port = m.integer("bindPort", 1, 65535, DEFAULT_MEMBERSHIP_PORT) or DEFAULT_MEMBERSHIP_PORT
    peers: list[MemberPeer] = []
    for i, item in m.items("peers"):
        name = item.string("name", required=True, allow_empty=False)
        address_text = item.string("address", required=True, allow_empty=False)
        port = item.integer("port", 1, 65535, bind_port) or bind_port
        item.finish()
        if name is None or address_text is None:
            continue
        try:
            address = parse_ip(address_text)
        except ValueError as exc:
            item.error("address", str(exc))
            continue
        where = join("peers", i)
        if name == node_name:
            m.error(join(where, "name"), f"{name!r} is this node; list only the other members")
        elif any(p.name == name for p in peers):
            m.error(join(where, "name"), f"duplicate member name {name!r}")
        elif any((p.address, p.port) == (address, port) for p in peers):
            m.error(join(where, "address"), f"duplicate member address {address} port {port}")
        else:
            peers.append(MemberPeer(name, address, port))
    key = m.string("key", allow_empty=False)
    key_file = _path(m, "keyFile", None)
    if key is not None and len(key.encode()) < MIN_KEY_LENGTH:
        m.error("key", f"must be at least {MIN_KEY_LENGTH} bytes")
    if key is not None and m.has("keyFile"):
        m.error("keyFile", "key and keyFile are mutually exclusive")
    if peers and key is None and not m.has("keyFile"):
        m.error("key", "a shared key (key or keyFile) is required when there are peers")
    heartbeat = m.duration("heartbeatInterval")
    timeout = m.duration("failureTimeout")
    m.finish()
    defaults = Membership()
    if heartbeat is not None and not MIN_HEARTBEAT <= heartbeat <= MAX_HEARTBEAT:
        m.error("heartbeatInterval", "must be between 10ms and 10s")
        heartbeat = None
    heartbeat = heartbeat if heartbeat is not None else defaults.heartbeat_interval
    timeout = timeout if timeout is not None else max(defaults.failure_timeout, 3 * heartbeat)
    if timeout < 2 * heartbeat:
        m.error(
            "failureTimeout", "must be at least twice heartbeatInterval (one lost heartbeat is not a failure)"
        )
    return Membership(bind, bind_port, tuple(peers), key, key_file, heartbeat, timeout)


def _bgp(spec: Fields) -> NodeBgp:
    b = spec.mapping("bgp")
    if b is None:
        return NodeBgp()
    defaults = NodeBgp()
    listen = b.boolean("listen", defaults.listen)
    port = b.integer("listenPort", 1, 65535, defaults.listen_port) or defaults.listen_port
    addresses: list[IPAddress] = []
    for i, text in enumerate(b.string_list("listenAddresses", unique=True)):
        try:
            addresses.append(parse_ip(text))
        except ValueError as exc:
            b.error(join("listenAddresses", i), str(exc))
    state_dir = _path(b, "gracefulRestartStateDir", None)
    ttl_security = b.boolean("ttlSecurity", defaults.ttl_security)
    next_hops = _next_hops(b)
    b.finish()
    return NodeBgp(listen, port, tuple(addresses), state_dir, ttl_security, next_hops)


def next_hop_problem(address: IPAddress) -> str | None:
    """Why `address` cannot be a BGP next hop a peer forwards to (RFC 4271 §5.1.3: an address of this
    node on the path; RFC 2545 §3: a global IPv6 address, the link-local one comes from the interface)."""
    if address.is_unspecified or address.is_loopback or address.is_multicast:
        return f"{address} is unspecified, loopback or multicast"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return f"{address} is an IPv4-mapped address; write the IPv4 next hop under ipv4"
        if address.is_link_local:
            return f"{address} is link-local; the link-local next hop is taken from the interface"
    elif address.is_reserved:
        return f"{address} is reserved (240.0.0.0/4, broadcast)"
    return None


def _next_hop(item: Fields, key: str, version: int) -> IPAddress | None:
    text = item.string(key, allow_empty=False)
    if text is None:
        return None
    try:
        address = parse_ip(text)
    except ValueError as exc:
        item.error(key, str(exc))
        return None
    problem = f"{text!r} is not an IPv{version} address" if address.version != version else None
    problem = problem or next_hop_problem(address)
    if problem:
        item.error(key, problem)
        return None
    return address


def _next_hops(b: Fields) -> tuple[NextHopSetting, ...]:
    out: list[NextHopSetting] = []
    peers: set[str | None] = set()
    for i, item in b.items("nextHops"):
        where = join("nextHops", i)
        peer = item.string("peer", allow_empty=False)
        v4 = _next_hop(item, "ipv4", 4)
        v6 = _next_hop(item, "ipv6", 6)
        item.finish()
        if not item.has("ipv4") and not item.has("ipv6"):
            b.error(where, "needs ipv4, ipv6 or both")
        if peer in peers:
            b.error(join(where, "peer"), f"a second entry for {f'peer {peer!r}' if peer else 'every peer'}")
            continue
        peers.add(peer)
        if v4 is not None or v6 is not None:
            out.append(
                NextHopSetting(
                    peer,
                    v4 if isinstance(v4, ipaddress.IPv4Address) else None,
                    v6 if isinstance(v6, ipaddress.IPv6Address) else None,
                )
            )
    return tuple(out)


def node_config(meta: Meta, spec: Fields) -> NodeConfig:
    node_name = spec.string("nodeName", allow_empty=False) or meta.name
    interfaces = spec.string_list("interfaces", unique=True)
    for i, name in enumerate(interfaces):
        problem = interface_problem(name)
        if problem:
            spec.error(join("interfaces", i), problem)
    control_socket = _path(spec, "controlSocket", DEFAULT_CONTROL_SOCKET) or DEFAULT_CONTROL_SOCKET
    metrics = HostPort("127.0.0.1", 7472)
    metrics_text = spec.string("metricsAddress", allow_empty=False)
    if metrics_text is not None:
        try:
            metrics = parse_host_port(metrics_text)
        except ValueError as exc:
            spec.error("metricsAddress", str(exc))
    level_text = spec.string("logLevel")
    level = LogLevel.INFO
    if level_text is not None:
        try:
            level = LogLevel(level_text)
        except ValueError:
            spec.error("logLevel", f"{level_text!r} is not one of {', '.join(lv.value for lv in LogLevel)}")
    lb_class = spec.string("loadBalancerClass", allow_empty=False)
    if lb_class is not None:
        problem = label_key_problem(lb_class)
        if problem:
            spec.error("loadBalancerClass", problem.replace("label key", "class"))
    membership = _membership(spec, node_name)
    local = LocalDelivery()
    ld = spec.mapping("localDelivery")
    if ld is not None:
        enabled = ld.boolean("enabled")
        dummy = ld.string("dummyInterface", allow_empty=False) or local.dummy_interface
        problem = interface_problem(dummy)
        if problem:
            ld.error("dummyInterface", problem)
        elif dummy in interfaces:
            ld.error("dummyInterface", f"{dummy!r} is also listed in spec.interfaces")
        ld.finish()
        local = LocalDelivery(enabled, dummy)
    bgp = _bgp(spec)
    spec.finish()
    return NodeConfig(
        meta.name, node_name, interfaces, control_socket, metrics, level, lb_class, membership, local, bgp
    )
