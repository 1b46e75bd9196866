"""The Kubernetes tests run against the in-process API-server emulator on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from kubernetes_asyncio import config
from kubernetes_asyncio.client import ApiClient

from tests.kube_emulator.fixtures import kube_emulator, kubeconfig

__all__ = ["api_client", "kube_emulator", "kubeconfig"]


@pytest.fixture
async def api_client(kubeconfig: Path) -> AsyncIterator[ApiClient]:
    client = await config.new_client_from_config(config_file=str(kubeconfig))
    try:
        yield client
    finally:
        await client.close()
