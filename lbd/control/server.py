"""A unix-socket server answering one JSON request per line with one JSON reply per line.

Requests are `{"view": NAME, "args": {...}}`; replies are `{"ok": true, "data": ...}` or
`{"ok": false, "error": TEXT}`. Views are plain callables over the daemon's state, so the server knows
nothing about BGP or ARP and every view is testable without a socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import socket
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import structlog

# A view returns JSON-able data, or an awaitable of it.
View = Callable[[Mapping[str, Any]], Any]

# A request is a view name and a few arguments; anything longer is not ours.
_MAX_REQUEST = 64 * 1024

log = structlog.get_logger("lbd.control")


class ViewError(Exception):
    """A view refuses its arguments (unknown peer, bad prefix): reported to the client, not logged."""


class ControlServer:
    __slots__ = ("_path", "_server", "_views")

    def __init__(self, path: str | os.PathLike[str], views: Mapping[str, View]) -> None:
        self._path = Path(path)
        self._views = dict(views)
        self._server: asyncio.AbstractServer | None = None

    @property
    def path(self) -> Path:
        return self._path

    def add_view(self, name: str, view: View) -> None:
        self._views[name] = view

    async def start(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_socket(self._path)
        # umask rather than chmod after bind: no window in which another user may connect.
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, path=str(self._path), limit=_MAX_REQUEST
            )
        finally:
            os.umask(old)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()

    def answer(self, request: Any) -> dict[str, Any]:
        if not isinstance(request, dict) or not isinstance(request.get("view"), str):
            return {"ok": False, "error": 'a request is {"view": NAME, "args": {...}}'}
        name = request["view"]
        args = request.get("args") or {}
        view = self._views.get(name)
        if view is None:
            return {"ok": False, "error": f"unknown view {name!r}; known: {', '.join(sorted(self._views))}"}
        if not isinstance(args, dict):
            return {"ok": False, "error": "args must be an object"}
        try:
            return {"ok": True, "data": view(args)}
        except ViewError as exc:
            return {"ok": False, "error": str(exc)}
        except Exception as exc:
            # A broken view is our bug: say so to the operator and keep serving the others.
            log.exception("controlViewFailed", view=name)
            return {"ok": False, "error": f"view {name!r} failed: {exc.__class__.__name__}: {exc}"}

    async def _settle(self, reply: dict[str, Any]) -> dict[str, Any]:
        """A view may return an awaitable (the BFD worker answers over a pipe): wait for it here,
        with the same error handling as a plain view."""
        data = reply.get("data")
        if not inspect.isawaitable(data):
            return reply
        try:
            return {"ok": True, "data": await data}
        except ViewError as exc:
            return {"ok": False, "error": str(exc)}
        except Exception as exc:
            log.exception("controlViewFailed")
            return {"ok": False, "error": f"view failed: {exc.__class__.__name__}: {exc}"}

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    reply: dict[str, Any] = {"ok": False, "error": "request too long"}
                    writer.write(json.dumps(reply).encode() + b"\n")
                    break
                if not line:
                    break
                try:
                    request = json.loads(line)
                except json.JSONDecodeError as exc:
                    reply = {"ok": False, "error": f"not JSON: {exc}"}
                else:
                    reply = await self._settle(self.answer(request))
                writer.write(json.dumps(reply, default=str).encode() + b"\n")
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


def _remove_stale_socket(path: Path) -> None:
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise FileExistsError(f"{path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        path.unlink(missing_ok=True)
        return
    finally:
        probe.close()
    raise FileExistsError(f"another lbd already serves {path}")
