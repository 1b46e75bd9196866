"""A reflector keeps one `ObjectStore` in step with one API collection: list, then watch.

Theory of operation (client-go's Reflector, simplified):

    LIST (paged, `limit`/`continue`) -> store.replace(all items) -> rv := list.metadata.resourceVersion
    loop:
        WATCH ?resourceVersion=rv&allowWatchBookmarks=true&timeoutSeconds=T
            ADDED/MODIFIED/DELETED -> store.apply, rv := object's resourceVersion
            BOOKMARK               -> rv := bookmark's resourceVersion (nothing else changes)
            ERROR 410 / HTTP 410   -> rv is too old: LIST again
            stream ends (timeout)  -> WATCH again from rv
        connection error, 5xx, timeout, malformed data
                                   -> sleep(backoff with jitter), then WATCH again from rv
                                      (LIST again if no list has succeeded yet)

Fail static: an error never touches the store. Only a complete, successful list replaces it, so an
API outage leaves the last known objects (and thus the announcements built on them) in place, and
the catch-up after it is an ordinary diff, not an empty-then-full flap.

Objects stay the plain camelCase dicts the API server sent. List items of built-in kinds come without
`apiVersion`/`kind`; they are filled in so that every stored object is self-describing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import aiohttp
import structlog
from kubernetes_asyncio.client import ApiClient

from lbd.kube.backoff import Backoff
from lbd.kube.resources import WatchTarget
from lbd.kube.store import Change, ChangeType, Obj, ObjectStore

log = structlog.get_logger("lbd.kube")

ChangeCallback = Callable[[Sequence[Change]], None]

_EVENT_TYPES: frozenset[str] = frozenset({"ADDED", "MODIFIED", "DELETED"})


@dataclass(frozen=True, slots=True)
class ReflectorSettings:
    page_size: int = 500
    # Server-side watch timeout, drawn in [watch_timeout, 2 * watch_timeout) as client-go does, so
    # that watches of many clients do not all restart at once.
    watch_timeout: float = 300.0
    # Extra time the client waits beyond the server-side timeout before it gives up on a silent stream.
    read_grace: float = 30.0
    request_timeout: float = 60.0
    connect_timeout: float = 10.0
    backoff_initial: float = 0.8
    backoff_max: float = 30.0
    backoff_jitter: float = 1.0
    # A watch that ends cleanly sooner than this without delivering anything counts as a failure, so
    # a server that accepts and closes at once cannot drive a busy loop.
    min_watch_duration: float = 1.0


class ApiStatusError(Exception):
    """The API server answered with an error status (a `Status` body)."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(f"{code} {reason}: {message}")
        self.code = code
        self.reason = reason
        self.message = message

    @classmethod
    def from_status(cls, code: int, body: Any) -> ApiStatusError:
        if isinstance(body, dict):
            return cls(
                int(body.get("code") or code), str(body.get("reason", "")), str(body.get("message", ""))
            )
        return cls(code, "", str(body)[:200])


class MalformedResponse(Exception):
    """The API server sent something that is not the list or watch event the protocol defines."""


class CallbackError(Exception):
    """The change callback raised: a bug in lbd, not an API problem, so it is not retried."""


# What the API server or the network can cause; anything else is a bug and ends the reflector.
_RETRYABLE = (
    ApiStatusError,
    MalformedResponse,
    aiohttp.ClientError,
    TimeoutError,
    OSError,
    json.JSONDecodeError,
)


class Reflector:
    def __init__(
        self,
        api: ApiClient,
        target: WatchTarget,
        on_change: ChangeCallback | None = None,
        *,
        settings: ReflectorSettings | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.api = api
        self.target = target
        self.kind = target.kind
        self.store = ObjectStore(target.kind)
        self.settings = settings or ReflectorSettings()
        self._rng = rng or random.Random()
        self._on_change = on_change
        self.backoff = Backoff(
            initial=self.settings.backoff_initial,
            maximum=self.settings.backoff_max,
            jitter=self.settings.backoff_jitter,
            rng=self._rng,
        )
        self.resource_version: str | None = None
        self.synced = asyncio.Event()
        self.connected = False
        self.last_error: str | None = None
        self.lists = 0
        self.watches = 0
        self._path = target.kind.collection_path(target.namespace)
        self._task: asyncio.Task[None] | None = None
        self._delivered = 0
        self._log = log.bind(kind=str(target.kind), namespace=target.namespace)

    # ---- lifecycle

    def start(self) -> asyncio.Task[None]:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name=f"reflector {self.kind}")
        return self._task

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def wait_synced(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self.synced.wait(), timeout)

    @property
    def failures(self) -> int:
        """Consecutive failures; back to 0 once a watch works again."""
        return self.backoff.failures

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started: float | None = None
            self._delivered = 0
            listing = self.resource_version is None
            try:
                if listing:
                    await self._list()
                started = loop.time()
                await self._watch()
                if self._watch_was_useful(started):
                    continue
                self._failed("watch ended at once")
            except _Gone as e:
                self.resource_version = None
                if not listing:
                    self._log.info("kube resource version expired, listing again", error=str(e))
                    continue
                # Expired again right after a list: a server in trouble, so back off like any error.
                self._failed(f"expired right after a list: {e}")
            except _RETRYABLE as e:
                # A watch that worked for a while and then broke says nothing bad about the server:
                # retry it from the first step of the backoff.
                if started is not None:
                    self._watch_was_useful(started)
                self._failed(f"{type(e).__name__}: {e}")
            await asyncio.sleep(self.backoff.next_delay())

    def _watch_was_useful(self, started: float) -> bool:
        elapsed = asyncio.get_running_loop().time() - started
        if self._delivered or elapsed >= self.settings.min_watch_duration:
            self.backoff.reset()
            return True
        return False

    def _failed(self, error: str) -> None:
        self.connected = False
        self.last_error = error
        self._log.warning(
            "kube request failed, keeping last known objects", error=error, failures=self.failures + 1
        )

    # ---- protocol

    async def _get(
        self, params: list[tuple[str, str]], timeout: aiohttp.ClientTimeout
    ) -> aiohttp.ClientResponse:
        for name, value in (
            ("labelSelector", self.target.label_selector),
            ("fieldSelector", self.target.field_selector),
        ):
            if value:
                params.append((name, value))
        response = cast(
            aiohttp.ClientResponse,
            await self.api.call_api(
                self._path,
                "GET",
                query_params=params,
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=timeout,
            ),
        )
        if response.status >= 400:
            try:
                raw = await response.read()
            finally:
                response.release()
            try:
                body: Any = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
            err = ApiStatusError.from_status(response.status, body)
            if err.code == 410:
                raise _Gone(err.message)
            raise err
        return response

    async def _list(self) -> None:
        items: list[Obj] = []
        token: str | None = None
        rv = ""
        timeout = aiohttp.ClientTimeout(
            total=self.settings.request_timeout, sock_connect=self.settings.connect_timeout
        )
        while True:
            params = [("limit", str(self.settings.page_size))]
            if token:
                params.append(("continue", token))
            response = await self._get(params, timeout)
            try:
                page = await response.json(content_type=None)
            finally:
                response.release()
            if not isinstance(page, dict) or not isinstance(page.get("items"), list):
                raise MalformedResponse(f"list of {self.kind} without items")
            meta = page.get("metadata") or {}
            rv = str(meta.get("resourceVersion") or "")
            items.extend(self._complete(item) for item in page["items"])
            token = meta.get("continue") or None
            if token is None:
                break
        if not rv:
            raise MalformedResponse(f"list of {self.kind} without metadata.resourceVersion")
        changes = self.store.replace(items)
        self.resource_version = rv
        self.lists += 1
        self.connected = True
        self.last_error = None
        # The backoff is not reset here but only by a watch that works: a server that lists fine and
        # then fails every watch must still be retried ever more slowly.
        self._log.info("kube list", objects=len(items), resource_version=rv, changes=len(changes))
        self.synced.set()
        self._notify(changes)

    async def _watch(self) -> None:
        """Watch from the current resource version until the stream ends, counting the lines read."""
        assert self.resource_version is not None
        server_timeout = int(self.settings.watch_timeout * (1.0 + self._rng.random()))
        params = [
            ("watch", "true"),
            ("allowWatchBookmarks", "true"),
            ("resourceVersion", self.resource_version),
            ("timeoutSeconds", str(server_timeout)),
        ]
        timeout = aiohttp.ClientTimeout(
            total=server_timeout + self.settings.read_grace,
            sock_connect=self.settings.connect_timeout,
            sock_read=server_timeout + self.settings.read_grace,
        )
        response = await self._get(params, timeout)
        self.watches += 1
        self.connected = True
        try:
            async for line in _lines(response):
                self._handle_event(line)
                if not self._delivered:
                    # The first well-formed line proves the stream healthy.
                    self.backoff.reset()
                    self.last_error = None
                self._delivered += 1
        finally:
            response.close()

    def _handle_event(self, line: bytes) -> None:
        try:
            event = json.loads(line)
        except ValueError as e:
            raise MalformedResponse(f"watch line is not JSON: {line[:100]!r}") from e
        if not isinstance(event, dict) or not isinstance(event.get("object"), dict):
            raise MalformedResponse(f"watch event without object: {line[:100]!r}")
        type_ = event.get("type")
        obj: Obj = event["object"]
        if type_ == "ERROR":
            err = ApiStatusError.from_status(500, obj)
            if err.code == 410:
                raise _Gone(err.message)
            raise err
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if not rv:
            raise MalformedResponse(f"{type_} event without metadata.resourceVersion")
        if type_ == "BOOKMARK":
            self.resource_version = str(rv)
            return
        if type_ not in _EVENT_TYPES or not (obj.get("metadata") or {}).get("name"):
            raise MalformedResponse(f"unknown watch event {type_!r}")
        change = self.store.apply(cast(ChangeType, type_), self._complete(obj))
        self.resource_version = str(rv)
        if change is not None:
            self._notify([change])

    def _complete(self, obj: Any) -> Obj:
        if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
            raise MalformedResponse(f"{self.kind} item without metadata")
        obj.setdefault("apiVersion", self.kind.api_version)
        obj.setdefault("kind", self.kind.kind)
        return obj

    def _notify(self, changes: list[Change]) -> None:
        if not changes or self._on_change is None:
            return
        try:
            self._on_change(changes)
        except Exception as e:
            raise CallbackError(f"change callback failed for {self.kind}") from e


class _Gone(Exception):
    """410: the resource version is older than the server's history; list again."""


async def _lines(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """The newline-separated JSON documents of a watch body, of any length (no readline limit)."""
    buffer = b""
    async for chunk in response.content.iter_any():
        buffer += chunk
        while True:
            end = buffer.find(b"\n")
            if end < 0:
                break
            line, buffer = buffer[:end].strip(), buffer[end + 1 :]
            if line:
                yield line
    if buffer.strip():
        yield buffer.strip()
