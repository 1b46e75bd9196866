"""Object storage with the API server's write semantics and an etcd-like history.

Theory of operation: one global counter plays etcd's revision. Every write (create, a changed update,
delete) takes the next value as the object's `metadata.resourceVersion` and appends a `WatchEvent` to a
bounded history. A watch from resourceVersion X replays the retained events after X and then follows
live ones; X older than the oldest retained event (`window_start`) is "too old" (410 Expired), as after
an etcd compaction. `compact()` empties the history on purpose so tests can force that case.

An update that changes nothing keeps the old resourceVersion and emits no event, like the real server.
"""

from __future__ import annotations

import asyncio
import copy
import re
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.kube_emulator.resources import ResourceType

Obj = dict[str, Any]
ObjKey = tuple[str, str]  # (namespace or "", name)
Validator = Callable[[Obj], list[str]]

_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class ApiError(Exception):
    """An error the server reports as a `Status` body."""

    def __init__(self, code: int, reason: str, message: str, details: Obj | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details or {}

    def status(self) -> Obj:
        body: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def _qualified(rt: ResourceType) -> str:
    return f"{rt.plural}.{rt.group}" if rt.group else rt.plural


def not_found(rt: ResourceType, name: str) -> ApiError:
    details = {"name": name, "group": rt.group, "kind": rt.plural}
    return ApiError(404, "NotFound", f'{_qualified(rt)} "{name}" not found', details)


def expired(requested: int, oldest: int) -> ApiError:
    return ApiError(410, "Expired", f"too old resource version: {requested} ({oldest})")


def invalid(rt: ResourceType, name: str, causes: list[str]) -> ApiError:
    details = {
        "name": name,
        "group": rt.group,
        "kind": rt.kind,
        "causes": [{"reason": "FieldValueInvalid", "message": c} for c in causes],
    }
    return ApiError(422, "Invalid", f'{rt.kind} "{name}" is invalid: {", ".join(causes)}', details)


@dataclass(frozen=True, slots=True)
class WatchEvent:
    rv: int
    type: str  # ADDED, MODIFIED or DELETED
    rtype: tuple[str, str]
    obj: Obj
    old: Obj | None


# Markers a watcher's queue carries besides events.
DROP = "drop"
BOOKMARK = "bookmark"


@dataclass(eq=False, slots=True)
class Watcher:
    rtype: tuple[str, str]
    queue: asyncio.Queue[WatchEvent | str] = field(default_factory=asyncio.Queue)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _without(obj: Obj, *keys: str) -> Obj:
    return {k: v for k, v in obj.items() if k not in keys}


class Storage:
    def __init__(self, history: int = 1000, first_rv: int = 100) -> None:
        self.rv = first_rv
        self.window_start = first_rv
        self._objects: dict[tuple[str, str], dict[ObjKey, Obj]] = {}
        self._history: deque[WatchEvent] = deque(maxlen=history)
        self._watchers: set[Watcher] = set()
        self.validators: dict[tuple[str, str], list[Validator]] = {}

    # ---- reads

    def get(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        obj = self._objects.get(rt.key, {}).get((namespace, name))
        if obj is None:
            raise not_found(rt, name)
        return copy.deepcopy(obj)

    def items(self, rt: ResourceType) -> list[Obj]:
        """Every object of the type, in etcd key order (namespace, then name)."""
        table = self._objects.get(rt.key, {})
        return [copy.deepcopy(table[k]) for k in sorted(table)]

    def events_since(self, rt: ResourceType, rv: int) -> list[WatchEvent]:
        if rv < self.window_start:
            raise expired(rv, self.window_start)
        return [e for e in self._history if e.rv > rv and e.rtype == rt.key]

    # ---- watchers

    def subscribe(self, rt: ResourceType) -> Watcher:
        watcher = Watcher(rt.key)
        self._watchers.add(watcher)
        return watcher

    def unsubscribe(self, watcher: Watcher) -> None:
        self._watchers.discard(watcher)

    @property
    def watcher_count(self) -> int:
        return len(self._watchers)

    def notify_watchers(self, marker: str) -> int:
        """Queue `DROP` or `BOOKMARK` for every open watch; returns how many there were."""
        for w in self._watchers:
            w.queue.put_nowait(marker)
        return len(self._watchers)

    def drop_watchers(self) -> int:
        return self.notify_watchers(DROP)

    def compact(self) -> None:
        self._history.clear()
        self.window_start = self.rv

    # ---- writes

    def _publish(self, rt: ResourceType, type_: str, obj: Obj, old: Obj | None) -> None:
        if len(self._history) == self._history.maxlen:
            self.window_start = self._history[0].rv
        event = WatchEvent(self.rv, type_, rt.key, copy.deepcopy(obj), old)
        self._history.append(event)
        for w in self._watchers:
            if w.rtype == rt.key:
                w.queue.put_nowait(event)

    def _validate(self, rt: ResourceType, obj: Obj) -> None:
        name = obj["metadata"].get("name", "")
        causes: list[str] = []
        if not _DNS1123_SUBDOMAIN.match(name) or len(name) > 253:
            causes.append(
                f'metadata.name: Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of '
                "lower case alphanumeric characters, '-' or '.', and must start and end with an "
                "alphanumeric character"
            )
        for validator in self.validators.get(rt.key, []):
            causes.extend(validator(obj))
        if causes:
            raise invalid(rt, name, causes)

    def create(self, rt: ResourceType, namespace: str, body: Obj) -> Obj:
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        name = meta.get("name", "")
        if not name:
            raise invalid(rt, "", ["metadata.name: Required value: name or generateName is required"])
        if rt.namespaced:
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        self._validate(rt, obj)
        table = self._objects.setdefault(rt.key, {})
        if (namespace, name) in table:
            details = {"name": name, "group": rt.group, "kind": rt.plural}
            raise ApiError(409, "AlreadyExists", f'{_qualified(rt)} "{name}" already exists', details)
        self.rv += 1
        obj.pop("apiVersion", None)
        obj.pop("kind", None)
        for transient in ("resourceVersion", "deletionTimestamp", "managedFields"):
            meta.pop(transient, None)
        meta.update(
            uid=str(uuid.uuid4()),
            creationTimestamp=_now(),
            resourceVersion=str(self.rv),
            generation=1,
        )
        table[(namespace, name)] = obj
        self._publish(rt, "ADDED", obj, None)
        return copy.deepcopy(obj)

    def update(self, rt: ResourceType, namespace: str, name: str, body: Obj, status_only: bool) -> Obj:
        """PUT semantics. `status_only` is the /status subresource: only `status` changes there;
        through the main resource `status` is ignored when the type has a status subresource."""
        table = self._objects.get(rt.key, {})
        old = table.get((namespace, name))
        if old is None:
            raise not_found(rt, name)
        meta = body.get("metadata") or {}
        sent_rv = meta.get("resourceVersion")
        if sent_rv and sent_rv != old["metadata"]["resourceVersion"]:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {_qualified(rt)} "{name}": the object has been '
                "modified; please apply your changes to the latest version and try again",
                {"name": name, "group": rt.group, "kind": rt.plural},
            )
        if status_only:
            new = copy.deepcopy(old)
            if "status" in body:
                new["status"] = copy.deepcopy(body["status"])
            else:
                new.pop("status", None)
        else:
            new = copy.deepcopy(body)
            new_meta = new.setdefault("metadata", {})
            for kept in ("uid", "creationTimestamp", "namespace", "name", "generation"):
                if kept in old["metadata"]:
                    new_meta[kept] = old["metadata"][kept]
            if rt.has_status:
                if "status" in old:
                    new["status"] = copy.deepcopy(old["status"])
                else:
                    new.pop("status", None)
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        new.pop("apiVersion", None)
        new.pop("kind", None)
        if new == old:
            return copy.deepcopy(old)
        self._validate(rt, new)
        ignored = ("metadata", "status") if rt.has_status else ("metadata",)
        if _without(new, *ignored) != _without(old, *ignored):
            new["metadata"]["generation"] = int(old["metadata"].get("generation", 1)) + 1
        self.rv += 1
        new["metadata"]["resourceVersion"] = str(self.rv)
        table[(namespace, name)] = new
        self._publish(rt, "MODIFIED", new, copy.deepcopy(old))
        return copy.deepcopy(new)

    def delete(self, rt: ResourceType, namespace: str, name: str, preconditions: Obj | None = None) -> Obj:
        table = self._objects.get(rt.key, {})
        old = table.get((namespace, name))
        if old is None:
            raise not_found(rt, name)
        for field_name in ("resourceVersion", "uid"):
            wanted = (preconditions or {}).get(field_name)
            if wanted and wanted != old["metadata"].get(field_name):
                raise ApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {_qualified(rt)} "{name}": Precondition failed: '
                    f"{field_name}: {wanted}, ObjectMeta.{field_name}: {old['metadata'].get(field_name)}",
                )
        del table[(namespace, name)]
        self.rv += 1
        gone = copy.deepcopy(old)
        gone["metadata"]["resourceVersion"] = str(self.rv)
        self._publish(rt, "DELETED", gone, old)
        return copy.deepcopy(gone)
