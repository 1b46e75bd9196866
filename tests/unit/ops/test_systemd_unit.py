"""The shipped unit passes `systemd-analyze verify` without a single warning."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lbd.net.local_delivery import SYSCTLS

UNIT = Path(__file__).resolve().parents[3] / "systemd" / "lbd.service"


def verify(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    unit = tmp_path / "lbd.service"
    unit.write_text(text)
    return subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )


def installed_unit_text() -> str:
    # verify checks that ExecStart exists, so point it at this checkout's entry point.
    lbd = Path(sys.executable).with_name("lbd")
    return UNIT.read_text().replace("/usr/local/bin/lbd", str(lbd))


@pytest.fixture
def analyze() -> None:
    if shutil.which("systemd-analyze") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("systemd-analyze not found (package systemd)")
        pytest.skip("systemd-analyze not found (package systemd)")


@pytest.mark.usefixtures("analyze")
def test_unit_verifies_cleanly(tmp_path: Path) -> None:
    result = verify(tmp_path, installed_unit_text())
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""


@pytest.mark.usefixtures("analyze")
def test_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    result = verify(tmp_path, installed_unit_text().replace("Type=notify", "Type=notifyy"))
    assert "Failed to parse service type" in result.stderr


def test_unit_is_notify_with_watchdog_and_least_privilege() -> None:
    lines = {
        line.split("=", 1)[0]: line.split("=", 1)[1] for line in UNIT.read_text().splitlines() if "=" in line
    }
    assert lines["Type"] == "notify"
    assert lines["WatchdogSec"] == "10s"
    assert lines["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert lines["User"] == "lbd"
    caps = {"CAP_NET_RAW", "CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE"}
    assert set(lines["AmbientCapabilities"].split()) == caps
    assert set(lines["CapabilityBoundingSet"].split()) == caps


def test_sysctl_file_sets_what_local_delivery_needs() -> None:
    """The unit keeps /proc/sys read-only, so the shipped sysctl.d file must carry every setting local
    delivery would otherwise write itself, with the same values."""
    text = (UNIT.parent / "lbd.sysctl.conf").read_text()
    settings = {
        key.strip(): value.strip()
        for key, _, value in (line.partition("=") for line in text.splitlines())
        if key.strip() and not key.startswith("#")
    }
    assert settings == {name.replace("/", "."): value for name, value in SYSCTLS.items()}
    assert "ProtectKernelTunables=yes" in UNIT.read_text()
    assert "--state-dir /var/lib/lbd" in UNIT.read_text()
