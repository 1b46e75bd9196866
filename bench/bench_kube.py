"""lbd under Kubernetes against the in-process API-server emulator, with N LoadBalancer Services.

Run: .venv/bin/python bench/bench_kube.py [--services N] [--changes C]

Both roles run in one process (as `lbd kube` does by default) with a recording announcer, through the
real kubernetes-asyncio client over HTTP on 127.0.0.1. Prints:
  initial    from start to every Service holding an address in its status (list, Lease, allocation,
             2 writes per Service) and to the speaker's push containing all of them
  change     with every Service settled: one new Service until its status is written and until the
             speaker's next push announces it; p50/max over C changes
  re-adopt   a fresh controller over the settled Services: start to its first complete pass (no write)
The emulator runs in the same process and on the same core, so these figures include its own cost.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kubernetes_asyncio import config as kube_config

from lbd.config import Config
from lbd.kube.lease import LeaseSettings
from lbd.kube.reflector import ReflectorSettings
from lbd.kube.runner import KubeOptions, KubeRunner
from lbd.reconcile import DesiredState
from tests.kube_emulator import KubeEmulator

NS = "metallb-system"


class Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.l2: set[str] = set()
        self.pushes = 0

    async def apply(self, config: Config, desired: DesiredState) -> None:
        self.pushes += 1
        self.l2 = {str(a.address) for a in desired.l2}

    async def close(self) -> None:
        return None


def _service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}]},
    }


def _slice(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": "default", "labels": {"kubernetes.io/service-name": name}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": True}, "nodeName": "n1"}],
    }


async def _wait(predicate: Any, timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError("benchmark condition not reached")
        await asyncio.sleep(0.01)


def _ms(samples: list[float]) -> str:
    return f"p50 {statistics.median(samples) * 1000:.0f} ms max {max(samples) * 1000:.0f} ms"


def _options(identity: str, speaker: bool) -> KubeOptions:
    return KubeOptions(
        namespace=NS,
        speaker=speaker,
        node="n1" if speaker else None,
        identity=identity,
        liveness="nodes",
        lease=LeaseSettings(lease_duration=2, renew_deadline=1.0, retry_period=0.2),
        reflector=ReflectorSettings(request_timeout=60.0),
        publish_status=False,
        debounce=0.01,
    )


async def main(services: int, changes: int) -> None:
    emulator = KubeEmulator(history=max(1000, 8 * services), bookmark_interval=1.0)
    await emulator.start()
    emulator.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
                     "status": {"conditions": [{"type": "Ready", "status": "True"}]}})  # fmt: skip
    emulator.create(
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": "bench", "namespace": NS},
            "spec": {"addresses": ["198.18.0.0/15"]},
        }
    )
    emulator.create(
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "L2Advertisement",
            "metadata": {"name": "l2", "namespace": NS},
        }
    )
    for i in range(services):
        emulator.create(_service(f"s{i}"))
        emulator.create(_slice(f"s{i}"))
    path = Path("/tmp") / f"lbd-bench-kube-{emulator.port}.json"
    emulator.write_kubeconfig(path)
    client = await kube_config.new_client_from_config(config_file=str(path))

    def assigned() -> int:
        return sum(
            1
            for s in emulator.storage.items(emulator.registry.lookup("", "v1", "services"))  # type: ignore[arg-type]
            if s.get("status", {}).get("loadBalancer", {}).get("ingress")
        )

    recorder = Recorder()
    runner = KubeRunner(client, _options("bench", True), announcers=[recorder])
    start = time.perf_counter()
    await runner.start()
    controller = runner.controller
    assert controller is not None
    # Polling the emulator's storage would copy every Service each time; the write counter is free.
    await _wait(lambda: controller.writes >= 2 * services, 600)
    status_done = time.perf_counter() - start
    assert assigned() == services
    await _wait(lambda: len(recorder.l2) == services, 600)
    push_done = time.perf_counter() - start
    print(f"initial   {services} services: all status written {status_done:.2f} s, "
          f"speaker push with all {push_done:.2f} s")  # fmt: skip

    to_status: list[float] = []
    to_push: list[float] = []
    for i in range(changes):
        total = services + i + 1
        t0 = time.perf_counter()
        emulator.create(_service(f"new{i}"))
        emulator.create(_slice(f"new{i}"))
        await _wait(lambda n=total: controller.writes >= 2 * n, 60)  # type: ignore[misc]
        to_status.append(time.perf_counter() - t0)
        await _wait(lambda n=total: len(recorder.l2) == n, 60)  # type: ignore[misc]
        to_push.append(time.perf_counter() - t0)
    print(f"change    one new service among {services}: status {_ms(to_status)}; speaker push {_ms(to_push)}")
    await runner.stop(release=True)

    writes_before = len([r for r in emulator.requests if r[0] == "PUT" and "/services/" in r[1]])
    second = KubeRunner(client, _options("bench2", False))
    t0 = time.perf_counter()
    await second.start()
    assert second.controller is not None
    await _wait(
        lambda: second.controller is not None and second.controller.passes >= 1 and second.controller.leading,
        120,
    )
    await _wait(lambda: second.controller is not None and not second.controller._wake.is_set(), 120)
    readopt = time.perf_counter() - t0
    writes = len([r for r in emulator.requests if r[0] == "PUT" and "/services/" in r[1]]) - writes_before
    print(
        f"re-adopt  {services + changes} settled services: first pass done {readopt:.2f} s, writes {writes}"
    )
    await second.stop()
    await client.close()
    await emulator.stop()
    path.unlink()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=20)
    args = parser.parse_args()
    print("command: .venv/bin/python " + shlex.join(["bench/bench_kube.py", *sys.argv[1:]]))
    asyncio.run(main(args.services, args.changes))
