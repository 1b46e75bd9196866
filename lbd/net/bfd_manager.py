"""BFDManager: the main process's handle on every BFD session, which run in a worker process.

The BGP side calls `add_session`/`set_profile`/`remove_session` and subscribes to state changes;
everything is called from, and every callback runs on, the main event loop. docs/bfd-design.md
explains why the sessions live in a separate process.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import structlog

from bfd import Diag, Profile, State, StateChanged
from lbd.metrics import Sample
from lbd.net import bfd_wire
from lbd.net.bfd_transport import Counters, Ports, SessionInfo, SessionKey

log = structlog.get_logger("lbd.bfd")

StateCallback = Callable[[SessionKey, StateChanged], None]
_STOP_TIMEOUT = 3.0
_METRIC_NAMES = (
    "metallb_bfd_session_up",
    "metallb_bfd_session_up_events",
    "metallb_bfd_session_down_events",
    "metallb_bfd_control_packet_input",
    "metallb_bfd_control_packet_output",
    "metallb_bfd_echo_packet_input",
    "metallb_bfd_echo_packet_output",
)
_ROOT = Path(__file__).resolve().parents[2]


class WorkerDied(RuntimeError):
    """The BFD worker process is gone; every session it ran counts as Down."""


class BFDManager:
    """Owns every BFD session of the process. Call its methods from the main event loop."""

    def __init__(
        self,
        *,
        ports: Ports | None = None,
        listen: str | None = None,
        seed: int | None = None,
        log_level: str | None = None,
    ) -> None:
        self._config = {
            "ports": asdict(ports or Ports()),
            "listen": listen,
            "seed": seed,
            "log_level": log_level,
        }
        self._process: subprocess.Popen[bytes] | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._next_request = 0
        self._subscribers: list[StateCallback] = []
        self._states: dict[SessionKey, State] = {}
        self._counters: dict[SessionKey, Counters] = {}
        self._stopping = False

    async def start(self) -> None:
        parent, child = socket.socketpair()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_ROOT), env.get("PYTHONPATH")]))
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "lbd.net.bfd_worker", str(child.fileno()), json.dumps(self._config)],
                pass_fds=[child.fileno()],
                env=env,
            )
        finally:
            child.close()
        reader, self._writer = await asyncio.open_unix_connection(sock=parent)
        self._reader_task = asyncio.create_task(self._read(reader), name="bfd-manager-reader")

    async def stop(self) -> None:
        process, writer = self._process, self._writer
        if process is None or writer is None:
            return
        self._stopping = True
        if not writer.is_closing():
            writer.write(bfd_wire.frame(("stop",)))
        try:
            await asyncio.wait_for(asyncio.to_thread(process.wait), _STOP_TIMEOUT)
        except TimeoutError:
            process.kill()
            await asyncio.to_thread(process.wait)
        writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()
            await asyncio.gather(self._reader_task, return_exceptions=True)
        self._process = self._writer = self._reader_task = None

    async def add_session(self, key: SessionKey, profile: Profile) -> None:
        """Start a session; raises OSError if its socket cannot be set up (e.g. `local` is not ours)."""
        if key in self._states:
            raise ValueError(f"BFD session {key} already exists")
        # Registered first: the worker may report the session's first state change before its reply.
        self._states[key] = State.DOWN
        self._counters[key] = Counters()
        try:
            await self._call("add", key, profile)
        except BaseException:
            del self._states[key], self._counters[key]
            raise

    async def set_profile(self, key: SessionKey, profile: Profile) -> None:
        """Renegotiate timers with a Poll Sequence; the session does not flap (RFC 5880 §6.8.3)."""
        await self._call("set_profile", key, profile)

    async def remove_session(self, key: SessionKey) -> None:
        """Turn BFD off for `key`: the peer sees AdminDown (not a failure), then the session is gone.
        Subscribers hear nothing more about it."""
        await self._call("remove", key)
        self._states.pop(key, None)
        self._counters.pop(key, None)

    async def sessions(self) -> list[SessionInfo]:
        result: list[SessionInfo] = await self._call("snapshot")
        return result

    def subscribe(self, callback: StateCallback) -> Callable[[], None]:
        """`callback(key, event)` runs on the main loop for every state change of every session."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    @property
    def worker_pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def state(self, key: SessionKey) -> State | None:
        return self._states.get(key)

    def is_up(self, key: SessionKey) -> bool:
        return self._states.get(key) is State.UP

    def metric_samples(self) -> Iterable[Sample]:
        """A `lbd.metrics.Metrics` provider: MetalLB's metallb_bfd_* families, labelled by peer.
        Counters are at most a reporting period (0.5 s) old; the up gauge is current."""
        # MetalLB labels by peer only: sessions to one peer from several local addresses add up, and
        # the peer counts as up if any of them is.
        per_peer: dict[str, list[float]] = {}
        for key, c in self._counters.items():
            row = [float(self.is_up(key))]
            row += [c.up_events, c.down_events, c.control_in, c.control_out, c.echo_in, c.echo_out]
            seen = per_peer.get(key.peer)
            if seen is not None:
                row = [max(seen[0], row[0]), *(a + b for a, b in zip(seen[1:], row[1:], strict=True))]
            per_peer[key.peer] = row
        return [
            Sample(name, {"peer": peer}, value)
            for peer, row in per_peer.items()
            for name, value in zip(_METRIC_NAMES, row, strict=True)
        ]

    # --- internals ------------------------------------------------------------------------------

    async def _call(self, method: str, *args: object) -> Any:
        writer = self._writer
        if writer is None or writer.is_closing():
            raise WorkerDied("the BFD worker is not running")
        self._next_request += 1
        request = self._next_request
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request] = future
        writer.write(bfd_wire.frame(("call", request, method, args)))
        try:
            return await future
        finally:
            self._pending.pop(request, None)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                message = await bfd_wire.read(reader)
                if message[0] == "reply":
                    _, request, result, error = message
                    future = self._pending.get(request)
                    if future is not None and not future.done():
                        if error is None:
                            future.set_result(result)
                        else:
                            future.set_exception(error)
                elif message[0] == "event":
                    self._publish(message[1], message[2])
                else:
                    for key, counters in message[1]:
                        if key in self._counters:
                            self._counters[key] = counters
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        if not self._stopping:
            self._worker_died()

    def _worker_died(self) -> None:
        # Our bug, but the safe reading of it is that every BFD-protected path is unverified now: the
        # BGP side must treat the sessions as Down rather than trust stale Ups.
        log.error("bfd worker exited; all BFD sessions are down", returncode=self._poll())
        for future in self._pending.values():
            if not future.done():
                future.set_exception(WorkerDied("the BFD worker exited"))
        for key, state in list(self._states.items()):
            if state is not State.DOWN:
                self._publish(key, StateChanged(state, State.DOWN, Diag.PATH_DOWN))
        if self._writer is not None:
            self._writer.close()

    def _poll(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def _publish(self, key: SessionKey, event: StateChanged) -> None:
        if key not in self._states:
            return
        self._states[key] = event.new
        # Counted here too so the metric moves with the event, not half a reporting period later.
        counters = self._counters.get(key)
        if counters is not None and event.new is State.UP:
            counters.up_events += 1
        elif counters is not None and event.old is State.UP:
            counters.down_events += 1
        for callback in list(self._subscribers):
            try:
                callback(key, event)
            except Exception:
                log.exception("bfd subscriber failed", peer=key.peer)
