"""Runs last (marked ``after_suite``): scans every log line and span captured during the suite for the passwords,
tokens, security answers, codes and full email addresses the tests used."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness import ROOT, RUN_DIRS
from tests.secrets_registry import USED


def _captured_files() -> list[Path]:
    """Logs and spans of the service processes this session started."""
    return sorted(p for d in RUN_DIRS for p in d.glob("*") if p.suffix in (".log", ".jsonl"))


@pytest.mark.after_suite
def test_no_secret_or_full_email_in_any_log_or_span(report: Callable[[str], None]) -> None:
    files = _captured_files()
    assert files, "no captured logs or spans: the integration suite did not run services"
    assert USED, "no secrets were registered by the tests: the scan would prove nothing"
    leaks: list[str] = []
    scanned = 0
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        scanned += text.count("\n")
        for secret in USED:
            if secret in text:
                line = next(ln for ln in text.splitlines() if secret in ln)
                leaks.append(f"{path.relative_to(ROOT)}: {secret[:3]}… in {line[:200]}")
    report(f"scanned {scanned} lines in {len(files)} files for {len(USED)} secrets")
    assert not leaks, "secrets leaked:\n" + "\n".join(leaks[:20])
