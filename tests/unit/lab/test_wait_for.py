from __future__ import annotations

import pytest

from tests.lab.proc import ProcessDied, WaitTimeout, wait_for


def test_returns_the_first_truthy_value() -> None:
    values = iter([None, 0, {}, "ready"])
    assert wait_for(lambda: next(values), timeout=1, interval=0) == "ready"


def test_errors_mean_not_yet() -> None:
    calls: list[int] = []

    def flaky() -> int:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionRefusedError("not listening")
        return len(calls)

    assert wait_for(flaky, timeout=1, interval=0) == 3


def test_timeout_names_the_condition_and_last_error() -> None:
    def never() -> None:
        raise ConnectionRefusedError("still not listening")

    with pytest.raises(WaitTimeout, match=r"waiting for the peer; last error: ConnectionRefusedError"):
        wait_for(never, timeout=0, interval=0, message="the peer")


def test_timeout_message_may_be_computed_late() -> None:
    with pytest.raises(WaitTimeout, match=r"waiting for state Idle; last value: False"):
        wait_for(lambda: False, timeout=0, interval=0, message=lambda: "state Idle")


def test_a_dead_process_ends_the_wait_at_once() -> None:
    def died() -> None:
        raise ProcessDied("bgpd exited")

    with pytest.raises(ProcessDied):
        wait_for(died, timeout=60, interval=0)
