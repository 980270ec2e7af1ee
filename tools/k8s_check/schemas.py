"""Offline schema validation of rendered manifests.

Built-in kinds are validated against the Kubernetes OpenAPI schemas that the
``kubernetes-validate`` package ships (its *strict* variant: unknown fields are errors,
as with ``kubectl apply --validate=strict``). Custom resources are validated against the
``openAPIV3Schema`` of the CRDs vendored in ``tools/k8s_check/crds``, made strict the
same way the API server's strict field validation is: an object schema that lists its
properties and does not say ``x-kubernetes-preserve-unknown-fields`` accepts no others.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource

CRD_DIR = Path(__file__).resolve().parent / "crds"
#: libyaml's safe loader when PyYAML has it (the CRDs are ~1 MB of YAML), else the pure one.
YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class NoSchemaError(LookupError):
    """Neither Kubernetes nor a vendored CRD defines this apiVersion/kind."""


def _schema_dir(version: str) -> Path:
    import kubernetes_validate.utils as kv

    root = Path(kv.__file__).resolve().parent / "kubernetes-json-schema"
    # The newest schema set not newer than the wanted minor version (as the package does).
    wanted = tuple(int(x) for x in version.split(".")[:2])
    available = sorted(
        (tuple(int(x) for x in p.name[1:].split("-")[0].split(".")[:2]), p)
        for p in root.iterdir()
        if p.name.startswith("v") and p.name.endswith("-local-strict")
    )
    chosen = [p for v, p in available if v <= wanted]
    if not chosen:
        raise ValueError(f"kubernetes-validate has no schemas for Kubernetes {version}")
    return chosen[-1]


@functools.cache
def _definitions(version: str) -> tuple[Path, Registry]:
    directory = _schema_dir(version)
    defs = json.loads((directory / "_definitions.json").read_text())
    return directory, Resource.from_contents(defs) @ Registry()


@functools.cache
def _builtin_validator(version: str, kind: str, api_version: str) -> jsonschema.Validator | None:
    directory, registry = _definitions(version)
    # rbac.authorization.k8s.io/v1 -> rbac-v1, apps/v1 -> apps-v1, v1 -> v1
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = directory / f"{kind.lower()}-{group_version}.json"
    if not path.exists():
        return None
    schema = json.loads(path.read_text())
    return jsonschema.Draft202012Validator(
        schema, registry=Resource.from_contents(schema) @ registry
    )


def _strict(schema: Any) -> Any:
    """A copy of a CRD structural schema that rejects unknown fields and honours nullable."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if out.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


@functools.lru_cache(maxsize=1)
def _crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """``(apiVersion, kind) -> strict openAPIV3Schema`` of every vendored CRD."""
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(CRD_DIR.rglob("*.yaml")):
        for crd in yaml.load_all(path.read_text(), Loader=YamlLoader):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group = crd["spec"]["group"]
            kind = crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if not version.get("served", True):
                    continue
                schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
                # ObjectMeta is the API server's business (checked by _metadata_errors).
                if "metadata" in schema.get("properties", {}):
                    schema["properties"]["metadata"] = {"type": "object"}
                schemas[(f"{group}/{version['name']}", kind)] = _strict(schema)
    return schemas


@functools.cache
def _crd_validator(api_version: str, kind: str) -> jsonschema.Validator | None:
    schema = _crd_schemas().get((api_version, kind))
    if schema is None:
        return None
    # OpenAPI v3.0 schemas follow JSON Schema draft 4 semantics.
    return jsonschema.Draft4Validator(schema)


def crd_kinds() -> set[tuple[str, str]]:
    """Every (apiVersion, kind) a vendored CRD serves."""
    return set(_crd_schemas())


def _metadata_errors(doc: dict[str, Any]) -> Iterator[str]:
    meta = doc.get("metadata") or {}
    name = meta.get("name", "")
    if not name:
        yield "metadata.name: missing"
    elif len(name) > 253 or not _NAME.match(name):
        yield f"metadata.name: {name!r} is not a lower-case DNS name"
    for field in ("labels", "annotations"):
        for key, value in (meta.get(field) or {}).items():
            if not isinstance(value, str):
                yield f"metadata.{field}.{key}: {value!r} is not a string"


def _format(error: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path) or "(root)"
    message = error.message if len(error.message) < 300 else error.message[:300] + "..."
    return f"{path}: {message}"


#: Verdicts by manifest content: unchanged manifests are validated once per process.
_VERDICTS: dict[tuple[str, tuple[str, ...]], list[str] | NoSchemaError] = {}


def validate(doc: dict[str, Any], kubernetes_versions: list[str]) -> list[str]:
    """Every schema error of one manifest (empty when it is valid)."""
    key = (json.dumps(doc, sort_keys=True, default=str), tuple(kubernetes_versions))
    if key not in _VERDICTS:
        try:
            _VERDICTS[key] = _validate(doc, kubernetes_versions)
        except NoSchemaError as exc:
            _VERDICTS[key] = exc
    verdict = _VERDICTS[key]
    if isinstance(verdict, NoSchemaError):
        raise verdict
    return list(verdict)


def _validate(doc: dict[str, Any], kubernetes_versions: list[str]) -> list[str]:
    api_version, kind = doc.get("apiVersion", ""), doc.get("kind", "")
    errors = list(_metadata_errors(doc))
    crd = _crd_validator(api_version, kind)
    if crd is not None:
        errors += [_format(e) for e in crd.iter_errors(doc)]
        return errors
    found = False
    for version in kubernetes_versions:
        validator = _builtin_validator(version, kind, api_version)
        if validator is None:
            continue
        found = True
        errors += [f"[k8s {version}] {_format(e)}" for e in validator.iter_errors(doc)]
    if not found:
        raise NoSchemaError(f"no schema for {api_version} {kind} (Kubernetes or vendored CRD)")
    missing = [v for v in kubernetes_versions if _builtin_validator(v, kind, api_version) is None]
    errors += [f"[k8s {v}] {api_version} {kind} is not served" for v in missing]
    return errors
