"""JSON Schema files generated from the event models, checked in under ``schemas/``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.contracts.events import EVENT_TYPES, Event

SCHEMA_DIR = Path(__file__).parent / "schemas"


def schema_for(cls: type[Event]) -> dict[str, Any]:
    """The JSON Schema (2020-12) of one event version."""
    schema = cls.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"urn:guardian-portal:schema:{cls.event_type()}:v{cls.version}"
    schema["x-topic"] = str(cls.topic)
    schema["x-key"] = cls.key_field
    schema["x-carries-secret"] = cls.carries_secret
    return schema


def schema_path(cls: type[Event], directory: Path = SCHEMA_DIR) -> Path:
    """Where the checked-in schema of ``cls`` lives."""
    return directory / f"{cls.event_type()}.v{cls.version}.json"


def render(schema: dict[str, Any]) -> str:
    """Stable text form of a schema (sorted keys, two-space indent, final newline)."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def export_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write every event's schema; return the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for cls in EVENT_TYPES.values():
        path = schema_path(cls, directory)
        path.write_text(render(schema_for(cls)), encoding="utf-8")
        written.append(path)
    return written
