"""The validating admission webhook: decisions with lbd's validation, and the HTTP endpoint."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp

from lbd.kube.webhook import PATH, review, start_webhook
from tests.unit.kube.objects import NS, bgp_adv, peer, pool

Obj = dict[str, Any]


def _request(operation: str, obj: Obj | None = None, old: Obj | None = None) -> Obj:
    request: Obj = {"uid": "u-1", "operation": operation}
    if obj is not None:
        request["object"] = obj
    if old is not None:
        request["oldObject"] = old
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def _decide(body: Obj, docs: list[Obj], secrets: dict[str, Obj] | None = None) -> Obj:
    answer = review(body, docs, secrets or {}, NS)
    assert answer["apiVersion"] == "admission.k8s.io/v1" and answer["kind"] == "AdmissionReview"
    response: Obj = answer["response"]
    return response


def _bfd(name: str) -> Obj:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "BFDProfile",
        "metadata": {"name": name, "namespace": NS},
    }


def test_overlapping_pool_is_denied_a_separate_one_allowed() -> None:
    docs = [pool("blue", "198.51.100.0/28")]
    denied = _decide(_request("CREATE", pool("green", "198.51.100.8/29")), docs)
    assert denied["uid"] == "u-1" and denied["allowed"] is False
    assert denied["status"]["code"] == 422 and "overlap" in denied["status"]["message"]
    allowed = _decide(_request("CREATE", pool("green", "198.51.100.64/29")), docs)
    assert allowed == {"uid": "u-1", "allowed": True}


def test_update_replaces_the_old_version() -> None:
    docs = [pool("blue", "198.51.100.0/28")]
    # The same pool growing is not an overlap with itself.
    grown = pool("blue", "198.51.100.0/27")
    assert _decide(_request("UPDATE", grown, docs[0]), docs)["allowed"] is True


def test_deleting_a_profile_in_use_is_denied() -> None:
    docs = [_bfd("fast"), peer("frr", "192.0.2.1", bfdProfile="fast")]
    answer = _decide(_request("DELETE", old=docs[0]), docs)
    assert answer["allowed"] is False and "BFDProfile 'fast' does not exist" in answer["status"]["message"]
    assert _decide(_request("DELETE", old=docs[1]), docs)["allowed"] is True


def test_a_peer_naming_a_new_secret_is_checked_against_the_namespace_secrets() -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "auth", "namespace": NS},
        "type": "kubernetes.io/basic-auth",
        "data": {"password": base64.b64encode(b"pw").decode()},
    }
    with_secret = peer("frr", "192.0.2.1", passwordSecret={"name": "auth"})
    assert _decide(_request("CREATE", with_secret), [], {"auth": secret})["allowed"] is True
    missing = peer("frr", "192.0.2.1", passwordSecret={"name": "nope"})
    assert _decide(_request("CREATE", missing), [], {"auth": secret})["allowed"] is False


def test_existing_errors_do_not_block_other_changes() -> None:
    # The cluster is already broken (two overlapping pools); an unrelated change still goes through,
    # and so does the fix.
    docs = [pool("a", "198.51.100.0/28"), pool("b", "198.51.100.0/29")]
    assert _decide(_request("CREATE", bgp_adv("adv")), docs)["allowed"] is True
    assert _decide(_request("DELETE", old=docs[1]), docs)["allowed"] is True


def test_malformed_reviews_are_refused() -> None:
    assert _decide({"kind": "AdmissionReview"}, [])["allowed"] is False
    assert _decide(_request("CREATE"), [])["status"]["code"] == 400


async def test_webhook_over_http(unused_tcp_port: int) -> None:
    docs = [pool("blue", "198.51.100.0/28")]
    runner = await start_webhook(lambda: (docs, {}), NS, "127.0.0.1", unused_tcp_port, None)
    try:
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{unused_tcp_port}{PATH}"
            async with session.post(url, json=_request("CREATE", pool("g", "198.51.100.1/32"))) as resp:
                assert resp.status == 200
                assert (await resp.json())["response"]["allowed"] is False
            async with session.post(url, data=b"{not json") as resp:
                assert (await resp.json())["response"]["allowed"] is False
    finally:
        await runner.cleanup()
