"""The topic catalog is consistent: every consumed topic has a producer, every event has
a model, and each service's AsyncAPI document matches what it really consumes."""

from __future__ import annotations

import json

import pytest

from shared.contracts.events import EVENT_TYPES
from shared.contracts.topics import CONSUMERS, PRODUCERS, SECRET_TOPICS, SIS_TOPICS, Topic
from shared.runtime.cli import ASYNCAPI_DIR, SERVICES, asyncapi_document, render_asyncapi


def test_every_topic_has_a_model_and_one_producer() -> None:
    assert set(EVENT_TYPES) == {str(t) for t in Topic}
    assert set(PRODUCERS) == set(Topic)
    assert set(PRODUCERS.values()) <= set(SERVICES)


def test_every_consumed_topic_is_produced_by_some_service() -> None:
    for service, topics in CONSUMERS.items():
        for topic in topics:
            assert topic in PRODUCERS, f"{service} consumes {topic}, which nobody produces"
            assert PRODUCERS[topic] != service or topic == Topic.LINK_EXPIRED, (
                f"{service} consumes its own {topic}"
            )


def test_every_produced_topic_has_a_reader() -> None:
    consumed = set().union(*CONSUMERS.values()) | SIS_TOPICS
    assert set(PRODUCERS) - consumed == set()


def test_secret_topics_are_read_by_the_notifier_only() -> None:
    for service, topics in CONSUMERS.items():
        if service != "notifier":
            assert not (topics & SECRET_TOPICS), f"{service} reads a secret-bearing topic"
    assert not (SIS_TOPICS & SECRET_TOPICS)
    for topic in SECRET_TOPICS:
        assert EVENT_TYPES[str(topic)].carries_secret


@pytest.mark.parametrize("service", SERVICES)
def test_asyncapi_document_is_checked_in_and_current(service: str) -> None:
    doc = asyncapi_document(service)
    path = ASYNCAPI_DIR / f"{service}.json"
    assert path.exists(), f"{path} missing: run `make asyncapi`"
    assert json.loads(path.read_text(encoding="utf-8")) == json.loads(render_asyncapi(doc)), (
        f"{path.name} is stale: run `make asyncapi`"
    )
    assert doc["asyncapi"].startswith("3.")
    subscribed = {
        ch["address"]
        for name, ch in doc["channels"].items()
        for op in doc["operations"].values()
        if op["action"] == "receive" and op["channel"]["$ref"].endswith("/" + name)
    }
    assert subscribed == {str(t) for t in CONSUMERS[service]}, "consumers differ from the catalog"
