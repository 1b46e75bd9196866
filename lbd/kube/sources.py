"""From the informers' stores to what the reconcile core reads: the config in force and the world.

Config: every metallb.io object of the namespace plus the Secrets that BGPPeers name in
`passwordSecret` (no other Secret is parsed or kept) go through `lbd.config.parse_objects` as one
document set. It is parsed again only when one of those objects changed (by resourceVersion), and
offered to a `ConfigStore`: an invalid set is rejected whole and the last good config stays in force
(fail static), with `metallb_k8s_client_config_stale_bool` at 1 until a valid set arrives.

World: Services, EndpointSlices, Nodes and Namespaces are parsed one object at a time and cached by
resourceVersion, so a change to one Service costs one parse, not ten thousand. A core object that the
parser finds fault with is kept with the faulty field at its default (the API server validated it
already); the problem is logged once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import structlog

from lbd.config import ConfigError, ConfigStore, Secret, World, parse_objects
from lbd.config.frozen import FrozenMap
from lbd.kube.informers import Informers
from lbd.kube.resources import (
    BGP_PEERS,
    ENDPOINT_SLICES,
    METALLB_KINDS,
    NAMESPACES,
    NODES,
    SECRETS,
    SERVICES,
    ResourceKind,
)
from lbd.kube.store import Obj, ObjectStore, resource_version
from lbd.metrics import Metrics

log = structlog.get_logger("lbd.kube")

_CORE_KINDS: tuple[tuple[ResourceKind, str], ...] = (
    (SERVICES, "services"),
    (ENDPOINT_SLICES, "endpoint_slices"),
    (NODES, "nodes"),
    (NAMESPACES, "namespaces"),
)


@dataclass(frozen=True, slots=True)
class ConfigUpdate:
    """The outcome of a config parse: accepted (`errors` empty) or rejected whole."""

    generation: int
    errors: tuple[ConfigError, ...]
    warnings: tuple[ConfigError, ...]
    objects: tuple[Obj, ...]

    @property
    def accepted(self) -> bool:
        return not self.errors


def referenced_secrets(peers: Iterable[Obj]) -> set[str]:
    """Names of the Secrets the BGPPeers refer to (`spec.passwordSecret.name`)."""
    names: set[str] = set()
    for peer in peers:
        spec = peer.get("spec")
        ref = spec.get("passwordSecret") if isinstance(spec, dict) else None
        if isinstance(ref, dict) and isinstance(ref.get("name"), str) and ref["name"]:
            names.add(ref["name"])
    return names


class KubeSources:
    """The informers of one process and what both roles derive from them."""

    def __init__(
        self,
        informers: Informers,
        namespace: str,
        *,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.informers = informers
        self.namespace = namespace
        self.metrics = metrics
        self.config_store = ConfigStore(clock)
        self.last_update: ConfigUpdate | None = None
        self._config_fingerprint: tuple[tuple[str, str, str], ...] | None = None
        self._updates = 0
        self._parsed: dict[tuple[str, str, str], tuple[str, Any]] = {}
        self._secrets: FrozenMap[str, Secret] = FrozenMap({})

    # ---- config

    def config_documents(self) -> list[Obj]:
        docs: list[Obj] = []
        for kind in METALLB_KINDS:
            docs.extend(self._store(kind, self.namespace).items())
        peers = self._store(BGP_PEERS, self.namespace).items()
        secrets = self._store(SECRETS, self.namespace)
        for name in sorted(referenced_secrets(peers)):
            secret = secrets.get(self.namespace, name)
            if secret is not None:
                docs.append(secret)
        return docs

    def admission_documents(self) -> tuple[list[Obj], dict[str, Obj]]:
        """For the admission webhook: the metallb.io objects, and every Secret of the namespace by
        name (a change under review may name a Secret no BGPPeer named before)."""
        docs: list[Obj] = []
        for kind in METALLB_KINDS:
            docs.extend(self._store(kind, self.namespace).items())
        secrets = {s["metadata"]["name"]: s for s in self._store(SECRETS, self.namespace).items()}
        return docs, secrets

    def refresh_config(self) -> ConfigUpdate | None:
        """Parse the config documents if any changed since the last call; returns the outcome then,
        None when nothing changed."""
        docs = self.config_documents()
        fingerprint = tuple(
            sorted((str(d.get("kind")), str(d["metadata"].get("name")), resource_version(d)) for d in docs)
        )
        if fingerprint == self._config_fingerprint:
            return None
        self._config_fingerprint = fingerprint
        result = parse_objects(docs, source="kubernetes", namespace=self.namespace)
        accepted = self.config_store.apply(result)
        self._secrets = result.world.secrets
        self._updates += 1
        update = ConfigUpdate(self._updates, result.errors, result.warnings, tuple(docs))
        self.last_update = update
        for warning in result.warnings:
            log.warning("kube config warning", problem=str(warning))
        if accepted:
            log.info("kube config accepted", objects=len(docs), generation=self.config_store.generation)
        else:
            log.error(
                "kube config rejected, keeping the last good one",
                errors=[str(e) for e in result.errors],
                stale=self.config_store.generation > 0,
            )
        self._set_metrics(accepted)
        return update

    def _set_metrics(self, accepted: bool) -> None:
        if self.metrics is None:
            return
        self.metrics.inc("metallb_k8s_client_updates_total")
        if not accepted:
            self.metrics.inc("metallb_k8s_client_update_errors_total")
        self.metrics.set("metallb_k8s_client_config_stale_bool", 0.0 if accepted else 1.0)
        self.metrics.set(
            "metallb_k8s_client_config_loaded_bool", 1.0 if self.config_store.generation > 0 else 0.0
        )

    @property
    def stale(self) -> bool:
        """True while the latest config documents were rejected (the last good config is in force)."""
        return self.last_update is not None and not self.last_update.accepted

    # ---- world

    def world(self) -> World:
        maps: dict[str, dict[str, Any]] = {}
        seen: set[tuple[str, str, str]] = set()
        for kind, field_name in _CORE_KINDS:
            out: dict[str, Any] = {}
            for obj in self._store(kind, None).items():
                model = self._parse_core(kind, obj, field_name, seen)
                if model is not None:
                    key = model.name if kind in (NODES, NAMESPACES) else f"{model.namespace}/{model.name}"
                    out[key] = model
            maps[field_name] = out
        for gone in set(self._parsed) - seen:
            del self._parsed[gone]
        return World(
            services=FrozenMap(maps["services"]),
            endpoint_slices=FrozenMap(maps["endpoint_slices"]),
            nodes=FrozenMap(maps["nodes"]),
            secrets=self._secrets,
            namespaces=FrozenMap(maps["namespaces"]),
        )

    def _parse_core(
        self, kind: ResourceKind, obj: Obj, field_name: str, seen: set[tuple[str, str, str]]
    ) -> Any:
        meta = obj.get("metadata") or {}
        cache_key = (kind.kind, str(meta.get("namespace") or ""), str(meta.get("name")))
        seen.add(cache_key)
        rv = resource_version(obj)
        cached = self._parsed.get(cache_key)
        if cached is not None and cached[0] == rv:
            return cached[1]
        result = parse_objects([obj], source="kubernetes", namespace=self.namespace)
        if result.errors:
            log.warning("kube object partly ignored", problems=[str(e) for e in result.errors])
        models = getattr(result.world, field_name)
        model = next(iter(models.values()), None)
        self._parsed[cache_key] = (rv, model)
        return model

    def _store(self, kind: ResourceKind, namespace: str | None) -> ObjectStore:
        try:
            return self.informers.store(kind, namespace)
        except KeyError:
            # A role that does not watch this kind sees it empty.
            return ObjectStore(kind)
