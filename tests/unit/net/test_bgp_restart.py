"""The graceful-restart marker: a restarted process knows which peers still hold its routes."""

from __future__ import annotations

from pathlib import Path

from lbd.net.bgp_restart import RestartMarker


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_restart_within_restart_time(tmp_path: Path) -> None:
    clock = Clock(1000.0)
    first = RestartMarker(tmp_path, clock)
    assert not first.restarting("r1")
    first.write({"r1": 120.0, "r2": 5.0})
    clock.now = 1010.0  # killed at about 1000, started again 10 s later
    second = RestartMarker(tmp_path, clock)
    assert second.restarting("r1")
    assert not second.restarting("r2")  # its 5 s restart time is over: the peer dropped our routes
    assert not second.restarting("r3")
    second.forget("r1")
    assert not second.restarting("r1")


def test_clean_shutdown_and_garbage_mean_fresh_start(tmp_path: Path) -> None:
    clock = Clock(1000.0)
    marker = RestartMarker(tmp_path, clock)
    marker.write({"r1": 120.0})
    marker.clear()
    assert not RestartMarker(tmp_path, clock).restarting("r1")
    marker.write({"r1": 120.0})
    marker.write({})  # no session Established any more
    assert not marker.path.exists()
    marker.path.write_text("{not json")
    assert not RestartMarker(tmp_path, clock).restarting("r1")
    marker.path.write_text('{"alive": "x", "peers": []}')
    assert not RestartMarker(tmp_path, clock).restarting("r1")


def test_clock_going_backwards_is_not_a_restart(tmp_path: Path) -> None:
    clock = Clock(1000.0)
    RestartMarker(tmp_path, clock).write({"r1": 120.0})
    clock.now = 900.0
    assert not RestartMarker(tmp_path, clock).restarting("r1")
