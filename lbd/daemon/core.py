"""The daemon's state without any I/O: the config in force, the world from the files, health outcomes,
and the desired state computed from them. The asyncio side (`lbd.daemon.daemon`) only feeds it files,
health results and the clock, and pushes its output to the announcers; tests drive it directly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from lbd.allocator.requests import Assignment, HeldAddresses
from lbd.config import Config, ConfigError, ConfigStore, NodeConfig, ParseResult, World
from lbd.config.model import IPAddress
from lbd.daemon.health import HealthCheck, HealthChecks, HealthState, HealthWorld
from lbd.reconcile import DesiredState, Snapshot
from lbd.reconcile.incremental import Reconciler


@dataclass(frozen=True, slots=True)
class Loaded:
    """The accepted document set in force and when it was loaded (wall clock, for operators)."""

    result: ParseResult
    checks: Mapping[str, HealthCheck]
    at: float
    generation: int


class DaemonCore:
    """Config store plus reconcile for one node. `offer` a parse result, then `compute` the desired
    state with the current health outcomes and live nodes."""

    __slots__ = (
        "_clock",
        "_health_checks",
        "_health_world",
        "_live",
        "_loaded",
        "_peers",
        "_previous",
        "_reconciler",
        "_verdicts",
        "desired",
        "node",
        "store",
    )

    def __init__(
        self,
        node: str,
        clock: Callable[[], float],
        previous: Mapping[str, tuple[IPAddress, ...]] | None = None,
    ) -> None:
        self.node = node
        self._clock = clock
        self.store = ConfigStore(clock)
        self._loaded: Loaded | None = None
        # Addresses of the last allocation: a service keeps its address across reloads (and, seeded
        # from lbd.daemon.state, restarts) while it stays valid; files have no Service status.
        self._previous = HeldAddresses(previous)
        # The verdicts `_previous` was last brought up to date with.
        self._verdicts: tuple[Assignment, ...] = ()
        # Same result as lbd.reconcile.reconcile, but one Service change costs about its own work.
        self._reconciler = Reconciler()
        # Synthetic health slices, the same objects while their outcomes stay the same.
        self._health_world = HealthWorld()
        self._health_checks = HealthChecks()
        self._live: frozenset[str] | None = None
        self._peers: Mapping[str, frozenset[bytes]] = {}
        self.desired: DesiredState | None = None

    @property
    def loaded(self) -> Loaded | None:
        return self._loaded

    @property
    def allocations(self) -> Mapping[str, tuple[IPAddress, ...]]:
        """Addresses of the last computed allocation, by `namespace/name` (what a restart keeps)."""
        return self._previous

    @property
    def config(self) -> Config | None:
        return self.store.current

    @property
    def node_config(self) -> NodeConfig | None:
        config = self.store.current
        return config.node_config(self.node) if config is not None else None

    def offer(self, result: ParseResult) -> tuple[ConfigError, ...]:
        """Install `result` if it and its health-check annotations are valid; otherwise keep the
        running state. Returns the errors of a rejected update (empty when accepted)."""
        checks, errors = self._health_checks.update(result.world)
        if errors and result.config is not None:
            result = ParseResult(None, result.world, tuple(errors), result.warnings)
        elif errors:
            result = ParseResult(None, result.world, (*result.errors, *errors), result.warnings)
        if not self.store.apply(result):
            return result.errors
        self._loaded = Loaded(result, checks, self._clock(), self.store.generation)
        return ()

    def compute(
        self,
        health: Mapping[str, HealthState],
        live_nodes: frozenset[str] | None = None,
        peer_health: Mapping[str, frozenset[bytes]] | None = None,
    ) -> DesiredState | None:
        """The desired state of this node, or None before any config was accepted. `live_nodes`
        None means this node alone is a live speaker (no membership). `peer_health`: each member's
        health set from membership (a live node without one counts as failing every check)."""
        loaded, config = self._loaded, self.store.current
        if loaded is None or config is None:
            return None
        self._live = live_nodes
        self._peers = peer_health if peer_health is not None else {}
        node_config = config.node_config(self.node)
        snapshot = Snapshot(
            config=config,
            world=self.world(health),
            node=self.node,
            live_nodes=live_nodes if live_nodes is not None else frozenset({self.node}),
            load_balancer_class=node_config.load_balancer_class if node_config else None,
            previous=self._previous,
            standalone=True,
        )
        desired = self._reconciler.reconcile(snapshot)
        self._remember(desired.allocations.services)
        self.desired = desired
        return desired

    def _remember(self, verdicts: tuple[Assignment, ...]) -> None:
        """Keep `allocations` up to date with the verdicts that changed since the last call."""
        if not self._verdicts:
            # The first result replaces what the state file remembered, services gone since included.
            self._previous.clear()
        self._previous.follow(self._verdicts, verdicts)
        self._verdicts = verdicts

    def world(self, health: Mapping[str, HealthState]) -> World:
        """The world the reconcile function sees: the files plus the health checks' synthetic slices,
        with the live nodes and members' health sets of the last `compute`."""
        if self._loaded is None:
            return World()
        return self._health_world.world(
            self._loaded.result.world,
            self._loaded.checks,
            self.node,
            states=health,
            peers=self._peers,
            live=self._live,
        )


def announced_addresses(desired: DesiredState) -> frozenset[IPAddress]:
    """Every address this node currently announces, by L2 or to any BGP peer."""
    addresses: set[IPAddress] = {a.address for a in desired.l2}
    for peer in desired.bgp:
        for route in peer.routes:
            addresses.update(route.addresses)
    return frozenset(addresses)
