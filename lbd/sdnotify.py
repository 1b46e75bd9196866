"""The systemd notify protocol (sd_notify(3)) spoken directly over $NOTIFY_SOCKET.

We do not depend on python-systemd: the protocol is one datagram of newline-separated KEY=VALUE pairs
to an AF_UNIX socket, where a leading "@" names an abstract socket.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Mapping


class Notifier:
    """Sends state changes to the service manager; every method is a no-op outside systemd."""

    __slots__ = ("_address", "_sock", "_watchdog_interval")

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        raw = env.get("NOTIFY_SOCKET", "")
        self._address: str | None = None
        if raw:
            # sd_notify(3): "@" stands for the abstract namespace's leading NUL byte.
            self._address = "\0" + raw[1:] if raw.startswith("@") else raw
        self._sock: socket.socket | None = None
        self._watchdog_interval = _watchdog_interval(env)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between WATCHDOG=1 pings: half of WatchdogSec, as sd_watchdog_enabled(3) advises."""
        return self._watchdog_interval

    def notify(self, **fields: str | int) -> None:
        if self._address is None:
            return
        if self._sock is None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        message = "\n".join(f"{key}={value}" for key, value in fields.items())
        try:
            self._sock.sendto(message.encode(), self._address)
        except OSError:
            # The manager going away must never take the daemon down with it.
            return

    def ready(self, status: str = "") -> None:
        if status:
            self.notify(READY=1, STATUS=status)
        else:
            self.notify(READY=1)

    def reloading(self) -> None:
        self.notify(RELOADING=1, MONOTONIC_USEC=time_usec())

    def stopping(self) -> None:
        self.notify(STOPPING=1)

    def status(self, text: str) -> None:
        self.notify(STATUS=text)

    def watchdog(self) -> None:
        self.notify(WATCHDOG=1)

    async def run_watchdog(self) -> None:
        """Ping from the event loop itself, so a loop that is stuck stops the pings and gets restarted."""
        interval = self._watchdog_interval
        if interval is None or self._address is None:
            return
        while True:
            self.watchdog()
            await asyncio.sleep(interval)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def time_usec() -> int:
    # RELOADING=1 must carry CLOCK_MONOTONIC in microseconds (sd_notify(3)).
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


def _watchdog_interval(env: Mapping[str, str]) -> float | None:
    usec = env.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    # sd_watchdog_enabled(3): WATCHDOG_PID, when set, must name us or the watchdog is someone else's.
    pid = env.get("WATCHDOG_PID", "")
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 2_000_000
