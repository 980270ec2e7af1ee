"""Webhooks domain: Standard Webhooks signatures, URL policy, retry schedule, rotation,
CloudEvents structured body."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from webhooks.domain.model import (
    DEFAULT_RETRY_SCHEDULE,
    Endpoint,
    RetrySchedule,
    SigningSecret,
    check_url,
    structured_event,
)
from webhooks.domain.signing import new_secret, sign, signature_header, verify

from shared.contracts.envelope import decode
from shared.contracts.vectors import load_vectors

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def test_signature_matches_the_standard_webhooks_reference_example() -> None:
    # The example of the Standard Webhooks specification and its reference libraries.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert (
        sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_verify_accepts_any_active_secret_and_refuses_tampering_and_stale() -> None:
    old, new = new_secret(), new_secret()
    body = b'{"a":1}'
    headers = {
        "webhook-id": "e1",
        "webhook-timestamp": "1000",
        "webhook-signature": signature_header([new, old], "e1", 1000, body),
    }
    assert verify(old, headers, body, now=1000)
    assert verify(new, headers, body, now=1010)
    assert not verify(new_secret(), headers, body, now=1000)
    assert not verify(new, headers, b'{"a":2}', now=1000)
    assert not verify(new, {**headers, "webhook-id": "e2"}, body, now=1000)
    assert not verify(new, headers, body, now=1000 + 301)


def _resolver(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def resolve(host: str, _port: int) -> list[str]:
        if host not in table:
            raise OSError("no such host")
        return table[host]

    return resolve


DNS = _resolver(
    {
        "sis.example.org": ["93.184.215.14"],
        "intranet.district.k12": ["10.20.30.40"],
        "metadata": ["169.254.169.254"],
        "localhost": ["127.0.0.1"],
        "split.example.org": ["93.184.215.14", "192.168.1.5"],
    }
)


@pytest.mark.parametrize(
    ("url", "require_https", "allowed", "fragment"),
    [
        ("http://sis.example.org/hook", True, [], "http:// is refused"),
        ("https://intranet.district.k12/hook", True, [], "non-public address"),
        ("https://metadata/latest", True, [], "non-public address"),
        ("https://localhost:8443/hook", True, [], "non-public address"),
        ("https://split.example.org/hook", True, [], "192.168.1.5"),
        ("https://user:pw@sis.example.org/hook", True, [], "credentials"),
        ("https://nowhere.example.org/hook", True, [], "does not resolve"),
        ("ftp://sis.example.org/hook", True, [], "https://"),
    ],
)
def test_bad_urls_are_refused(
    url: str, require_https: bool, allowed: list[str], fragment: str
) -> None:
    problems = check_url(url, require_https=require_https, allowed_networks=allowed, resolve=DNS)
    assert any(fragment in p for p in problems), problems


def test_allowed_urls() -> None:
    assert (
        check_url(
            "https://sis.example.org/hook", require_https=True, allowed_networks=[], resolve=DNS
        )
        == []
    )
    assert (
        check_url(
            "https://intranet.district.k12/hook",
            require_https=True,
            allowed_networks=["10.0.0.0/8"],
            resolve=DNS,
        )
        == []
    )
    assert (
        check_url(
            "http://sis.example.org/hook", require_https=False, allowed_networks=[], resolve=DNS
        )
        == []
    )


def test_retry_schedule_lasts_days_then_gives_up() -> None:
    schedule = RetrySchedule()
    assert schedule.next_delay(1) == DEFAULT_RETRY_SCHEDULE[0]
    assert schedule.total_seconds > 3 * 86400
    assert schedule.next_delay(len(DEFAULT_RETRY_SCHEDULE)) == DEFAULT_RETRY_SCHEDULE[-1]
    assert schedule.next_delay(len(DEFAULT_RETRY_SCHEDULE) + 1) is None


def test_rotation_keeps_the_old_secret_for_the_overlap_only() -> None:
    endpoint = Endpoint(
        id="ep_1",
        sis="focus",
        url="https://sis.example.org/hook",
        event_types=frozenset({"LinkApproved"}),
        secrets=(SigningSecret("whsec_old", NOW),),
        created_at=NOW,
    )
    rotated = endpoint.rotated("whsec_new", NOW, timedelta(hours=24))
    assert rotated.signing_secrets(NOW) == ["whsec_new", "whsec_old"]
    assert rotated.signing_secrets(NOW + timedelta(hours=25)) == ["whsec_new"]
    twice = rotated.rotated("whsec_newer", NOW + timedelta(hours=1), timedelta(hours=24))
    assert twice.signing_secrets(NOW + timedelta(hours=2)) == [
        "whsec_newer",
        "whsec_new",
        "whsec_old",
    ]
    # The oldest keeps its earlier expiry; a rotation never extends it.
    assert twice.signing_secrets(NOW + timedelta(hours=24, minutes=30)) == [
        "whsec_newer",
        "whsec_new",
    ]


@pytest.mark.parametrize("vector", list(load_vectors()), ids=lambda v: v[2]["name"])
def test_structured_body_is_the_cloudevent_of_the_kafka_record(vector) -> None:  # type: ignore[no-untyped-def]
    _, _, record = vector
    envelope = decode([(k, v.encode()) for k, v in record["headers"]], record["value"].encode())
    body = structured_event(envelope)
    headers = dict(record["headers"])
    assert body["specversion"] == "1.0"
    assert body["id"] == headers["ce_id"]
    assert body["type"] == headers["ce_type"]
    assert body["source"] == headers["ce_source"]
    assert body["subject"] == headers["ce_subject"] == record["key"]
    assert body["dataschema"] == headers["ce_dataschema"]
    assert body["datacontenttype"] == "application/json"
    assert body["data"] == json.loads(record["value"])
    assert datetime.fromisoformat(body["time"]) == datetime.fromisoformat(headers["ce_time"])
