"""A validating admission webhook for the metallb.io kinds that reuses lbd's configuration validation.

The API server sends an `admission.k8s.io/v1` AdmissionReview for each create, update or delete of a
metallb.io object; lbd answers whether the configuration *with that change applied* is valid, so a
mistake is refused at `kubectl apply` time instead of being rejected whole later (fail static). The
set is the one the watch loop parses (`KubeSources.config_documents`), with the object replaced,
added or removed, plus the Secrets the resulting BGPPeers name.

Only errors the change introduces deny it: when the configuration in the cluster is already invalid,
a change that fixes or leaves alone the existing errors is allowed, so the webhook never blocks the
way out of a broken state. The webhook needs TLS (the API server calls it over HTTPS); serve it with
`lbd kube --webhook-port 9443 --webhook-cert-dir DIR` (`tls.crt`, `tls.key`) and register it with a
ValidatingWebhookConfiguration whose CA bundle signs that certificate (docs/kubernetes.md).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from lbd.config import parse_objects
from lbd.kube.sources import referenced_secrets
from lbd.kube.store import Obj

log = structlog.get_logger("lbd.kube.webhook")

ADMISSION = "admission.k8s.io/v1"
PATH = "/validate-metallb-io"

# (config documents without secrets, secrets of the namespace by name)
DocumentSource = Callable[[], tuple[list[Obj], dict[str, Obj]]]


def _identity(obj: Obj) -> tuple[str, str]:
    return (str(obj.get("kind")), str((obj.get("metadata") or {}).get("name")))


def _errors(docs: Sequence[Obj], secrets: dict[str, Obj], namespace: str) -> list[str]:
    peers = [d for d in docs if d.get("kind") == "BGPPeer"]
    wanted = [secrets[n] for n in sorted(referenced_secrets(peers)) if n in secrets]
    result = parse_objects([*docs, *wanted], source="admission", namespace=namespace)
    return [str(e) for e in result.errors]


def review(body: Any, documents: Sequence[Obj], secrets: dict[str, Obj], namespace: str) -> Obj:
    """The AdmissionReview answer to `body` given the current configuration `documents`."""
    request = body.get("request") if isinstance(body, dict) else None
    if not isinstance(request, dict):
        return _answer("", False, "not an AdmissionReview request", 400)
    uid = str(request.get("uid", ""))
    operation = request.get("operation")
    new = request.get("object") if operation in ("CREATE", "UPDATE") else None
    old = request.get("oldObject")
    changed = new if isinstance(new, dict) else old
    if not isinstance(changed, dict):
        return _answer(uid, False, "the request carries no object", 400)
    key = _identity(changed)
    current = [d for d in documents if d.get("kind") != "Secret"]
    candidate = [d for d in current if _identity(d) != key]
    if isinstance(new, dict):
        candidate.append(new)
    before = set(_errors(current, secrets, namespace))
    introduced = [e for e in _errors(candidate, secrets, namespace) if e not in before]
    if introduced:
        log.info("admission denied", kind=key[0], name=key[1], operation=operation, errors=introduced)
        return _answer(uid, False, "; ".join(introduced), 422)
    return _answer(uid, True)


def _answer(uid: str, allowed: bool, message: str = "", code: int = 200) -> Obj:
    response: Obj = {"uid": uid, "allowed": allowed}
    if not allowed:
        response["status"] = {"code": code, "message": message, "reason": "Invalid"}
    return {"apiVersion": ADMISSION, "kind": "AdmissionReview", "response": response}


def application(source: DocumentSource, namespace: str) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response(_answer("", False, "the body is not JSON", 400))
        documents, secrets = source()
        return web.json_response(review(body, documents, secrets, namespace))

    app = web.Application()
    app.router.add_post(PATH, handle)
    return app


async def start_webhook(
    source: DocumentSource, namespace: str, host: str, port: int, cert_dir: str | None
) -> web.AppRunner:
    """Serve the webhook; HTTPS with `cert_dir`/tls.crt and tls.key (plain HTTP without, for tests)."""
    context: ssl.SSLContext | None = None
    if cert_dir is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(Path(cert_dir) / "tls.crt", Path(cert_dir) / "tls.key")
    runner = web.AppRunner(application(source, namespace), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, ssl_context=context).start()
    return runner
