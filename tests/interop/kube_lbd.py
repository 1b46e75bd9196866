"""`python -m tests.interop.kube_lbd --kubeconfig K --node N --state DIR`: lbd under Kubernetes (both roles)
with the real BGP announcer, for the interop tests.

`lbd kube` builds its announcers from the daemon wiring; this entry point names the BGP announcer
explicitly so the test exercises it whatever the wiring registers. Everything else is `KubeRunner`, as
`lbd kube` runs it, with timers short enough for a test.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from lbd.kube.client import new_api_client
from lbd.kube.lease import LeaseSettings
from lbd.kube.reflector import ReflectorSettings
from lbd.kube.runner import KubeOptions, KubeRunner
from lbd.logsetup import configure
from lbd.metrics import Metrics
from lbd.net.bgp_announcer import BgpAnnouncer

REFLECTOR = ReflectorSettings(
    watch_timeout=30.0,
    read_grace=5.0,
    request_timeout=2.0,
    connect_timeout=1.0,
    backoff_initial=0.1,
    backoff_max=1.0,
    backoff_jitter=0.5,
)


async def main(args: argparse.Namespace) -> None:
    configure("info")
    client = await new_api_client(args.kubeconfig)
    metrics = Metrics(process_metrics=False)
    bgp = BgpAnnouncer(node=args.node, metrics=metrics, state_dir=args.state, listen_port=None)
    options = KubeOptions(
        namespace="metallb-system",
        node=args.node,
        identity=args.node,
        lease=LeaseSettings(lease_duration=2, renew_deadline=1.5, retry_period=0.3),
        liveness="nodes",
        reflector=REFLECTOR,
        retry_delay=0.3,
    )
    runner = KubeRunner(client, options, announcers=[bgp], metrics=metrics)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await runner.start()
    try:
        await stop.wait()
    finally:
        await runner.stop()
        await client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument("--state", required=True)
    asyncio.run(main(parser.parse_args()))
