"""Fixtures for the integration suites: the whole portal on the real local stack."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import Portal, create_topics, ensure_stack, new_portal


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if f"{os.sep}integration{os.sep}" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def stack() -> None:
    """Kafka, the MongoDB-protocol server and the SMTP sink, started if not running."""
    if os.environ.get("PORTAL_STACK_MANAGED") != "1":
        ensure_stack()


@pytest.fixture(scope="session")
def portal(stack: None) -> Iterator[Portal]:
    """All four services running as processes, isolated by topic and database prefixes."""
    p = new_portal()
    create_topics(p.topic_prefix)
    for svc in p.services.values():
        svc.start(wait=False)
    try:
        for svc in p.services.values():
            svc.wait_ready()
        yield p
    finally:
        for svc in p.services.values():
            svc.stop()


@pytest.fixture(scope="session")
def run_dir(portal: Portal) -> Path:
    return portal.run_dir
