"""The install guide walks a district's platform team through routes, monitoring, secrets,
TLS, backups and bring-your-own services, in that order (issue 21), and every link into
it from the operations docs and the deploy folder lands on a heading that exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "docs" / "operations" / "install.md"
#: The platform team's concerns, in the order the guide must take them.
ORDER = ["routes", "monitoring", "secrets", "tls", "backups", "bring your own"]


def _slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _headings(text: str) -> list[str]:
    return [m.group(2) for m in re.finditer(r"(?m)^(#{2,3}) (.+)$", text)]


def test_platform_steps_in_order() -> None:
    numbered = [h.lower() for h in _headings(INSTALL.read_text()) if re.match(r"\d+\. ", h)]
    positions = []
    for concern in ORDER:
        found = [i for i, h in enumerate(numbered) if concern in h]
        assert found, f"no numbered step about {concern!r} in install.md: {numbered}"
        positions.append(found[0])
    assert positions == sorted(positions), dict(zip(ORDER, positions, strict=True))
    steps = [int(h.split(".")[0]) for h in numbered]
    assert steps == list(range(len(steps))), f"steps not numbered 0..n in order: {steps}"


def test_links_into_the_install_guide_resolve() -> None:
    anchors = {_slug(h) for h in _headings(INSTALL.read_text())}
    sources = [*ROOT.glob("docs/**/*.md"), *ROOT.glob("deploy/**/*.md"), ROOT / "README.md"]
    broken = []
    for source in sources:
        text = source.read_text()
        for target, anchor in re.findall(r"\(([^()\s]*install\.md)?#([\w\-]+)\)", text):
            if not target and source != INSTALL:
                continue  # an anchor of another page
            if anchor not in anchors:
                broken.append(f"{source.relative_to(ROOT)}: #{anchor}")
    assert not broken, broken
