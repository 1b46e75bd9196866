"""ConfigStore (rejected updates keep the last good config) and `lbd config validate`."""

from __future__ import annotations

from pathlib import Path

import pytest

from lbd.cli import main
from lbd.config import ConfigStore
from tests.unit.config.helpers import parse

GOOD = """
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: a}
spec: {addresses: [192.0.2.0/24]}
"""
BAD = """
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: a}
spec: {addresses: [192.0.2.0/33]}
"""


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rejected_update_keeps_last_good() -> None:
    clock = FakeClock()
    store = ConfigStore(clock)
    assert store.current is None and store.generation == 0

    good = parse(GOOD)
    assert store.apply(good) is True
    first = store.current
    assert first is not None and store.generation == 1 and store.last_rejection is None

    clock.now = 1010.0
    bad = parse(BAD)
    assert store.apply(bad) is False
    assert store.current is first
    assert store.generation == 1
    rejection = store.last_rejection
    assert rejection is not None
    assert rejection.at == 1010.0
    assert [e.field for e in rejection.errors] == ["spec.addresses[0]"]

    clock.now = 1020.0
    assert store.apply(parse(GOOD.replace("192.0.2.0/24", "198.51.100.0/24"))) is True
    assert store.generation == 2 and store.last_rejection is None
    assert store.current is not first


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_cli_validate_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(
        tmp_path,
        "pool.yaml",
        GOOD + "---\napiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {name: l2}\n",
    )
    assert main(["config", "validate", str(tmp_path)]) == 0
    assert capsys.readouterr().out == "ok: 1 IPAddressPool, 1 L2Advertisement\n"


def test_cli_validate_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write(
        tmp_path, "bad.yaml", BAD + "---\n" + GOOD.replace("name: a", "name: b").replace("/24", "/25")
    )
    assert main(["config", "validate", str(bad), str(tmp_path / "missing.yaml")]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"File {tmp_path / 'missing.yaml'} -: does not exist",
        "IPAddressPool metallb-system/a spec.addresses[0]: '192.0.2.0/33' is not a valid CIDR "
        "(e.g. 192.0.2.0/24 or 2001:db8::/64)",
    ]


def test_cli_verbose_names_the_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write(tmp_path, "bad.yaml", BAD)
    assert main(["config", "validate", "-v", str(bad)]) == 1
    assert capsys.readouterr().out.endswith(f"({bad}#1)\n")
