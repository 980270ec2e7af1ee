"""The HTTP APIs' OpenAPI documents are checked into the repository
(shared/contracts/openapi/<service>.json, written by `make openapi`) like the AsyncAPI
documents, and must match what the code serves at ``GET /openapi.json``: a change of a
route, a body or a response that was not exported (and so not reviewed as an API change)
fails here."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.runtime.cli import OPENAPI_DIR, openapi_documents, render_asyncapi

DOCUMENTS = openapi_documents()


def test_every_api_service_has_a_document() -> None:
    """identity and linking publish their APIs (contract §4); nothing is left unexported
    and nothing stale is left behind."""
    assert {"identity", "linking"} <= set(DOCUMENTS)
    committed = {p.stem for p in OPENAPI_DIR.glob("*.json")}
    assert committed == set(DOCUMENTS), "run `make openapi`"


@pytest.mark.parametrize("service", sorted(DOCUMENTS))
def test_committed_document_matches_the_code(service: str) -> None:
    path = OPENAPI_DIR / f"{service}.json"
    assert path.exists(), f"{path.name} missing: run `make openapi`"
    committed: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    current = DOCUMENTS[service]
    if committed != current:
        changed = (
            sorted(set(committed.get("paths", {})) ^ set(current.get("paths", {})))
            or "bodies or responses"
        )
        pytest.fail(f"{path.name} differs from the code ({changed}): run `make openapi`")
    # Stable text form: a re-export of unchanged code gives no diff.
    assert path.read_text(encoding="utf-8") == render_asyncapi(current)


@pytest.mark.parametrize("service", sorted(DOCUMENTS))
def test_every_error_response_is_documented_as_problem_json(service: str) -> None:
    """What the services send on every 4xx/5xx (shared/runtime/problems.py) is what the
    documents say: application/problem+json with the Problem schema — FastAPI's plain JSON
    ``HTTPValidationError`` for 422 is never sent, so never documented."""
    doc = DOCUMENTS[service]
    wrong = [
        f"{method.upper()} {path} {code}: {sorted(response.get('content', {}))}"
        for path, operations in doc["paths"].items()
        for method, operation in operations.items()
        for code, response in operation.get("responses", {}).items()
        if code.startswith(("4", "5"))
        and response.get("content", {}).get("application/problem+json", {}).get("schema")
        != {"$ref": "#/components/schemas/Problem"}
    ]
    assert not wrong, wrong
    assert "HTTPValidationError" not in json.dumps(doc)
    problem = doc["components"]["schemas"]["Problem"]
    assert problem["required"] == ["type", "title", "status"]
