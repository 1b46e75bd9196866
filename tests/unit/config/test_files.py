"""The file layer: YAML streams, JSON documents, directories, and the errors that name the file."""

from __future__ import annotations

import json
from pathlib import Path

from lbd.config import load_paths, parse_objects

POOL = {
    "apiVersion": "metallb.io/v1beta1",
    "kind": "IPAddressPool",
    "metadata": {"name": "p", "namespace": "metallb-system"},
    "spec": {"addresses": ["192.0.2.0/28"]},
}
SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
}


def test_a_json_list_and_a_yaml_stream_give_the_same_config(tmp_path: Path) -> None:
    as_json = tmp_path / "json" / "all.json"
    as_json.parent.mkdir()
    as_json.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [POOL, SERVICE]}))
    as_yaml = tmp_path / "yaml" / "all.yaml"
    as_yaml.parent.mkdir()
    as_yaml.write_text("---\n".join(json.dumps(doc) + "\n" for doc in (POOL, SERVICE)))
    from_json, from_yaml = load_paths([as_json.parent]), load_paths([as_yaml])
    assert not from_json.errors and not from_yaml.errors
    assert from_json.config == from_yaml.config
    assert from_json.world.services == from_yaml.world.services
    assert list(from_json.world.services) == ["default/web"]


def test_broken_files_are_reported_with_their_line(tmp_path: Path) -> None:
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("kind: IPAddressPool\nspec:\n\taddresses: []\n")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"kind": "IPAddressPool",\n,}')
    result = load_paths([bad_yaml, bad_json])
    assert result.config is None
    messages = {(e.name, e.field, e.message.split(":")[0]) for e in result.errors}
    assert (str(bad_yaml), "line 3", "invalid YAML") in messages  # a tab cannot indent YAML
    assert (str(bad_json), "line 2", "invalid JSON") in messages


LISTED = [POOL, SERVICE, None, 5, {**SERVICE, "metadata": {"name": "web"}}]
JSON_TEXTS = [
    json.dumps({"apiVersion": "v1", "kind": "List", "items": LISTED}),
    json.dumps({"apiVersion": "v1", "kind": "List", "items": LISTED}, indent=2),
    json.dumps({"items": LISTED, "kind": "List"}),  # kind after items: read whole
    json.dumps({"kind": "ServiceList", "items": [SERVICE], "metadata": {"resourceVersion": "7"}}),
    json.dumps({"kind": "List", "items": []}),
    json.dumps({"kind": "List", "items": 5}),
    json.dumps({"kind": 5, "items": [SERVICE]}),
    json.dumps(LISTED),
    json.dumps(SERVICE),
    '{"kind": "List", "items": [{"apiVersion": "v1"}], "items": [' + json.dumps(SERVICE) + "]}",
    '{"kind": "List", "items": [' + json.dumps(POOL) + ",]}",
    '{"kind": "List", "items": [' + json.dumps(POOL) + "],}",
    '{"kind": "List", "items": [' + json.dumps(POOL) + ',\n{"kind": x}]}',
    '{"kind": "List", "items": [' + json.dumps(POOL) + "]} []",
    '{"kind": "List", "items": [' + json.dumps(POOL) + "]",
    '{"kind": "List", "items": [' + json.dumps(POOL) + "] \n\t}\n",
    '\ufeff{"kind": "List", "items": []}',
    "",
]


def test_a_streamed_json_list_reads_as_json_loads_would(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    for text in JSON_TEXTS:
        path.write_text(text)
        result = load_paths([path])
        try:
            body = json.loads(text)
        except json.JSONDecodeError as exc:
            assert [(e.field, e.message) for e in result.errors] == [
                (f"line {exc.lineno}", f"invalid JSON: {exc.msg}")
            ], text
            continue
        expected = parse_objects([body], str(path))
        assert (result.errors, result.warnings, result.config) == (
            expected.errors,
            expected.warnings,
            expected.config,
        ), text
        assert result.world == expected.world, text
