"""The BFD worker process: `python -m lbd.net.bfd_worker FD CONFIG_JSON`, started by BFDManager.

It runs `Service` on its own event loop and answers the manager over the inherited socket FD:
requests `("call", id, method, args)` get `("reply", id, result, error)`; it pushes
`("event", key, StateChanged)` at once and `("counters", [(key, Counters)])` periodically. It exits
when the manager says `("stop",)`, when the socket closes, or when the parent dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import socket
import sys
from typing import Any

from bfd import StateChanged
from lbd import logsetup
from lbd.net import bfd_wire
from lbd.net.bfd_transport import Ports, Service, SessionKey

# Methods of Service the manager may call.
CALLS = frozenset({"add", "set_profile", "remove", "snapshot"})
COUNTERS_PERIOD = 0.5
# A counters report is skipped while this much is still unsent: the main loop is busy, and a later
# report supersedes this one anyway. Events are never skipped.
_BACKLOG_LIMIT = 256 * 1024
_PR_SET_PDEATHSIG = 1
WORKER_NICE = -10


def _die_with_parent() -> None:
    """Linux prctl(PR_SET_PDEATHSIG): if the daemon is killed, its BFD sessions must not live on and
    keep telling peers that this node is fine."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


async def serve(sock: socket.socket, ports: Ports, listen: str | None, seed: int | None) -> None:
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_unix_connection(sock=sock)

    def send(message: Any) -> None:
        if not writer.is_closing():
            writer.write(bfd_wire.frame(message))

    def deliver(key: SessionKey, event: StateChanged) -> None:
        send(("event", key, event))

    service = Service(loop, deliver, ports, listen, seed)

    def report() -> None:
        if writer.transport.get_write_buffer_size() < _BACKLOG_LIMIT:
            send(("counters", service.counters()))
        reporter[0] = loop.call_later(COUNTERS_PERIOD, report)

    reporter = [loop.call_later(COUNTERS_PERIOD, report)]
    try:
        while True:
            try:
                message = await bfd_wire.read(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            if message[0] == "stop":
                return
            _, request, method, args = message
            try:
                if method not in CALLS:
                    raise ValueError(f"unknown BFD worker call {method!r}")
                send(("reply", request, getattr(service, method)(*args), None))
            except Exception as error:
                send(("reply", request, None, error))
    finally:
        reporter[0].cancel()
        service.close()
        writer.close()


def _raise_priority() -> None:
    """Best effort: a higher CPU priority shortens the wait for a core when the node is loaded. The
    worker uses little CPU, so this cannot starve the node; a real-time class could, so it is not used."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, WORKER_NICE)


def main(argv: list[str]) -> None:
    _die_with_parent()
    _raise_priority()
    fd, config = int(argv[1]), json.loads(argv[2])
    if config.get("log_level"):
        logsetup.configure(config["log_level"])
    sock = socket.socket(fileno=fd)
    # The daemon's SIGINT (Ctrl-C in a terminal) and SIGTERM (systemd's default KillMode signals the
    # whole cgroup) reach the worker too; the manager decides when the worker stops, after BGP has sent
    # its Cease. Dying first would tell every peer "BFD down" instead.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    asyncio.run(serve(sock, Ports(**config["ports"]), config["listen"], config["seed"]))


if __name__ == "__main__":
    main(sys.argv)
