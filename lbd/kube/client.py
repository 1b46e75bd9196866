"""An API client from a kubeconfig file or, inside a pod, from the service account."""

from __future__ import annotations

import os

from kubernetes_asyncio import config
from kubernetes_asyncio.client import ApiClient, Configuration


async def new_api_client(kubeconfig: str | None = None, context: str | None = None) -> ApiClient:
    """In-cluster config when no kubeconfig is given and the pod environment is present; otherwise the
    kubeconfig file (None: $KUBECONFIG or ~/.kube/config)."""
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        configuration = Configuration()
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        return ApiClient(configuration=configuration)
    return await config.new_client_from_config(config_file=kubeconfig, context=context)
