"""`lbd status` under Kubernetes: the control-socket views of a `lbd kube` process.

The same names and shapes as the standalone daemon's (`lbd.daemon.views`), read from what the roles
hold: the speaker's last desired state (this node's allocations as the controller wrote them into the
Services' status, and its L2/BGP decisions) and the configuration the sources accepted from the
metallb.io objects. `kubectl exec` into a speaker pod and `lbd status` shows the same facts as on a
plain host; the announcers add their own views (`bgp summary`, `bfd peers`, ...).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from lbd import __version__
from lbd.allocator.requests import State
from lbd.commands.explain_cmd import explain
from lbd.control.server import View, ViewError
from lbd.daemon.views import STATUS_VIEWS, describe, error_doc, l2_rows, plan_of, service_rows
from lbd.kube.runner import KubeRunner
from lbd.reconcile import DesiredState


class KubeViews:
    """`summary`, `services`, `config`, `l2` and `explain` over one KubeRunner."""

    __slots__ = ("_announcers", "_runner", "_socket", "_started_at")

    def __init__(self, runner: KubeRunner, socket: str, announcers: tuple[str, ...] = ()) -> None:
        self._runner = runner
        self._socket = socket
        self._announcers = announcers
        self._started_at = time.time()

    def views(self) -> dict[str, View]:
        return {name: getattr(self, name) for name in STATUS_VIEWS}

    def _desired(self) -> DesiredState | None:
        speaker = self._runner.speaker
        return speaker.desired if speaker is not None else None

    def summary(self, _args: Mapping[str, Any]) -> dict[str, Any]:
        runner, desired = self._runner, self._desired()
        options, controller, store = runner.options, runner.controller, runner.sources.config_store
        allocated = 0
        if desired is not None:
            allocated = sum(1 for s in desired.allocations.services if s.state is State.ALLOCATED)
        return {
            "node": options.node,
            "version": __version__,
            "started_at": self._started_at,
            "socket": self._socket,
            "namespace": options.namespace,
            "roles": [
                r for r, on in (("controller", options.controller), ("speaker", options.speaker)) if on
            ],
            "controller_leading": controller.leading if controller is not None else None,
            "controller_passes": controller.passes if controller is not None else None,
            "status_writes": controller.writes if controller is not None else None,
            "informers_synced": runner.sources.informers.synced,
            "config_generation": store.generation,
            "config_rejected": store.last_rejection is not None,
            "services_announced_here": allocated,
            "l2_addresses": len(desired.l2) if desired else 0,
            "bgp_peers": len(desired.bgp) if desired else 0,
            "bgp_routes": sum(len(p.routes) for p in desired.bgp) if desired else 0,
            "announcers": list(self._announcers),
        }

    def services(self, _args: Mapping[str, Any]) -> list[dict[str, Any]]:
        desired = self._desired()
        return service_rows(desired) if desired is not None else []

    def l2(self, _args: Mapping[str, Any]) -> list[dict[str, Any]]:
        desired = self._desired()
        return l2_rows(desired) if desired is not None else []

    def config(self, _args: Mapping[str, Any]) -> dict[str, Any]:
        store = self._runner.sources.config_store
        rejection = store.last_rejection
        doc: dict[str, Any] = {
            "source": f"metallb.io objects in namespace {self._runner.options.namespace}",
            "generation": store.generation,
            "objects": describe(store.current) if store.current is not None else None,
            "rejected": None,
        }
        if rejection is not None:
            doc["rejected"] = {"at": rejection.at, "errors": [error_doc(e) for e in rejection.errors]}
        return doc

    def explain(self, args: Mapping[str, Any]) -> dict[str, Any]:
        key = args.get("service")
        if not isinstance(key, str) or "/" not in key:
            raise ViewError("explain needs a service as NAMESPACE/NAME")
        desired = self._desired()
        if desired is None:
            raise ViewError("no desired state yet (speaker role off, or informers not synced)")
        world = self._runner.sources.world()
        return explain(
            plan_of(desired, self._runner.options.load_balancer_class), key, world.services.get(key)
        )
