"""Runs after the other tests (marked ``after_suite``): no password, token or security answer they used
appears in any captured log line or span, nor on any public (non-secret) topic."""

from __future__ import annotations

import asyncio

import pytest

from shared.contracts.topics import PRODUCERS, SECRET_TOPICS
from tests.harness import Portal
from tests.integration.identity_support import IDENTITY_SECRETS
from tests.kafka_tools import TopicWatcher

PUBLIC_IDENTITY_TOPICS = [
    str(t) for t, producer in PRODUCERS.items() if producer == "identity" and t not in SECRET_TOPICS
]


@pytest.mark.after_suite
def test_no_identity_secret_in_logs_or_spans(portal: Portal) -> None:
    assert len(IDENTITY_SECRETS) >= 10, "the identity tests registered too few secrets"
    files = [*portal.log_files(), portal.traces_file]
    assert portal.traces_file.exists() and (portal.run_dir / "identity.log").exists()
    spans = portal.traces_file.read_text(encoding="utf-8", errors="replace")
    assert "/v1/sessions" in spans, "identity's spans were not captured"
    leaks = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        leaks += [f"{path.name}: {secret[:3]}…" for secret in IDENTITY_SECRETS if secret in text]
    assert not leaks, leaks


async def test_no_identity_secret_on_a_public_topic(portal: Portal) -> None:
    async with TopicWatcher([portal.topic(t) for t in PUBLIC_IDENTITY_TOPICS]) as w:
        # Read everything published so far: until the count stops growing (bounded).
        seen = -1
        for _ in range(15):
            if seen == len(w.records) > 0:
                break
            seen = len(w.records)
            await asyncio.sleep(2.0)
        assert {r.topic.removeprefix(portal.topic_prefix) for r in w.records} >= {
            "AccountCreated",
            "EmailVerified",
            "AccountSignedIn",
            "PasswordChanged",
        }
        payloads = b"\n".join((r.value or b"") + repr(r.headers).encode() for r in w.records)
    text = payloads.decode("utf-8", errors="replace")
    leaks = [secret[:3] + "…" for secret in IDENTITY_SECRETS if secret in text]
    assert not leaks, leaks
