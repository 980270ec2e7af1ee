"""No breaking change of the HTTP APIs against the last release (issue 21, item 8).

``tests/contract/published/openapi/<service>.json`` are identity's and linking's documents
as release 0.1.0 published them (never regenerate them; add the next release's beside
them). Today's documents (``shared/contracts/openapi``) must still serve a client written
against them:

- every operation (path + method) is still there;
- no parameter and no request-body field became required;
- every 2xx answer is still there, with every field it had (at any depth).

Adding operations, optional fields and answer fields is fine; so is documenting errors.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from shared.runtime.cli import OPENAPI_DIR

PUBLISHED = Path(__file__).resolve().parent / "published" / "openapi"
METHODS = {"get", "put", "post", "patch", "delete"}


def _resolve(doc: dict[str, Any], schema: dict[str, Any] | None) -> dict[str, Any]:
    """The schema behind ``$ref``, with the object alternatives of anyOf/oneOf/allOf
    merged (FastAPI writes ``X | None`` as anyOf)."""
    schema = schema or {}
    seen = 0
    while "$ref" in schema and seen < 50:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = doc["components"]["schemas"][name]
        seen += 1
    parts = [schema]
    for key in ("anyOf", "oneOf", "allOf"):
        parts += [_resolve(doc, s) for s in schema.get(key) or []]
    merged: dict[str, Any] = {"properties": {}, "required": []}
    for part in parts:
        merged["properties"].update(part.get("properties") or {})
        merged["required"] += part.get("required") or []
        if part.get("items"):
            merged["items"] = part["items"]
    return merged


def _json_schema(operation_part: dict[str, Any]) -> dict[str, Any] | None:
    content = operation_part.get("content") or {}
    for media in ("application/json", "application/problem+json", "multipart/form-data"):
        if media in content:
            return dict(content[media].get("schema") or {})
    return None


def _lost_fields(
    old_doc: dict[str, Any],
    old: dict[str, Any] | None,
    new_doc: dict[str, Any],
    new: dict[str, Any] | None,
    where: str,
    depth: int = 0,
) -> list[str]:
    if old is None or depth > 8:
        return []
    o, n = _resolve(old_doc, old), _resolve(new_doc, new)
    found = [f"{where}.{name}: removed" for name in o["properties"] if name not in n["properties"]]
    for name, schema in o["properties"].items():
        if name in n["properties"]:
            found += _lost_fields(
                old_doc, schema, new_doc, n["properties"][name], f"{where}.{name}", depth + 1
            )
    if o.get("items") and n.get("items"):
        found += _lost_fields(old_doc, o["items"], new_doc, n["items"], f"{where}[]", depth + 1)
    return found


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What a client of ``old`` would trip over in ``new``."""
    found: list[str] = []
    for path, operations in old["paths"].items():
        for method, op in operations.items():
            if method not in METHODS:
                continue
            where = f"{method.upper()} {path}"
            new_op = (new["paths"].get(path) or {}).get(method)
            if new_op is None:
                found.append(f"{where}: removed")
                continue
            had = {(p["name"], p["in"]) for p in op.get("parameters") or []}
            for p in new_op.get("parameters") or []:
                if p.get("required") and (p["name"], p["in"]) not in had:
                    found.append(f"{where}: new required {p['in']} parameter {p['name']}")
            old_body = _json_schema(op.get("requestBody") or {})
            new_body = _json_schema(new_op.get("requestBody") or {})
            if new_body is not None:
                if (new_op.get("requestBody") or {}).get("required") and old_body is None:
                    found.append(f"{where}: a request body is now required")
                old_fields = set(_resolve(old, old_body)["properties"]) if old_body else set()
                old_required = set(_resolve(old, old_body)["required"]) if old_body else set()
                for name in set(_resolve(new, new_body)["required"]) - old_required:
                    state = "new" if name not in old_fields else "optional before"
                    found.append(f"{where}: body field {name} now required ({state})")
            for code, response in (op.get("responses") or {}).items():
                if not code.startswith("2"):
                    continue
                new_response = (new_op.get("responses") or {}).get(code)
                if new_response is None:
                    found.append(f"{where}: answer {code} removed")
                    continue
                found += _lost_fields(
                    old,
                    _json_schema(response),
                    new,
                    _json_schema(new_response),
                    f"{where} {code}",
                )
    return found


def _published() -> list[str]:
    return sorted(p.stem for p in PUBLISHED.glob("*.json"))


def test_identity_and_linking_have_a_published_release() -> None:
    assert {"identity", "linking"} <= set(_published())


@pytest.mark.parametrize("service", _published())
def test_no_breaking_change_since_the_last_release(service: str) -> None:
    old = json.loads((PUBLISHED / f"{service}.json").read_text(encoding="utf-8"))
    new = json.loads((OPENAPI_DIR / f"{service}.json").read_text(encoding="utf-8"))
    assert breaking_changes(old, new) == []


# The checker itself: each kind of break is caught, additions are not.

BASE = json.loads((PUBLISHED / "identity.json").read_text(encoding="utf-8"))


def _changed(edit: Any) -> list[str]:
    new = copy.deepcopy(BASE)
    edit(new)
    return breaking_changes(BASE, new)


def test_checker_accepts_additions() -> None:
    def add(doc: dict[str, Any]) -> None:
        doc["paths"]["/v1/new-thing"] = {"get": {"responses": {"200": {}}}}
        doc["components"]["schemas"]["SignIn"]["properties"]["remember_me"] = {"type": "boolean"}

    assert _changed(add) == []


def test_checker_catches_a_removed_operation() -> None:
    def remove(doc: dict[str, Any]) -> None:
        del doc["paths"]["/v1/sessions"]["post"]

    assert _changed(remove) == ["POST /v1/sessions: removed"]


def test_checker_catches_a_newly_required_body_field() -> None:
    def require(doc: dict[str, Any]) -> None:
        doc["components"]["schemas"]["SignIn"]["properties"]["otp"] = {"type": "string"}
        doc["components"]["schemas"]["SignIn"]["required"].append("otp")

    assert _changed(require) == ["POST /v1/sessions: body field otp now required (new)"]


def test_checker_catches_a_removed_answer_field() -> None:
    def drop(doc: dict[str, Any]) -> None:
        del doc["components"]["schemas"]["Session"]["properties"]["expires_at"]

    assert "POST /v1/sessions 200.expires_at: removed" in _changed(drop)
