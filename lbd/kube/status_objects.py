"""Per-service announcement status objects: MetalLB's ServiceL2Status and ServiceBGPStatus (v1beta1).

Each speaker publishes, in the MetalLB namespace, one object per Service it announces and protocol:
`generateName` `l2-` / `bgp-`, labels `metallb.io/node`, `metallb.io/service-name`,
`metallb.io/service-namespace`, and a status of `node`, `serviceName`, `serviceNamespace` plus the
`interfaces` (L2) or the BGPPeer names the Service goes to (`peers`, BGP). The status says what the
node intends to announce, not what a router has accepted. A speaker only ever touches objects with
its own node label, so speakers never contend for an object.

The speaker watches its objects (label selector on its node), but its own writes reach that watch only
later; the publisher therefore remembers what it created and deleted until the store catches up, so a
second pass in between neither creates a duplicate nor deletes twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import structlog

from lbd.kube.api import NOT_FOUND, RETRYABLE, KubeApi
from lbd.kube.reflector import ApiStatusError
from lbd.kube.resources import (
    NODE_LABEL,
    SERVICE_BGP_STATUSES,
    SERVICE_L2_STATUSES,
    SERVICE_NAME_LABEL,
    SERVICE_NAMESPACE_LABEL,
    ResourceKind,
)
from lbd.kube.store import Obj, ObjectStore
from lbd.reconcile import DesiredState

log = structlog.get_logger("lbd.kube.status")

_PREFIX = {SERVICE_L2_STATUSES: "l2-", SERVICE_BGP_STATUSES: "bgp-"}


@dataclass(frozen=True, slots=True, order=True)
class StatusKey:
    kind: str  # ServiceL2Status or ServiceBGPStatus
    service_namespace: str
    service_name: str

    @property
    def resource(self) -> ResourceKind:
        return SERVICE_L2_STATUSES if self.kind == SERVICE_L2_STATUSES.kind else SERVICE_BGP_STATUSES


def desired_statuses(
    desired: DesiredState, node: str, node_interfaces: tuple[str, ...]
) -> dict[StatusKey, Obj]:
    """The `status` of every object this node should publish."""
    out: dict[StatusKey, Obj] = {}
    l2_interfaces: dict[str, set[str]] = {}
    for answer in desired.l2:
        names = l2_interfaces.setdefault(answer.service, set())
        names.update(node_interfaces if answer.all_interfaces else answer.interfaces)
    for key, names in l2_interfaces.items():
        namespace, name = key.split("/", 1)
        out[StatusKey(SERVICE_L2_STATUSES.kind, namespace, name)] = {
            "node": node,
            "serviceName": name,
            "serviceNamespace": namespace,
            "interfaces": [{"name": n} for n in sorted(names)],
        }
    for state in desired.services:
        bgp = state.bgp
        if bgp is None or bgp.reason is not None or not bgp.peers:
            continue
        namespace, name = state.key.split("/", 1)
        out[StatusKey(SERVICE_BGP_STATUSES.kind, namespace, name)] = {
            "node": node,
            "serviceName": name,
            "serviceNamespace": namespace,
            "peers": sorted(bgp.peers),
        }
    return out


def _key_of(obj: Obj) -> StatusKey | None:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    name, namespace = labels.get(SERVICE_NAME_LABEL), labels.get(SERVICE_NAMESPACE_LABEL)
    if not name or not namespace:
        return None
    return StatusKey(str(obj.get("kind")), namespace, name)


class StatusPublisher:
    def __init__(
        self, api: KubeApi, namespace: str, node: str, store: Callable[[ResourceKind], ObjectStore]
    ) -> None:
        self.api = api
        self.namespace = namespace
        self.node = node
        self._store = store
        self._created: dict[StatusKey, Obj] = {}
        self._deleted: set[str] = set()

    def _existing(self) -> dict[StatusKey, list[Obj]]:
        found: dict[StatusKey, list[Obj]] = {}
        names: set[str] = set()
        for resource in (SERVICE_L2_STATUSES, SERVICE_BGP_STATUSES):
            for obj in self._store(resource).items():
                meta = obj["metadata"]
                names.add(meta["name"])
                if meta.get("labels", {}).get(NODE_LABEL) != self.node or meta["name"] in self._deleted:
                    continue
                key = _key_of(obj)
                if key is not None:
                    found.setdefault(key, []).append(obj)
        self._deleted &= names
        for key, obj in list(self._created.items()):
            if obj["metadata"]["name"] in names:
                del self._created[key]  # the watch has it now
            else:
                found.setdefault(key, []).append(obj)
        return found

    async def publish(self, desired: Mapping[StatusKey, Obj]) -> bool:
        """Create, update and delete this node's objects to match; False if any request failed."""
        existing = self._existing()
        ok = True
        for key in sorted(set(desired) | set(existing)):
            objs = existing.get(key, [])
            want = desired.get(key)
            keep = objs[:1] if want is not None else []
            try:
                for extra in objs[len(keep) :]:
                    await self._delete(key, extra)
                if want is None:
                    continue
                if keep:
                    await self._update(key, keep[0], want)
                else:
                    await self._create(key, want)
            except RETRYABLE as e:
                log.warning("kube status object write failed, will retry", object=str(key), error=str(e))
                ok = False
        return ok

    async def _create(self, key: StatusKey, status: Obj) -> None:
        resource = key.resource
        body = {
            "apiVersion": resource.api_version,
            "kind": resource.kind,
            "metadata": {
                "generateName": _PREFIX[resource],
                "namespace": self.namespace,
                "labels": {
                    NODE_LABEL: self.node,
                    SERVICE_NAME_LABEL: key.service_name,
                    SERVICE_NAMESPACE_LABEL: key.service_namespace,
                },
            },
            "spec": {},
        }
        created = await self.api.create(resource, self.namespace, body)
        self._created[key] = created
        # The status subresource: a create ignores `status`, so it is written separately.
        written = await self._update(key, created, status)
        self._created[key] = written

    async def _update(self, key: StatusKey, obj: Obj, status: Obj) -> Obj:
        def with_status(o: Obj) -> Obj | None:
            if o.get("status") == status:
                return None
            o["status"] = status
            return o

        name = obj["metadata"]["name"]
        written = await self.api.update(
            key.resource, self.namespace, name, with_status, status=True, current=obj
        )
        if key in self._created and self._created[key]["metadata"]["name"] == name:
            self._created[key] = written
        return written

    async def _delete(self, key: StatusKey, obj: Obj) -> None:
        name = obj["metadata"]["name"]
        try:
            await self.api.delete(key.resource, self.namespace, name)
        except ApiStatusError as e:
            if e.code != NOT_FOUND:
                raise
        self._deleted.add(name)
        if key in self._created and self._created[key]["metadata"]["name"] == name:
            del self._created[key]
