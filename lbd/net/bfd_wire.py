"""Framing between the main process and the BFD worker: 4-byte length, then a pickle.

Both ends are lbd itself (a socketpair created by the parent), so pickle carries the engine's own
dataclasses without a schema. Writes go through asyncio transports, which buffer instead of blocking:
a busy main loop can delay reading, never the worker's timers.
"""

from __future__ import annotations

import asyncio
import pickle
import struct
from typing import Any

_LENGTH = struct.Struct("!I")


def frame(message: Any) -> bytes:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(body)) + body


async def read(reader: asyncio.StreamReader) -> Any:
    """The next message; raises asyncio.IncompleteReadError when the other end is gone."""
    (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    return pickle.loads(await reader.readexactly(length))
