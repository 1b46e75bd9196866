"""An in-process Kubernetes API server speaking the real HTTP protocol, with fault injection.

Theory of operation: one catch-all aiohttp route parses `/api/v1/...` and `/apis/<group>/<version>/...`
into (resource type, namespace, name, subresource) and dispatches on the HTTP method. State lives in
`Storage` (store.py). A watch subscribes to the storage *before* it replays history, then drops queued
events it already sent (by resourceVersion), so no event falls in the gap between replay and live.

Faults are applied by one middleware, in this order: outage (abort the connection), latency, injected
error statuses. `start_outage()` also closes the listening socket, so new connections are refused.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.kube_emulator.crds import crd_validators
from tests.kube_emulator.patch import PatchError, json_patch, merge_patch, strategic_merge_patch
from tests.kube_emulator.resources import BUILTIN_GROUPS, Registry, ResourceType
from tests.kube_emulator.selectors import SelectorError, field_selector, label_selector
from tests.kube_emulator.store import (
    BOOKMARK,
    DROP,
    ApiError,
    Obj,
    Storage,
    Validator,
    Watcher,
    WatchEvent,
    expired,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(slots=True)
class _FaultRule:
    pattern: re.Pattern[str] | None
    remaining: int | None  # None: until cleared
    status: int
    method: str | None


@dataclass(frozen=True, slots=True)
class _Target:
    rt: ResourceType
    version: str
    namespace: str  # "" for cluster-scoped types and all-namespace collections
    name: str | None
    subresource: str | None


def _json(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status)


def _status_response(err: ApiError) -> web.Response:
    return _json(err.status(), err.code)


def _flag(value: str | None) -> bool:
    # Go's strconv.ParseBool, which the API server uses for query flags (the Python client sends "True").
    return value in ("1", "t", "T", "TRUE", "true", "True")


def _bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


class KubeEmulator:
    """The API server. `await start()`, then point a client at `url` or `write_kubeconfig()`."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        history: int = 1000,
        bookmark_interval: float = 1.0,
        default_watch_timeout: float = 1800.0,
    ) -> None:
        self.host = host
        self.port = port
        self.bookmark_interval = bookmark_interval
        self.default_watch_timeout = default_watch_timeout
        self.registry = Registry()
        self.storage = Storage(history=history)
        self.requests: list[tuple[str, str]] = []
        self.latency = 0.0
        self._faults: list[_FaultRule] = []
        self._outage = False
        self._outage_task: asyncio.Task[None] | None = None
        self._transports: set[asyncio.Transport] = set()
        self._abort_on_drop = True
        self._app = web.Application(middlewares=[self._fault_middleware])
        self._app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    # ---- lifecycle

    async def start(self) -> None:
        self._runner = web.AppRunner(self._app, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        await self._listen()
        self.port = int(self._runner.addresses[0][1])

    async def _listen(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await self._site.start()

    async def stop(self) -> None:
        if self._outage_task is not None:
            self._outage_task.cancel()
        self.storage.drop_watchers()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> KubeEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def write_kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        """A kubeconfig (JSON is valid YAML) with a bearer token the emulator ignores."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "emulator", "user": {"token": "emulator-token"}}],
            "contexts": [
                {
                    "name": "emulator",
                    "context": {"cluster": "emulator", "user": "emulator", "namespace": namespace},
                }
            ],
            "current-context": "emulator",
        }
        path.write_text(json.dumps(config, indent=2))
        return path

    # ---- direct access for tests (no HTTP, no faults)

    def _type_for(self, api_version: str, kind: str) -> tuple[ResourceType, str]:
        group, _, version = api_version.rpartition("/")
        for rt in self.registry.types:
            if rt.group == group and rt.kind == kind and version in rt.versions:
                return rt, version
        raise KeyError(f"no resource type {api_version} {kind}")

    def create(self, obj: Obj) -> Obj:
        """Create from a full manifest (apiVersion, kind, metadata.namespace)."""
        rt, version = self._type_for(obj["apiVersion"], obj["kind"])
        namespace = obj.get("metadata", {}).get("namespace", "default") if rt.namespaced else ""
        return self._present(rt, version, self.storage.create(rt, namespace, obj))

    def replace(self, obj: Obj, status: bool = False) -> Obj:
        rt, version = self._type_for(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        namespace = meta.get("namespace", "default") if rt.namespaced else ""
        return self._present(rt, version, self.storage.update(rt, namespace, meta["name"], obj, status))

    def delete(self, api_version: str, kind: str, name: str, namespace: str = "") -> Obj:
        rt, version = self._type_for(api_version, kind)
        return self._present(rt, version, self.storage.delete(rt, namespace, name))

    def get(self, api_version: str, kind: str, name: str, namespace: str = "") -> Obj:
        rt, version = self._type_for(api_version, kind)
        return self._present(rt, version, self.storage.get(rt, namespace, name))

    def list_objects(self, api_version: str, kind: str, namespace: str | None = None) -> list[Obj]:
        rt, version = self._type_for(api_version, kind)
        items = self.storage.items(rt)
        if namespace is not None:
            items = [o for o in items if o["metadata"].get("namespace", "") == namespace]
        return [self._present(rt, version, o) for o in items]

    def add_validator(self, api_version: str, kind: str, validator: Validator) -> None:
        """`validator(obj)` returns field error messages; any makes the write fail with 422."""
        rt, _ = self._type_for(api_version, kind)
        self.storage.validators.setdefault(rt.key, []).append(validator)

    def install_crds(self, docs: Iterable[Obj]) -> int:
        """Validate custom resources against these CustomResourceDefinitions' schemas (422 on a
        refused write); returns how many kinds got a schema."""
        count = 0
        for (group, kind), validator in crd_validators(docs).items():
            for rt in self.registry.types:
                if rt.group == group and rt.kind == kind:
                    self.storage.validators.setdefault(rt.key, []).append(validator)
                    count += 1
        return count

    # ---- fault injection

    def drop_watches(self, abort: bool = True) -> int:
        """End every open watch stream: `abort` resets the connection mid-stream (a network cut),
        otherwise the chunked body ends cleanly (as on a server-side timeout)."""
        self._abort_on_drop = abort
        return self.storage.drop_watchers()

    def fail_requests(
        self,
        count: int | None = 1,
        *,
        status: int = 500,
        path: str | None = None,
        method: str | None = None,
    ) -> None:
        """Answer the next `count` requests (None: all, until `clear_faults`) whose path and query
        match the regex `path` (searched) and `method` with a Status error of code `status`."""
        pattern = re.compile(path) if path is not None else None
        self._faults.append(_FaultRule(pattern, count, status, method.upper() if method else None))

    def clear_faults(self) -> None:
        self._faults.clear()
        self.latency = 0.0

    def compact(self) -> None:
        """Forget the event history: every older resourceVersion now gets 410 Expired."""
        self.storage.compact()

    def send_bookmarks(self) -> None:
        """Make every watch that allows bookmarks send one as soon as it has sent what is queued."""
        self.storage.notify_watchers(BOOKMARK)

    async def start_outage(self) -> None:
        """Refuse new connections and cut every open one until `end_outage()`."""
        self._outage = True
        if self._site is not None:
            await self._site.stop()
            self._site = None
        for transport in list(self._transports):
            transport.abort()
        self._transports.clear()
        self.storage.drop_watchers()

    async def end_outage(self) -> None:
        if self._outage_task is not None and self._outage_task is not asyncio.current_task():
            self._outage_task.cancel()
        self._outage_task = None
        self._outage = False
        if self._site is None and self._runner is not None:
            await self._listen()

    async def outage(self, seconds: float) -> None:
        """Start an outage now that ends by itself after `seconds`."""
        await self.start_outage()

        async def _end() -> None:
            await asyncio.sleep(seconds)
            await self.end_outage()

        self._outage_task = asyncio.get_running_loop().create_task(_end())

    @property
    def in_outage(self) -> bool:
        return self._outage

    @property
    def open_watches(self) -> int:
        return self.storage.watcher_count

    # ---- HTTP

    @web.middleware
    async def _fault_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        transport = request.transport
        if self._outage:
            if transport is not None:
                transport.abort()
            return web.Response(status=503)
        if transport is not None:
            self._transports = {t for t in self._transports if not t.is_closing()}
            self._transports.add(transport)
        self.requests.append((request.method, request.path_qs))
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        for rule in self._faults:
            if rule.method is not None and rule.method != request.method:
                continue
            if rule.pattern is not None and not rule.pattern.search(request.path_qs):
                continue
            if rule.remaining is not None:
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self._faults.remove(rule)
            reason = {500: "InternalError", 503: "ServiceUnavailable", 429: "TooManyRequests"}
            err = ApiError(rule.status, reason.get(rule.status, "InternalError"), "injected fault")
            return _status_response(err)
        try:
            return await handler(request)
        except ApiError as err:
            return _status_response(err)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        if not parts:
            return _json({"paths": ["/api", "/api/v1", "/apis", "/version"]})
        if parts[0] in ("healthz", "readyz", "livez"):
            return web.Response(text="ok")
        if parts == ["version"]:
            return _json({"major": "1", "minor": "30", "gitVersion": "v1.30.0-lbd-emulator"})
        if parts[0] == "api":
            if len(parts) == 1:
                cidrs = [{"clientCIDR": "0.0.0.0/0", "serverAddress": f"{self.host}:{self.port}"}]
                return _json({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": cidrs})
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis":
            if len(parts) == 1:
                return _json(self._group_list())
            if len(parts) == 2:
                return self._group(parts[1])
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if not rest:
            return self._resource_list(group, version)
        target = self._parse_target(group, version, rest)
        return await self._handle(request, target)

    def _parse_target(self, group: str, version: str, rest: list[str]) -> _Target:
        namespace = ""
        if rest[0] == "namespaces" and len(rest) >= 3:
            nested = self.registry.lookup(group, version, rest[2])
            if nested is not None and nested.namespaced:
                namespace, rest = rest[1], rest[2:]
        rt = self.registry.lookup(group, version, rest[0])
        if rt is None or len(rest) > 3 or (namespace and not rt.namespaced):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub is not None and (sub != "status" or not rt.has_status):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return _Target(rt, version, namespace, name, sub)

    async def _handle(self, request: web.Request, t: _Target) -> web.StreamResponse:
        method = request.method
        if t.name is None:
            if method == "GET":
                if _flag(request.query.get("watch")):
                    return await self._watch(request, t)
                return self._list(request, t)
            if method == "POST":
                if t.rt.namespaced and not t.namespace:
                    raise ApiError(405, "MethodNotAllowed", "the server does not allow this method")
                body = await self._body(request, t)
                if t.rt.has_status:
                    # As the API server does: status is written through its subresource only.
                    body.pop("status", None)
                return _json(
                    self._present(t.rt, t.version, self.storage.create(t.rt, t.namespace, body)), 201
                )
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method")
        if t.rt.namespaced and not t.namespace:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        status_only = t.subresource == "status"
        if method == "GET":
            return _json(self._present(t.rt, t.version, self.storage.get(t.rt, t.namespace, t.name)))
        if method == "PUT":
            body = await self._body(request, t)
            name = (body.get("metadata") or {}).get("name")
            if name and name != t.name:
                raise _bad_request(
                    f"the name of the object ({name}) does not match the name on the URL ({t.name})"
                )
            updated = self.storage.update(t.rt, t.namespace, t.name, body, status_only)
            return _json(self._present(t.rt, t.version, updated))
        if method == "PATCH":
            return _json(self._present(t.rt, t.version, await self._patch(request, t, status_only)))
        if method == "DELETE" and not status_only:
            raw = await request.read()
            options = json.loads(raw) if raw.strip() else {}
            preconditions = options.get("preconditions") if isinstance(options, dict) else None
            deleted = self.storage.delete(t.rt, t.namespace, t.name, preconditions)
            return _json(self._present(t.rt, t.version, deleted))
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method")

    async def _body(self, request: web.Request, t: _Target) -> Obj:
        try:
            body = json.loads(await request.read())
        except ValueError as e:
            raise _bad_request(f"invalid JSON body: {e}") from e
        if not isinstance(body, dict):
            raise _bad_request("the body must be a JSON object")
        kind = body.get("kind")
        if kind is not None and kind != t.rt.kind:
            raise _bad_request(f"the kind of the object ({kind}) does not match the URL ({t.rt.kind})")
        namespace = (body.get("metadata") or {}).get("namespace")
        if t.rt.namespaced and namespace and namespace != t.namespace:
            raise _bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        return body

    async def _patch(self, request: web.Request, t: _Target, status_only: bool) -> Obj:
        assert t.name is not None
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        try:
            patch = json.loads(await request.read())
        except ValueError as e:
            raise _bad_request(f"invalid JSON patch: {e}") from e
        current = self._present(t.rt, t.version, self.storage.get(t.rt, t.namespace, t.name))
        try:
            if content_type == "application/merge-patch+json":
                if not isinstance(patch, dict):
                    raise PatchError("a merge patch must be a JSON object", 400)
                patched = merge_patch(current, patch)
            elif content_type == "application/strategic-merge-patch+json":
                if t.rt.group not in BUILTIN_GROUPS:
                    raise ApiError(
                        415,
                        "UnsupportedMediaType",
                        "strategic merge patch is not supported for custom resources",
                    )
                if not isinstance(patch, dict):
                    raise PatchError("a strategic merge patch must be a JSON object", 400)
                patched = strategic_merge_patch(current, patch)
            elif content_type == "application/json-patch+json":
                patched = json_patch(current, patch)
            else:
                raise ApiError(
                    415,
                    "UnsupportedMediaType",
                    f"the body of the request was in an unknown format: {content_type}",
                )
        except PatchError as e:
            raise ApiError(e.status, "BadRequest" if e.status == 400 else "Invalid", str(e)) from e
        if not isinstance(patched, dict):
            raise _bad_request("the patch did not produce an object")
        # A patch carries the resourceVersion only when the client wants optimistic concurrency.
        sent_rv = patch.get("metadata", {}).get("resourceVersion") if isinstance(patch, dict) else None
        if not sent_rv:
            patched.setdefault("metadata", {}).pop("resourceVersion", None)
        for kept in ("name", "namespace"):
            if kept in current["metadata"]:
                patched.setdefault("metadata", {})[kept] = current["metadata"][kept]
        return self.storage.update(t.rt, t.namespace, t.name, patched, status_only)

    def _list_item(self, t: _Target, obj: Obj) -> Obj:
        # Built-in kinds leave apiVersion and kind off list items; custom resources carry them.
        if t.rt.group in BUILTIN_GROUPS:
            return obj
        return self._present(t.rt, t.version, obj)

    def _present(self, rt: ResourceType, version: str, obj: Obj) -> Obj:
        return {"apiVersion": rt.api_version(version), "kind": rt.kind, **obj}

    def _predicate(self, request: web.Request, t: _Target) -> Callable[[Obj], bool]:
        try:
            by_label = label_selector(request.query.get("labelSelector"))
            by_field = field_selector(request.query.get("fieldSelector"))
        except SelectorError as e:
            raise _bad_request(str(e)) from e
        namespace = t.namespace

        def match(obj: Obj) -> bool:
            if namespace and obj["metadata"].get("namespace") != namespace:
                return False
            return by_label(obj) and by_field(obj)

        return match

    def _list(self, request: web.Request, t: _Target) -> web.Response:
        match = self._predicate(request, t)
        list_rv = self.storage.rv
        start = ""
        token = request.query.get("continue")
        if token:
            try:
                state = json.loads(base64.urlsafe_b64decode(token.encode()))
                list_rv, start = int(state["rv"]), str(state["start"])
            except (ValueError, KeyError, TypeError, binascii.Error) as e:
                raise _bad_request(f"invalid continue token: {e}") from e
            if list_rv < self.storage.window_start:
                raise ApiError(
                    410,
                    "Expired",
                    "The provided continue parameter is too old to display a consistent list result. "
                    "You can start a new list without the continue parameter.",
                )
        try:
            limit = int(request.query.get("limit", "0"))
        except ValueError as e:
            raise _bad_request(f"invalid limit: {e}") from e
        items = [
            o
            for o in self.storage.items(t.rt)
            if match(o) and f"{o['metadata'].get('namespace', '')}/{o['metadata']['name']}" > start
        ]
        meta: Obj = {"resourceVersion": str(list_rv)}
        if 0 < limit < len(items):
            last = items[limit - 1]["metadata"]
            next_start = f"{last.get('namespace', '')}/{last['name']}"
            raw = json.dumps({"rv": list_rv, "start": next_start}).encode()
            meta["continue"] = base64.urlsafe_b64encode(raw).decode()
            meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        return _json(
            {
                "apiVersion": t.rt.api_version(t.version),
                "kind": t.rt.list_kind,
                "metadata": meta,
                "items": [self._list_item(t, o) for o in items],
            }
        )

    async def _watch(self, request: web.Request, t: _Target) -> web.StreamResponse:
        match = self._predicate(request, t)
        try:
            timeout = float(request.query.get("timeoutSeconds", self.default_watch_timeout))
        except ValueError as e:
            raise _bad_request(f"invalid timeoutSeconds: {e}") from e
        bookmarks = _flag(request.query.get("allowWatchBookmarks"))
        rv_param = request.query.get("resourceVersion", "")
        watcher = self.storage.subscribe(t.rt)
        try:
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            try:
                await self._stream(
                    response=response,
                    t=t,
                    watcher=watcher,
                    match=match,
                    rv_param=rv_param,
                    timeout=timeout,
                    bookmarks=bookmarks,
                )
            except ApiError as err:
                await self._send(response, {"type": "ERROR", "object": err.status()})
            except _Dropped:
                if self._abort_on_drop and request.transport is not None:
                    request.transport.abort()
                    return response
            except ConnectionError:
                return response  # the client went away (stopped, or cut by an outage)
            with contextlib.suppress(ConnectionError):
                await response.write_eof()
            return response
        finally:
            self.storage.unsubscribe(watcher)

    async def _stream(
        self,
        *,
        response: web.StreamResponse,
        t: _Target,
        watcher: Watcher,
        match: Callable[[Obj], bool],
        rv_param: str,
        timeout: float,
        bookmarks: bool,
    ) -> None:
        sent_rv: int
        if rv_param in ("", "0"):
            sent_rv = self.storage.rv
            for obj in self.storage.items(t.rt):
                if match(obj):
                    await self._send(
                        response, {"type": "ADDED", "object": self._present(t.rt, t.version, obj)}
                    )
        else:
            try:
                sent_rv = int(rv_param)
            except ValueError as e:
                raise _bad_request(f"invalid resourceVersion: {rv_param}") from e
            if sent_rv < self.storage.window_start:
                raise expired(sent_rv, self.storage.window_start)
            for event in self.storage.events_since(t.rt, sent_rv):
                await self._send_event(response, t, event, match)
                sent_rv = event.rv
        deadline = time.monotonic() + timeout
        bookmark_due = False
        while True:
            if bookmark_due and bookmarks and watcher.queue.empty():
                # Writes are published synchronously, so with the queue drained every event up to the
                # storage revision has been sent (or filtered out): the bookmark may claim it.
                bookmark_due = False
                bookmark = {
                    "apiVersion": t.rt.api_version(t.version),
                    "kind": t.rt.kind,
                    "metadata": {"resourceVersion": str(self.storage.rv)},
                }
                await self._send(response, {"type": "BOOKMARK", "object": bookmark})
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            wait = min(remaining, self.bookmark_interval) if bookmarks else remaining
            try:
                item = await asyncio.wait_for(watcher.queue.get(), wait)
            except TimeoutError:
                # Due every interval, and also just before a timeout closes the stream, so that the
                # client resumes from the newest revision, as the API server's watch cache does.
                bookmark_due = True
                continue
            if item == DROP:
                raise _Dropped
            if item == BOOKMARK:
                bookmark_due = True
            elif isinstance(item, WatchEvent) and item.rv > sent_rv:
                await self._send_event(response, t, item, match)
                sent_rv = item.rv

    async def _send_event(
        self, response: web.StreamResponse, t: _Target, event: WatchEvent, match: Callable[[Obj], bool]
    ) -> None:
        if event.type == "ADDED":
            if not match(event.obj):
                return
            type_ = "ADDED"
        elif event.type == "DELETED":
            if not match(event.old if event.old is not None else event.obj):
                return
            type_ = "DELETED"
        else:
            # An object that moves into or out of the selection is an ADDED or DELETED to this watcher.
            now = match(event.obj)
            before = event.old is not None and match(event.old)
            if now and before:
                type_ = "MODIFIED"
            elif now:
                type_ = "ADDED"
            elif before:
                type_ = "DELETED"
            else:
                return
        await self._send(response, {"type": type_, "object": self._present(t.rt, t.version, event.obj)})

    async def _send(self, response: web.StreamResponse, event: Obj) -> None:
        await response.write(json.dumps(event).encode() + b"\n")

    # ---- discovery

    def _group_list(self) -> Obj:
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [self._group_body(g, vs) for g, vs in self.registry.group_versions().items()],
        }

    @staticmethod
    def _group_body(group: str, versions: list[str]) -> Obj:
        gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": group,
            "versions": gvs,
            "preferredVersion": gvs[-1],
        }

    def _group(self, group: str) -> web.Response:
        versions = self.registry.group_versions().get(group)
        if versions is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return _json(self._group_body(group, versions))

    def _resource_list(self, group: str, version: str) -> web.Response:
        types = self.registry.in_group_version(group, version)
        if not types:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
        resources: list[Obj] = []
        for rt in types:
            singular = rt.kind.lower()
            base = {"namespaced": rt.namespaced, "kind": rt.kind, "singularName": singular}
            resources.append({"name": rt.plural, "verbs": verbs, "shortNames": list(rt.short_names), **base})
            if rt.has_status:
                resources.append({"name": f"{rt.plural}/status", "verbs": ["get", "patch", "update"], **base})
        return _json(
            {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": f"{group}/{version}" if group else version,
                "resources": resources,
            }
        )


class _Dropped(Exception):
    """A fault-injected end of a watch stream."""


@contextlib.asynccontextmanager
async def running_emulator(**kwargs: Any) -> AsyncIterator[KubeEmulator]:
    emulator = KubeEmulator(**kwargs)
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()
