"""Browser tests: Debian's Chromium driven by Python Playwright against the real services
(the suite's portal, with the web front end added to it, on the local stack).

Chromium is the system one (``apt-get install chromium``; ``make test`` installs it when
missing), launched with ``executable_path``: Playwright's own browser download is never
used. As root it needs ``--no-sandbox``; the other flags stop it calling Google's hosts.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import ROOT, Portal
from tests.oneroster import Student, bundle

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Every screenshot the tests take (ignored by git); docs/screenshots/ keeps a few.
SCREENSHOTS = ROOT / "var" / "screenshots"
#: The child every journey claims, at a school of its own (a bulk roster import replaces
#: the roster of the schools it lists, so other suites' schools are left alone).
CHILD = Student(f"W{uuid.uuid4().hex[:6].upper()}", "90966666", "Ana", "Student")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def web_portal(portal: Portal) -> Iterator[Portal]:
    """The suite's portal with its web front end started (the email links point at it)."""
    web = portal.add("web")
    web.start()
    try:
        from linking.devtools import mint_staff_token

        admin = mint_staff_token([], role="district_admin", subject="admin-browser")
        response = httpx.post(
            f"{portal.url('linking')}/v1/roster/imports",
            headers={"Authorization": f"Bearer {admin}"},
            files={"file": ("roster.zip", bundle([CHILD]), "application/zip")},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        yield portal
    finally:
        web.stop()
        del portal.services["web"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one module. Playwright's sync API marks an event loop as running in
    this thread while it is open: closed at the end of the module, the async tests that
    run after the browser tests in the same session get their loop back."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    assert executable, "Debian's chromium is missing: apt-get install -y chromium"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, web_portal: Portal) -> Iterator[Any]:
    """A fresh browser context (no cookies) on the web front end."""
    context = browser.new_context(
        base_url=web_portal.url("web"), viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(15_000)
    tab = context.new_page()
    try:
        yield tab
    finally:
        context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
