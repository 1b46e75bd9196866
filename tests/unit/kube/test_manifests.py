"""deploy/: every manifest parses and validates against the Kubernetes JSON schemas (kubernetes-validate,
strict: unknown fields are errors); the CRDs accept MetalLB's documented examples and refuse values out
of range; the RBAC grants exactly what `lbd kube` watches and writes."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from lbd.kube.resources import METALLB_GROUP
from lbd.kube.runner import KubeOptions, watch_targets

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
SEEDS = ROOT / "examples" / "config" / "seeds"
K8S_VERSION = "1.30"
Obj = dict[str, Any]


def _docs(path: Path) -> list[Obj]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


MANIFESTS = sorted(p for p in DEPLOY.glob("*.yaml") if p.name != "kustomization.yaml")
ALL_DOCS = [(p.name, d) for p in MANIFESTS for d in _docs(p)]


def _crds() -> dict[tuple[str, str], Obj]:
    """(apiVersion, kind) -> openAPIV3Schema."""
    out: dict[tuple[str, str], Obj] = {}
    for doc in _docs(DEPLOY / "crds.yaml"):
        spec = doc["spec"]
        for version in spec["versions"]:
            out[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = version["schema"][
                "openAPIV3Schema"
            ]
    return out


CRDS = _crds()


@pytest.mark.parametrize(
    ("name", "doc"), ALL_DOCS, ids=[f"{n}:{d['kind']}/{d['metadata']['name']}" for n, d in ALL_DOCS]
)
def test_manifest_is_valid_for_kubernetes(name: str, doc: Obj) -> None:
    assert kubernetes_validate.validate(doc, K8S_VERSION, strict=True) == K8S_VERSION


def test_strict_validation_catches_a_typo() -> None:
    # The check above can fail: a misspelt field in a DaemonSet is refused.
    (daemonset,) = _docs(DEPLOY / "speaker.yaml")
    broken = copy.deepcopy(daemonset)
    broken["spec"]["template"]["spec"]["hostNetwork"] = "yes"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)
    broken = copy.deepcopy(daemonset)
    broken["spec"]["template"]["spec"]["hostNetworking"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    (kustomization,) = _docs(DEPLOY / "kustomization.yaml")
    assert sorted(kustomization["resources"]) == [p.name for p in MANIFESTS]


def test_crds_are_generated_from_gen_crds() -> None:
    spec = importlib.util.spec_from_file_location("gen_crds", DEPLOY / "gen_crds.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (DEPLOY / "crds.yaml").read_text() == module.render(), "run python deploy/gen_crds.py"


def test_every_kind_lbd_uses_has_a_crd() -> None:
    kinds = {kind for (_, kind) in CRDS}
    assert kinds == {
        "IPAddressPool",
        "L2Advertisement",
        "BGPAdvertisement",
        "BFDProfile",
        "Community",
        "BGPPeer",
        "AddressPool",
        "ServiceL2Status",
        "ServiceBGPStatus",
    }
    assert ("metallb.io/v1beta1", "BGPPeer") in CRDS and ("metallb.io/v1beta2", "BGPPeer") in CRDS
    for doc in _docs(DEPLOY / "crds.yaml"):
        assert sum(v["storage"] for v in doc["spec"]["versions"]) == 1


def _validator(api_version: str, kind: str) -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(CRDS[(api_version, kind)], format_checker=jsonschema.FormatChecker())


SEED_DOCS = [
    (p.name, d)
    for p in sorted(SEEDS.glob("*.yaml"))
    for d in _docs(p)
    if isinstance(d, dict) and (d.get("apiVersion", ""), d.get("kind")) in CRDS
]


@pytest.mark.parametrize(("name", "doc"), SEED_DOCS, ids=[f"{n}:{d['kind']}" for n, d in SEED_DOCS])
def test_crd_schema_accepts_the_documented_examples(name: str, doc: Obj) -> None:
    errors = [e.message for e in _validator(doc["apiVersion"], doc["kind"]).iter_errors(doc)]
    assert errors == []


def test_seed_examples_cover_every_configuration_kind() -> None:
    kinds = {d["kind"] for _, d in SEED_DOCS}
    assert {"IPAddressPool", "L2Advertisement", "BGPAdvertisement", "BFDProfile", "BGPPeer"} <= kinds


@pytest.mark.parametrize(
    ("api_version", "kind", "spec", "where"),
    [
        ("metallb.io/v1beta1", "IPAddressPool", {"addresses": ["not-an-address"]}, "pattern"),
        ("metallb.io/v1beta1", "IPAddressPool", {"addresses": []}, "minItems"),
        ("metallb.io/v1beta1", "IPAddressPool", {"autoAssign": True}, "required"),
        ("metallb.io/v1beta1", "BFDProfile", {"receiveInterval": 5}, "minimum"),
        ("metallb.io/v1beta1", "BFDProfile", {"detectMultiplier": 256}, "maximum"),
        ("metallb.io/v1beta1", "BGPAdvertisement", {"aggregationLength": 33}, "maximum"),
        ("metallb.io/v1beta1", "BGPAdvertisement", {"localPref": -1}, "minimum"),
        ("metallb.io/v1beta2", "BGPPeer", {"myASN": 4294967296}, "maximum"),
        ("metallb.io/v1beta2", "BGPPeer", {"myASN": 1, "peerPort": 0}, "minimum"),
        ("metallb.io/v1beta2", "BGPPeer", {"myASN": 1, "holdTime": "90"}, "pattern"),
        ("metallb.io/v1beta2", "BGPPeer", {"myASN": 1, "dynamicASN": "both"}, "enum"),
        ("metallb.io/v1beta2", "BGPPeer", {"myASN": 1, "routerID": "10.0.0"}, "format"),
        ("metallb.io/v1beta1", "BGPPeer", {"myASN": 1, "peerAddress": "192.0.2.1"}, "required"),
        ("metallb.io/v1beta1", "AddressPool", {"protocol": "ospf", "addresses": ["192.0.2.0/24"]}, "enum"),
        (
            "metallb.io/v1beta1",
            "L2Advertisement",
            {"nodeSelectors": [{"matchExpressions": [{"key": "a", "operator": "Is"}]}]},
            "enum",
        ),
    ],
)
def test_crd_schema_refuses_values_out_of_range(api_version: str, kind: str, spec: Obj, where: str) -> None:
    doc = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}, "spec": spec}
    errors = list(_validator(api_version, kind).iter_errors(doc))
    assert [e.validator for e in errors] == [where]


def test_speaker_runs_with_host_network_and_three_capabilities() -> None:
    (daemonset,) = _docs(DEPLOY / "speaker.yaml")
    pod = daemonset["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True
    (container,) = pod["containers"]
    caps = container["securityContext"]["capabilities"]
    assert caps == {"drop": ["ALL"], "add": ["NET_RAW", "NET_ADMIN", "NET_BIND_SERVICE"]}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    for knob in ("nodeSelector", "tolerations", "priorityClassName", "affinity"):
        assert knob in pod
    assert "resources" in container
    # The label the speakers' liveness watch selects on (lbd kube --speaker-selector's default).
    assert daemonset["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] == "speaker"
    assert {e["name"] for e in container["env"]} >= {"NODE_NAME", "METALLB_NAMESPACE"}


# ---- RBAC: exactly what the roles do


def _writes(role: str) -> set[tuple[str, str, str, str | None]]:
    """(group, resource, verb, namespace or None for cluster-wide) each role writes (see lbd.kube)."""
    if role == "controller":
        return {
            ("", "services", "get", None),  # re-read on 409
            ("", "services", "update", None),
            ("", "services/status", "update", None),
            ("", "events", "create", None),
            ("", "events", "patch", None),
            ("coordination.k8s.io", "leases", "get", "metallb-system"),
            ("coordination.k8s.io", "leases", "create", "metallb-system"),
            ("coordination.k8s.io", "leases", "update", "metallb-system"),
        }
    out = {("", "events", "create", None), ("", "events", "patch", None)}
    for resource in ("servicel2statuses", "servicebgpstatuses"):
        for verb in ("get", "create", "update", "delete"):
            out.add((METALLB_GROUP, resource, verb, "metallb-system"))
        out.add((METALLB_GROUP, f"{resource}/status", "update", "metallb-system"))
    return out


def _needed(role: str) -> set[tuple[str, str, str, str | None]]:
    options = KubeOptions(controller=role == "controller", speaker=role == "speaker", node="n1")
    needed = set(_writes(role))
    for target in watch_targets(options):
        for verb in ("list", "watch"):
            needed.add((target.kind.group, target.kind.plural, verb, target.namespace))
    return needed


def _granted(role: str) -> set[tuple[str, str, str, str | None]]:
    granted: set[tuple[str, str, str, str | None]] = set()
    for doc in _docs(DEPLOY / "rbac.yaml"):
        if doc["kind"] == "ClusterRole" and doc["metadata"]["name"] == f"lbd:{role}":
            namespace = None
        elif doc["kind"] == "Role" and doc["metadata"]["name"] == role:
            namespace = doc["metadata"]["namespace"]
        else:
            continue
        for rule in doc["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        granted.add((group, resource, verb, namespace))
    return granted


@pytest.mark.parametrize("role", ["controller", "speaker"])
def test_rbac_grants_exactly_what_the_role_uses(role: str) -> None:
    assert _granted(role) == _needed(role)


def test_role_bindings_tie_each_service_account_to_its_roles() -> None:
    bindings = [d for d in _docs(DEPLOY / "rbac.yaml") if d["kind"].endswith("Binding")]
    pairs = {(b["roleRef"]["name"], s["name"]) for b in bindings for s in b["subjects"]}
    assert pairs == {
        ("lbd:controller", "controller"),
        ("controller", "controller"),
        ("lbd:speaker", "speaker"),
        ("speaker", "speaker"),
    }
    for kind, name in (("Deployment", "controller.yaml"), ("DaemonSet", "speaker.yaml")):
        (workload,) = _docs(DEPLOY / name)
        assert workload["kind"] == kind
        assert workload["spec"]["template"]["spec"]["serviceAccountName"] == name.split(".")[0]


async def test_emulator_enforces_the_crd_schemas(api_client: Any) -> None:
    from kubernetes_asyncio import client

    custom = client.CustomObjectsApi(api_client)
    bad = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "BFDProfile",
        "metadata": {"name": "slow", "namespace": "metallb-system"},
        "spec": {"receiveInterval": 5},
    }
    with pytest.raises(client.ApiException) as refused:
        await custom.create_namespaced_custom_object(
            "metallb.io", "v1beta1", "metallb-system", "bfdprofiles", bad
        )
    assert refused.value.status == 422
    assert "spec.receiveInterval" in str(refused.value.body)
    bad["spec"] = {"receiveInterval": 10}
    await custom.create_namespaced_custom_object(
        "metallb.io", "v1beta1", "metallb-system", "bfdprofiles", bad
    )


# ---- the webhook overlay (deploy/webhook/)

WEBHOOK = DEPLOY / "webhook"


def _merge_container(base: Obj, patch: Obj) -> Obj:
    """The strategic merge kubectl does for this patch: containers by name (args replaced, ports and
    volumeMounts appended), volumes appended."""
    merged = copy.deepcopy(base)
    pod, extra = merged["spec"]["template"]["spec"], patch["spec"]["template"]["spec"]
    for change in extra["containers"]:
        (container,) = [c for c in pod["containers"] if c["name"] == change["name"]]
        container["args"] = change["args"]
        for key in ("ports", "volumeMounts"):
            container[key] = container.get(key, []) + change.get(key, [])
    pod["volumes"] = pod.get("volumes", []) + extra.get("volumes", [])
    return merged


def test_webhook_overlay_is_valid_and_consistent() -> None:
    from lbd.kube.resources import METALLB_KINDS
    from lbd.kube.webhook import PATH

    (kustomization,) = _docs(WEBHOOK / "kustomization.yaml")
    for resource in [*kustomization["resources"], *(p["path"] for p in kustomization["patches"])]:
        assert (WEBHOOK / resource).exists()
    service, config = _docs(WEBHOOK / "webhook.yaml")
    for doc in (service, config):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    for doc in _docs(WEBHOOK / "certificate.yaml"):
        # cert-manager's kinds: no Kubernetes schema to check them against (said, not skipped silently).
        with pytest.raises(kubernetes_validate.SchemaNotFoundError):
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)

    (base,) = _docs(DEPLOY / "controller.yaml")
    (patch,) = _docs(WEBHOOK / "controller-webhook.yaml")
    merged = _merge_container(base, patch)
    kubernetes_validate.validate(merged, K8S_VERSION, strict=True)
    (container,) = merged["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    port = int(args[args.index("--webhook-port") + 1])
    cert_dir = args[args.index("--webhook-cert-dir") + 1]
    assert {"name": "webhook", "containerPort": port, "protocol": "TCP"} in container["ports"]
    assert any(m["mountPath"] == cert_dir for m in container["volumeMounts"])

    (hook,) = config["webhooks"]
    assert hook["clientConfig"]["service"]["path"] == PATH
    assert hook["clientConfig"]["service"]["name"] == service["metadata"]["name"]
    assert service["spec"]["ports"][0]["targetPort"] == "webhook"
    assert service["spec"]["selector"].items() <= base["spec"]["template"]["metadata"]["labels"].items()
    (rule,) = hook["rules"]
    assert sorted(rule["resources"]) == sorted(k.plural for k in METALLB_KINDS)
