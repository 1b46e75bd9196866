"""`lbd status` and `lbd explain` against a daemon running in the test's event loop."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from lbd.cli import main
from lbd.commands.status_cmd import render, resolve
from tests.unit.daemon.helpers import dump, l2, pool, service
from tests.unit.daemon.test_daemon import running

NAMES = ["summary", "services", "bgp summary", "bgp neighbor", "bgp routes", "explain", "l2"]


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["summary"], ("summary", {})),
        (["bgp", "summary"], ("bgp summary", {})),
        (["bgp", "neighbor", "192.0.2.1"], ("bgp neighbor", {"peer": "192.0.2.1"})),
        (["bgp", "routes", "198.51.100.7/32"], ("bgp routes", {"prefix": "198.51.100.7/32"})),
        (["explain", "default/web"], ("explain", {"service": "default/web"})),
        (["l2", "extra"], ("l2", {"name": "extra"})),
        (["bgp"], None),
        (["nope"], None),
    ],
)
def test_resolve(words: list[str], expected: tuple[str, dict[str, str]] | None) -> None:
    assert resolve(words, NAMES) == expected


def test_generic_rendering() -> None:
    table = render("bgp summary", [{"peer": "r1", "state": "Established", "up_down": 3.5}])
    assert table.splitlines() == ["PEER  STATE        UP DOWN", "r1    Established  3.5"]
    assert render("l2", []) == "(none)"
    fields = render("summary", {"node": "a", "started_at": 0, "announcers": ["bgp", "l2"]})
    assert fields.splitlines() == [
        "node        a",
        "started_at  1970-01-01 00:00:00 UTC",
        "announcers  bgp,l2",
    ]


async def test_status_and_explain_against_the_daemon(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # capture_logs keeps the daemon's log lines out of the commands' stdout.
    with capture_logs():
        await status_and_explain(tmp_path, capsys)


async def status_and_explain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async with running(tmp_path, dump(pool(), l2(), service("web"))) as h:
        assert await asyncio.to_thread(main, ["status", "--socket", h.socket, "--json"]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["node"] == "node-a" and summary["socket"] == h.socket

        assert await asyncio.to_thread(main, ["status", "services", "--socket", h.socket]) == 0
        out = capsys.readouterr().out
        assert out.splitlines()[0].split() == [
            "SERVICE",
            "STATE",
            "IPS",
            "POOL",
            "L2",
            "OWNER",
            "BGP",
            "PEERS",
            "HEALTHY",
            "REASON",
        ]
        assert "default/web" in out and "192.0.2.200" in out

        bad = pool()
        bad["spec"]["addresses"] = ["bogus"]
        h.write(dump(bad, l2(), service("web")))
        h.daemon.request_reload()
        await h.until(lambda: h.daemon.core.store.last_rejection is not None)
        assert await asyncio.to_thread(main, ["status", "config", "--socket", h.socket]) == 0
        out = capsys.readouterr().out
        assert "REJECTED" in out and "IPAddressPool" in out and "spec.addresses" in out

        assert await asyncio.to_thread(main, ["explain", "default/web", "--socket", h.socket]) == 0
        out = capsys.readouterr().out
        assert "192.0.2.200 from pool vips" in out and "answered by node-a" in out

        assert await asyncio.to_thread(main, ["status", "no", "such", "--socket", h.socket]) == 2
        assert "known:" in capsys.readouterr().err


def test_status_without_daemon(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--socket", str(tmp_path / "none.sock")]) == 1
    assert "no lbd control socket" in capsys.readouterr().err
