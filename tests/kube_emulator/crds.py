"""CustomResourceDefinition schemas as emulator validators: writes of a custom resource that its CRD's
openAPIV3Schema refuses fail with 422, as on a real API server (structural pruning and CEL rules are not
emulated). `KubeEmulator.install_crds(docs)` installs them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jsonschema

Obj = dict[str, Any]


def _path(error: jsonschema.ValidationError) -> str:
    out = ""
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<root>"


class CrdValidator:
    """Validates objects of one kind against the schema of their version (the storage version's when
    the object does not say)."""

    def __init__(self, schemas: dict[str, Obj], storage: str) -> None:
        self._validators = {
            version: jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())
            for version, schema in schemas.items()
        }
        self._storage = storage

    def __call__(self, obj: Obj) -> list[str]:
        version = str(obj.get("apiVersion", "")).rpartition("/")[2]
        validator = self._validators.get(version, self._validators[self._storage])
        return [
            f"{_path(e)}: Invalid value: {e.instance!r}: {e.message}"
            for e in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
        ]


def crd_validators(docs: Iterable[Obj]) -> dict[tuple[str, str], CrdValidator]:
    """(group, kind) -> validator, for every CustomResourceDefinition in `docs`."""
    out: dict[tuple[str, str], CrdValidator] = {}
    for doc in docs:
        if doc.get("kind") != "CustomResourceDefinition":
            continue
        spec = doc["spec"]
        schemas = {v["name"]: v["schema"]["openAPIV3Schema"] for v in spec["versions"]}
        storage = next(v["name"] for v in spec["versions"] if v.get("storage"))
        out[(spec["group"], spec["names"]["kind"])] = CrdValidator(schemas, storage)
    return out
