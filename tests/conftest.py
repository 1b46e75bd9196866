"""Shared pytest configuration. The lab fixtures live in tests/lab/ and are re-exported here.

A test marked ``lab`` needs root and network-namespace support; the router fixtures also check their
tools. Outside CI a missing requirement skips with the exact reason; under ``CI=true`` it fails instead.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from tests.lab.fixtures import bird, exabgp, frr, gobgp, lab, lab_session
from tests.lab.netns import Lab
from tests.lab.requirements import require_lab

__all__ = ["bird", "exabgp", "frr", "gobgp", "lab", "lab_session"]


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("lab") is not None:
        require_lab()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failing lab test, attach the tail of every lab process log (the lab still exists here)."""
    report: pytest.TestReport = yield
    used = getattr(item, "funcargs", {}).get("lab")
    if report.failed and isinstance(used, Lab):
        report.sections.append(("lab artifacts", str(used.artifacts)))
        for proc in used.procs:
            report.sections.append((f"lab log {proc.log.name}", proc.tail(40)))
    return report
