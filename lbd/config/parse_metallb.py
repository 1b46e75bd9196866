"""metallb.io objects from their JSON form into model objects, with every per-object rule.

Cross-object rules (overlaps, references, same ASN, ...) live in `validate.py`. Ranges follow the CRDs
and the seeds: `docs/configuration.md` lists them per field.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address

from lbd.config.addresses import parse_ip, parse_range
from lbd.config.communities import (
    CommunityFormatError,
    CommunityValueError,
    StandardCommunity,
    parse_community,
)
from lbd.config.fields import Fields, join
from lbd.config.frozen import FrozenMap
from lbd.config.model import (
    AddressRange,
    BFDProfile,
    BGPAdvertisement,
    BGPPeer,
    Community,
    CommunityAlias,
    IPAddress,
    IPAddressPool,
    L2Advertisement,
    SecretRef,
    ServiceAllocation,
)
from lbd.config.parse_selectors import selectors_of

U32 = 0xFFFF_FFFF
U16 = 0xFFFF


@dataclass(frozen=True, slots=True)
class Meta:
    name: str
    namespace: str
    api_version: str
    labels: FrozenMap[str, str]


def interface_problem(name: str) -> str | None:
    """Linux IFNAMSIZ rules (net/core/dev.c dev_valid_name)."""
    if not name or len(name) > 15 or name in (".", "..") or any(c in name for c in "/: \t\n"):
        return f"{name!r} is not a Linux interface name (1-15 characters, no '/', ':' or whitespace)"
    return None


def _addresses(spec: Fields) -> tuple[AddressRange, ...]:
    ranges: list[AddressRange] = []
    seen: set[str] = set()
    for i, item in enumerate(spec.sequence("addresses", required=True)):
        where = join("addresses", i)
        if not isinstance(item, str):
            spec.error(where, "must be a CIDR or start-end range string")
            continue
        if item in seen:
            spec.error(where, f"duplicate entry {item!r}")
            continue
        seen.add(item)
        try:
            ranges.append(parse_range(item))
        except ValueError as exc:
            spec.error(where, str(exc))
    if spec.has("addresses") and not spec.sequence("addresses"):
        spec.error("addresses", "must list at least one CIDR or range")
    return tuple(ranges)


def _service_allocation(spec: Fields) -> ServiceAllocation | None:
    alloc = spec.mapping("serviceAllocation")
    if alloc is None:
        return None
    priority = alloc.integer("priority", 0, 2**31 - 1, 0)
    namespaces = alloc.string_list("namespaces", unique=True)
    ns_selectors = selectors_of(alloc, "namespaceSelectors")
    svc_selectors = selectors_of(alloc, "serviceSelectors")
    alloc.finish()
    return ServiceAllocation(priority or 0, namespaces, ns_selectors, svc_selectors)


def ip_address_pool(meta: Meta, spec: Fields) -> IPAddressPool:
    addresses = _addresses(spec)
    auto_assign = spec.boolean("autoAssign", True)
    avoid_buggy = spec.boolean("avoidBuggyIPs", False)
    allocation = _service_allocation(spec)
    spec.finish()
    return IPAddressPool(
        meta.name,
        meta.namespace,
        addresses,
        meta.labels,
        auto_assign,
        avoid_buggy,
        allocation,
        "IPAddressPool",
    )


def l2_advertisement(meta: Meta, spec: Fields) -> L2Advertisement:
    pools = spec.string_list("ipAddressPools", unique=True)
    pool_selectors = selectors_of(spec, "ipAddressPoolSelectors")
    node_selectors = selectors_of(spec, "nodeSelectors")
    interfaces = spec.string_list("interfaces", unique=True)
    for i, name in enumerate(interfaces):
        problem = interface_problem(name)
        if problem:
            spec.error(join("interfaces", i), problem)
    spec.finish()
    return L2Advertisement(meta.name, meta.namespace, pools, pool_selectors, node_selectors, interfaces)


def _aggregation(spec: Fields) -> tuple[int, int]:
    # CRD: aggregationLength minimum 1 default 32; v4 masks stop at 32, v6 masks at 128.
    v4 = spec.integer("aggregationLength", 1, 32, 32)
    v6 = spec.integer("aggregationLengthV6", 1, 128, 128)
    return v4 or 32, v6 or 128


def bgp_advertisement(meta: Meta, spec: Fields) -> BGPAdvertisement:
    agg4, agg6 = _aggregation(spec)
    local_pref = spec.integer("localPref", 0, U32, 0) or 0
    communities = spec.string_list("communities", unique=True)
    pools = spec.string_list("ipAddressPools", unique=True)
    pool_selectors = selectors_of(spec, "ipAddressPoolSelectors")
    node_selectors = selectors_of(spec, "nodeSelectors")
    peers = spec.string_list("peers", unique=True)
    spec.finish()
    return BGPAdvertisement(
        meta.name,
        meta.namespace,
        agg4,
        agg6,
        local_pref,
        communities,
        (),
        pools,
        pool_selectors,
        node_selectors,
        peers,
    )


def bfd_profile(meta: Meta, spec: Fields) -> BFDProfile:
    profile = BFDProfile(
        meta.name,
        meta.namespace,
        receive_interval_ms=spec.integer("receiveInterval", 10, 60000, 300) or 300,
        transmit_interval_ms=spec.integer("transmitInterval", 10, 60000, 300) or 300,
        detect_multiplier=spec.integer("detectMultiplier", 2, 255, 3) or 3,
        echo_interval_ms=spec.integer("echoInterval", 10, 60000, 50) or 50,
        echo_mode=spec.boolean("echoMode"),
        passive_mode=spec.boolean("passiveMode"),
        minimum_ttl=spec.integer("minimumTtl", 1, 254, 254) or 254,
    )
    spec.finish()
    return profile


def community(meta: Meta, spec: Fields) -> Community:
    aliases: list[CommunityAlias] = []
    for i, item in spec.items("communities"):
        name = item.string("name", required=True, allow_empty=False)
        value = item.string("value", required=True, allow_empty=False)
        item.finish()
        if name is None or value is None:
            continue
        try:
            aliases.append(CommunityAlias(name, parse_community(value)))
        except (CommunityFormatError, CommunityValueError) as exc:
            spec.error(join(join("communities", i), "value"), str(exc))
    spec.finish()
    return Community(meta.name, meta.namespace, tuple(aliases))


def _ip(spec: Fields, key: str) -> IPAddress | None:
    text = spec.string(key)
    if text is None:
        return None
    try:
        return parse_ip(text)
    except ValueError as exc:
        spec.error(key, str(exc))
        return None


def _timers(spec: Fields) -> tuple[float | None, float | None]:
    hold = spec.duration("holdTime")
    keepalive = spec.duration("keepaliveTime")
    if keepalive is not None and hold is None and not spec.has("holdTime"):
        spec.error("keepaliveTime", "requires holdTime to be set as well")
        return None, None
    if hold is None:
        return None, None
    # RFC 4271 §4.2: the hold time is zero or at least three seconds. MetalLB truncates to whole seconds.
    if 0 < hold < 3:
        spec.error("holdTime", f"{hold:g}s is not allowed: must be 0 or at least 3s")
        return None, None
    if keepalive is None:
        return hold, hold / 3
    if hold == 0 and keepalive != 0:
        spec.error("keepaliveTime", "must be 0 when holdTime is 0 (no keepalives)")
        return None, None
    if hold != 0 and keepalive >= hold:
        spec.error("keepaliveTime", f"{keepalive:g}s must be less than holdTime {hold:g}s")
        return None, None
    return hold, keepalive


def bgp_peer(meta: Meta, spec: Fields) -> BGPPeer | None:
    v2 = meta.api_version == "metallb.io/v1beta2"
    # v1beta1 CRD and the 4.10 docs: ASNs 0..65535; v1beta2 CRD and 4.12+: 0..4294967295.
    asn_max = U32 if v2 else U16
    my_asn = spec.integer("myASN", 0, asn_max, required=True)
    if my_asn == 0:
        spec.error("myASN", "must not be 0 (missing local ASN)")
    peer_asn = spec.integer("peerASN", 0, asn_max, 0) or 0
    dynamic: str | None = spec.string("dynamicASN") if v2 else None
    if dynamic is not None and dynamic not in ("internal", "external"):
        spec.error("dynamicASN", f"{dynamic!r} is not one of internal, external")
    if dynamic is not None and peer_asn:
        spec.error("dynamicASN", "peerASN and dynamicASN are mutually exclusive")
    elif dynamic is None and not spec.has("peerASN"):
        spec.error("peerASN", "is required" + (" (or dynamicASN)" if v2 else ""))
    elif dynamic is None and spec.has("peerASN") and not peer_asn:
        spec.error("peerASN", "must not be 0 (missing peer ASN)")
    address = _ip(spec, "peerAddress")
    interface = spec.string("interface", allow_empty=False) if v2 else None
    if interface is not None:
        problem = interface_problem(interface)
        if problem:
            spec.error("interface", problem)
    if address is None and interface is None and not spec.has("peerAddress"):
        spec.error("peerAddress", "is required" + (" (or interface, for unnumbered BGP)" if v2 else ""))
    if address is not None and interface is not None:
        spec.error("interface", "peerAddress and interface are mutually exclusive")
    source = _ip(spec, "sourceAddress")
    if source is not None and not isinstance(source, IPv4Address):
        # The seeds: "The value must be an IPv4 address."
        spec.error("sourceAddress", f"{source} must be an IPv4 address")
    port = spec.integer("peerPort", 0, 16384, 179)
    hold, keepalive = _timers(spec)
    connect = spec.duration("connectTime") if v2 else None
    if connect is not None and not (1 <= connect <= 65535 and connect == int(connect)):
        spec.error("connectTime", "must be a whole number of seconds between 1s and 65535s")
    router_id_addr = _ip(spec, "routerID")
    router_id = router_id_addr if isinstance(router_id_addr, IPv4Address) else None
    if router_id_addr is not None and router_id is None:
        spec.error("routerID", f"{router_id_addr} must be an IPv4 address (a 32-bit BGP identifier)")
    node_selectors = selectors_of(spec, "nodeSelectors")
    password = spec.string("password", allow_empty=False)
    secret_ref = _secret_ref(spec, meta) if v2 else None
    if password is not None and secret_ref is not None:
        spec.error("passwordSecret", "password and passwordSecret are mutually exclusive")
    bfd = spec.string("bfdProfile", allow_empty=False)
    multihop = spec.boolean("ebgpMultiHop")
    graceful = spec.boolean("enableGracefulRestart") if v2 else False
    vrf = (spec.string("vrf") or "") if v2 else ""
    disable_mp = spec.boolean("disableMP") if v2 else False
    dual_stack = spec.boolean("dualStackAddressFamily") if v2 else False
    spec.finish()
    if my_asn is None or port is None:
        return None
    if multihop and (peer_asn == my_asn or dynamic == "internal"):
        spec.error("ebgpMultiHop", "only applies to eBGP peers (peerASN different from myASN)")
    return BGPPeer(
        meta.name,
        meta.namespace,
        meta.api_version,
        my_asn,
        peer_asn,
        "internal" if dynamic == "internal" else "external" if dynamic == "external" else None,
        address,
        interface,
        source,
        port or 179,
        hold,
        keepalive,
        connect,
        router_id,
        node_selectors,
        password,
        secret_ref,
        bfd,
        multihop,
        graceful,
        vrf,
        disable_mp,
        dual_stack,
    )


def _secret_ref(spec: Fields, meta: Meta) -> SecretRef | None:
    ref = spec.mapping("passwordSecret")
    if ref is None:
        return None
    name = ref.string("name", allow_empty=False)
    namespace = ref.string("namespace", allow_empty=False)
    ref.finish()
    if name is None:
        # An empty reference is what the API server stores for "unset" (`passwordSecret: {}`).
        return None
    if namespace is not None and namespace != meta.namespace:
        ref.error("namespace", f"the secret must live in the MetalLB namespace {meta.namespace!r}")
    return SecretRef(name, meta.namespace)


def legacy_address_pool(
    meta: Meta, spec: Fields
) -> tuple[IPAddressPool, L2Advertisement | None, list[BGPAdvertisement]]:
    """The 4.10 AddressPool: normalised into a pool plus the advertisements its `protocol` implied.

    Inline advertisements get names `<pool>.bgpAdvertisements[i]` and the layer2 one `<pool>.layer2`;
    `[` and `.layer2` cannot clash with another object's name in practice (`[` is not allowed in names)."""
    protocol = spec.string("protocol", required=True)
    if protocol is not None and protocol not in ("layer2", "bgp"):
        spec.error("protocol", f"{protocol!r} is not one of layer2, bgp")
    addresses = _addresses(spec)
    auto_assign = spec.boolean("autoAssign", True)
    avoid_buggy = spec.boolean("avoidBuggyIPs", False)
    advs: list[BGPAdvertisement] = []
    entries = spec.items("bgpAdvertisements")
    if entries and protocol == "layer2":
        spec.error("bgpAdvertisements", "is only allowed with protocol bgp")
    for i, item in entries:
        agg4, agg6 = _aggregation(item)
        local_pref = item.integer("localPref", 0, U32, 0) or 0
        communities = item.string_list("communities", unique=True)
        for j, text in enumerate(communities):
            # The 4.10 docs: communities are two 16-bit values; names and large communities are not supported.
            try:
                if not isinstance(parse_community(text), StandardCommunity):
                    raise CommunityValueError("large communities are not supported in AddressPool")
            except (CommunityFormatError, CommunityValueError) as exc:
                item.error(join("communities", j), f"{exc}; AddressPool takes only A:B with 16-bit A and B")
        item.finish()
        advs.append(
            BGPAdvertisement(
                f"{meta.name}.bgpAdvertisements[{i}]",
                meta.namespace,
                agg4,
                agg6,
                local_pref,
                communities,
                (),
                (meta.name,),
            )
        )
    spec.finish()
    pool = IPAddressPool(
        meta.name, meta.namespace, addresses, meta.labels, auto_assign, avoid_buggy, None, "AddressPool"
    )
    if protocol == "bgp" and not advs:
        # MetalLB's default advertisement: every address as a host route, no attributes.
        advs.append(
            BGPAdvertisement(
                f"{meta.name}.bgpAdvertisements[0]", meta.namespace, ip_address_pools=(meta.name,)
            )
        )
    l2 = (
        L2Advertisement(f"{meta.name}.layer2", meta.namespace, (meta.name,)) if protocol == "layer2" else None
    )
    return pool, l2, advs
