"""A set of reflectors, one per watched collection, started and synced together."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable

from kubernetes_asyncio.client import ApiClient

from lbd.kube.reflector import ChangeCallback, Reflector, ReflectorSettings
from lbd.kube.resources import ResourceKind, WatchTarget
from lbd.kube.store import Obj, ObjectStore


class Informers:
    def __init__(
        self,
        api: ApiClient,
        targets: Iterable[WatchTarget],
        on_change: ChangeCallback | None = None,
        *,
        settings: ReflectorSettings | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.reflectors: dict[WatchTarget, Reflector] = {
            t: Reflector(api, t, on_change, settings=settings, rng=rng) for t in targets
        }

    def start(self) -> None:
        for r in self.reflectors.values():
            r.start()

    async def stop(self) -> None:
        await asyncio.gather(*(r.stop() for r in self.reflectors.values()))

    async def wait_synced(self, timeout: float | None = None) -> None:
        """Until every collection has been listed once."""
        await asyncio.wait_for(asyncio.gather(*(r.synced.wait() for r in self.reflectors.values())), timeout)

    @property
    def synced(self) -> bool:
        return all(r.synced.is_set() for r in self.reflectors.values())

    @property
    def connected(self) -> bool:
        """False while any collection is failing: its store holds the last known objects (stale)."""
        return all(r.connected for r in self.reflectors.values())

    def store(self, kind: ResourceKind, namespace: str | None = None) -> ObjectStore:
        for target, reflector in self.reflectors.items():
            if target.kind == kind and target.namespace == namespace:
                return reflector.store
        raise KeyError(f"{kind} in {namespace or 'all namespaces'} is not watched")

    def objects(self) -> list[Obj]:
        """Every stored object of every collection, as plain dicts (read-only)."""
        return [obj for r in self.reflectors.values() for obj in r.store.items()]
