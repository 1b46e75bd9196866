"""The in-memory copy of one watched collection, as the plain camelCase dicts the API returned.

The store only changes through `replace` (a complete, successful list) and `apply` (one watch event).
Nothing in it reacts to errors, so an API outage leaves the last known content in place: that is the
fail-static rule, and it lives in the reflector by never calling these on failure.

Objects handed out are the store's own dicts: treat them as read-only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from lbd.kube.resources import ResourceKind

Obj = dict[str, Any]
ObjKey = tuple[str, str]  # (namespace, or "" for cluster-scoped objects; name)
ChangeType = Literal["ADDED", "MODIFIED", "DELETED"]


def object_key(obj: Obj) -> ObjKey:
    meta = obj.get("metadata") or {}
    return (meta.get("namespace") or "", meta["name"])


def resource_version(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))


@dataclass(frozen=True, slots=True)
class Change:
    """One object that changed. For DELETED, `obj` is the last state the API server reported."""

    kind: ResourceKind
    type: ChangeType
    key: ObjKey
    obj: Obj
    old: Obj | None


class ObjectStore:
    def __init__(self, kind: ResourceKind) -> None:
        self.kind = kind
        self._objects: dict[ObjKey, Obj] = {}

    def __len__(self) -> int:
        return len(self._objects)

    def __iter__(self) -> Iterator[Obj]:
        return iter(self.items())

    def __contains__(self, key: object) -> bool:
        return key in self._objects

    def get(self, namespace: str, name: str) -> Obj | None:
        return self._objects.get((namespace, name))

    def items(self) -> list[Obj]:
        """Every object, in (namespace, name) order."""
        return [self._objects[k] for k in sorted(self._objects)]

    def replace(self, objects: list[Obj]) -> list[Change]:
        """Install a complete list result; returns what differs from the previous content."""
        fresh = {object_key(o): o for o in objects}
        changes: list[Change] = []
        for key, old in self._objects.items():
            if key not in fresh:
                changes.append(Change(self.kind, "DELETED", key, old, old))
        for key, obj in fresh.items():
            old_obj = self._objects.get(key)
            if old_obj is None:
                changes.append(Change(self.kind, "ADDED", key, obj, None))
            elif resource_version(old_obj) != resource_version(obj) or old_obj != obj:
                changes.append(Change(self.kind, "MODIFIED", key, obj, old_obj))
        self._objects = fresh
        return sorted(changes, key=lambda c: c.key)

    def apply(self, type_: ChangeType, obj: Obj) -> Change | None:
        """Apply one watch event; returns None when it changes nothing (a replayed event)."""
        key = object_key(obj)
        old = self._objects.get(key)
        if type_ == "DELETED":
            if old is None:
                return None
            del self._objects[key]
            return Change(self.kind, "DELETED", key, obj, old)
        if old is not None and old == obj:
            return None
        self._objects[key] = obj
        return Change(self.kind, "ADDED" if old is None else "MODIFIED", key, obj, old)
