"""The resource types the emulator serves: the kinds lbd reads and writes, nothing more.

A type is stored once per (group, plural); a kind served at several versions (metallb.io BGPPeer at
v1beta1 and v1beta2) shares that storage and only its `apiVersion` is rewritten on the way out, which
is what a CRD with `conversion: None` does on a real API server.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ResourceType:
    group: str
    versions: tuple[str, ...]
    plural: str
    kind: str
    namespaced: bool
    has_status: bool
    short_names: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.group, self.plural)

    def api_version(self, version: str) -> str:
        return f"{self.group}/{version}" if self.group else version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


METALLB = "metallb.io"
BUILTIN_GROUPS = frozenset({"", "discovery.k8s.io", "coordination.k8s.io"})

RESOURCE_TYPES: tuple[ResourceType, ...] = (
    ResourceType("", ("v1",), "namespaces", "Namespace", namespaced=False, has_status=True),
    ResourceType("", ("v1",), "services", "Service", namespaced=True, has_status=True, short_names=("svc",)),
    ResourceType("", ("v1",), "nodes", "Node", namespaced=False, has_status=True, short_names=("no",)),
    ResourceType("", ("v1",), "secrets", "Secret", namespaced=True, has_status=False),
    ResourceType("", ("v1",), "pods", "Pod", namespaced=True, has_status=True, short_names=("po",)),
    ResourceType("", ("v1",), "events", "Event", namespaced=True, has_status=False, short_names=("ev",)),
    ResourceType("discovery.k8s.io", ("v1",), "endpointslices", "EndpointSlice", True, False),
    ResourceType("coordination.k8s.io", ("v1",), "leases", "Lease", namespaced=True, has_status=False),
    ResourceType(METALLB, ("v1beta1",), "ipaddresspools", "IPAddressPool", True, True),
    ResourceType(METALLB, ("v1beta1",), "l2advertisements", "L2Advertisement", True, False),
    ResourceType(METALLB, ("v1beta1",), "bgpadvertisements", "BGPAdvertisement", True, False),
    ResourceType(METALLB, ("v1beta1",), "bfdprofiles", "BFDProfile", True, False),
    ResourceType(METALLB, ("v1beta1",), "communities", "Community", True, False),
    ResourceType(METALLB, ("v1beta1", "v1beta2"), "bgppeers", "BGPPeer", True, False),
    ResourceType(METALLB, ("v1beta1",), "addresspools", "AddressPool", True, False),
    ResourceType(METALLB, ("v1beta1",), "servicel2statuses", "ServiceL2Status", True, True),
    ResourceType(METALLB, ("v1beta1",), "servicebgpstatuses", "ServiceBGPStatus", True, True),
)


class Registry:
    """Looks resource types up the way URLs name them: (group, version, plural)."""

    def __init__(self, types: tuple[ResourceType, ...] = RESOURCE_TYPES) -> None:
        self.types = types
        self._by_gvp: dict[tuple[str, str, str], ResourceType] = {
            (t.group, v, t.plural): t for t in types for v in t.versions
        }

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_gvp.get((group, version, plural))

    def group_versions(self) -> dict[str, list[str]]:
        """Every non-core group with its versions, newest last as listed."""
        out: dict[str, list[str]] = {}
        for t in self.types:
            if not t.group:
                continue
            versions = out.setdefault(t.group, [])
            for v in t.versions:
                if v not in versions:
                    versions.append(v)
        return out

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [t for t in self.types if t.group == group and version in t.versions]
