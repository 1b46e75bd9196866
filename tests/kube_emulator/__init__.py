"""A Kubernetes API-server emulator for tests: the real HTTP list/watch protocol over aiohttp.

Use `KubeEmulator` directly (`async with KubeEmulator() as api: ...`), the pytest fixtures in
`tests.kube_emulator.fixtures`, or `python -m tests.kube_emulator --port N` for manual runs.

Seeding and inspection without HTTP: `create(obj)`, `replace(obj, status=False)`, `get(...)`,
`list_objects(...)`, `delete(...)`, `add_validator(...)` (422 on write). Faults: `drop_watches(abort)`,
`fail_requests(count, status=, path=, method=)`, `latency = seconds`, `clear_faults()`,
`start_outage()` / `end_outage()` / `outage(seconds)`, `compact()`, `send_bookmarks()`.
`requests` records (method, path?query) of every request served.
"""

from tests.kube_emulator.resources import RESOURCE_TYPES, ResourceType
from tests.kube_emulator.server import KubeEmulator, running_emulator
from tests.kube_emulator.store import ApiError

__all__ = ["RESOURCE_TYPES", "ApiError", "KubeEmulator", "ResourceType", "running_emulator"]
