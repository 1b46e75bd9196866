"""Writes deploy/crds.yaml: the metallb.io CustomResourceDefinitions lbd reads and writes.

The schemas accept what MetalLB's CRDs accept (same groups, versions, kinds and field names, so existing
MetalLB objects apply unchanged) and check ranges and formats in the API server, before lbd sees an
object. Cross-object rules (overlapping pools, unknown references) stay in lbd's validation, which
rejects a bad set whole. Run `python deploy/gen_crds.py` after a change; a test checks the file is
up to date.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

Schema = dict[str, Any]

GROUP = "metallb.io"
U32_MAX = 4294967295
# Go durations as MetalLB's fields take them: "90s", "1m30s", "500ms".
DURATION = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"
# A CIDR or a range "first-last" (spaces around the dash allowed), IPv4 or IPv6; lbd checks the rest.
ADDRESS_BLOCK = r"^[0-9A-Fa-f:.]+(/[0-9]{1,3}|\s*-\s*[0-9A-Fa-f:.]+)$"
IP = r"^[0-9A-Fa-f:.]+$"


def string(**extra: Any) -> Schema:
    return {"type": "string", **extra}


def integer(minimum: int, maximum: int, **extra: Any) -> Schema:
    return {"type": "integer", "format": "int64", "minimum": minimum, "maximum": maximum, **extra}


def boolean(**extra: Any) -> Schema:
    return {"type": "boolean", **extra}


def strings(**item: Any) -> Schema:
    return {"type": "array", "items": string(**item)}


def obj(properties: Schema, required: tuple[str, ...] = (), **extra: Any) -> Schema:
    out: Schema = {"type": "object", "properties": properties, **extra}
    if required:
        out["required"] = list(required)
    return out


def label_selector() -> Schema:
    requirement = obj(
        {
            "key": string(minLength=1),
            "operator": string(enum=["In", "NotIn", "Exists", "DoesNotExist"]),
            "values": strings(),
        },
        ("key", "operator"),
    )
    return obj(
        {
            "matchLabels": {"type": "object", "additionalProperties": string()},
            "matchExpressions": {"type": "array", "items": requirement},
        },
        **{"x-kubernetes-map-type": "atomic"},
    )


def selectors() -> Schema:
    return {"type": "array", "items": label_selector()}


def top(spec: Schema, status: Schema | None = None, description: str = "") -> Schema:
    properties: Schema = {
        "apiVersion": string(),
        "kind": string(),
        "metadata": {"type": "object"},
        "spec": spec,
    }
    properties["status"] = status if status is not None else {"type": "object"}
    return {"type": "object", "description": description, "properties": properties}


def version(
    name: str,
    schema: Schema,
    *,
    storage: bool = True,
    columns: tuple[tuple[str, str], ...] = (),
    deprecated: str | None = None,
) -> Schema:
    out: Schema = {
        "name": name,
        "served": True,
        "storage": storage,
        "schema": {"openAPIV3Schema": schema},
        "subresources": {"status": {}},
    }
    if columns:
        out["additionalPrinterColumns"] = [
            {"name": title, "type": "string", "jsonPath": path} for title, path in columns
        ]
    if deprecated:
        out["deprecated"] = True
        out["deprecationWarning"] = deprecated
    return out


def crd(kind: str, plural: str, versions: list[Schema], short: tuple[str, ...] = ()) -> Schema:
    names: Schema = {"kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": kind.lower()}
    if short:
        names["shortNames"] = list(short)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}", "labels": {"app.kubernetes.io/name": "lbd"}},
        "spec": {"group": GROUP, "names": names, "scope": "Namespaced", "versions": versions},
    }


def ip_address_pool() -> Schema:
    allocation = obj(
        {
            "priority": integer(0, 2**31 - 1),
            "namespaces": strings(),
            "namespaceSelectors": selectors(),
            "serviceSelectors": selectors(),
        }
    )
    spec = obj(
        {
            "addresses": {"type": "array", "minItems": 1, "items": string(pattern=ADDRESS_BLOCK)},
            "autoAssign": boolean(default=True),
            "avoidBuggyIPs": boolean(default=False),
            "serviceAllocation": allocation,
        },
        ("addresses",),
    )
    status = obj(
        {
            "assignedIPv4": integer(0, 2**63 - 1),
            "assignedIPv6": integer(0, 2**63 - 1),
            "availableIPv4": integer(0, 2**63 - 1),
            "availableIPv6": integer(0, 2**63 - 1),
        }
    )
    columns = (("Auto Assign", ".spec.autoAssign"), ("Avoid Buggy IPs", ".spec.avoidBuggyIPs"))
    schema = top(spec, status, "A pool of addresses for LoadBalancer Services.")
    return crd("IPAddressPool", "ipaddresspools", [version("v1beta1", schema, columns=columns)])


def l2_advertisement() -> Schema:
    spec = obj(
        {
            "ipAddressPools": strings(),
            "ipAddressPoolSelectors": selectors(),
            "nodeSelectors": selectors(),
            "interfaces": strings(minLength=1),
        }
    )
    schema = top(spec, None, "Announce the addresses of some pools with ARP/NDP from some nodes.")
    columns = (("IPAddressPools", ".spec.ipAddressPools"), ("Node Selectors", ".spec.nodeSelectors"))
    return crd("L2Advertisement", "l2advertisements", [version("v1beta1", schema, columns=columns)])


def _bgp_attributes() -> Schema:
    return {
        "aggregationLength": integer(0, 32, default=32),
        "aggregationLengthV6": integer(0, 128, default=128),
        "localPref": integer(0, U32_MAX),
        "communities": strings(minLength=1),
    }


def bgp_advertisement() -> Schema:
    spec = obj(
        {
            **_bgp_attributes(),
            "ipAddressPools": strings(),
            "ipAddressPoolSelectors": selectors(),
            "nodeSelectors": selectors(),
            "peers": strings(),
        }
    )
    schema = top(spec, None, "Announce the addresses of some pools to BGP peers from some nodes.")
    columns = (("IPAddressPools", ".spec.ipAddressPools"), ("Peers", ".spec.peers"))
    return crd("BGPAdvertisement", "bgpadvertisements", [version("v1beta1", schema, columns=columns)])


def bfd_profile() -> Schema:
    spec = obj(
        {
            "receiveInterval": integer(10, 60000),
            "transmitInterval": integer(10, 60000),
            "detectMultiplier": integer(2, 255),
            "echoInterval": integer(10, 60000),
            "echoMode": boolean(),
            "passiveMode": boolean(),
            "minimumTtl": integer(1, 254),
        }
    )
    schema = top(spec, None, "Timers and modes of the BFD sessions of the BGP peers using it.")
    columns = (("Passive Mode", ".spec.passiveMode"), ("Echo Mode", ".spec.echoMode"))
    return crd("BFDProfile", "bfdprofiles", [version("v1beta1", schema, columns=columns)])


def community() -> Schema:
    alias = obj({"name": string(minLength=1), "value": string(minLength=1)}, ("name", "value"))
    spec = obj({"communities": {"type": "array", "items": alias}})
    schema = top(spec, None, "Names for BGP community values, usable in BGPAdvertisements.")
    return crd("Community", "communities", [version("v1beta1", schema)])


def _peer_fields(v2: bool) -> Schema:
    fields: Schema = {
        "myASN": integer(0, U32_MAX),
        "peerASN": integer(0, U32_MAX),
        "peerAddress": string(pattern=IP),
        "sourceAddress": string(pattern=IP),
        "peerPort": integer(1 if v2 else 0, 16384, **({"default": 179} if v2 else {})),
        "holdTime": string(pattern=DURATION),
        "keepaliveTime": string(pattern=DURATION),
        "routerID": string(format="ipv4"),
        "nodeSelectors": selectors(),
        "password": string(),
        "bfdProfile": string(),
        "ebgpMultiHop": boolean(),
    }
    if v2:
        fields.update(
            {
                "dynamicASN": string(enum=["internal", "external"]),
                "interface": string(),
                "connectTime": string(pattern=DURATION),
                "passwordSecret": obj(
                    {"name": string(), "namespace": string()}, **{"x-kubernetes-map-type": "atomic"}
                ),
                "enableGracefulRestart": boolean(),
                "vrf": string(),
                "disableMP": boolean(default=False),
                "dualStackAddressFamily": boolean(default=False),
            }
        )
    return fields


def bgp_peer() -> Schema:
    columns = (
        ("Address", ".spec.peerAddress"),
        ("ASN", ".spec.peerASN"),
        ("BFD Profile", ".spec.bfdProfile"),
        ("Multi Hops", ".spec.ebgpMultiHop"),
    )
    v1 = top(
        obj(_peer_fields(False), ("myASN", "peerASN", "peerAddress")),
        None,
        "A BGP neighbour (v1beta1: served for old manifests, stored as v1beta2).",
    )
    v2 = top(obj(_peer_fields(True), ("myASN",)), None, "A BGP neighbour of the speakers.")
    return crd(
        "BGPPeer",
        "bgppeers",
        [
            version(
                "v1beta1",
                v1,
                storage=False,
                columns=columns,
                deprecated="metallb.io/v1beta1 BGPPeer is deprecated, use v1beta2",
            ),
            version("v1beta2", v2, columns=columns),
        ],
    )


def address_pool() -> Schema:
    advertisement = obj(_bgp_attributes())
    spec = obj(
        {
            "protocol": string(enum=["layer2", "bgp"]),
            "addresses": {"type": "array", "minItems": 1, "items": string(pattern=ADDRESS_BLOCK)},
            "autoAssign": boolean(default=True),
            "avoidBuggyIPs": boolean(default=False),
            "bgpAdvertisements": {"type": "array", "items": advertisement},
        },
        ("protocol", "addresses"),
    )
    columns = (("Protocol", ".spec.protocol"), ("Auto Assign", ".spec.autoAssign"))
    description = "Legacy pool with its advertisement (MetalLB before IPAddressPool); still read."
    return crd(
        "AddressPool",
        "addresspools",
        [
            version("v1alpha1", top(spec, None, description), storage=False, columns=columns),
            version("v1beta1", top(spec, None, description), columns=columns),
        ],
    )


def _status_kind(kind: str, plural: str, extra: Schema, description: str) -> Schema:
    status = obj(
        {"node": string(), "serviceName": string(), "serviceNamespace": string(), **extra},
    )
    columns = (
        ("Node", ".status.node"),
        ("Service Name", ".status.serviceName"),
        ("Service Namespace", ".status.serviceNamespace"),
    )
    schema = top({"type": "object"}, status, description)
    return crd(kind, plural, [version("v1beta1", schema, columns=columns)])


def service_l2_status() -> Schema:
    interfaces = {"type": "array", "items": obj({"name": string()})}
    return _status_kind(
        "ServiceL2Status",
        "servicel2statuses",
        {"interfaces": interfaces},
        "Written by a speaker: it answers ARP/NDP for the Service on these interfaces.",
    )


def service_bgp_status() -> Schema:
    return _status_kind(
        "ServiceBGPStatus",
        "servicebgpstatuses",
        {"peers": strings()},
        "Written by a speaker: it advertises the Service to these BGPPeers.",
    )


def all_crds() -> list[Schema]:
    return [
        ip_address_pool(),
        l2_advertisement(),
        bgp_advertisement(),
        bfd_profile(),
        community(),
        bgp_peer(),
        address_pool(),
        service_l2_status(),
        service_bgp_status(),
    ]


HEADER = "# Generated by deploy/gen_crds.py; edit that file and run it again.\n"


def render() -> str:
    return HEADER + yaml.safe_dump_all(all_crds(), sort_keys=False, allow_unicode=True, width=110)


def main() -> None:
    target = Path(__file__).with_name("crds.yaml")
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}", file=sys.stderr)


if __name__ == "__main__":
    main()
