"""The event-built YAML documents equal `yaml.load_all`'s, or the reader steps aside (`Unusual`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from lbd.config import load_paths, parse_objects
from lbd.config.yaml_events import LOADER, Unusual, documents

ROOT = Path(__file__).resolve().parents[3]

# Plain configuration YAML: read by events, never handed back.
PLAIN = [
    "a: 1\nb: [1, 2.5, -3, 0x1F, 0o17, 1_000, 1:30]\nc: {d: e}\n",
    "t: [yes, No, on, OFF, true, False, y, n]\nn: [~, null, Null, '']\nempty:\n",
    "f: [.inf, -.Inf, .nan, 1e3, 6.8523015e+5, 190:20:30.15, .5]\n",
    "ts: [2001-12-14t21:59:43.10-05:00, 2002-12-14, 2001-12-14 21:59:43.10 -5]\n",
    "q: ['80', \"0x10\", '<<', \"yes\", 'a: b']\nk: |\n  line one\n  line two\n",
    'k: >-\n  folded\n  text\n# a comment\nx: "\\u00e9t\\u00e9"\n',
    "---\n---\n# only a comment\n---\na: 1\n...\n---\nb: 2\n",
    "1: one\n2.5: two-and-a-half\ntrue: yes\n~: nothing\n'quoted': 3\n",
    "dup: 1\ndup: 2\nother: 3\n",
    "s: !!str 123\ni: !!int '7'\nf: !!float '3'\nb: !!bool 'true'\nbin: !!binary aGVsbG8=\n",
    "m: !!map {a: 1}\nl: !!seq [1]\nbang: ! 12\n",
    "- [a, [b, [c, [d]]]]\n- {x: {y: {z: {}}}}\n- []\n",
    "",
    "plain\n",
    "--- 5\n--- 'text'\n--- [1]\n",
]
# YAML left to PyYAML: the reader must say so instead of guessing.
UNUSUAL = [
    "a: &x {b: 1}\nc: *x\n",
    "base: &b {x: 1}\nderived:\n  <<: *b\n  y: 2\n",
    "? [a, b]\n: c\n",
    "s: !!set {a, b}\n",
    "o: !!omap [{a: 1}, {b: 2}]\n",
    "p: !!pairs [{a: 1}]\n",
    "i: !!int 'not a number'\n",
    "s: &anchor text\n",
]
# Broken YAML: the same error either way.
BROKEN = ["a: [1, 2\n", "a: b: c\n", "kind: x\nspec:\n\taddresses: []\n", "- a\nb: c\n", "a: 'unterminated\n"]


@pytest.mark.parametrize("text", PLAIN)
def test_plain_yaml_is_read_from_events_as_load_all_reads_it(text: str) -> None:
    assert list(documents(text)) == list(yaml.load_all(text, Loader=LOADER))


@pytest.mark.parametrize("text", UNUSUAL)
def test_other_yaml_is_handed_back(text: str) -> None:
    with pytest.raises(Unusual):
        list(documents(text))


@pytest.mark.parametrize("text", BROKEN)
def test_broken_yaml_fails_as_load_all_fails(text: str) -> None:
    with pytest.raises(yaml.YAMLError) as ours:
        list(documents(text))
    with pytest.raises(yaml.YAMLError) as theirs:
        list(yaml.load_all(text, Loader=LOADER))
    assert str(ours.value) == str(theirs.value)


def test_every_yaml_file_of_the_repository_reads_the_same() -> None:
    listed = subprocess.run(
        ["git", "ls-files", "*.yaml", "*.yml"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    files = [ROOT / name for name in listed.stdout.split()]
    assert len(files) > 50
    handed_back = []
    for path in files:
        text = path.read_text()
        try:
            ours = list(documents(text))
        except Unusual:
            handed_back.append(path.name)
            continue
        assert ours == list(yaml.load_all(text, Loader=LOADER)), path
    assert len(handed_back) <= len(files) // 10, handed_back


def test_a_file_with_anchors_loads_through_pyyaml(tmp_path: Path) -> None:
    text = """
apiVersion: v1
kind: Service
metadata: {name: a}
spec: {type: LoadBalancer, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: b, labels: &labels {app: web}}
spec: {type: LoadBalancer, ports: [{port: 80}], selector: *labels}
"""
    path = tmp_path / "anchors.yaml"
    path.write_text(text)
    result = load_paths([path])
    expected = parse_objects(yaml.load_all(text, Loader=LOADER), str(path))
    assert result == expected
    assert dict(result.world.services["default/b"].selector) == {"app": "web"}
