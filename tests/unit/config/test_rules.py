"""Every validation rule, each with a document set that passes and one that fails on exactly that rule.

Cases are YAML fragments; `P(...)`-style helpers keep them short. The failing set must report an error
at the named field with the named fragment, and the passing set must produce a Config.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.unit.config.helpers import find, parse

NS = "metallb-system"


def pool(name: str, *addresses: str, extra: str = "", labels: str = "") -> str:
    addrs = ", ".join(f'"{a}"' for a in addresses)
    meta = f"{{name: {name}, labels: {{{labels}}}}}" if labels else f"{{name: {name}}}"
    head = f"apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {meta}\n"
    return head + f"spec: {{addresses: [{addrs}]{extra}}}\n---\n"


def peer(name: str, spec: str, version: str = "v1beta2") -> str:
    head = f"apiVersion: metallb.io/{version}\nkind: BGPPeer\n"
    return head + f"metadata: {{name: {name}}}\nspec: {{{spec}}}\n---\n"


def obj(kind: str, name: str, spec: str, api: str = "metallb.io/v1beta1") -> str:
    return f"apiVersion: {api}\nkind: {kind}\nmetadata: {{name: {name}}}\nspec: {{{spec}}}\n---\n"


BASE_PEER = "peerAddress: 10.0.0.1, peerASN: 64501, myASN: 64500"


def secret(name: str, type_: str = "kubernetes.io/basic-auth", data: str = "password: c2VjcmV0") -> str:
    return (
        f"apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, namespace: {NS}}}\n"
        f"type: {type_}\ndata: {{{data}}}\n---\n"
    )


def node(name: str, labels: str) -> str:
    return f"apiVersion: v1\nkind: Node\nmetadata: {{name: {name}, labels: {{{labels}}}}}\n---\n"


@dataclass(frozen=True)
class Case:
    id: str
    good: str
    bad: str
    field: str
    fragment: str
    kind: str | None = None


CASES = [
    # --- names and documents
    Case(
        "unique pool names",
        pool("a", "10.0.0.0/24") + pool("b", "10.0.1.0/24"),
        pool("a", "10.0.0.0/24") + pool("a", "10.0.1.0/24"),
        "metadata.name",
        "duplicate name",
    ),
    Case(
        "pool and legacy AddressPool share names",
        pool("a", "10.0.0.0/24"),
        pool("a", "10.0.0.0/24") + obj("AddressPool", "a", 'protocol: layer2, addresses: ["10.0.1.0/24"]'),
        "metadata.name",
        "duplicate name",
    ),
    Case(
        "unique advertisement names",
        obj("L2Advertisement", "x", "") + obj("L2Advertisement", "y", ""),
        obj("L2Advertisement", "x", "") + obj("L2Advertisement", "x", ""),
        "metadata.name",
        "duplicate name",
    ),
    Case(
        "unique peer names",
        peer("p", BASE_PEER),
        peer("p", BASE_PEER) + peer("p", "peerAddress: 10.0.0.2, peerASN: 64501, myASN: 64500"),
        "metadata.name",
        "duplicate name",
    ),
    Case(
        "object names are RFC 1123 subdomains",
        pool("ok-name.1", "10.0.0.0/24"),
        pool("Bad_Name", "10.0.0.0/24"),
        "metadata.name",
        "RFC 1123",
    ),
    Case(
        "name is required",
        pool("a", "10.0.0.0/24"),
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {}\n"
        "spec: {addresses: [10.0.0.0/24]}\n",
        "metadata.name",
        "is required",
    ),
    Case(
        "MetalLB objects live in the MetalLB namespace",
        pool("a", "10.0.0.0/24"),
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: a, namespace: other}\n"
        "spec: {addresses: [10.0.0.0/24]}\n",
        "metadata.namespace",
        "must be in namespace",
    ),
    Case("known kinds only", pool("a", "10.0.0.0/24"), obj("IPPool", "a", ""), "kind", "unsupported kind"),
    Case(
        "apiVersion per kind",
        peer("p", BASE_PEER, "v1beta1"),
        peer("p", BASE_PEER, "v1beta3"),
        "apiVersion",
        "BGPPeer is metallb.io/v1beta1 or metallb.io/v1beta2",
    ),
    Case(
        "unknown fields are errors",
        obj("BGPAdvertisement", "x", "nodeSelectors: []"),
        obj("BGPAdvertisement", "x", "nodeSelector: []"),
        "spec.nodeSelector",
        "unknown field",
    ),
    # --- pools
    Case(
        "addresses required",
        pool("a", "10.0.0.0/24"),
        obj("IPAddressPool", "a", ""),
        "spec.addresses",
        "is required",
    ),
    Case(
        "CIDR syntax v4",
        pool("a", "10.0.0.0/24"),
        pool("a", "10.0.0.0/33"),
        "spec.addresses[0]",
        "not a valid CIDR",
    ),
    Case(
        "CIDR syntax v6",
        pool("a", "fc00::/64"),
        pool("a", "fc00::/129"),
        "spec.addresses[0]",
        "not a valid CIDR",
    ),
    Case(
        "range start <= end",
        pool("a", "10.0.0.1-10.0.0.5"),
        pool("a", "10.0.0.5-10.0.0.1"),
        "spec.addresses[0]",
        "after end",
    ),
    Case(
        "range syntax v6",
        pool("a", "fc00::1-fc00::5"),
        pool("a", "fc00::1-fc00::zz"),
        "spec.addresses[0]",
        "not an IPv4 or IPv6 address",
    ),
    Case(
        "mixed-family range",
        pool("a", "10.0.0.1-10.0.0.2"),
        pool("a", "10.0.0.1-fc00::2"),
        "spec.addresses[0]",
        "same IP family",
    ),
    Case(
        "no overlap across pools",
        pool("a", "10.0.0.0/25") + pool("b", "10.0.0.128/25"),
        pool("a", "10.0.0.0/24") + pool("b", "10.0.0.200-10.0.0.210"),
        "spec.addresses[0]",
        "overlaps",
    ),
    Case(
        "no overlap within a pool",
        pool("a", "10.0.0.0/25", "10.0.0.128/25"),
        pool("a", "10.0.0.0/24", "10.0.0.5-10.0.0.9"),
        "spec.addresses[1]",
        "of the same pool",
    ),
    Case(
        "no duplicate address entries",
        pool("a", "10.0.0.0/25"),
        pool("a", "10.0.0.0/25", "10.0.0.0/25"),
        "spec.addresses[1]",
        "duplicate entry",
    ),
    Case(
        "autoAssign is boolean",
        pool("a", "10.0.0.0/24", extra=", autoAssign: false"),
        pool("a", "10.0.0.0/24", extra=", autoAssign: 'no'"),
        "spec.autoAssign",
        "true or false",
    ),
    Case(
        "serviceAllocation namespaces unique",
        pool("a", "10.0.0.0/24", extra=", serviceAllocation: {priority: 50, namespaces: [x, y]}"),
        pool("a", "10.0.0.0/24", extra=", serviceAllocation: {namespaces: [x, x]}"),
        "spec.serviceAllocation.namespaces[1]",
        "duplicate entry",
    ),
    Case(
        "serviceAllocation priority range",
        pool("a", "10.0.0.0/24", extra=", serviceAllocation: {priority: 0}"),
        pool("a", "10.0.0.0/24", extra=", serviceAllocation: {priority: -1}"),
        "spec.serviceAllocation.priority",
        "out of range",
    ),
    # --- legacy AddressPool
    Case(
        "legacy bgpAdvertisements need protocol bgp",
        obj(
            "AddressPool",
            "a",
            'protocol: bgp, addresses: ["10.0.0.0/24"], bgpAdvertisements: [{localPref: 100}]',
        ),
        obj(
            "AddressPool",
            "a",
            'protocol: layer2, addresses: ["10.0.0.0/24"], bgpAdvertisements: [{localPref: 100}]',
        ),
        "spec.bgpAdvertisements",
        "only allowed with protocol bgp",
    ),
    Case(
        "legacy protocol is layer2 or bgp",
        obj("AddressPool", "a", 'protocol: layer2, addresses: ["10.0.0.0/24"]'),
        obj("AddressPool", "a", 'protocol: ospf, addresses: ["10.0.0.0/24"]'),
        "spec.protocol",
        "layer2, bgp",
    ),
    Case(
        "legacy communities are 16-bit pairs",
        obj(
            "AddressPool",
            "a",
            'protocol: bgp, addresses: ["10.0.0.0/24"], bgpAdvertisements: [{communities: ["65535:65282"]}]',
        ),
        obj(
            "AddressPool",
            "a",
            'protocol: bgp, addresses: ["10.0.0.0/24"], bgpAdvertisements: [{communities: ["no-export"]}]',
        ),
        "spec.bgpAdvertisements[0].communities[0]",
        "only A:B",
    ),
    Case(
        "legacy aggregation vs CIDR",
        obj(
            "AddressPool",
            "a",
            'protocol: bgp, addresses: ["10.0.0.0/24"], bgpAdvertisements: [{aggregationLength: 24}]',
        ),
        obj(
            "AddressPool",
            "a",
            'protocol: bgp, addresses: ["10.0.0.0/24"], bgpAdvertisements: [{aggregationLength: 23}]',
        ),
        "spec.bgpAdvertisements[0].aggregationLength",
        "shorter than /24",
    ),
    # --- BGP peers
    Case(
        "myASN != 0",
        peer("p", BASE_PEER),
        peer("p", "peerAddress: 10.0.0.1, peerASN: 64501, myASN: 0"),
        "spec.myASN",
        "must not be 0",
    ),
    Case(
        "myASN required",
        peer("p", BASE_PEER),
        peer("p", "peerAddress: 10.0.0.1, peerASN: 64501"),
        "spec.myASN",
        "is required",
    ),
    Case(
        "v1beta2 ASN up to 2^32-1",
        peer("p", "peerAddress: 10.0.0.1, peerASN: 4294967295, myASN: 4200000000"),
        peer("p", "peerAddress: 10.0.0.1, peerASN: 4294967296, myASN: 64500"),
        "spec.peerASN",
        "out of range 0..4294967295",
    ),
    Case(
        "v1beta1 ASN up to 65535 (4.10 docs)",
        peer("p", BASE_PEER, "v1beta1"),
        peer("p", "peerAddress: 10.0.0.1, peerASN: 65536, myASN: 64500", "v1beta1"),
        "spec.peerASN",
        "0..65535",
    ),
    Case(
        "peerASN required",
        peer("p", BASE_PEER),
        peer("p", "peerAddress: 10.0.0.1, myASN: 64500"),
        "spec.peerASN",
        "is required",
    ),
    Case(
        "dynamicASN instead of peerASN",
        peer("p", "peerAddress: 10.0.0.1, dynamicASN: external, myASN: 64500"),
        peer("p", "peerAddress: 10.0.0.1, dynamicASN: external, peerASN: 1, myASN: 64500"),
        "spec.dynamicASN",
        "mutually exclusive",
    ),
    Case(
        "dynamicASN values",
        peer("p", "peerAddress: 10.0.0.1, dynamicASN: internal, myASN: 64500"),
        peer("p", "peerAddress: 10.0.0.1, dynamicASN: any, myASN: 64500"),
        "spec.dynamicASN",
        "internal, external",
    ),
    Case(
        "same myASN on every peer",
        peer("p", BASE_PEER) + peer("q", "peerAddress: 10.0.0.2, peerASN: 1, myASN: 64500"),
        peer("p", BASE_PEER) + peer("q", "peerAddress: 10.0.0.2, peerASN: 1, myASN: 64999"),
        "spec.myASN",
        "same myASN",
    ),
    Case(
        "myASN may differ per VRF (MetalLB FRR rule)",
        peer("p", BASE_PEER) + peer("q", "peerAddress: 10.0.0.2, peerASN: 1, myASN: 64999, vrf: red"),
        peer("p", BASE_PEER + ", vrf: red")
        + peer("q", "peerAddress: 10.0.0.2, peerASN: 1, myASN: 64999, vrf: red"),
        "spec.myASN",
        "same myASN",
    ),
    Case(
        "same routerID on every peer",
        peer("p", BASE_PEER + ", routerID: 10.10.10.10")
        + peer("q", "peerAddress: 10.0.0.2, peerASN: 1, myASN: 64500, routerID: 10.10.10.10"),
        peer("p", BASE_PEER + ", routerID: 10.10.10.10")
        + peer("q", "peerAddress: 10.0.0.2, peerASN: 1, myASN: 64500"),
        "spec.routerID",
        "same routerID",
    ),
    Case(
        "routerID is IPv4",
        peer("p", BASE_PEER + ", routerID: 10.10.10.10"),
        peer("p", BASE_PEER + ", routerID: 'fc00::1'"),
        "spec.routerID",
        "IPv4",
    ),
    Case(
        "peerAddress is an IP",
        peer("p", BASE_PEER),
        peer("p", "peerAddress: router1, peerASN: 64501, myASN: 64500"),
        "spec.peerAddress",
        "not an IPv4 or IPv6",
    ),
    Case(
        "peerAddress required",
        peer("p", BASE_PEER),
        peer("p", "peerASN: 64501, myASN: 64500"),
        "spec.peerAddress",
        "is required",
    ),
    Case(
        "peerAddress xor interface",
        peer("p", "interface: eth1, peerASN: 64501, myASN: 64500"),
        peer("p", BASE_PEER + ", interface: eth1"),
        "spec.interface",
        "mutually exclusive",
    ),
    Case(
        "unique peer address",
        peer("p", BASE_PEER) + peer("q", "peerAddress: 10.0.0.2, peerASN: 64501, myASN: 64500"),
        peer("p", BASE_PEER) + peer("q", "peerAddress: 10.0.0.1, peerASN: 64502, myASN: 64500"),
        "spec.peerAddress",
        "must be unique",
    ),
    Case(
        "same peer address allowed in another VRF",
        peer("p", BASE_PEER) + peer("q", "peerAddress: 10.0.0.1, peerASN: 64501, myASN: 64500, vrf: red"),
        peer("p", BASE_PEER + ", vrf: red")
        + peer("q", "peerAddress: 10.0.0.1, peerASN: 64501, myASN: 64500, vrf: red"),
        "spec.peerAddress",
        "must be unique",
    ),
    Case(
        "sourceAddress is IPv4 (seeds)",
        peer("p", BASE_PEER + ", sourceAddress: 10.0.0.9"),
        peer("p", BASE_PEER + ", sourceAddress: 'fc00::9'"),
        "spec.sourceAddress",
        "IPv4",
    ),
    Case(
        "peerPort 0..16384",
        peer("p", BASE_PEER + ", peerPort: 16384"),
        peer("p", BASE_PEER + ", peerPort: 16385"),
        "spec.peerPort",
        "0..16384",
    ),
    Case(
        "holdTime 0 or >= 3s",
        peer("p", BASE_PEER + ", holdTime: 3s"),
        peer("p", BASE_PEER + ", holdTime: 2s"),
        "spec.holdTime",
        "at least 3s",
    ),
    Case(
        "holdTime 0 allowed",
        peer("p", BASE_PEER + ", holdTime: '0s'"),
        peer("p", BASE_PEER + ", holdTime: 500ms"),
        "spec.holdTime",
        "at least 3s",
    ),
    Case(
        "holdTime is a Go duration",
        peer("p", BASE_PEER + ", holdTime: 1m30s"),
        peer("p", BASE_PEER + ", holdTime: 90"),
        "spec.holdTime",
        "duration string",
    ),
    Case(
        "holdTime rejects garbage",
        peer("p", BASE_PEER + ", holdTime: 5m30s"),
        peer("p", BASE_PEER + ", holdTime: 5 minutes"),
        "spec.holdTime",
        "invalid duration",
    ),
    Case(
        "keepaliveTime requires holdTime",
        peer("p", BASE_PEER + ", holdTime: 90s, keepaliveTime: 30s"),
        peer("p", BASE_PEER + ", keepaliveTime: 30s"),
        "spec.keepaliveTime",
        "requires holdTime",
    ),
    Case(
        "keepaliveTime < holdTime",
        peer("p", BASE_PEER + ", holdTime: 9s, keepaliveTime: 8s"),
        peer("p", BASE_PEER + ", holdTime: 9s, keepaliveTime: 9s"),
        "spec.keepaliveTime",
        "less than holdTime",
    ),
    Case(
        "connectTime whole seconds 1..65535",
        peer("p", BASE_PEER + ", connectTime: 5s"),
        peer("p", BASE_PEER + ", connectTime: 1500ms"),
        "spec.connectTime",
        "whole number of seconds",
    ),
    Case(
        "ebgpMultiHop only for eBGP",
        peer("p", BASE_PEER + ", ebgpMultiHop: true"),
        peer("p", "peerAddress: 10.0.0.1, peerASN: 64500, myASN: 64500, ebgpMultiHop: true"),
        "spec.ebgpMultiHop",
        "only applies to eBGP",
    ),
    Case(
        "password xor passwordSecret",
        peer("p", BASE_PEER + ", password: s3cret"),
        secret("s") + peer("p", BASE_PEER + ", password: s3cret, passwordSecret: {name: s}"),
        "spec.passwordSecret",
        "mutually exclusive",
    ),
    Case(
        "password has no line breaks",
        peer("p", BASE_PEER + ", password: s3cret"),
        peer("p", BASE_PEER + ', password: "a\\nb"'),
        "spec.password",
        "line breaks",
    ),
    Case(
        "passwordSecret must exist",
        secret("s") + peer("p", BASE_PEER + ", passwordSecret: {name: s}"),
        peer("p", BASE_PEER + ", passwordSecret: {name: s}"),
        "spec.passwordSecret.name",
        "does not exist",
    ),
    Case(
        "passwordSecret type basic-auth",
        secret("s") + peer("p", BASE_PEER + ", passwordSecret: {name: s}"),
        secret("s", "Opaque") + peer("p", BASE_PEER + ", passwordSecret: {name: s}"),
        "spec.passwordSecret.name",
        "kubernetes.io/basic-auth",
    ),
    Case(
        "passwordSecret has a password key",
        secret("s") + peer("p", BASE_PEER + ", passwordSecret: {name: s}"),
        secret("s", data="username: dXNlcg==") + peer("p", BASE_PEER + ", passwordSecret: {name: s}"),
        "spec.passwordSecret.name",
        "no 'password' key",
    ),
    Case(
        "passwordSecret in the MetalLB namespace",
        secret("s") + peer("p", BASE_PEER + f", passwordSecret: {{name: s, namespace: {NS}}}"),
        secret("s") + peer("p", BASE_PEER + ", passwordSecret: {name: s, namespace: default}"),
        "spec.passwordSecret.namespace",
        "MetalLB namespace",
    ),
    Case(
        "bfdProfile must exist",
        obj("BFDProfile", "b", "") + peer("p", BASE_PEER + ", bfdProfile: b"),
        peer("p", BASE_PEER + ", bfdProfile: b"),
        "spec.bfdProfile",
        "does not exist",
    ),
    # --- BFD profiles
    Case(
        "receiveInterval 10..60000",
        obj("BFDProfile", "b", "receiveInterval: 10"),
        obj("BFDProfile", "b", "receiveInterval: 9"),
        "spec.receiveInterval",
        "10..60000",
    ),
    Case(
        "transmitInterval 10..60000",
        obj("BFDProfile", "b", "transmitInterval: 60000"),
        obj("BFDProfile", "b", "transmitInterval: 60001"),
        "spec.transmitInterval",
        "10..60000",
    ),
    Case(
        "echoInterval 10..60000",
        obj("BFDProfile", "b", "echoInterval: 50"),
        obj("BFDProfile", "b", "echoInterval: 0"),
        "spec.echoInterval",
        "10..60000",
    ),
    Case(
        "detectMultiplier 2..255",
        obj("BFDProfile", "b", "detectMultiplier: 2"),
        obj("BFDProfile", "b", "detectMultiplier: 1"),
        "spec.detectMultiplier",
        "2..255",
    ),
    Case(
        "minimumTtl 1..254",
        obj("BFDProfile", "b", "minimumTtl: 254"),
        obj("BFDProfile", "b", "minimumTtl: 255"),
        "spec.minimumTtl",
        "1..254",
    ),
    Case(
        "BFD integers are integers",
        obj("BFDProfile", "b", "receiveInterval: 300"),
        obj("BFDProfile", "b", "receiveInterval: '300'"),
        "spec.receiveInterval",
        "must be an integer",
    ),
    Case(
        "no BFD echo on peers receiving IPv6 pools",
        pool("a", "fc00::/124")
        + obj("BFDProfile", "b", "echoMode: false")
        + peer("p", BASE_PEER + ", bfdProfile: b")
        + obj("BGPAdvertisement", "x", ""),
        pool("a", "fc00::/124")
        + obj("BFDProfile", "b", "echoMode: true")
        + peer("p", BASE_PEER + ", bfdProfile: b")
        + obj("BGPAdvertisement", "x", ""),
        "spec.peers",
        "echo mode is IPv4 only",
    ),
    # --- communities
    Case(
        "community A:B 16-bit halves",
        obj("BGPAdvertisement", "x", "communities: ['65535:65282']"),
        obj("BGPAdvertisement", "x", "communities: ['65536:1']"),
        "spec.communities[0]",
        "out of range 0..65535",
    ),
    Case(
        "large community 32-bit parts",
        obj("BGPAdvertisement", "x", "communities: ['large:4294967295:1:2']"),
        obj("BGPAdvertisement", "x", "communities: ['large:4294967296:1:2']"),
        "spec.communities[0]",
        "0..4294967295",
    ),
    Case(
        "community alias must exist",
        obj("Community", "c", "communities: [{name: NO_ADVERTISE, value: '65535:65282'}]")
        + obj("BGPAdvertisement", "x", "communities: [NO_ADVERTISE]"),
        obj("BGPAdvertisement", "x", "communities: [NO_ADVERTISE]"),
        "spec.communities[0]",
        "alias from a Community",
    ),
    Case(
        "well-known community names",
        obj("BGPAdvertisement", "x", "communities: [no-export, no-advertise]"),
        obj("BGPAdvertisement", "x", "communities: [no_export]"),
        "spec.communities[0]",
        "well-known name",
    ),
    Case(
        "alias names unique",
        obj("Community", "c", "communities: [{name: a, value: '1:1'}]")
        + obj("Community", "d", "communities: [{name: b, value: '1:1'}]"),
        obj("Community", "c", "communities: [{name: a, value: '1:1'}]")
        + obj("Community", "d", "communities: [{name: a, value: '1:2'}]"),
        "spec.communities[0].name",
        "already defined",
    ),
    Case(
        "alias values are literal communities",
        obj("Community", "c", "communities: [{name: a, value: 'large:1:2:3'}]"),
        obj("Community", "c", "communities: [{name: a, value: 'no-export'}]"),
        "spec.communities[0].value",
        "not A:B",
    ),
    Case(
        "no duplicate communities in an advertisement",
        obj("BGPAdvertisement", "x", "communities: ['1:1', '1:2']"),
        obj("BGPAdvertisement", "x", "communities: ['1:1', '1:1']"),
        "spec.communities[1]",
        "duplicate entry",
    ),
    # --- advertisements
    Case(
        "aggregationLength 1..32",
        obj("BGPAdvertisement", "x", "aggregationLength: 1"),
        obj("BGPAdvertisement", "x", "aggregationLength: 33"),
        "spec.aggregationLength",
        "1..32",
    ),
    Case(
        "aggregationLength >= 1",
        obj("BGPAdvertisement", "x", "aggregationLength: 32"),
        obj("BGPAdvertisement", "x", "aggregationLength: 0"),
        "spec.aggregationLength",
        "1..32",
    ),
    Case(
        "aggregationLengthV6 1..128",
        obj("BGPAdvertisement", "x", "aggregationLengthV6: 128"),
        obj("BGPAdvertisement", "x", "aggregationLengthV6: 129"),
        "spec.aggregationLengthV6",
        "1..128",
    ),
    Case(
        "aggregationLength not shorter than the pool's CIDRs",
        pool("a", "203.0.113.200/30") + obj("BGPAdvertisement", "x", "aggregationLength: 30"),
        pool("a", "203.0.113.200/30") + obj("BGPAdvertisement", "x", "aggregationLength: 29"),
        "spec.aggregationLength",
        "shorter than /30",
    ),
    Case(
        "aggregationLength vs range CIDRs (lowest mask of the range)",
        pool("a", "10.0.0.0-10.0.0.255") + obj("BGPAdvertisement", "x", "aggregationLength: 24"),
        pool("a", "10.0.0.1-10.0.0.255") + obj("BGPAdvertisement", "x", "aggregationLength: 24"),
        "spec.aggregationLength",
        "shorter than /25",
    ),
    Case(
        "aggregationLengthV6 not shorter than the pool's CIDRs",
        pool("a", "fc00:f853:ccd:e799::/124") + obj("BGPAdvertisement", "x", "aggregationLengthV6: 124"),
        pool("a", "fc00:f853:ccd:e799::/124") + obj("BGPAdvertisement", "x", "aggregationLengthV6: 120"),
        "spec.aggregationLengthV6",
        "shorter than /124",
    ),
    Case(
        "localPref agrees on a shared pool",
        pool("a", "10.0.0.0/24")
        + obj("BGPAdvertisement", "x", "localPref: 100")
        + obj("BGPAdvertisement", "y", "localPref: 100"),
        pool("a", "10.0.0.0/24")
        + obj("BGPAdvertisement", "x", "localPref: 100")
        + obj("BGPAdvertisement", "y", "localPref: 200"),
        "spec.localPref",
        "conflicts with localPref 100",
    ),
    Case(
        "localPref may differ with different aggregation",
        pool("a", "10.0.0.0/24")
        + obj("BGPAdvertisement", "x", "localPref: 100")
        + obj("BGPAdvertisement", "y", "localPref: 200, aggregationLength: 24"),
        pool("a", "10.0.0.0/24", "fc00::/64")
        + obj("BGPAdvertisement", "x", "localPref: 100")
        + obj("BGPAdvertisement", "y", "localPref: 200, aggregationLength: 24"),
        "spec.localPref",
        "conflicts",
    ),
    Case(
        "localPref may differ for disjoint peers",
        pool("a", "10.0.0.0/24")
        + obj("BGPAdvertisement", "x", "localPref: 100, peers: [p1]")
        + obj("BGPAdvertisement", "y", "localPref: 200, peers: [p2]"),
        pool("a", "10.0.0.0/24")
        + obj("BGPAdvertisement", "x", "localPref: 100, peers: [p1]")
        + obj("BGPAdvertisement", "y", "localPref: 200, peers: [p1, p2]"),
        "spec.localPref",
        "conflicts",
    ),
    Case(
        "localPref may differ for disjoint nodes",
        node("n1", "rack: a")
        + node("n2", "rack: b")
        + pool("a", "10.0.0.0/24")
        + obj("BGPAdvertisement", "x", "localPref: 100, nodeSelectors: [{matchLabels: {rack: a}}]")
        + obj("BGPAdvertisement", "y", "localPref: 200, nodeSelectors: [{matchLabels: {rack: b}}]"),
        node("n1", "rack: a")
        + node("n2", "rack: b")
        + pool("a", "10.0.0.0/24")
        + obj("BGPAdvertisement", "x", "localPref: 100, nodeSelectors: [{matchLabels: {rack: a}}]")
        + obj("BGPAdvertisement", "y", "localPref: 200"),
        "spec.localPref",
        "conflicts",
    ),
    Case(
        "localPref 0..2^32-1",
        obj("BGPAdvertisement", "x", "localPref: 4294967295"),
        obj("BGPAdvertisement", "x", "localPref: -1"),
        "spec.localPref",
        "out of range",
    ),
    Case(
        "no duplicate pool names in ipAddressPools",
        obj("L2Advertisement", "x", "ipAddressPools: [a, b]"),
        obj("L2Advertisement", "x", "ipAddressPools: [a, a]"),
        "spec.ipAddressPools[1]",
        "duplicate entry",
    ),
    Case(
        "no duplicate peers",
        obj("BGPAdvertisement", "x", "peers: [a, b]"),
        obj("BGPAdvertisement", "x", "peers: [a, a]"),
        "spec.peers[1]",
        "duplicate entry",
    ),
    Case(
        "L2 interfaces are interface names",
        obj("L2Advertisement", "x", "interfaces: [eth0, bond0.100]"),
        obj("L2Advertisement", "x", "interfaces: [this-name-is-too-long0]"),
        "spec.interfaces[0]",
        "interface name",
    ),
    # --- selectors
    Case(
        "selector operators",
        obj("L2Advertisement", "x", "nodeSelectors: [{matchExpressions: [{key: a, operator: Exists}]}]"),
        obj("L2Advertisement", "x", "nodeSelectors: [{matchExpressions: [{key: a, operator: Has}]}]"),
        "spec.nodeSelectors[0].matchExpressions[0].operator",
        "In, NotIn, Exists, DoesNotExist",
    ),
    Case(
        "In needs values",
        obj(
            "L2Advertisement",
            "x",
            "nodeSelectors: [{matchExpressions: [{key: a, operator: In, values: [b]}]}]",
        ),
        obj("L2Advertisement", "x", "nodeSelectors: [{matchExpressions: [{key: a, operator: In}]}]"),
        "spec.nodeSelectors[0].matchExpressions[0].values",
        "must be non-empty",
    ),
    Case(
        "NotIn needs values",
        obj(
            "L2Advertisement",
            "x",
            "nodeSelectors: [{matchExpressions: [{key: a, operator: NotIn, values: [b]}]}]",
        ),
        obj(
            "L2Advertisement",
            "x",
            "nodeSelectors: [{matchExpressions: [{key: a, operator: NotIn, values: []}]}]",
        ),
        "spec.nodeSelectors[0].matchExpressions[0].values",
        "must be non-empty",
    ),
    Case(
        "Exists takes no values",
        obj(
            "L2Advertisement", "x", "nodeSelectors: [{matchExpressions: [{key: a, operator: DoesNotExist}]}]"
        ),
        obj(
            "L2Advertisement",
            "x",
            "nodeSelectors: [{matchExpressions: [{key: a, operator: Exists, values: [b]}]}]",
        ),
        "spec.nodeSelectors[0].matchExpressions[0].values",
        "must be empty",
    ),
    Case(
        "label keys well formed",
        obj("L2Advertisement", "x", "nodeSelectors: [{matchLabels: {kubernetes.io/hostname: n1}}]"),
        obj("L2Advertisement", "x", "nodeSelectors: [{matchLabels: {'bad key': n1}}]"),
        "spec.nodeSelectors[0].matchLabels.bad key",
        "label key",
    ),
    Case(
        "label values well formed",
        obj("L2Advertisement", "x", "ipAddressPoolSelectors: [{matchLabels: {zone: east}}]"),
        obj("L2Advertisement", "x", "ipAddressPoolSelectors: [{matchLabels: {zone: '-east'}}]"),
        "spec.ipAddressPoolSelectors[0].matchLabels.zone",
        "label value",
    ),
    Case(
        "no duplicate selectors",
        obj("L2Advertisement", "x", "nodeSelectors: [{matchLabels: {a: b}}, {matchLabels: {a: c}}]"),
        obj("L2Advertisement", "x", "nodeSelectors: [{matchLabels: {a: b}}, {matchLabels: {a: b}}]"),
        "spec.nodeSelectors[1]",
        "duplicate selector",
    ),
    Case(
        "selector fields known",
        obj("L2Advertisement", "x", "nodeSelectors: [{matchLabels: {a: b}}]"),
        obj("L2Advertisement", "x", "nodeSelectors: [{matchLabel: {a: b}}]"),
        "spec.nodeSelectors[0].matchLabel",
        "unknown field",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rule_passes(case: Case) -> None:
    result = parse(case.good)
    assert result.errors == (), [str(e) for e in result.errors]
    assert result.config is not None


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rule_fails(case: Case) -> None:
    result = parse(case.bad)
    assert result.config is None
    hit = find(result.errors, case.field, case.fragment)
    assert hit is not None, [f"{e.field}: {e.message}" for e in result.errors]
    assert hit.source.startswith("test.yaml#")
