"""The test vectors (shared/contracts/vectors/) are current and decode as the contract
says: every public event and version has one, its headers are exactly the encoder's, its
value exactly the model's JSON, its key the event's key."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest

from shared.contracts.envelope import SCHEMA_URN, decode
from shared.contracts.schemas import schema_path
from shared.contracts.topics import SIS_TOPICS
from shared.contracts.vectors import (
    SAMPLES,
    TRACEPARENT_PATTERN,
    VECTOR_DIR,
    load_vectors,
    render,
    vector_of,
    vector_path,
)

VECTORS = list(load_vectors())


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.name)
def test_vector_file_is_checked_in_and_current(sample) -> None:  # type: ignore[no-untyped-def]
    path = vector_path(sample)
    assert path.exists(), f"{path} missing: run `make vectors asyncapi`"
    assert path.read_text(encoding="utf-8") == render(vector_of(sample)), (
        f"{path.name} is stale: run `make vectors asyncapi` and review the diff"
    )


def test_every_public_event_and_version_has_a_vector() -> None:
    have = {(etype, version) for etype, version, _ in VECTORS}
    for topic in SIS_TOPICS:
        versions = sorted(VECTOR_DIR.glob(f"{topic}/v*"))
        assert versions, f"no vector for {topic}"
        for schema in schema_path_versions(str(topic)):
            assert (str(topic), schema) in have, f"no vector for {topic} v{schema}"
    # No stray files: every checked-in vector is one of the samples.
    assert len(VECTORS) == len(SAMPLES)


def schema_path_versions(event_type: str) -> list[int]:
    from shared.contracts.asyncapi_documents import schema_versions

    return schema_versions(event_type)


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: f"{v[0]}.v{v[1]}.{v[2]['name']}")
def test_vector_decodes_as_the_contract_says(vector) -> None:  # type: ignore[no-untyped-def]
    event_type, version, record = vector
    headers = [(k, v.encode()) for k, v in record["headers"]]
    envelope = decode(headers, record["value"].encode())
    assert envelope.type == event_type == record["topic"]
    assert envelope.dataschema == SCHEMA_URN.format(type=event_type, version=version)
    assert type(envelope.event).version == version
    # Key and subject are the aggregate id; the value is the model's exact JSON.
    assert record["key"] == envelope.event.key() == envelope.subject
    assert record["value"] == envelope.event.model_dump_json()
    assert json.loads(record["value"]) == record["data"]
    names = [k for k, _ in record["headers"]]
    assert names == [
        "ce_id",
        "ce_source",
        "ce_type",
        "ce_specversion",
        "ce_time",
        "ce_subject",
        "ce_dataschema",
        "content-type",
        "traceparent",
    ]
    assert re.match(TRACEPARENT_PATTERN, dict(record["headers"])["traceparent"])
    # The value is valid under the checked-in (published) schema of its version.
    schema = json.loads(schema_path(type(envelope.event)).read_text(encoding="utf-8"))
    jsonschema.validate(record["data"], schema)
