"""Control socket: permissions, replies, errors, and a stale socket left by a killed daemon."""

from __future__ import annotations

import asyncio
import socket
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from lbd.control import ControlError, ControlServer, query
from lbd.control.server import ViewError
from lbd.control.tables import render_fields, render_table


def peers(args: Mapping[str, Any]) -> Any:
    if "peer" in args and args["peer"] != "192.0.2.1":
        raise ViewError(f"no such neighbor {args['peer']}")
    return [{"peer": "192.0.2.1", "state": "Established"}]


def broken(args: Mapping[str, Any]) -> Any:
    raise RuntimeError("boom")


async def test_round_trip_and_mode(tmp_path: Path) -> None:
    path = tmp_path / "run" / "lbd.sock"
    server = ControlServer(path, {"bgp summary": peers, "broken": broken})
    await server.start()
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        data = await asyncio.to_thread(query, "bgp summary", None, path)
        assert data == [{"peer": "192.0.2.1", "state": "Established"}]
        with pytest.raises(ControlError, match=r"no such neighbor 192\.0\.2\.9"):
            await asyncio.to_thread(query, "bgp summary", {"peer": "192.0.2.9"}, path)
        with pytest.raises(ControlError, match="unknown view 'nope'; known: bgp summary, broken"):
            await asyncio.to_thread(query, "nope", None, path)
        with pytest.raises(ControlError, match="view 'broken' failed: RuntimeError: boom"):
            await asyncio.to_thread(query, "broken", None, path)
    finally:
        await server.close()
    assert not path.exists()


async def test_awaitable_views_are_awaited_with_the_same_errors(tmp_path: Path) -> None:
    async def later(args: Mapping[str, Any]) -> Any:
        await asyncio.sleep(0)
        if args.get("fail") == "view":
            raise ViewError("no such session")
        if args.get("fail") == "bug":
            raise RuntimeError("worker gone")
        return [{"peer": "192.0.2.1", "state": "up"}]

    path = tmp_path / "lbd.sock"
    server = ControlServer(path, {"bfd peers": later})
    await server.start()
    try:
        data = await asyncio.to_thread(query, "bfd peers", None, path)
        assert data == [{"peer": "192.0.2.1", "state": "up"}]
        with pytest.raises(ControlError, match="no such session"):
            await asyncio.to_thread(query, "bfd peers", {"fail": "view"}, path)
        with pytest.raises(ControlError, match="RuntimeError: worker gone"):
            await asyncio.to_thread(query, "bfd peers", {"fail": "bug"}, path)
    finally:
        await server.close()


async def test_garbage_request_gets_an_error_and_the_server_survives(tmp_path: Path) -> None:
    path = tmp_path / "lbd.sock"
    server = ControlServer(path, {"ok": lambda args: 1})
    await server.start()
    try:
        reader, writer = await asyncio.open_unix_connection(str(path))
        writer.write(b"{not json\n[1,2]\n")
        first = await reader.readline()
        second = await reader.readline()
        assert b"not JSON" in first
        assert b"a request is" in second
        writer.close()
        assert await asyncio.to_thread(query, "ok", None, path) == 1
    finally:
        await server.close()


async def test_stale_socket_is_replaced_but_a_live_one_is_not(tmp_path: Path) -> None:
    path = tmp_path / "lbd.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()
    first = ControlServer(path, {"ok": lambda args: 1})
    await first.start()
    try:
        second = ControlServer(path, {})
        with pytest.raises(FileExistsError, match="another lbd already serves"):
            await second.start()
    finally:
        await first.close()


def test_query_without_daemon(tmp_path: Path) -> None:
    with pytest.raises(ControlError, match="no lbd control socket"):
        query("ok", None, tmp_path / "missing.sock")


def test_tables() -> None:
    text = render_table(
        [{"peer": "192.0.2.1", "up": True, "pfx": 3}, {"peer": "2001:db8::1", "up": False}],
        [("Neighbor", "peer"), ("Up", "up"), ("PfxSnt", "pfx")],
    )
    assert text.splitlines() == [
        "Neighbor     Up   PfxSnt",
        "192.0.2.1    yes  3",
        "2001:db8::1  no   -",
    ]
    assert render_fields([("State", "Up"), ("Timers", [300, 300])]) == "State   Up\nTimers  300,300"
