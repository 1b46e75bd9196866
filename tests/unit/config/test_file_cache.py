"""FileCache: a reload parses the files that changed and reuses the others' objects as they were."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from lbd.config import FileCache, load_paths, parse, yaml_split

POOL = {
    "apiVersion": "metallb.io/v1beta1",
    "kind": "IPAddressPool",
    "metadata": {"name": "p", "namespace": "metallb-system"},
    "spec": {"addresses": ["192.0.2.0/28"]},
}


def service(name: str, ip: str = "192.0.2.1") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "annotations": {"metallb.universe.tf/loadBalancerIPs": ip}},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
    }


def write(path: Path, *docs: object) -> None:
    """Write and move the mtime on, so a rewrite within the clock's resolution still counts as one."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text("---\n".join(json.dumps(d) + "\n" for d in docs))
    os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


def test_a_reload_parses_only_the_changed_file_and_keeps_the_other_objects(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", POOL, service("a1"), service("a2"))
    write(tmp_path / "b.yaml", service("b1"))
    cache = FileCache()
    first = cache.load([tmp_path])
    assert first.errors == () and first.config is not None
    assert cache.parsed == (tmp_path / "a.yaml", tmp_path / "b.yaml")

    again = cache.load([tmp_path])
    assert cache.parsed == ()
    assert all(again.world.services[k] is v for k, v in first.world.services.items())
    assert again.config == first.config

    write(tmp_path / "b.yaml", service("b1", "192.0.2.2"))
    changed = cache.load([tmp_path])
    assert cache.parsed == (tmp_path / "b.yaml",)
    old, new = first.world.services, changed.world.services
    assert new["default/a1"] is old["default/a1"] and new["default/a2"] is old["default/a2"]
    assert new["default/b1"].annotations["metallb.universe.tf/loadBalancerIPs"] == "192.0.2.2"
    assert changed == load_paths([tmp_path])


def test_errors_are_reported_on_every_load_until_fixed(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", POOL, service("web"))
    bad = tmp_path / "b.yaml"
    bad.write_text("kind: Service\nspec:\n\tports: []\n")
    cache = FileCache()
    for _ in range(2):
        result = cache.load([tmp_path])
        assert result.config is None
        assert [(e.name, e.field) for e in result.errors] == [(str(bad), "line 3")]
        assert "default/web" in result.world.services
    assert cache.parsed == ()

    # The cross-object rules run over every file, cached or not: a duplicate across files is found.
    write(bad, service("web"))
    result = cache.load([tmp_path])
    assert cache.parsed == (bad,)
    assert [(e.name, e.field, e.source) for e in result.errors] == [
        ("default/web", "metadata.name", f"{bad}#1")
    ]
    assert f"({tmp_path / 'a.yaml'}#2)" in result.errors[0].message

    write(bad, service("other"))
    result = cache.load([tmp_path])
    assert result.errors == () and result.config is not None


def test_a_deleted_file_takes_its_objects_along(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", POOL)
    write(tmp_path / "b.yaml", service("b1"), service("b2"))
    cache = FileCache()
    assert set(cache.load([tmp_path]).world.services) == {"default/b1", "default/b2"}
    (tmp_path / "b.yaml").unlink()
    result = cache.load([tmp_path])
    assert cache.parsed == ()
    assert dict(result.world.services) == {}
    # Recreated with the same name: parsed again, not taken from a forgotten entry.
    write(tmp_path / "b.yaml", service("b3"))
    assert set(cache.load([tmp_path]).world.services) == {"default/b3"}
    assert cache.parsed == (tmp_path / "b.yaml",)


def test_a_list_item_error_names_its_item_after_a_reload(tmp_path: Path) -> None:
    listed = tmp_path / "all.json"
    items = [POOL, service("a"), service("a")]
    listed.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    cache = FileCache()
    for _ in range(2):
        errors = cache.load([tmp_path]).errors
        assert [(e.name, e.source) for e in errors] == [("default/a", f"{listed}#1 items[2]")]
        assert f"({listed}#1 items[1])" in errors[0].message


def yaml_text(*docs: object, head: str = "") -> str:
    return head + "".join("---\n" + json.dumps(d) + "\n" for d in docs)


def test_a_yaml_stream_reload_parses_the_changed_documents_only(tmp_path: Path, monkeypatch: Any) -> None:
    path = tmp_path / "all.yaml"
    docs: list[object] = [POOL, *(service(f"s{i}", f"192.0.2.{i}") for i in range(8))]
    write_text(path, yaml_text(*docs, head="# generated\n"))
    cache = FileCache()
    first = cache.load([tmp_path])
    assert first.errors == ()

    parsed_alone: list[str] = []
    real = yaml_split._bodies
    monkeypatch.setattr(yaml_split, "_bodies", lambda doc: parsed_alone.append(doc) or real(doc))
    docs[3] = service("s2", "192.0.2.99")
    write_text(path, yaml_text(*docs, head="# generated\n"))
    second = cache.load([tmp_path])
    # The pool is not a Service document: it is always parsed again; so is the edited one.
    assert len(parsed_alone) == 2 and "192.0.2.99" in parsed_alone[1]
    assert second == load_paths([tmp_path])
    changed = {k for k, v in second.world.services.items() if first.world.services.get(k) is not v}
    assert changed == {"default/s2"}


def test_yaml_stream_edits_give_what_a_fresh_load_gives(tmp_path: Path) -> None:
    path = tmp_path / "all.yaml"
    base: list[object] = [POOL, *(service(f"s{i}", f"192.0.2.{i}") for i in range(6))]
    edits = [
        yaml_text(*base),
        yaml_text(*base[:3], service("new", "192.0.2.14"), *base[3:]),  # inserted: numbers shift
        yaml_text(*base[:2], {"kind": "Service", "apiVersion": "v1", "metadata": {}}, *base[2:]),
        yaml_text(*base, base[1]),  # a repeated document: a duplicate name
        yaml_text(*base[:4]) + "---\nkind: [broken\n",  # a YAML error: its line counts from the top
        yaml_text(*base[:4]),
        "%YAML 1.1\n" + yaml_text(*base),  # a directive: parsed whole
        yaml_text(*base[:3]) + "...\n" + yaml_text(*base[3:]),  # an end marker: parsed whole
        "# only a comment\n" + yaml_text(*base[1:]) + "---\n",
        json.dumps(POOL) + "\n" + yaml_text(*base[1:]),  # a first document without a marker
        yaml_text(*base[:2]) + "---\nbody: &a {x: 1}\nother: *a\n" + yaml_text(*base[2:]),
        yaml_text(*reversed(base)),
        yaml_text(*base).replace("\n", "\r\n"),  # CRLF line ends
        yaml_text(*base[:2]) + "--- |\n  a block\n---\n" + yaml_text(*base[2:]),  # a text document
    ]
    cache = FileCache()
    for text in edits:
        write_text(path, text)
        result = cache.load([tmp_path])
        assert cache.parsed == (path,)
        assert result == load_paths([tmp_path]), text


def write_text(path: Path, text: str) -> None:
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


def test_a_rewrite_keeping_size_and_mtime_is_still_seen(tmp_path: Path) -> None:
    # (a chmod, or a tool restoring the mtime: only the ctime tells)
    path = tmp_path / "a.yaml"
    write(path, service("web", "192.0.2.1"))
    cache = FileCache()
    assert cache.load([path]).errors == ()
    before = path.stat()
    time.sleep(0.01)
    path.write_text(path.read_text().replace("192.0.2.1", "192.0.2.2"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    services = cache.load([path]).world.services
    assert services["default/web"].annotations["metallb.universe.tf/loadBalancerIPs"] == "192.0.2.2"


def list_text(items: list[object], **extra: object) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items, **extra})


def test_a_json_list_reload_reads_the_changed_items_only(tmp_path: Path, monkeypatch: Any) -> None:
    path = tmp_path / "all.json"
    items: list[object] = [POOL, *(service(f"s{i}", f"192.0.2.{i}") for i in range(8))]
    write_text(path, list_text(items))
    cache = FileCache()
    first = cache.load([tmp_path])
    assert first.errors == ()

    read: list[str] = []
    real = parse.quick_service
    monkeypatch.setattr(
        parse, "quick_service", lambda body: read.append(body["metadata"]["name"]) or real(body)
    )
    items[3] = service("s2", "192.0.2.99")
    write_text(path, list_text(items))
    second = cache.load([tmp_path])
    assert read == ["s2"]
    assert second == load_paths([tmp_path])
    changed = {k for k, v in second.world.services.items() if first.world.services.get(k) is not v}
    assert changed == {"default/s2"}


def test_json_list_edits_give_what_a_fresh_load_gives(tmp_path: Path) -> None:
    path = tmp_path / "all.json"
    base: list[object] = [POOL, *(service(f"s{i}", f"192.0.2.{i}") for i in range(6))]
    edits = [
        list_text(base),
        list_text([*base[:3], service("new", "192.0.2.14"), *base[3:]]),  # inserted: items shift
        list_text([*base[:2], {"kind": "Service", "apiVersion": "v1", "metadata": {}}, *base[2:]]),
        list_text([*base, base[1]]),  # a repeated item: a duplicate name
        list_text(base)[:-3],  # broken JSON
        json.dumps({"items": base, "kind": "List"}),  # kind after items: read whole
        list_text(list(reversed(base))),
        json.dumps({"apiVersion": "v1", "kind": "List", "items": base}, indent=2),
        list_text(base[1:]),
    ]
    cache = FileCache()
    for text in edits:
        write_text(path, text)
        result = cache.load([tmp_path])
        assert cache.parsed == (path,)
        assert result == load_paths([tmp_path]), text
