"""FileCache: a reload parses the files that changed and reuses the others' objects as they were."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lbd.config import FileCache, load_paths

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
