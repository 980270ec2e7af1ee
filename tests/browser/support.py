"""What the browser tests check on every page: zero axe-core violations (WCAG 2.2 A/AA),
no horizontal scrolling, and a screenshot."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
PASSWORD = "Secr3t!pw"


def unique_email(tag: str) -> str:
    return f"web-{tag}-{uuid.uuid4().hex[:10]}@example.net"


def check_page(page: Any, name: str, screenshots: Path) -> None:
    """axe-core finds nothing, the page does not scroll sideways, and it is pictured."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(
        page,
        options={"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]},
    )
    assert results.violations_count == 0, f"{name}: {results.generate_report()}"
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{name}: scrolls {overflow}px sideways"
    page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)


def verification_link(text: str) -> str:
    found = re.findall(r"https?://[^\s\"'<>]+/verify-email\?token=[A-Za-z0-9_\-]+", text)
    assert found, f"no verification link in the mail:\n{text[:2000]}"
    return found[0]


def mail_text(mail: Any) -> str:
    body = mail.message.get_body(preferencelist=("plain", "html"))
    return body.get_content() if body is not None else mail.raw.decode(errors="replace")
