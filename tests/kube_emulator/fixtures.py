"""Pytest fixtures; import them into a conftest.py: `from tests.kube_emulator.fixtures import *`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from tests.kube_emulator.server import KubeEmulator

__all__ = ["kube_emulator", "kubeconfig"]


CRDS = Path(__file__).resolve().parents[2] / "deploy" / "crds.yaml"


@pytest.fixture
async def kube_emulator() -> AsyncIterator[KubeEmulator]:
    """A started emulator on 127.0.0.1 with an ephemeral port, bookmarks every 0.2 s, enforcing the
    schemas of lbd's CRDs (deploy/crds.yaml) on metallb.io objects."""
    emulator = KubeEmulator(bookmark_interval=0.2)
    emulator.install_crds(d for d in yaml.safe_load_all(CRDS.read_text()) if d)
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


@pytest.fixture
def kubeconfig(kube_emulator: KubeEmulator, tmp_path: Path) -> Path:
    return kube_emulator.write_kubeconfig(tmp_path / "kubeconfig")
