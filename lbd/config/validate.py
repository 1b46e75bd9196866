"""Cross-object rules, then the all-or-nothing `Config`.

The rules follow the seeds and MetalLB's `internal/config` (config.go `For`, validation.go
`DiscardNativeOnly`/`validateConfig`), which the MetalLB webhooks run on every change:
unique names; pools never overlap; advertisements' aggregation lengths are not more specific than the
pools they cover; advertisements that reach the same peers and nodes agree on localPref; every peer has
the same myASN (per VRF) and routerID; peers are unique per address/interface and VRF; bfdProfile,
passwordSecret and community aliases resolve; BFD echo mode is not used on peers receiving IPv6 pools.
References by name from an advertisement to a pool or peer that does not exist are ignored by MetalLB;
here they are warnings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from lbd.config.addresses import overlaps
from lbd.config.communities import BGPCommunity, CommunityFormatError, CommunityValueError, resolve_community
from lbd.config.errors import ConfigError, Problems, Severity
from lbd.config.frozen import FrozenMap
from lbd.config.model import (
    BFDProfile,
    BGPAdvertisement,
    BGPPeer,
    Config,
    IPAddressPool,
    L2Advertisement,
    NodeConfig,
    Service,
    World,
)
from lbd.config.parse import Entry, Parsed
from lbd.config.selectors import LabelSelector

T = TypeVar("T")

BASIC_AUTH = "kubernetes.io/basic-auth"


@dataclass(frozen=True, slots=True)
class Outcome:
    config: Config | None
    world: World
    errors: tuple[ConfigError, ...]
    warnings: tuple[ConfigError, ...]


def _problems(parsed: Parsed, entry: Entry[object]) -> Problems:
    return parsed.problems(entry.kind, entry.name, entry.source)


def _unique(
    parsed: Parsed, entries: Sequence[Entry[T]], key: Callable[[Entry[T]], str] | None = None
) -> list[Entry[T]]:
    """Drop (and report) objects whose name repeats an earlier object's name in the same kind family.

    With a `key` (advertisements, keyed by their own name), the ones made from a legacy AddressPool are
    dropped silently: the pool's duplicate name is reported once already."""
    seen: dict[str, Entry[T]] = {}
    kept: list[Entry[T]] = []
    for e in entries:
        k = key(e) if key is not None else e.name
        if k in seen:
            first = seen[k]
            if key is None or e.kind != "AddressPool":
                message = f"duplicate name: {first.kind} {first.name} ({first.source}) has it"
                _problems(parsed, e).error("metadata.name", message)
            continue
        seen[k] = e
        kept.append(e)
    return kept


def _adv_name(e: Entry[L2Advertisement | BGPAdvertisement]) -> str:
    return e.obj.name


def _field_of_adv(adv: BGPAdvertisement, field: str) -> str:
    # Inline advertisements of a legacy AddressPool are named `<pool>.bgpAdvertisements[i]`.
    if ".bgpAdvertisements[" in adv.name:
        return f"spec.bgpAdvertisements[{adv.name.rsplit('[', 1)[1][:-1]}].{field}"
    return f"spec.{field}"


def _check_overlaps(parsed: Parsed, pools: list[Entry[IPAddressPool]]) -> None:
    owners = {e.obj.name: e for e in pools}
    ranges = [(e.obj.name, r) for e in pools for r in e.obj.addresses]
    for first_owner, first, owner, rng in overlaps(ranges):
        entry = owners[owner]
        index = entry.obj.addresses.index(rng)
        where = "the same pool" if first_owner == owner else f"pool {first_owner!r}"
        message = f"{rng.text} overlaps {first.text} of {where}; pools must not overlap"
        _problems(parsed, entry).error(f"spec.addresses[{index}]", message)


def _aliases(parsed: Parsed) -> dict[str, BGPCommunity]:
    aliases: dict[str, BGPCommunity] = {}
    owner: dict[str, str] = {}
    for e in parsed.communities:
        for i, alias in enumerate(e.obj.aliases):
            if alias.name in aliases:
                message = f"alias {alias.name!r} is already defined in {owner[alias.name]}"
                _problems(parsed, e).error(f"spec.communities[{i}].name", message)
                continue
            aliases[alias.name] = alias.value
            owner[alias.name] = e.name
    return aliases


def _resolve_communities(
    parsed: Parsed, entry: Entry[BGPAdvertisement], aliases: dict[str, BGPCommunity]
) -> Entry[BGPAdvertisement]:
    adv = entry.obj
    values: list[BGPCommunity] = []
    for i, text in enumerate(adv.community_names):
        try:
            value = resolve_community(text, aliases)
        except CommunityFormatError:
            _problems(parsed, entry).error(
                _field_of_adv(adv, f"communities[{i}]"),
                f"{text!r} is not A:B (16-bit halves), large:A:B:C (32-bit parts), "
                "a well-known name (no-export, no-advertise, ...) or an alias from a Community object",
            )
            continue
        except CommunityValueError as exc:
            _problems(parsed, entry).error(_field_of_adv(adv, f"communities[{i}]"), str(exc))
            continue
        if value not in values:
            values.append(value)
    return Entry(entry.kind, entry.name, entry.source, replace(adv, communities=tuple(values)))


def _check_peers(
    parsed: Parsed, peers: list[Entry[BGPPeer]], world: World, bfd: dict[str, BFDProfile]
) -> list[Entry[BGPPeer]]:
    out: list[Entry[BGPPeer]] = []
    first_asn: dict[str, Entry[BGPPeer]] = {}
    identities: dict[tuple[str, str], Entry[BGPPeer]] = {}
    first = peers[0] if peers else None
    for e in peers:
        p = e.obj
        problems = _problems(parsed, e)
        in_vrf = f" in VRF {p.vrf!r}" if p.vrf else ""
        prior = first_asn.setdefault(p.vrf, e)
        if prior.obj.my_asn != p.my_asn:
            problems.error(
                "spec.myASN",
                f"{p.my_asn} differs from {prior.obj.my_asn} of peer {prior.name}{in_vrf}; "
                "every peer must use the same myASN",
            )
        if first is not None and first.obj.router_id != p.router_id:
            problems.error(
                "spec.routerID",
                f"{p.router_id or 'unset'} differs from {first.obj.router_id or 'unset'} of peer "
                f"{first.name}; set the same routerID on every peer (or on none)",
            )
        target = str(p.peer_address) if p.peer_address is not None else f"interface {p.interface}"
        if (target, p.vrf) in identities:
            other = identities[(target, p.vrf)].name
            where = "spec.peerAddress" if p.peer_address is not None else "spec.interface"
            problems.error(where, f"{target}{in_vrf} is already peer {other}; peer addresses must be unique")
        else:
            identities[(target, p.vrf)] = e
        if p.bfd_profile is not None and p.bfd_profile not in bfd:
            problems.error("spec.bfdProfile", f"BFDProfile {p.bfd_profile!r} does not exist")
        if p.password_secret is not None:
            p = _with_secret(problems, p, world)
        out.append(Entry(e.kind, e.name, e.source, p))
    return out


def _with_secret(problems: Problems, peer: BGPPeer, world: World) -> BGPPeer:
    ref = peer.password_secret
    assert ref is not None
    key = f"{ref.namespace}/{ref.name}"
    secret = world.secrets.get(key)
    problem: str | None = None
    password = ""
    if secret is None:
        problem = f"Secret {key} does not exist"
    elif secret.type != BASIC_AUTH:
        problem = f"Secret {key} has type {secret.type!r}; {BASIC_AUTH!r} is required"
    elif "password" not in secret.data:
        problem = f"Secret {key} has no 'password' key"
    else:
        try:
            password = secret.data["password"].decode()
        except UnicodeDecodeError:
            problem = f"Secret {key}: the password is not UTF-8"
        if not password or any(c in password for c in "\r\n"):
            problem = problem or f"Secret {key}: the password is empty or has line breaks"
    if problem is not None:
        problems.error("spec.passwordSecret.name", problem)
        return peer
    return replace(peer, password=password)


@dataclass(frozen=True, slots=True)
class _PoolChoice:
    names: tuple[str, ...]
    selectors: tuple[LabelSelector, ...]


def _selected_pools(
    parsed: Parsed, entry: Entry[object], choice: _PoolChoice, pools: dict[str, IPAddressPool]
) -> list[str]:
    """MetalLB: pools named in ipAddressPools plus pools matching ipAddressPoolSelectors; neither: all."""
    if not choice.names and not choice.selectors:
        return list(pools)
    chosen: list[str] = []
    for i, name in enumerate(choice.names):
        if name not in pools:
            message = f"IPAddressPool {name!r} does not exist (ignored, as MetalLB does)"
            _problems(parsed, entry).warning(f"spec.ipAddressPools[{i}]", message)
        elif name not in chosen:
            chosen.append(name)
    for name, pool in pools.items():
        if name not in chosen and any(s.matches(pool.labels) for s in choice.selectors):
            chosen.append(name)
    return chosen


def _nodes_of(selectors: tuple[LabelSelector, ...], world: World) -> frozenset[str]:
    nodes = world.nodes.values()
    return frozenset(n.name for n in nodes if not selectors or any(s.matches(n.labels) for s in selectors))


def _compatible_local_pref(
    a: BGPAdvertisement, b: BGPAdvertisement, pool: IPAddressPool, world: World
) -> bool:
    """MetalLB's BGPAdvertisementsHaveCompatibleLocalPref: can the two send one prefix to one peer from
    one node with different LOCAL_PREF? Different aggregation lengths make different prefixes; disjoint
    peer lists or node sets never meet. Node sets are resolved against the known Node objects, except
    that two advertisements without nodeSelectors always meet (even before any Node is known)."""
    if a.local_pref == b.local_pref:
        return True
    has4 = any(r.version == 4 for r in pool.addresses)
    has6 = any(r.version == 6 for r in pool.addresses)
    diff4 = a.aggregation_length != b.aggregation_length
    diff6 = a.aggregation_length_v6 != b.aggregation_length_v6
    if (diff4 and not has6) or (diff6 and not has4) or (diff4 and diff6):
        return True
    if a.peers and b.peers and not set(a.peers) & set(b.peers):
        return True
    if not a.node_selectors and not b.node_selectors:
        # Both announce from every node: they meet on any node, known as a Node object or not.
        return False
    return not (_nodes_of(a.node_selectors, world) & _nodes_of(b.node_selectors, world))


def _check_bgp_per_pool(
    parsed: Parsed, entry: Entry[BGPAdvertisement], pool: IPAddressPool, earlier: Iterable[BGPAdvertisement]
) -> None:
    adv = entry.obj
    problems = _problems(parsed, entry)
    for r in pool.addresses:
        length = adv.aggregation_length if r.version == 4 else adv.aggregation_length_v6
        lowest = min(c.prefixlen for c in r.cidrs)
        if length < lowest:
            key = "aggregationLength" if r.version == 4 else "aggregationLengthV6"
            problems.error(
                _field_of_adv(adv, key),
                f"{length} is shorter than /{lowest} of {r.text!r} in pool {pool.name!r}; "
                f"it must be at least {lowest} for that pool",
            )
    for other in earlier:
        if not _compatible_local_pref(adv, other, pool, parsed.world):
            problems.error(
                _field_of_adv(adv, "localPref"),
                f"{adv.local_pref} conflicts with localPref {other.local_pref} of {other.name!r} for pool "
                f"{pool.name!r}: same aggregation length, overlapping peers and nodes",
            )


def _check_bfd_echo(
    parsed: Parsed,
    entry: Entry[BGPAdvertisement],
    pool: IPAddressPool,
    peers: dict[str, BGPPeer],
    bfd: dict[str, BFDProfile],
) -> None:
    # MetalLB validateConfig: BFD echo cannot run on a session carrying IPv6 pool addresses.
    if not any(r.version == 6 for r in pool.addresses):
        return
    adv = entry.obj
    targets = [peers[n] for n in adv.peers if n in peers] if adv.peers else list(peers.values())
    for peer in targets:
        profile = bfd.get(peer.bfd_profile) if peer.bfd_profile else None
        if profile is not None and profile.echo_mode:
            _problems(parsed, entry).error(
                _field_of_adv(adv, "peers"),
                f"pool {pool.name!r} has IPv6 addresses but peer {peer.name!r} uses BFD profile "
                f"{profile.name!r} with echoMode; echo mode is IPv4 only",
            )


def _node_configs(parsed: Parsed, peers: Mapping[str, BGPPeer]) -> list[NodeConfig]:
    out: list[NodeConfig] = []
    seen: dict[str, str] = {}
    for e in _unique(parsed, parsed.node_configs):
        node = e.obj.node_name
        if node in seen:
            _problems(parsed, e).error("spec.nodeName", f"node {node!r} already has NodeConfig {seen[node]}")
            continue
        seen[node] = e.name
        out.append(e.obj)
        for i, hop in enumerate(e.obj.bgp.next_hops):
            if hop.peer is not None and hop.peer not in peers:
                message = f"BGPPeer {hop.peer!r} does not exist (the entry is not used)"
                _problems(parsed, e).warning(f"spec.bgp.nextHops[{i}].peer", message)
    return out


def _services(parsed: Parsed) -> FrozenMap[str, Service]:
    """All batches' Services by key; a repeated key is reported and the first one kept."""
    services: dict[str, Service] = {}
    firsts: dict[str, str] | None = None  # key -> source of its first Service, once there is a repeat
    for batch in parsed.batches:
        if not services:
            services = dict(zip(batch.keys, batch.services, strict=True))
            if len(services) == len(batch.keys):
                continue
            services = {}
        for index, (key, service) in enumerate(zip(batch.keys, batch.services, strict=True)):
            if key not in services:
                services[key] = service
                continue
            if firsts is None:
                firsts = _first_sources(parsed)
            message = f"duplicate name: Service {key} ({firsts[key]}) has it"
            parsed.problems("Service", key, batch.service_source(index)).error("metadata.name", message)
    return FrozenMap.adopt(services)


def _first_sources(parsed: Parsed) -> dict[str, str]:
    out: dict[str, str] = {}
    for batch in parsed.batches:
        for index, key in enumerate(batch.keys):
            if key not in out:
                out[key] = batch.service_source(index)
    return out


def _world(parsed: Parsed) -> World:
    return World(
        services=_services(parsed),
        endpoint_slices=FrozenMap({e.name: e.obj for e in _unique(parsed, parsed.slices)}),
        nodes=FrozenMap({e.name: e.obj for e in _unique(parsed, parsed.nodes)}),
        secrets=FrozenMap({e.name: e.obj for e in _unique(parsed, parsed.secrets)}),
        namespaces=FrozenMap({e.name: e.obj for e in _unique(parsed, parsed.namespaces)}),
    )


def build(parsed: Parsed) -> Outcome:
    """Apply the cross-object rules to everything parsed; a Config only when there is no error at all."""
    world = parsed.world = _world(parsed)
    pools = _unique(parsed, parsed.pools)
    pool_map = {e.obj.name: e.obj for e in pools}
    _check_overlaps(parsed, pools)
    l2s = _unique(parsed, parsed.l2, _adv_name)
    bfd = {e.obj.name: e.obj for e in _unique(parsed, parsed.bfd)}
    _unique(parsed, parsed.communities)
    aliases = _aliases(parsed)
    bgps = [_resolve_communities(parsed, e, aliases) for e in _unique(parsed, parsed.bgp, _adv_name)]
    peers = _check_peers(parsed, _unique(parsed, parsed.peers), world, bfd)
    peer_map = {e.obj.name: e.obj for e in peers}
    node_configs = _node_configs(parsed, peer_map)

    pool_l2: dict[str, list[str]] = {name: [] for name in pool_map}
    for l2 in l2s:
        choice = _PoolChoice(l2.obj.ip_address_pools, l2.obj.ip_address_pool_selectors)
        for name in _selected_pools(parsed, l2, choice, pool_map):
            pool_l2[name].append(l2.obj.name)
    pool_bgp: dict[str, list[str]] = {name: [] for name in pool_map}
    adv_map = {e.obj.name: e.obj for e in bgps}
    for e in bgps:
        adv = e.obj
        for i, peer in enumerate(adv.peers):
            if peer not in peer_map:
                message = f"BGPPeer {peer!r} does not exist (ignored, as MetalLB does)"
                _problems(parsed, e).warning(f"spec.peers[{i}]", message)
        for name in _selected_pools(
            parsed, e, _PoolChoice(adv.ip_address_pools, adv.ip_address_pool_selectors), pool_map
        ):
            _check_bgp_per_pool(parsed, e, pool_map[name], [adv_map[n] for n in pool_bgp[name]])
            _check_bfd_echo(parsed, e, pool_map[name], peer_map, bfd)
            pool_bgp[name].append(adv.name)

    errors = tuple(e for e in parsed.errors if e.severity is Severity.ERROR)
    warnings = tuple(e for e in parsed.errors if e.severity is Severity.WARNING)
    if errors:
        return Outcome(None, world, errors, warnings)
    config = Config(
        namespace=parsed.namespace,
        pools=FrozenMap(pool_map),
        l2_advertisements=FrozenMap({e.obj.name: e.obj for e in l2s}),
        bgp_advertisements=FrozenMap(adv_map),
        peers=FrozenMap(peer_map),
        bfd_profiles=FrozenMap(bfd),
        communities=FrozenMap(aliases),
        node_configs=FrozenMap({n.node_name: n for n in node_configs}),
        pool_l2=FrozenMap({k: tuple(v) for k, v in pool_l2.items()}),
        pool_bgp=FrozenMap({k: tuple(v) for k, v in pool_bgp.items()}),
    )
    return Outcome(config, world, errors, warnings)
