"""Helpers of the identity integration tests: bodies, unique emails, event lookups."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
from pymongo import AsyncMongoClient

from shared.contracts.envelope import Envelope, encode
from shared.contracts.events import InactivityTimeout
from shared.runtime.devkeys import dev_keypair
from tests.harness import Portal
from tests.kafka_tools import TopicWatcher, produce_raw
from tests.secrets_registry import remember as _remember_for_suite

#: Secrets the identity tests used (also registered for the suite-wide scan).
IDENTITY_SECRETS: set[str] = set()


def remember(*values: str | None) -> None:
    """Record passwords, tokens and answers used (short values are too ambiguous)."""
    _remember_for_suite(*values)
    IDENTITY_SECRETS.update(v for v in values if v and len(v) >= 6)


IDENTITY_TOPICS = [
    "AccountCreated",
    "EmailVerificationRequested",
    "EmailVerified",
    "DuplicateRegistrationAttempted",
    "PasswordResetRequested",
    "PasswordChanged",
    "AccountSignedIn",
    "AccountDisabled",
    "AccountDeleted",
    "AccountProfileUpdated",
]


def unique_email(tag: str = "g") -> str:
    """A fresh guardian email for one test."""
    email = f"{tag}.{uuid.uuid4().hex[:10]}@example.net"
    _remember_for_suite(email)
    return email


def registration(email: str, password: str = "Secr3t!pw", **overrides: Any) -> dict[str, Any]:
    """The contract's registration body (§4) for ``email``."""
    answers = [
        {"question_id": "first_pet", "answer": f"Rover the dog {uuid.uuid4().hex[:6]}"},
        {"question_id": "birth_city", "answer": f"Jacksonville {uuid.uuid4().hex[:6]}"},
        {"question_id": "first_school", "answer": f"Ortega Elementary {uuid.uuid4().hex[:6]}"},
    ]
    remember(password, *(a["answer"] for a in answers))
    body: dict[str, Any] = {
        "email": email,
        "password": password,
        "first_name": "Jenny",
        "last_name": "Denny",
        "locale": "en",
        "phones": {
            "mobile": {"number": "(904) 555-0100", "unlisted": True, "sms": False},
            "home": {"same_as_mobile": True},
            "work": None,
            "emergency": "mobile",
        },
        "secondary_email": None,
        "address": {
            "street": "111 Street Dr.",
            "apt": None,
            "city": "Jacksonville",
            "state": "FL",
            "zip": "32207",
        },
        "security_answers": answers,
        "accepted_usage_policy": True,
        "captcha_token": None,
        "student_claims": [
            {
                "school_id": "0123",
                "student_id": uuid.uuid4().hex[:8],
                "student_last_name": "Student",
            }
        ],
    }
    body.update(overrides)
    return body


def watcher(portal: Portal, names: list[str] | None = None) -> TopicWatcher:
    """A consumer of the run's identity topics from the beginning."""
    return TopicWatcher([portal.topic(n) for n in (names or IDENTITY_TOPICS)])


async def event_for(
    w: TopicWatcher, topic: str, account_id: str, timeout: float = 30.0, **match: Any
) -> Envelope:
    """The first ``topic`` event about ``account_id`` (and with ``match`` field values)."""

    def ok(env: Envelope) -> bool:
        ev = env.event
        return (
            env.type == topic
            and getattr(ev, "account_id", None) == account_id
            and all(getattr(ev, k, None) == v for k, v in match.items())
        )

    return await w.wait_for(ok, timeout=timeout)


def events(w: TopicWatcher, topic: str, **match: Any) -> list[Envelope]:
    """Every ``topic`` event seen so far with ``match`` field values."""
    return [
        e
        for e in w.envelopes()
        if e.type == topic and all(getattr(e.event, k, None) == v for k, v in match.items())
    ]


async def verification_token(w: TopicWatcher, account_id: str, reason: str = "registration") -> str:
    """The token of the account's ``EmailVerificationRequested`` event."""
    env = await event_for(w, "EmailVerificationRequested", account_id, reason=reason)
    token = env.event.token  # type: ignore[attr-defined]
    remember(token)
    return str(token)


async def registered_active(
    client: httpx.AsyncClient, w: TopicWatcher, email: str, password: str = "Secr3t!pw"
) -> tuple[str, str]:
    """Register and verify an account; (account_id, access token)."""
    r = await client.post("/v1/accounts", json=registration(email, password))
    assert r.status_code == 202, r.text
    created = await w.wait_for(
        lambda e: e.type == "AccountCreated" and e.event.email == email  # type: ignore[attr-defined]
    )
    account_id = created.event.account_id  # type: ignore[attr-defined]
    token = await verification_token(w, account_id)
    r = await client.post("/v1/email-verifications", json={"token": token, "password": password})
    assert r.status_code == 200, r.text
    return account_id, await sign_in(client, email, password)


async def sign_in(client: httpx.AsyncClient, email: str, password: str) -> str:
    """An access token (asserts the sign-in succeeds)."""
    r = await client.post("/v1/sessions", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    remember(token)
    return str(token)


def decode_access_token(token: str) -> dict[str, Any]:
    """Verify a guardian JWT as linking does: with the public key only."""
    _, public_pem = dev_keypair("identity-jwt")
    assert jwt.get_unverified_header(token)["kid"] == "local-1"
    return dict(
        jwt.decode(
            token,
            public_pem,
            algorithms=["ES256"],
            audience="guardian-portal",
            issuer="urn:guardian-portal:identity",
        )
    )


async def publish_inactivity(
    portal: Portal,
    account_id: str,
    stage: str,
    last_activity_at: datetime,
    event_id: str | None = None,
) -> str:
    """Publish an ``InactivityTimeout`` as the scheduler would; returns its CloudEvents id."""
    event = InactivityTimeout(
        account_id=account_id,
        stage=stage,  # type: ignore[arg-type]
        last_activity_at=last_activity_at,
        due_at=datetime.now(UTC),
    )
    event_id = event_id or str(uuid.uuid4())
    record = encode(event, source="scheduler", event_id=event_id)
    await produce_raw(portal.topic("InactivityTimeout"), record.value, record.headers, record.key)
    return event_id


def identity_db(portal: Portal) -> Any:
    """The run's ``identity`` database (this service's own data)."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        "mongodb://127.0.0.1:27017", tz_aware=True
    )
    return client, client[f"{portal.db_prefix}identity"]
