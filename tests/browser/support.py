"""What the browser tests check on every page: zero axe-core violations (WCAG 2.2 A/AA),
no horizontal scrolling, and a screenshot; and how they read the verification mail."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

from tests.harness import wait_until
from tests.secrets_registry import remember

WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
PASSWORD = "Wb-Secr3t!pw"
_VERIFY = r"https?://[^\s\"'<>]+/verify-email\?token=[A-Za-z0-9_\-]+"


def unique_email(tag: str) -> str:
    """A fresh address, registered for the suite's final scan of logs and spans."""
    email = f"web-{tag}-{uuid.uuid4().hex[:10]}@example.net"
    remember(email)
    return email


def check_page(page: Any, name: str, screenshots: Path, *, axe: bool = True) -> None:
    """axe-core finds nothing, the page does not scroll sideways, and it is pictured.

    ``axe=False`` for a page whose template another test checks in the same state
    (axe-core takes a second or two per page on a busy machine)."""
    if axe:
        from axe_playwright_python.sync_playwright import Axe

        options = {"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]}
        results = Axe().run(page, options=options)
        assert results.violations_count == 0, f"{name}: {results.generate_report()}"
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{name}: scrolls {overflow}px sideways"
    page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)


def mail_text(mail: Any) -> str:
    body = mail.message.get_body(preferencelist=("plain", "html"))
    return body.get_content() if body is not None else mail.raw.decode(errors="replace")


def wait_for_verification_link(email: str, timeout: float = 90) -> str:
    """The verification link of the first mail to ``email`` that has one (the
    link-request mail of a registration with a child may come first)."""
    from tools.devstack import testing as devstack

    def found() -> str | None:
        for mail in devstack.list_mail(to=email):
            links = re.findall(_VERIFY, mail_text(mail))
            if links:
                return str(links[0])
        return None

    link = str(
        wait_until(found, timeout=timeout, interval=0.25, what=f"verification mail to {email}")
    )
    remember(link.rsplit("token=", 1)[-1])
    return link
