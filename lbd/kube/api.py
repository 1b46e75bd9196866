"""Reads and writes of single objects as plain camelCase dicts, through the kubernetes-asyncio client.

The typed models of the client would convert every object twice and drop fields they do not know;
lbd keeps objects as the API server sent them, so writes go through `ApiClient.call_api` with JSON
bodies. Errors: an error status raises `ApiStatusError` (409 Conflict, 404 NotFound, ...); transport
problems raise what aiohttp raises (`RETRYABLE` lists every outcome the network can cause).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any, cast

import aiohttp
from kubernetes_asyncio.client import ApiClient

from lbd.kube.reflector import ApiStatusError, MalformedResponse
from lbd.kube.resources import ResourceKind
from lbd.kube.store import Obj

MERGE_PATCH = "application/merge-patch+json"

# What a write can fail with that is the API server's or the network's doing, never lbd's.
RETRYABLE = (ApiStatusError, MalformedResponse, aiohttp.ClientError, TimeoutError, OSError)

CONFLICT = 409
NOT_FOUND = 404


class KubeApi:
    """Single-object requests. `timeout` bounds each request, connection included."""

    def __init__(self, api: ApiClient, timeout: float = 10.0) -> None:
        self.client = api
        self.timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=min(timeout, 5.0))

    async def get(self, kind: ResourceKind, namespace: str | None, name: str) -> Obj:
        return await self._call("GET", _path(kind, namespace, name))

    async def create(self, kind: ResourceKind, namespace: str | None, body: Obj) -> Obj:
        return await self._call("POST", kind.collection_path(namespace), body)

    async def replace(
        self, kind: ResourceKind, namespace: str | None, body: Obj, *, status: bool = False
    ) -> Obj:
        """PUT: with `metadata.resourceVersion` in `body` the server refuses (409) a stale update."""
        name = body["metadata"]["name"]
        path = _path(kind, namespace, name) + ("/status" if status else "")
        return await self._call("PUT", path, body)

    async def merge_patch(self, kind: ResourceKind, namespace: str | None, name: str, patch: Obj) -> Obj:
        return await self._call("PATCH", _path(kind, namespace, name), patch, content_type=MERGE_PATCH)

    async def delete(self, kind: ResourceKind, namespace: str | None, name: str) -> Obj:
        return await self._call("DELETE", _path(kind, namespace, name))

    async def update(
        self,
        kind: ResourceKind,
        namespace: str | None,
        name: str,
        mutate: Callable[[Obj], Obj | None],
        *,
        status: bool = False,
        current: Obj | None = None,
        attempts: int = 5,
    ) -> Obj:
        """Read-modify-write with optimistic concurrency: `mutate(copy)` returns the object to write
        (None: nothing to change). On 409 Conflict the object is read again and `mutate` applied to the
        fresh copy, so a concurrent writer's change is kept, never overwritten. `current` (the cached
        copy) saves the first read; it is only a guess, the server checks its resourceVersion."""
        obj = current if current is not None else await self.get(kind, namespace, name)
        attempt = 1
        while True:
            desired = mutate(copy.deepcopy(obj))
            if desired is None:
                return obj
            try:
                return await self.replace(kind, namespace, desired, status=status)
            except ApiStatusError as e:
                if e.code != CONFLICT or attempt >= attempts:
                    raise
            attempt += 1
            obj = await self.get(kind, namespace, name)

    async def _call(self, method: str, path: str, body: Obj | None = None, content_type: str = "") -> Obj:
        headers = {"Accept": "application/json", "Content-Type": content_type or "application/json"}
        response = cast(
            aiohttp.ClientResponse,
            await self.client.call_api(
                path,
                method,
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=self.timeout,
            ),
        )
        try:
            raw = await response.read()
        finally:
            response.release()
        try:
            decoded: Any = json.loads(raw) if raw.strip() else {}
        except ValueError as e:
            if response.status >= 400:
                raise ApiStatusError(response.status, "", raw[:200].decode("utf-8", "replace")) from e
            raise MalformedResponse(f"{method} {path}: the answer is not JSON") from e
        if response.status >= 400:
            raise ApiStatusError.from_status(response.status, decoded)
        if not isinstance(decoded, dict):
            raise MalformedResponse(f"{method} {path}: the answer is not an object")
        return decoded


def _path(kind: ResourceKind, namespace: str | None, name: str) -> str:
    return f"{kind.collection_path(namespace if kind.namespaced else None)}/{name}"
