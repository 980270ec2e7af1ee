"""The public AsyncAPI document for SIS consumers (shared/contracts/asyncapi/sis.json) and
the per-service documents say exactly what is on the wire."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from shared.contracts.asyncapi_documents import (
    EXTERNAL_LISTENER,
    INTERNAL_LISTENER,
    TRAIT,
    payload_schemas,
    schema_versions,
    sis_document,
)
from shared.contracts.envelope import encode
from shared.contracts.events import EVENT_TYPES
from shared.contracts.topics import SIS_TOPICS
from shared.contracts.vectors import SAMPLES, load_vectors
from shared.runtime.cli import ASYNCAPI_DIR, SERVICES, asyncapi_document, render_asyncapi

ROOT = Path(__file__).resolve().parents[2]
SIS = sis_document()


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _headers_schema(doc: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    """The message's headers schema with its traits merged in (JSON Merge Patch order:
    traits first, the message's own fields win)."""
    merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
    for trait_ref in message.get("traits", []):
        trait = _resolve(doc, trait_ref["$ref"])["headers"]
        merged["properties"].update(trait["properties"])
        merged["required"] += trait.get("required", [])
    for name, prop in message.get("headers", {}).get("properties", {}).items():
        merged["properties"][name] = {**merged["properties"].get(name, {}), **prop}
    return merged


def test_sis_document_is_checked_in_and_current() -> None:
    path = ASYNCAPI_DIR / "sis.json"
    assert path.exists(), "sis.json missing: run `make asyncapi`"
    assert json.loads(path.read_text(encoding="utf-8")) == json.loads(render_asyncapi(SIS)), (
        "sis.json is stale: run `make asyncapi`"
    )
    assert SIS["asyncapi"] == "3.0.0"


def test_sis_document_has_exactly_the_sis_topics_as_receive_operations() -> None:
    assert set(SIS["channels"]) == {str(t) for t in SIS_TOPICS}
    for channel_id, channel in SIS["channels"].items():
        assert channel["address"] == channel_id
        assert channel["bindings"]["kafka"]["topic"] == channel_id
    received = {op["channel"]["$ref"].split("/")[-1] for op in SIS["operations"].values()}
    assert received == {str(t) for t in SIS_TOPICS}
    for op in SIS["operations"].values():
        assert op["action"] == "receive"
        assert op["bindings"]["kafka"]["groupId"]["pattern"] == "^sis-"
        for ref in op["messages"]:
            assert ref["$ref"].startswith(op["channel"]["$ref"] + "/messages/")
            _resolve(SIS, ref["$ref"])


def test_trait_describes_exactly_the_headers_the_encoder_sends() -> None:
    trait = SIS["components"]["messageTraits"][TRAIT]["headers"]
    event = SAMPLES[0].event
    bare = {k for k, _ in encode(event, source="linking").headers}
    traced = {
        k
        for k, _ in encode(
            event,
            source="linking",
            trace_headers={
                "traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01",
                "tracestate": "k=v",
            },
        ).headers
    }
    assert set(trait["required"]) == bare, "required headers differ from what encode() sends"
    assert set(trait["properties"]) == traced, "described headers differ from encode()'s"
    assert "correlation_id" not in json.dumps(SIS)


@pytest.mark.parametrize("service", [*SERVICES, "sis"])
def test_no_phantom_correlation_id_and_stable_channel_ids(service: str) -> None:
    doc = SIS if service == "sis" else asyncapi_document(service)
    assert "correlation_id" not in json.dumps(doc)
    assert "correlationId" not in json.dumps(doc)
    for channel_id, channel in doc["channels"].items():
        # The channel id is the topic name in every document, so the same topic has the
        # same id in each.
        assert channel_id == channel["address"]
    for message in doc["components"]["messages"].values():
        assert message["traits"][0] == {"$ref": f"#/components/messageTraits/{TRAIT}"}
        assert "key" in message["bindings"]["kafka"]


def test_same_topic_is_described_alike_in_every_document() -> None:
    docs = {s: asyncapi_document(s) for s in SERVICES} | {"sis": SIS}
    seen: dict[str, tuple[str, dict[str, Any]]] = {}
    for name, doc in docs.items():
        for channel_id, channel in doc["channels"].items():
            messages = {
                m: {k: v for k, v in _resolve(doc, r["$ref"]).items() if k != "examples"}
                for m, r in channel["messages"].items()
            }
            if channel_id in seen:
                assert seen[channel_id][1] == messages, (
                    f"{channel_id} differs between {seen[channel_id][0]} and {name}"
                )
            else:
                seen[channel_id] = (name, messages)


@pytest.mark.parametrize("topic", sorted(str(t) for t in SIS_TOPICS))
def test_every_version_of_every_sis_event_has_its_message(topic: str) -> None:
    versions = schema_versions(topic)
    assert versions, f"no schema for {topic}"
    channel = SIS["channels"][topic]
    assert set(channel["messages"]) == {f"{topic}.v{v}" for v in versions}
    for version in versions:
        message = SIS["components"]["messages"][f"{topic}.v{version}"]
        assert message["payload"] == {"$ref": f"#/components/schemas/{topic}.v{version}"}
        for name, schema in payload_schemas(topic, version).items():
            assert SIS["components"]["schemas"][name] == schema
        headers = _headers_schema(SIS, message)
        assert headers["properties"]["ce_type"]["const"] == topic
        assert headers["properties"]["ce_dataschema"]["const"] == (
            f"urn:guardian-portal:schema:{topic}:v{version}"
        )
        key = message["bindings"]["kafka"]["key"]
        assert key["type"] == "string"
        assert EVENT_TYPES[topic].key_field in key["description"]


def test_examples_are_the_test_vectors_and_valid() -> None:
    vectors = list(load_vectors())
    shown = 0
    for event_type, version, vector in vectors:
        if event_type not in {str(t) for t in SIS_TOPICS}:
            continue
        message = SIS["components"]["messages"][f"{event_type}.v{version}"]
        (example,) = [e for e in message["examples"] if e["name"] == vector["name"]]
        assert example["headers"] == dict(vector["headers"])
        assert example["payload"] == json.loads(vector["value"])
        assert vector["key"] in example["summary"]
        # Headers and payload validate against the document's own schemas.
        jsonschema.validate(example["headers"], _headers_schema(SIS, message))
        payload_schema = {**SIS, "$ref": message["payload"]["$ref"]}
        jsonschema.Draft202012Validator(payload_schema).validate(example["payload"])
        shown += 1
    assert shown == sum(len(m.get("examples", [])) for m in SIS["components"]["messages"].values())
    assert shown >= len(SIS_TOPICS)


def _strimzi_listeners() -> dict[str, dict[str, Any]]:
    base = yaml.safe_load_all((ROOT / "deploy/k8s/components/kafka/kafka.yaml").read_text())
    listeners = {}
    for doc in base:
        if doc and doc.get("kind") == "Kafka":
            listeners.update({lst["name"]: lst for lst in doc["spec"]["kafka"]["listeners"]})
    production = yaml.safe_load(
        (ROOT / "deploy/k8s/overlays/production/kustomization.yaml").read_text()
    )
    for patch in production.get("patches", []):
        if patch.get("target", {}).get("kind") == "Kafka" and "patch" in patch:
            for op in yaml.safe_load(patch["patch"]):
                if op["path"] == "/spec/kafka/listeners/-":
                    listeners[op["value"]["name"]] = op["value"]
    return listeners


def test_servers_are_the_strimzi_listeners_with_their_security() -> None:
    listeners = _strimzi_listeners()
    for server_name, expected in (
        ("production", EXTERNAL_LISTENER),
        ("in-cluster", INTERNAL_LISTENER),
    ):
        listener = listeners[str(expected["name"])]
        assert listener["port"] == expected["port"]
        assert listener["tls"] is True
        assert listener["authentication"]["type"] == "scram-sha-512"
        server = SIS["servers"][server_name]
        assert server["host"].endswith(f":{listener['port']}")
        assert server["protocol"] == "kafka-secure"  # TLS
        (security,) = server["security"]
        scheme = _resolve(SIS, security["$ref"])
        assert scheme["type"] == "scramSha512"
    assert SIS["servers"]["development"]["protocol"] == "kafka"


#: The official AsyncAPI 3.0.0 JSON Schema, from the npm package @asyncapi/specs 6.11.1
#: (Apache-2.0), file schemas/3.0.0-without-$id.json, checked in unchanged.
OFFICIAL_SCHEMA = Path(__file__).parent / "asyncapi-3.0.0.schema.json"


@pytest.mark.parametrize("name", [*SERVICES, "sis"])
def test_documents_are_valid_asyncapi_3(name: str) -> None:
    schema = json.loads(OFFICIAL_SCHEMA.read_text(encoding="utf-8"))
    doc = json.loads((ASYNCAPI_DIR / f"{name}.json").read_text(encoding="utf-8"))
    errors = [e.message[:200] for e in jsonschema.Draft7Validator(schema).iter_errors(doc)]
    assert errors == []
    broken = {**doc, "servers": {"x": {"host": "h", "protocol": 5}}}
    assert list(jsonschema.Draft7Validator(schema).iter_errors(broken))
