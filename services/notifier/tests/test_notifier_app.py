"""The composition root wires every consumed topic; the preview endpoint answers without
the stack (no lifespan: nothing connects)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from notifier.app import create_app
from notifier.settings import Settings

from shared.contracts.topics import CONSUMERS


def app_client() -> tuple[TestClient, object]:
    app = create_app(Settings(environment="test", otel_traces_file=None))
    return TestClient(app), app


def test_subscribes_every_topic_of_the_contract() -> None:
    _, app = app_client()
    runtime = app.state.runtime  # type: ignore[attr-defined]
    assert set(runtime.consumers.topics) == set(CONSUMERS["notifier"])


def test_template_preview_in_arabic() -> None:
    client, _ = app_client()
    response = client.get("/v1/templates/link_denied", params={"locale": "ar"})
    assert response.status_code == 200
    body = response.json()
    assert body["locale"] == "ar" and body["direction"] == "rtl"
    assert 'dir="rtl"' in body["html"] and body["subject"] and body["text"]


def test_template_list() -> None:
    client, _ = app_client()
    body = client.get("/v1/templates").json()
    assert "verification" in body["items"] and len(body["items"]) == 13
    assert body["locales"] == ["en", "es", "vi", "ar", "so", "ht"]


def test_unknown_template_is_a_404_problem() -> None:
    client, _ = app_client()
    response = client.get("/v1/templates/nope")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/template-not-found")


def test_unsupported_locale_is_a_422_problem() -> None:
    client, _ = app_client()
    response = client.get("/v1/templates/welcome", params={"locale": "fr"})
    assert response.status_code == 422
    problem = response.json()
    assert problem["errors"][0]["field"] == "locale"
    assert problem["errors"][0]["code"] == "invalid_choice"


def test_settings_env_names(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SMTP_PORT", "2525")
    monkeypatch.setenv("SMTP_STARTTLS", "true")
    monkeypatch.setenv("NOTIFIER_RETRY_BASE_SECONDS", "0.5")
    monkeypatch.setenv("NOTIFIER_MAX_SENDS_PER_SECOND", "7")
    monkeypatch.setenv("MAIL_FROM", "Portal <p@example.org>")
    s = Settings()
    assert s.smtp_port == 2525 and s.smtp_starttls is True
    assert s.notifier_retry_base_seconds == 0.5 and s.notifier_max_sends_per_second == 7
    assert s.sender_address("Other <o@x.org>") == "Portal <p@example.org>"
    assert Settings(mail_from=None).sender_address("Other <o@x.org>") == "Other <o@x.org>"
    assert s.http_port == 8003


def test_a_notifier_time_zone_other_than_the_policys_is_refused_at_start() -> None:
    # the same zone (or none) starts; another would print dates the timers do not keep
    create_app(Settings(environment="test", otel_traces_file=None, notifier_timezone=None))
    create_app(
        Settings(environment="test", otel_traces_file=None, notifier_timezone="America/New_York")
    )
    with pytest.raises(ValueError, match="time_zone"):
        create_app(
            Settings(environment="test", otel_traces_file=None, notifier_timezone="Europe/Paris")
        )
