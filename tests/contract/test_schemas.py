"""The checked-in JSON Schemas agree with the models and only ever evolve compatibly."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest

from shared.contracts.compat import breaking_changes
from shared.contracts.events import EVENT_TYPES, Event
from shared.contracts.schemas import render, schema_for, schema_path

EVENTS = sorted(EVENT_TYPES.values(), key=lambda c: c.event_type())


@pytest.mark.parametrize("cls", EVENTS, ids=lambda c: c.event_type())
def test_checked_in_schema_matches_model(cls: type[Event]) -> None:
    path = schema_path(cls)
    assert path.exists(), f"{path.name} missing: run `make schemas`"
    assert path.read_text(encoding="utf-8") == render(schema_for(cls)), (
        f"{path.name} is stale: run `make schemas` and review the diff"
    )


@pytest.mark.parametrize("cls", EVENTS, ids=lambda c: c.event_type())
def test_current_model_is_compatible_with_checked_in_schema(cls: type[Event]) -> None:
    old = json.loads(schema_path(cls).read_text(encoding="utf-8"))
    assert breaking_changes(old, schema_for(cls)) == []


def test_compatibility_check_catches_breaking_changes() -> None:
    old = schema_for(EVENT_TYPES["LinkApproved"])
    removed = copy.deepcopy(old)
    del removed["properties"]["approved_by"]
    retyped = copy.deepcopy(old)
    retyped["properties"]["approved_at"] = {"type": "integer"}
    required = copy.deepcopy(old)
    required["properties"]["badge"] = {"type": "string"}
    required["required"].append("badge")
    optional = copy.deepcopy(old)
    optional["properties"]["badge"] = {"type": "string"}
    assert "field 'approved_by' removed" in breaking_changes(old, removed)
    assert "field 'approved_at' changed type" in breaking_changes(old, retyped)
    assert "new field 'badge' is required (old producers do not send it)" in breaking_changes(
        old, required
    )
    assert breaking_changes(old, optional) == []


@pytest.mark.parametrize("cls", EVENTS, ids=lambda c: c.event_type())
def test_events_valid_under_checked_in_schema_parse_with_current_model(cls: type[Event]) -> None:
    """An event shaped by the published schema (plus an unknown field from a newer
    producer) parses with today's model: old and new consumers interoperate."""
    schema = json.loads(schema_path(cls).read_text(encoding="utf-8"))
    sample = _sample(schema, schema)
    jsonschema.validate(sample, schema)
    sample["field_from_the_future"] = True
    cls.model_validate(sample)


def _sample(root: dict, node: dict):  # type: ignore[no-untyped-def,type-arg]
    if "$ref" in node:
        return _sample(root, root["$defs"][node["$ref"].split("/")[-1]])
    if "anyOf" in node:
        return _sample(root, next(n for n in node["anyOf"] if n.get("type") != "null"))
    if "enum" in node:
        return node["enum"][0]
    if "const" in node:
        return node["const"]
    kind = node.get("type")
    if kind == "object" or "properties" in node:
        return {k: _sample(root, v) for k, v in node.get("properties", {}).items()}
    if kind == "array":
        return [_sample(root, node.get("items", {"type": "string"}))]
    if kind == "string":
        return "2026-11-24T12:00:00Z" if node.get("format") == "date-time" else "x"
    if kind == "integer":
        return 1
    if kind == "boolean":
        return True
    return "x"
