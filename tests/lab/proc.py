"""Processes of the lab: commands run to completion, long-lived daemons, and polling.

Every long-lived process is started in its own session (so its whole process group can be killed) with
stdout and stderr going to one log file in the test's artifact directory.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

DEFAULT_TIMEOUT = 10.0


class LabCommandError(RuntimeError):
    """A lab command failed; the message carries the command line, exit status and stderr."""


class ProcessDied(RuntimeError):
    """A lab process exited while it was expected to run; the message carries its log tail."""


class WaitTimeout(AssertionError):
    """``wait_for`` gave up. An AssertionError, so pytest reports it as a test failure."""


def netns_argv(ns: str | None, argv: Sequence[str]) -> list[str]:
    return ["ip", "netns", "exec", ns, *argv] if ns is not None else list(argv)


def run(
    ns: str | None,
    argv: Sequence[str],
    *,
    check: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` inside namespace ``ns`` (None: as is) and capture its output as text."""
    full = netns_argv(ns, argv)
    try:
        result = subprocess.run(
            full,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            env=_merged_env(env),
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise LabCommandError(f"{' '.join(full)}: no exit within {timeout}s") from exc
    if check and result.returncode != 0:
        raise LabCommandError(
            f"{' '.join(full)}: exit {result.returncode}: {result.stderr.strip() or result.stdout.strip()}"
        )
    return result


def _merged_env(env: Mapping[str, str] | None) -> dict[str, str] | None:
    if env is None:
        return None
    merged = dict(os.environ)
    merged.update(env)
    return merged


class Proc:
    """A long-lived process inside a namespace, leader of its own process group."""

    def __init__(
        self,
        name: str,
        ns: str | None,
        argv: Sequence[str],
        log: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.ns = ns
        self.argv = tuple(argv)
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            self.popen = subprocess.Popen(
                netns_argv(ns, argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=_merged_env(env),
                cwd=cwd,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def alive(self) -> bool:
        return self.popen.poll() is None

    def check_alive(self) -> None:
        """Raise ``ProcessDied`` (with the log tail) if the process has exited."""
        if not self.alive():
            raise ProcessDied(f"{self!r} exited; log {self.log}:\n{self.tail()}")

    def signal(self, signum: int) -> None:
        """Signal the whole process group (helpers the process forked included)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signum)

    def stop(self, timeout: float = 3.0) -> int | None:
        """SIGTERM the group, then SIGKILL whatever is left after ``timeout`` seconds."""
        if self.alive():
            self.signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout)
        # The leader may be gone while children of its group linger.
        self.signal(signal.SIGKILL)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.text().splitlines()[-lines:])

    def __repr__(self) -> str:
        return f"Proc({self.name!r}, ns={self.ns!r}, pid={self.popen.pid}, rc={self.popen.poll()})"


def wait_for(
    predicate: Callable[[], T | None],
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = 0.1,
    message: str | Callable[[], str] = "condition",
) -> T:
    """Poll ``predicate`` until it returns something truthy and return that.

    Exceptions from the predicate count as "not yet" (except ``ProcessDied``, which ends the wait at once);
    the last one is named in the timeout message, as is ``message`` (a string, or a callable for details
    computed at timeout, e.g. a log tail).
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    last_value: object = None
    attempts = 0
    while True:
        attempts += 1
        try:
            value = predicate()
        except ProcessDied:
            raise
        except Exception as exc:
            last_error = exc
        else:
            if value:
                return value
            last_value = value
        if time.monotonic() >= deadline:
            break
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
    text = message() if callable(message) else message
    detail = f"last error: {last_error!r}" if last_error is not None else f"last value: {last_value!r}"
    raise WaitTimeout(f"timed out after {timeout}s ({attempts} attempts) waiting for {text}; {detail}")
