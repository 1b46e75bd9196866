"""Prometheus metrics under MetalLB's names and labels, so existing dashboards and alerts keep working.

Values are pulled at scrape time from providers (callables over the engines' own counters) and from a
small store of values the daemon sets. Nothing on a protocol hot path touches Prometheus objects.

MetalLB's FRR-mode counters (metallb_bfd_control_packet_input and friends) lack the `_total` suffix and
some of its gauges have one (metallb_allocator_addresses_total). We keep every name exactly, so
`promtool check metrics` reports those two naming lints and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from lbd.metrics_process import process_exposition


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    kind: str
    help: str
    labels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    labels: Mapping[str, str]
    value: float


def _families(*specs: Family) -> dict[str, Family]:
    return {f.name: f for f in specs}


_PEER = ("peer",)
FAMILIES: Mapping[str, Family] = _families(
    Family("metallb_bgp_session_up", "gauge", "BGP session state (1 is up, 0 is down)", _PEER),
    Family("metallb_bgp_updates_total", "counter", "Number of BGP UPDATE messages sent", _PEER),
    Family("metallb_bgp_announced_prefixes_total", "gauge", "Number of prefixes currently advertised", _PEER),
    Family("metallb_bgp_opens_sent", "counter", "Number of BGP OPEN messages sent", _PEER),
    Family("metallb_bgp_opens_received", "counter", "Number of BGP OPEN messages received", _PEER),
    Family("metallb_bgp_notifications_sent", "counter", "Number of BGP NOTIFICATION messages sent", _PEER),
    Family("metallb_bgp_updates_total_received", "counter", "Number of BGP UPDATE messages received", _PEER),
    Family("metallb_bgp_keepalives_sent", "counter", "Number of BGP KEEPALIVE messages sent", _PEER),
    Family("metallb_bgp_keepalives_received", "counter", "Number of BGP KEEPALIVE messages received", _PEER),
    Family("metallb_bgp_route_refresh_sent", "counter", "Number of BGP ROUTE-REFRESH messages sent", _PEER),
    Family(
        "metallb_bgp_route_refresh_received",
        "counter",
        "Number of BGP ROUTE-REFRESH messages received",
        _PEER,
    ),
    Family("metallb_bgp_total_sent", "counter", "Number of BGP messages sent", _PEER),
    Family("metallb_bgp_total_received", "counter", "Number of BGP messages received", _PEER),
    Family("metallb_bfd_session_up", "gauge", "BFD session state (1 is up, 0 is down)", _PEER),
    Family("metallb_bfd_session_up_events", "counter", "Number of times the BFD session went up", _PEER),
    Family("metallb_bfd_session_down_events", "counter", "Number of times the BFD session went down", _PEER),
    Family("metallb_bfd_control_packet_input", "counter", "Number of BFD control packets received", _PEER),
    Family("metallb_bfd_control_packet_output", "counter", "Number of BFD control packets sent", _PEER),
    Family("metallb_bfd_echo_packet_input", "counter", "Number of BFD echo packets received", _PEER),
    Family("metallb_bfd_echo_packet_output", "counter", "Number of BFD echo packets sent", _PEER),
    Family(
        "metallb_allocator_addresses_total", "gauge", "Number of usable IP addresses, per pool", ("pool",)
    ),
    Family(
        "metallb_allocator_addresses_in_use_total",
        "gauge",
        "Number of IP addresses in use, per pool",
        ("pool",),
    ),
    Family(
        "metallb_layer2_requests_received",
        "counter",
        "Number of layer2 requests received for owned IPs",
        ("ip",),
    ),
    Family(
        "metallb_layer2_responses_sent", "counter", "Number of layer2 responses sent for owned IPs", ("ip",)
    ),
    Family("metallb_layer2_gratuitous_sent", "counter", "Number of gratuitous layer2 packets sent", ("ip",)),
    Family(
        "metallb_speaker_announced",
        "gauge",
        "Services being announced from this node by the desired protocol",
        ("ip", "node", "protocol", "service"),
    ),
    Family(
        "metallb_k8s_client_config_loaded_bool", "gauge", "1 if the config was ever loaded successfully", ()
    ),
    Family("metallb_k8s_client_config_stale_bool", "gauge", "1 if running on a stale configuration", ()),
    Family("metallb_k8s_client_updates_total", "counter", "Number of configuration updates processed", ()),
    Family(
        "metallb_k8s_client_update_errors_total", "counter", "Number of configuration updates that failed", ()
    ),
    # lbd's own membership layer (MetalLB uses memberlist and exports nothing for it).
    Family("lbd_membership_member_up", "gauge", "Membership peer state (1 is live, 0 is not)", ("member",)),
    Family(
        "lbd_membership_member_down_events_total",
        "counter",
        "Number of times a membership peer was declared dead",
        ("member",),
    ),
    Family(
        "lbd_membership_datagrams_dropped_total",
        "counter",
        "Membership datagrams ignored: unknown source, malformed, bad MAC, wrong identity, replay",
        ("reason",),
    ),
)

Provider = Callable[[], Iterable[Sample]]


class Metrics:
    """The registry lbd exposes: providers pulled at scrape time plus values the daemon sets."""

    __slots__ = ("_process", "_providers", "_values")

    def __init__(self, process_metrics: bool = True) -> None:
        self._providers: list[Provider] = []
        self._values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        # process_resident_memory_bytes and friends, as every Go exporter has them.
        self._process = process_metrics

    def add_provider(self, provider: Provider) -> None:
        self._providers.append(provider)

    def set(self, name: str, value: float, **labels: str) -> None:
        self._values[(self._checked(name, labels), tuple(sorted(labels.items())))] = value

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = (self._checked(name, labels), tuple(sorted(labels.items())))
        self._values[key] = self._values.get(key, 0.0) + amount

    def remove(self, name: str, **labels: str) -> None:
        self._values.pop((name, tuple(sorted(labels.items()))), None)

    def samples(self) -> dict[str, list[Sample]]:
        by_family: dict[str, list[Sample]] = {}
        for (name, labels), value in self._values.items():
            by_family.setdefault(name, []).append(Sample(name, dict(labels), value))
        for provider in self._providers:
            for sample in provider():
                by_family.setdefault(sample.name, []).append(sample)
        return by_family

    def exposition(self) -> bytes:
        """Text format 0.0.4, written here: client libraries rename counters to end in _total."""
        out: list[str] = []
        for name, samples in self.samples().items():
            family = FAMILIES[name]
            out.append(f"# HELP {name} {family.help}")
            out.append(f"# TYPE {name} {family.kind}")
            for sample in samples:
                out.append(f"{name}{_labels(sample.labels)} {_value(sample.value)}")
        text = "\n".join(out) + "\n" if out else ""
        return (text + (process_exposition() if self._process else "")).encode()

    @staticmethod
    def _checked(name: str, labels: Mapping[str, str]) -> str:
        family = FAMILIES.get(name)
        if family is None:
            raise KeyError(f"unknown metric {name}")
        if set(labels) != set(family.labels):
            raise ValueError(f"{name} takes labels {family.labels}, got {tuple(labels)}")
        return name


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in sorted(labels.items())) + "}"


def _escape(value: str) -> str:
    # Exposition format 0.0.4: backslash, double quote and line feed are escaped in label values.
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _value(value: float) -> str:
    return repr(float(value))
