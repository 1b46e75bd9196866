"""The allocation state file: round trip, and damage that only costs a fresh allocation."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from structlog.testing import capture_logs

from lbd.daemon.state import load_allocations, save_allocations, state_file


def test_round_trip(tmp_path: Path) -> None:
    path = state_file(tmp_path / "state", "node-a")
    addresses = (ipaddress.ip_address("192.0.2.1"), ipaddress.ip_address("2001:db8::1"))
    save_allocations(path, {"default/web": addresses, "default/other": ()})
    assert load_allocations(path) == {"default/web": addresses, "default/other": ()}
    assert [p.name for p in path.parent.iterdir()] == ["allocations-node-a.json"]


def test_missing_is_empty_and_damage_is_logged(tmp_path: Path) -> None:
    path = tmp_path / "allocations.json"
    assert load_allocations(path) == {}
    path.write_text("{not json")
    with capture_logs() as logs:
        assert load_allocations(path) == {}
    assert logs[0]["event"] == "allocationStateUnreadable"
    path.write_text('{"default/web": ["192.0.2.1"], "default/bad": ["nope"], "default/worse": 7}')
    with capture_logs() as logs:
        assert load_allocations(path) == {"default/web": (ipaddress.ip_address("192.0.2.1"),)}
    assert [e["service"] for e in logs] == ["default/bad", "default/worse"]


def test_unwritable_directory_is_logged_not_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with capture_logs() as logs:
        save_allocations(blocker / "sub" / "allocations.json", {})
    assert logs[0]["event"] == "allocationStateWriteFailed"
