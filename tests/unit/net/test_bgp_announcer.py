"""BgpAnnouncer on loopback: config + desired state in, sessions, views, metrics and Cease out.

lbd (the announcer) listens on 127.0.0.1; the peer is a plain BgpSpeaker dialing from 127.0.0.2."""

from __future__ import annotations

import textwrap
import time
from dataclasses import replace
from pathlib import Path

import yaml

from bgp import events as ev
from lbd.config import parse_objects
from lbd.daemon.core import DaemonCore
from lbd.metrics import Metrics
from lbd.net.bgp_announcer import BgpAnnouncer
from lbd.net.bgp_restart import RestartMarker
from lbd.net.bgp_speaker import BgpSpeaker
from tests.unit.net.test_bgp_speaker import A, B, Recorder, config_of, settings, until

DOCS = """
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: b, namespace: metallb-system}
spec:
  myASN: 64512
  peerASN: 64513
  peerAddress: 127.0.0.2
  peerPort: 1
  holdTime: 9s
  connectTime: 1s
  ebgpMultiHop: true
  enableGracefulRestart: true
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool, namespace: metallb-system}
spec: {addresses: [198.51.100.0/24], autoAssign: false}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv, namespace: metallb-system}
spec: {ipAddressPools: [pool], communities: ["64512:7"]}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
  annotations: {metallb.universe.tf/loadBalancerIPs: 198.51.100.7}
spec: {type: LoadBalancer, ports: [{port: 80}]}
"""


async def test_announcer_sessions_views_metrics_and_shutdown(tmp_path: Path) -> None:
    core = DaemonCore("node-a", time.time)
    assert core.offer(parse_objects(list(yaml.safe_load_all(textwrap.dedent(DOCS))), "test.yaml")) == ()
    desired = core.compute({})
    assert desired is not None and core.config is not None
    metrics = Metrics(process_metrics=False)
    announcer = BgpAnnouncer(
        node="node-a", metrics=metrics, state_dir=tmp_path, listen_port=0, listen_addresses=(A,)
    )
    recorder = Recorder()
    peer = BgpSpeaker(config_of=config_of, on_event=recorder, listen_port=None)
    try:
        await announcer.apply(core.config, desired)
        port = announcer.speaker.listen_port
        assert port
        await peer.configure(
            {"a": replace(settings("a", A, port), source_address=B, graceful_restart=True, connect_time=None)}
        )
        views = announcer.views()
        await until(lambda: views["bgp summary"]({})[0]["state"] == "Established")
        row = views["bgp summary"]({})[0]
        assert (row["peer"], row["address"], row["asn"]) == ("b", "127.0.0.2", 64513)
        assert row["msgs_in"] >= 2 and row["msgs_out"] >= 2

        neighbor = views["bgp neighbor"]({"address": "127.0.0.2"})
        assert neighbor["negotiated"]["hold_time"] == 9
        assert neighbor["negotiated"]["families"] == ["ipv4-unicast"]
        assert neighbor["negotiated"]["peer_graceful_restart"] is True
        assert neighbor["configured"]["graceful_restart"] is True

        routes = views["bgp routes"]({"prefix": "198.51.100.7/32"})
        assert routes == [
            {
                "prefix": "198.51.100.7/32",
                "peers": ["b"],
                "communities": ["64512:7"],
                "large_communities": [],
                "local_pref": None,
                "services": ["default/web"],
            }
        ]
        up = metrics.samples()["metallb_bgp_session_up"]
        assert [(s.labels, s.value) for s in up] == [({"peer": "127.0.0.2"}, 1.0)]
        assert metrics.samples()["metallb_bgp_opens_received"][0].value == 1.0
        # A graceful-restart session is up: a process started now would count as restarting.
        assert RestartMarker(tmp_path).restarting("b")
    finally:
        await announcer.close()
        await until(lambda: recorder.of(ev.NotificationReceived))
        await peer.close("")
    cease = recorder.of(ev.NotificationReceived)[0]
    assert isinstance(cease, ev.NotificationReceived)
    assert (cease.notification.code, cease.notification.subcode) == (6, 2)
    assert cease.notification.shutdown_communication() == "lbd is shutting down"
    # A clean shutdown is not a graceful restart.
    assert not RestartMarker(tmp_path).restarting("b")
    assert peer.drivers == {}


async def test_peer_removed_from_desired_state_is_deconfigured(tmp_path: Path) -> None:
    core = DaemonCore("node-a", time.time)
    core.offer(parse_objects(list(yaml.safe_load_all(textwrap.dedent(DOCS))), "test.yaml"))
    desired = core.compute({})
    assert desired is not None and core.config is not None
    announcer = BgpAnnouncer(
        node="node-a", metrics=Metrics(process_metrics=False), state_dir=tmp_path, listen_port=None
    )
    try:
        await announcer.apply(core.config, desired)
        assert [r["peer"] for r in announcer.views()["bgp summary"]({})] == ["b"]
        await announcer.apply(core.config, replace(desired, bgp=()))
        assert announcer.views()["bgp summary"]({}) == []
        assert announcer.speaker.drivers == {}
    finally:
        await announcer.close()
