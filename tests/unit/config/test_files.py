"""The file layer: YAML streams, JSON documents, directories, and the errors that name the file."""

from __future__ import annotations

import json
from pathlib import Path

from lbd.config import load_paths

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
