"""Fixtures for the integration suites: the whole portal on the real local stack."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.harness import Portal, ensure_stack, new_portal, start_portal, stop_portal


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if f"{os.sep}integration{os.sep}" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
    # Scans of what the whole session logged run once everything else has (stable order
    # otherwise), whatever their file names.
    items.sort(key=lambda item: item.get_closest_marker("after_suite") is not None)


_REPORT = pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_REPORT] = []


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Record a measurement (fault summary, timing gap...) for the end-of-run report:
    pytest hides what passing tests print."""

    def add(line: str) -> None:
        request.config.stash[_REPORT].append(f"{request.node.name}: {line.strip()}")

    return add


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = terminalreporter.config.stash.get(_REPORT, [])
    if lines:
        terminalreporter.section("measurements")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def stack() -> None:
    """Kafka, the MongoDB-protocol server and the SMTP sink, started if not running."""
    if os.environ.get("PORTAL_STACK_MANAGED") != "1":
        ensure_stack()


@pytest.fixture(scope="session")
def portal(stack: None) -> Iterator[Portal]:
    """All four services running as processes, isolated by topic and database prefixes.

    Its scheduler clock is never moved: tests that travel in time use ``time_portal``.
    """
    p = start_portal(new_portal())
    try:
        yield p
    finally:
        stop_portal(p)


@pytest.fixture(scope="module")
def time_portal(stack: None) -> Iterator[Portal]:
    """A portal of its own (ports 181xx) for one module whose tests move the scheduler's
    clock forward, so that other tests' deadlines are not affected."""
    p = start_portal(new_portal(port_offset=100))
    try:
        yield p
    finally:
        stop_portal(p)


@pytest.fixture(scope="session")
def run_dir(portal: Portal) -> Path:
    return portal.run_dir
