"""The daemon's own control-socket views and metrics, as pure functions over its state.

Announcers add their views (`bgp summary`, `bfd peers`, `l2` with MACs and counters, ...) on top; an
announcer's view replaces the daemon's view of the same name. Passwords never appear: the `config` view
lists objects by name and settings, never secrets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lbd import __version__
from lbd.allocator.addresses import PoolSpace, Span
from lbd.allocator.requests import State
from lbd.commands.explain_cmd import explain
from lbd.config import Config, ConfigError, IPAddressPool
from lbd.control.server import View, ViewError
from lbd.daemon.core import DaemonCore
from lbd.daemon.health import HealthCheck, HealthState
from lbd.metrics import Sample
from lbd.reconcile import DesiredState
from lbd.reconcile.plan import Plan, PlannedL2, PlannedRoute


@dataclass(slots=True)
class Status:
    """What the daemon knows beyond DaemonCore, updated by the daemon as it runs."""

    node: str
    paths: tuple[str, ...]
    started_at: float
    announcers: tuple[str, ...] = ()
    socket: str | None = None
    metrics: str | None = None
    live_nodes: frozenset[str] | None = None
    checks: Mapping[str, HealthCheck] = field(default_factory=dict)
    health: Mapping[str, HealthState] = field(default_factory=dict)
    updates: int = 0
    update_errors: int = 0


def error_doc(error: ConfigError) -> dict[str, str]:
    return {
        "kind": error.kind,
        "name": error.name,
        "field": error.field,
        "message": error.message,
        "source": error.source,
    }


# The views `lbd run` and every `lbd kube` process serve themselves (announcers add theirs).
STATUS_VIEWS = ("summary", "services", "config", "l2", "explain")


class DaemonViews:
    """`summary`, `services`, `config`, `l2` and `explain`, over one DaemonCore and its Status."""

    __slots__ = ("_core", "_status")

    def __init__(self, core: DaemonCore, status: Status) -> None:
        self._core = core
        self._status = status

    def views(self) -> dict[str, View]:
        return {name: getattr(self, name) for name in STATUS_VIEWS}

    def summary(self, _args: Mapping[str, Any]) -> dict[str, Any]:
        core, status = self._core, self._status
        desired, loaded = core.desired, core.loaded
        rejection = core.store.last_rejection
        allocated = pending = 0
        if desired is not None:
            allocated = sum(1 for s in desired.allocations.services if s.state is State.ALLOCATED)
            pending = len(desired.allocations.services) - allocated
        return {
            "node": status.node,
            "version": __version__,
            "started_at": status.started_at,
            "socket": status.socket,
            "metrics": status.metrics,
            "config_generation": core.store.generation,
            "config_loaded_at": loaded.at if loaded else None,
            "config_rejected": rejection is not None,
            "services_allocated": allocated,
            "services_pending": pending,
            "l2_addresses": len(desired.l2) if desired else 0,
            "bgp_peers": len(desired.bgp) if desired else 0,
            "bgp_routes": sum(len(p.routes) for p in desired.bgp) if desired else 0,
            "health_checks": len(status.checks),
            "health_checks_passing": sum(1 for s in status.health.values() if s.healthy),
            "live_nodes": sorted(status.live_nodes) if status.live_nodes is not None else [status.node],
            "announcers": list(status.announcers),
        }

    def services(self, _args: Mapping[str, Any]) -> list[dict[str, Any]]:
        desired = self._core.desired
        return service_rows(desired, self._status.checks, self._status.health) if desired else []

    def config(self, _args: Mapping[str, Any]) -> dict[str, Any]:
        core = self._core
        loaded, rejection = core.loaded, core.store.last_rejection
        doc: dict[str, Any] = {
            "paths": list(self._status.paths),
            "generation": core.store.generation,
            "loaded_at": loaded.at if loaded else None,
            "warnings": [error_doc(w) for w in loaded.result.warnings] if loaded else [],
            "objects": describe(core.config) if core.config is not None else None,
            "rejected": None,
        }
        if rejection is not None:
            doc["rejected"] = {"at": rejection.at, "errors": [error_doc(e) for e in rejection.errors]}
        return doc

    def l2(self, _args: Mapping[str, Any]) -> list[dict[str, Any]]:
        desired = self._core.desired
        return l2_rows(desired) if desired else []

    def explain(self, args: Mapping[str, Any]) -> dict[str, Any]:
        key = args.get("service")
        if not isinstance(key, str) or "/" not in key:
            raise ViewError("explain needs a service as NAMESPACE/NAME")
        desired, loaded = self._core.desired, self._core.loaded
        if desired is None or loaded is None:
            raise ViewError("no configuration loaded yet")
        world = self._core.world(self._status.health)
        node_config = self._core.node_config
        lb_class = node_config.load_balancer_class if node_config else None
        return explain(plan_of(desired, lb_class), key, world.services.get(key))


def service_rows(
    desired: DesiredState,
    checks: Mapping[str, HealthCheck] | None = None,
    health: Mapping[str, HealthState] | None = None,
) -> list[dict[str, Any]]:
    """`lbd status services`: each service's allocation and this node's announcement decisions."""
    checks, health = checks or {}, health or {}
    rows = []
    for state in desired.services:
        a = state.allocation
        check, outcome, l2 = checks.get(a.key), health.get(a.key), state.l2
        rows.append(
            {
                "service": a.key,
                "state": a.state.value,
                "ips": [str(ip) for ip in a.addresses],
                "pool": a.pool,
                "reason": a.error or a.reason.value,
                "l2_owner": l2.owner if l2 is not None and l2.reason is None else None,
                "l2_reason": l2.reason.value if l2 is not None and l2.reason else None,
                "bgp_peers": list(state.bgp.peers) if state.bgp else [],
                "bgp_reason": state.bgp.reason.value if state.bgp and state.bgp.reason else None,
                "health_check": check.target if check else None,
                "healthy": outcome.healthy if outcome else None,
                "health_error": outcome.last_error if outcome else None,
            }
        )
    return rows


def l2_rows(desired: DesiredState) -> list[dict[str, Any]]:
    """`lbd status l2`: the addresses this node answers ARP/NDP for."""
    return [
        {
            "ip": str(a.address),
            "service": a.service,
            "node": desired.node,
            "interfaces": list(a.interfaces),
            "all_interfaces": a.all_interfaces,
        }
        for a in desired.l2
    ]


def plan_of(desired: DesiredState, load_balancer_class: str | None) -> Plan:
    """This node's desired state in the shape `lbd explain` reads (offline it holds every node)."""
    node = desired.node
    routes = tuple(
        PlannedRoute(
            peer.peer,
            r.prefix,
            r.communities,
            r.large_communities,
            r.local_pref,
            nodes=(node,),
            services=r.services,
        )
        for peer in desired.bgp
        for r in peer.routes
    )
    return Plan(
        (node,),
        load_balancer_class,
        desired.allocations,
        {node: desired},
        tuple(PlannedL2(node, a) for a in desired.l2),
        routes,
    )


def describe(config: Config) -> dict[str, Any]:
    """The running config by kind, name and the settings an operator checks first (no secrets)."""
    return {
        "IPAddressPool": {
            name: {
                "addresses": [r.text for r in pool.addresses],
                "autoAssign": pool.auto_assign,
                "avoidBuggyIPs": pool.avoid_buggy_ips,
            }
            for name, pool in sorted(config.pools.items())
        },
        "L2Advertisement": {
            name: {"pools": list(config_pools(config.pool_l2, name)), "interfaces": list(adv.interfaces)}
            for name, adv in sorted(config.l2_advertisements.items())
        },
        "BGPAdvertisement": {
            name: {
                "pools": list(config_pools(config.pool_bgp, name)),
                "aggregationLength": adv.aggregation_length,
                "aggregationLengthV6": adv.aggregation_length_v6,
                "communities": list(adv.community_names),
                "localPref": adv.local_pref,
                "peers": list(adv.peers),
            }
            for name, adv in sorted(config.bgp_advertisements.items())
        },
        "BGPPeer": {
            name: {
                "peerAddress": str(peer.peer_address) if peer.peer_address else None,
                "peerASN": peer.peer_asn,
                "myASN": peer.my_asn,
                "bfdProfile": peer.bfd_profile,
                "md5": peer.password is not None,
            }
            for name, peer in sorted(config.peers.items())
        },
        "BFDProfile": sorted(config.bfd_profiles),
        "Community": sorted(config.communities),
        "NodeConfig": sorted(config.node_configs),
    }


def config_pools(pool_map: Mapping[str, tuple[str, ...]], advertisement: str) -> Iterable[str]:
    return sorted(pool for pool, advs in pool_map.items() if advertisement in advs)


def pool_capacity(pool: IPAddressPool) -> int:
    space = PoolSpace(
        pool.name, tuple(Span.between(r.first, r.last) for r in pool.addresses), pool.avoid_buggy_ips
    )
    return space.capacity(4) + space.capacity(6)


def samples(core: DaemonCore, status: Status) -> Iterable[Sample]:
    """The daemon's metric families: allocator, announcements, config state (docs/standalone.md)."""
    config, desired = core.config, core.desired
    out: list[Sample] = []
    if config is not None:
        in_use: dict[str, set[str]] = {name: set() for name in config.pools}
        if desired is not None:
            for a in desired.allocations.services:
                if a.state is State.ALLOCATED and a.pool in in_use:
                    in_use[a.pool].update(str(ip) for ip in a.addresses)
        for name, pool in sorted(config.pools.items()):
            out.append(Sample("metallb_allocator_addresses_total", {"pool": name}, pool_capacity(pool)))
            out.append(Sample("metallb_allocator_addresses_in_use_total", {"pool": name}, len(in_use[name])))
    if desired is not None:
        node = desired.node
        for l2 in desired.l2:
            labels = {"ip": str(l2.address), "node": node, "protocol": "layer2", "service": l2.service}
            out.append(Sample("metallb_speaker_announced", labels, 1))
        for state in desired.services:
            if state.bgp is None or state.bgp.reason is not None or not state.bgp.peers:
                continue
            for ip in state.allocation.addresses:
                labels = {"ip": str(ip), "node": node, "protocol": "bgp", "service": state.key}
                out.append(Sample("metallb_speaker_announced", labels, 1))
    # File mode: "stale" means the files on disk were rejected and an older config is in force.
    out.append(Sample("metallb_k8s_client_config_loaded_bool", {}, float(core.store.generation > 0)))
    out.append(
        Sample("metallb_k8s_client_config_stale_bool", {}, float(core.store.last_rejection is not None))
    )
    out.append(Sample("metallb_k8s_client_updates_total", {}, status.updates))
    out.append(Sample("metallb_k8s_client_update_errors_total", {}, status.update_errors))
    return out
