"""The emulator's selector and patch logic on their own."""

from __future__ import annotations

from typing import Any

import pytest

from tests.kube_emulator.patch import PatchError, json_patch, merge_patch, strategic_merge_patch
from tests.kube_emulator.selectors import SelectorError, field_selector, label_selector


def _obj(**labels: str) -> dict[str, Any]:
    return {"metadata": {"name": "x", "namespace": "ns", "labels": labels}, "spec": {"nodeName": "n1"}}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", True),
        ("app==web", True),
        ("app!=web", False),
        ("app in (db, web)", True),
        ("app notin (db,web)", False),
        ("app", True),
        ("!app", False),
        ("app=web,tier in (a,b)", False),
        ("missing!=x", True),
        ("", True),
    ],
)
def test_label_selector(selector: str, expected: bool) -> None:
    assert label_selector(selector)(_obj(app="web")) is expected


def test_field_selector() -> None:
    obj = _obj()
    assert field_selector("metadata.name=x,metadata.namespace==ns")(obj)
    assert field_selector("spec.nodeName=n1")(obj)
    assert not field_selector("spec.nodeName!=n1")(obj)
    assert field_selector("spec.missing=")(obj)
    with pytest.raises(SelectorError):
        field_selector("nonsense")
    with pytest.raises(SelectorError):
        label_selector("a=(b")


def test_merge_patch_rfc7386_example() -> None:
    # RFC 7386 §3
    target = {"title": "Goodbye!", "author": {"givenName": "John", "familyName": "Doe"}, "tags": ["example"]}
    patch = {"title": "Hello!", "author": {"familyName": None}, "tags": ["sample"], "phone": "+01"}
    assert merge_patch(target, patch) == {
        "title": "Hello!",
        "author": {"givenName": "John"},
        "tags": ["sample"],
        "phone": "+01",
    }


def test_strategic_merge_patch() -> None:
    target = {"conditions": [{"type": "Ready", "status": "False"}], "other": [1, 2], "m": {"a": 1}}
    patch = {
        "conditions": [{"type": "Ready", "status": "True"}, {"type": "New", "status": "True"}],
        "other": [3],
        "m": {"$patch": "replace", "b": 2},
    }
    assert strategic_merge_patch(target, patch) == {
        "conditions": [{"type": "Ready", "status": "True"}, {"type": "New", "status": "True"}],
        "other": [3],
        "m": {"b": 2},
    }
    deleted = strategic_merge_patch(target, {"conditions": [{"type": "Ready", "$patch": "delete"}]})
    assert deleted["conditions"] == []
    with pytest.raises(PatchError):
        strategic_merge_patch(target, {"conditions": [{"status": "x"}]})


def test_json_patch_rfc6902() -> None:
    doc = {"a": {"b": [1, 2]}, "c": "d"}
    ops = [
        {"op": "add", "path": "/a/b/1", "value": 9},
        {"op": "add", "path": "/a/b/-", "value": 3},
        {"op": "remove", "path": "/c"},
        {"op": "copy", "from": "/a/b", "path": "/copy"},
        {"op": "move", "from": "/copy", "path": "/moved"},
        {"op": "replace", "path": "/a/b/0", "value": 0},
        {"op": "test", "path": "/moved/1", "value": 9},
        {"op": "add", "path": "/x~1y", "value": True},
    ]
    assert json_patch(doc, ops) == {"a": {"b": [0, 9, 2, 3]}, "moved": [1, 9, 2, 3], "x/y": True}
    assert doc == {"a": {"b": [1, 2]}, "c": "d"}
    with pytest.raises(PatchError) as failed:
        json_patch(doc, [{"op": "test", "path": "/c", "value": "e"}])
    assert failed.value.status == 422
    with pytest.raises(PatchError) as bad:
        json_patch(doc, {"op": "add"})
    assert bad.value.status == 400
    with pytest.raises(PatchError):
        json_patch(doc, [{"op": "remove", "path": "/nope"}])
