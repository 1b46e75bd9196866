"""The client side of the control socket, used by `lbd status` and `lbd explain`."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from typing import Any

DEFAULT_SOCKET = "/run/lbd/lbd.sock"


class ControlError(Exception):
    """The daemon could not be reached or refused the request."""


def query(
    view: str,
    args: Mapping[str, Any] | None = None,
    path: str | os.PathLike[str] = DEFAULT_SOCKET,
    timeout: float = 5.0,
) -> Any:
    request = json.dumps({"view": view, "args": dict(args or {})}).encode() + b"\n"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(os.fspath(path))
        except FileNotFoundError:
            raise ControlError(
                f"no lbd control socket at {os.fspath(path)} (is lbd running? see --socket)"
            ) from None
        except PermissionError:
            raise ControlError(f"permission denied on {os.fspath(path)} (the socket is mode 0600)") from None
        except ConnectionRefusedError:
            raise ControlError(f"nothing listens on {os.fspath(path)} (stale socket?)") from None
        sock.sendall(request)
        buffer = b""
        while not buffer.endswith(b"\n"):
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                raise ControlError(f"lbd did not answer within {timeout:g}s") from None
            if not chunk:
                break
            buffer += chunk
    if not buffer:
        raise ControlError("lbd closed the connection without an answer")
    reply = json.loads(buffer)
    if not reply.get("ok"):
        raise ControlError(str(reply.get("error")))
    return reply.get("data")
