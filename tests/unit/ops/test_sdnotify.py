"""The notify protocol against a fake NOTIFY_SOCKET, as systemd would receive it."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from lbd.sdnotify import Notifier


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2)
    yield sock, path
    sock.close()


def received(sock: socket.socket) -> dict[str, str]:
    data = sock.recv(4096).decode()
    return dict(line.split("=", 1) for line in data.split("\n"))


def test_ready_and_status(manager: tuple[socket.socket, str]) -> None:
    sock, path = manager
    notifier = Notifier({"NOTIFY_SOCKET": path})
    notifier.ready("3 peers, 2 pools")
    assert received(sock) == {"READY": "1", "STATUS": "3 peers, 2 pools"}
    notifier.stopping()
    assert received(sock) == {"STOPPING": "1"}
    notifier.close()


def test_reloading_carries_monotonic_usec(manager: tuple[socket.socket, str]) -> None:
    sock, path = manager
    notifier = Notifier({"NOTIFY_SOCKET": path})
    notifier.reloading()
    fields = received(sock)
    assert fields["RELOADING"] == "1"
    assert int(fields["MONOTONIC_USEC"]) > 0
    notifier.close()


def test_abstract_socket() -> None:
    name = f"lbd-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2)
    try:
        Notifier({"NOTIFY_SOCKET": "@" + name}).ready()
        assert received(sock) == {"READY": "1"}
    finally:
        sock.close()


def test_disabled_without_socket() -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    notifier.ready()
    assert notifier.watchdog_interval is None


@pytest.mark.parametrize(
    ("env", "interval"),
    [
        ({"WATCHDOG_USEC": "10000000"}, 5.0),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "junk"}, None),
        ({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}, None),
        ({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}, 1.0),
    ],
)
def test_watchdog_interval(env: dict[str, str], interval: float | None) -> None:
    assert Notifier({"NOTIFY_SOCKET": "/nonexistent", **env}).watchdog_interval == interval


async def test_watchdog_pings_from_the_loop(manager: tuple[socket.socket, str]) -> None:
    sock, path = manager
    sock.setblocking(False)
    notifier = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "40000"})
    task = asyncio.create_task(notifier.run_watchdog())
    await asyncio.sleep(0.11)
    task.cancel()
    pings = 0
    while True:
        try:
            data = sock.recv(4096)
        except BlockingIOError:
            break
        assert data == b"WATCHDOG=1"
        pings += 1
    # 20 ms interval over 110 ms: about 6 pings; a loose bound keeps a busy CI from flaking.
    assert 3 <= pings <= 8
    notifier.close()
