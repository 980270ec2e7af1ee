"""Browser tests: Debian's Chromium driven by Python Playwright against the real services
(identity, linking, notifier and the web front end on the local stack).

Chromium is the system one (``apt-get install chromium``; ``make test`` installs it when
missing), launched with ``executable_path``: Playwright's own browser download is never
used. As root it needs ``--no-sandbox``; the other flags stop it calling Google's hosts.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import ROOT, Portal, new_portal, start_portal, stop_portal
from tests.oneroster import Student, bundle

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Every screenshot the tests take (ignored by git); docs/screenshots/ keeps a few.
SCREENSHOTS = ROOT / "var" / "screenshots"
#: The child every journey claims (in the roster imported once per module).
CHILD = Student("0123", "90966666", "Ana", "Student")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def web_portal(stack: None) -> Iterator[Portal]:
    """identity, linking, notifier and web; the email links point at web."""
    portal = new_portal(["identity", "linking", "notifier", "web"], port_offset=200)
    start_portal(portal)
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
        stop_portal(portal)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
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
