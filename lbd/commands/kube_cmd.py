"""`lbd kube`: run under Kubernetes as MetalLB's controller, speaker, or both (docs/kubernetes.md)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from lbd.config import Config, Membership, load_paths
from lbd.control.client import DEFAULT_SOCKET
from lbd.logsetup import LOG_LEVELS, configure
from lbd.malloc_tuning import pin_mmap_threshold
from lbd.net.bfd_manager import BFDManager
from lbd.reconcile import DesiredState

if TYPE_CHECKING:
    from lbd.control import ControlServer
    from lbd.daemon.announcer import Announcer
    from lbd.kube.runner import KubeRunner

SA_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "kube",
        help="run under Kubernetes: allocate (controller) and announce (speaker) from the API server",
        description="Without --controller or --speaker both roles run in this process.",
    )
    parser.add_argument("--controller", action="store_true", help="run the controller role (Lease-elected)")
    parser.add_argument("--speaker", action="store_true", help="run the speaker role for --node")
    parser.add_argument(
        "--namespace",
        help="namespace of the MetalLB objects (default: $METALLB_NAMESPACE, the pod's namespace, "
        "else metallb-system)",
    )
    parser.add_argument("--node", help="this node's name (default: $NODE_NAME or $METALLB_NODE_NAME)")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster, else $KUBECONFIG)")
    parser.add_argument("--context", help="kubeconfig context")
    parser.add_argument("--identity", help="Lease holder identity (default: $POD_NAME, else host_pid)")
    parser.add_argument("--lease-name", default="lbd-controller", help="the controller's Lease")
    parser.add_argument("--lease-duration", type=int, default=15, metavar="SECONDS")
    parser.add_argument("--renew-deadline", type=float, default=10.0, metavar="SECONDS")
    parser.add_argument("--retry-period", type=float, default=2.0, metavar="SECONDS")
    parser.add_argument("--load-balancer-class", help="serve only Services of this loadBalancerClass")
    parser.add_argument(
        "--liveness",
        choices=("pods", "nodes"),
        default="pods",
        help="live speakers for L2 elections: ready speaker pods (default) or Ready nodes",
    )
    parser.add_argument(
        "--speaker-selector",
        default="app.kubernetes.io/component=speaker",
        help="label selector of the speaker pods (with --liveness pods)",
    )
    parser.add_argument(
        "--membership-config",
        metavar="PATH",
        help="files with this node's lbd.io/v1alpha1 NodeConfig: its membership settings replace "
        "--liveness (live speakers from lbd's membership protocol, as MetalLB's memberlist)",
    )
    parser.add_argument(
        "--no-status-objects",
        action="store_true",
        help="do not publish ServiceL2Status / ServiceBGPStatus objects",
    )
    parser.add_argument(
        "--webhook-port",
        type=int,
        metavar="PORT",
        help="with the controller role: serve the validating admission webhook on this port",
    )
    parser.add_argument(
        "--webhook-cert-dir",
        metavar="DIR",
        help="tls.crt and tls.key for the webhook (the API server only calls HTTPS webhooks)",
    )
    parser.add_argument(
        "--metrics", default="0.0.0.0:7472", metavar="ADDR", help="Prometheus endpoint HOST:PORT or 'off'"
    )
    parser.add_argument(
        "--socket",
        default=DEFAULT_SOCKET,
        metavar="PATH",
        help=f"control socket of `lbd status` (kubectl exec) or 'off' (default {DEFAULT_SOCKET})",
    )
    parser.add_argument("--log-level", choices=list(LOG_LEVELS), default="info")
    parser.set_defaults(handler=run)


def namespace_of(args: argparse.Namespace) -> str:
    if args.namespace:
        return str(args.namespace)
    if os.environ.get("METALLB_NAMESPACE"):
        return os.environ["METALLB_NAMESPACE"]
    with contextlib.suppress(OSError):
        return SA_NAMESPACE.read_text().strip()
    return "metallb-system"


def run(args: argparse.Namespace) -> int:
    pin_mmap_threshold()
    configure(args.log_level)
    try:
        return asyncio.run(_main(args))
    except ValueError as exc:
        print(f"lbd kube: {exc}", file=sys.stderr)
        return 2


async def _main(args: argparse.Namespace) -> int:
    from lbd.daemon.wiring import Wiring, build_announcers
    from lbd.kube.client import new_api_client
    from lbd.kube.lease import LeaseSettings
    from lbd.kube.runner import KubeOptions, KubeRunner, default_identity
    from lbd.kube.webhook import start_webhook
    from lbd.metrics import Metrics
    from lbd.metrics_http import start_metrics_server
    from lbd.net.l2_announcer import L2Announcer
    from lbd.net.membership_udp import MembershipService

    both = not (args.controller or args.speaker)
    node = args.node or os.environ.get("NODE_NAME") or os.environ.get("METALLB_NODE_NAME")
    options = KubeOptions(
        namespace=namespace_of(args),
        controller=both or args.controller,
        speaker=both or args.speaker,
        node=node,
        identity=args.identity or os.environ.get("POD_NAME") or default_identity(),
        lease_name=args.lease_name,
        lease=LeaseSettings(args.lease_duration, args.renew_deadline, args.retry_period),
        load_balancer_class=args.load_balancer_class,
        liveness=args.liveness,
        speaker_selector=args.speaker_selector,
        publish_status=not args.no_status_objects,
    )
    log = structlog.get_logger("lbd.kube")
    metrics = Metrics()
    metrics_runner = None
    if args.metrics != "off":
        host, _, port = args.metrics.rpartition(":")
        metrics_runner = await start_metrics_server(metrics, host.strip("[]"), int(port))
    client = await new_api_client(args.kubeconfig, args.context)
    bfd = BFDManager()
    announcers: list[Announcer] = []
    if options.speaker:
        assert node is not None
        wiring = Wiring(
            node=node, metrics=metrics, bfd=bfd, membership=None, on_members=lambda _: None, standalone=False
        )
        announcers = [_BfdStarter(bfd), *build_announcers(wiring)]
    membership: MembershipService | None = None
    if options.speaker and args.membership_config:
        assert node is not None
        membership = MembershipService(
            node=node,
            settings=_membership_settings(args.membership_config, node, options.namespace),
            metrics=metrics,
            # Every change of the live set makes the speaker recompute its L2 elections.
            on_change=lambda _members: runner.wake(),
        )
    l2 = next((a for a in announcers if isinstance(a, L2Announcer)), None)
    runner = KubeRunner(
        client,
        options,
        announcers=announcers,
        metrics=metrics,
        live_nodes=membership.live if membership is not None else None,
        # The speaker's L2 decisions and ServiceL2Status objects name this node's eligible interfaces.
        interfaces=l2.eligible_interfaces if l2 is not None else tuple,
    )
    if l2 is not None:
        l2.on_interfaces_changed = runner.wake
    if membership is not None:
        await membership.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "kubeStarting",
        controller=options.controller,
        speaker=options.speaker,
        node=node,
        namespace=options.namespace,
        announcers=[a.name for a in announcers],
    )
    await runner.start()
    control = await _control_server(args.socket, runner, bfd, announcers)
    webhook = None
    if options.controller and args.webhook_port:
        webhook = await start_webhook(
            runner.sources.admission_documents,
            options.namespace,
            "0.0.0.0",
            args.webhook_port,
            args.webhook_cert_dir,
        )
    try:
        await stop.wait()
    finally:
        log.info("kubeStopping")
        if webhook is not None:
            await webhook.cleanup()
        if control is not None:
            await control.close()
        await runner.stop()
        if membership is not None:
            await membership.stop()
        await client.close()
        if metrics_runner is not None:
            await metrics_runner.cleanup()
    return 0


async def _control_server(
    path: str, runner: KubeRunner, bfd: BFDManager, announcers: Sequence[Announcer]
) -> ControlServer | None:
    """The same `lbd status` views as the standalone daemon, over this process's roles."""
    from lbd.control import ControlServer
    from lbd.daemon.announcer import StatusSource
    from lbd.kube.views import KubeViews
    from lbd.net.bfd_views import BfdViews

    if path == "off":
        return None
    names = tuple(a.name for a in announcers)
    server = ControlServer(path, KubeViews(runner, path, names).views())
    for source in (*announcers, BfdViews(bfd)):
        if isinstance(source, StatusSource):
            for name, view in source.views().items():
                server.add_view(name, view)
    try:
        await server.start()
    except OSError as exc:
        # An operator's window, not the job: the roles run on without it.
        structlog.get_logger("lbd.kube").error("controlSocketFailed", path=path, error=str(exc))
        return None
    return server


def _membership_settings(path: str, node: str, namespace: str) -> Membership:
    result = load_paths([path], namespace=namespace)
    config = result.config
    if config is None:
        raise ValueError(f"{path}: " + "; ".join(str(e) for e in result.errors))
    node_config = config.node_config(node)
    if node_config is None:
        raise ValueError(f"{path}: no NodeConfig for node {node!r}")
    return node_config.membership


class _BfdStarter:
    """First in the announcer list: starts the BFD worker before a config with BFD peers reaches the
    BGP announcer (the standalone daemon does the same), and stops it after everything else closed."""

    name = "bfd"

    def __init__(self, bfd: BFDManager) -> None:
        self.bfd = bfd
        self.started = False

    async def apply(self, config: Config, desired: DesiredState) -> None:
        if not self.started and any(p.bfd_profile for p in config.peers.values()):
            await self.bfd.start()
            self.started = True

    async def close(self) -> None:
        if self.started:
            await self.bfd.stop()
