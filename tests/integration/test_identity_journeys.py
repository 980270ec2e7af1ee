"""Identity on the real stack: register → verification email → verify → sign in → change
password → reset; no enumeration; 50 concurrent duplicates; lockout."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.harness import Portal
from tests.integration.identity_support import (
    decode_access_token,
    event_for,
    events,
    identity_db,
    registered_active,
    registration,
    remember,
    sign_in,
    unique_email,
    verification_token,
    watcher,
)
from tests.kafka_tools import TopicWatcher
from tools.devstack import testing as devstack


@pytest.fixture(scope="module")
async def w(portal: Portal) -> AsyncIterator[TopicWatcher]:
    async with watcher(portal) as topic_watcher:
        yield topic_watcher


@pytest.fixture
async def client(portal: Portal) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=portal.url("identity"), timeout=60) as c:
        yield c


async def test_register_verify_sign_in_change_password_and_reset(
    client: httpx.AsyncClient, w: TopicWatcher
) -> None:
    email = unique_email("journey")
    password, new_password, reset_password = "Secr3t!pw", "N3w!passw", "R3set!pwd"
    remember(password, new_password, reset_password)

    r = await client.post("/v1/accounts", json=registration(f"  {email.upper()} ", password))
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "unverified"
    created = await w.wait_for(lambda e: e.type == "AccountCreated" and e.event.email == email)
    account_id = created.event.account_id
    assert created.event.phones[0].number == "9045550100"
    assert created.event.student_claims[0].school_id == "0123"
    token = await verification_token(w, account_id)

    # Not verified yet: a clear 403 telling to verify first.
    r = await client.post("/v1/sessions", json={"email": email, "password": password})
    assert r.status_code == 403 and r.json()["code"] == "email_not_verified"
    assert "verify" in r.json()["title"].lower()

    # Wrong password with the right token: refused, token still usable.
    r = await client.post("/v1/email-verifications", json={"token": token, "password": "Wr0ng!pw"})
    assert r.status_code == 422
    assert r.json()["errors"][0] == {
        **r.json()["errors"][0],
        "field": "password",
        "code": "password_incorrect",
    }
    r = await client.post("/v1/email-verifications", json={"token": token, "password": password})
    assert r.status_code == 200 and r.json() == {"account_id": account_id, "status": "active"}
    verified = await event_for(w, "EmailVerified", account_id)
    assert verified.event.reactivated is False
    # Single use.
    r = await client.post("/v1/email-verifications", json={"token": token, "password": password})
    assert r.status_code == 400 and r.json()["code"] == "token_invalid"

    access = await sign_in(client, email, password)
    claims = decode_access_token(access)
    assert claims["sub"] == account_id and claims["email"] == email
    assert claims["name"] == "Jenny Denny" and claims["locale"] == "en" and claims["sid"]
    assert claims["exp"] - claims["iat"] == 15 * 60
    await event_for(w, "AccountSignedIn", account_id)
    # A second sign-in the same day emits nothing more.
    access2 = await sign_in(client, email, password)
    auth = {"Authorization": f"Bearer {access}"}

    r = await client.get("/v1/accounts/me", headers=auth)
    assert r.status_code == 200, r.text
    me = r.json()
    assert me["email"] == email and me["status"] == "active"
    assert me["phones"]["home"] == {"same_as_mobile": True, "number": None, "unlisted": False}
    assert "password_hash" not in r.text and "answers_hash" not in r.text

    r = await client.patch(
        "/v1/accounts/me",
        headers=auth,
        json={
            "locale": "es",
            "phones": {
                "mobile": {"number": "904-555-0199", "sms": True},
                "home": None,
                "work": {"number": "9045550111", "extension": "12"},
                "emergency": "work",
            },
            "notification_preferences": {"channels": ["email", "sms"], "kinds": ["account"]},
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["locale"] == "es" and r.json()["phones"]["work"]["extension"] == "12"
    updated = await event_for(w, "AccountProfileUpdated", account_id)
    assert updated.event.locale == "es"
    assert [(p.kind, p.number) for p in updated.event.phones] == [
        ("mobile", "9045550199"),
        ("work", "9045550111"),
    ]
    assert updated.event.notification_preferences.channels == ["email", "sms"]

    # The email is immutable; the error comes in the account's language.
    r = await client.patch("/v1/accounts/me", headers=auth, json={"email": unique_email()})
    assert r.status_code == 422
    assert r.json()["errors"][0]["code"] == "email_immutable"
    assert r.json()["errors"][0]["message"].startswith("El correo")

    # Change password: wrong current → field error; right → new token, others end.
    r = await client.put(
        "/v1/accounts/me/password",
        headers=auth,
        json={"current_password": "Wr0ng!pw", "new_password": new_password},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "current_password"
    r = await client.put(
        "/v1/accounts/me/password",
        headers=auth,
        json={"current_password": password, "new_password": "short"},
    )
    assert r.status_code == 422
    assert {e["code"] for e in r.json()["errors"]} >= {"password_too_short"}
    r = await client.put(
        "/v1/accounts/me/password",
        headers=auth,
        json={"current_password": password, "new_password": new_password},
    )
    assert r.status_code == 200, r.text
    fresh = r.json()["access_token"]
    remember(fresh)
    assert (await client.get("/v1/accounts/me", headers=auth)).status_code == 401
    assert (
        await client.get("/v1/accounts/me", headers={"Authorization": f"Bearer {access2}"})
    ).status_code == 401
    r = await client.get("/v1/accounts/me", headers={"Authorization": f"Bearer {fresh}"})
    assert r.status_code == 200
    changed = await event_for(w, "PasswordChanged", account_id, via="change")
    assert changed.event.email == email and changed.event.locale == "es"
    r = await client.post("/v1/sessions", json={"email": email, "password": password})
    assert r.status_code == 401
    access = await sign_in(client, email, new_password)

    # Reset: always 202; the token ends every session and is single use.
    r = await client.post("/v1/password-resets", json={"email": email})
    assert r.status_code == 202 and r.json() == {"status": "accepted"}
    reset = await event_for(w, "PasswordResetRequested", account_id)
    reset_token = reset.event.token
    remember(reset_token)
    r = await client.post(
        "/v1/password-resets/confirm", json={"token": reset_token, "new_password": "weak"}
    )
    assert r.status_code == 422
    r = await client.post(
        "/v1/password-resets/confirm", json={"token": reset_token, "new_password": reset_password}
    )
    assert r.status_code == 200, r.text
    await event_for(w, "PasswordChanged", account_id, via="reset")
    for old in (access, fresh):
        r = await client.get("/v1/accounts/me", headers={"Authorization": f"Bearer {old}"})
        assert r.status_code == 401 and r.json()["code"] == "session_invalid"
    r = await client.post(
        "/v1/password-resets/confirm", json={"token": reset_token, "new_password": "An0ther!pw"}
    )
    assert r.status_code == 400 and r.json()["code"] == "token_invalid"
    await sign_in(client, email, reset_password)
    assert len(events(w, "AccountSignedIn", account_id=account_id)) == 1


async def test_verification_email_arrives_at_the_smtp_server(
    client: httpx.AsyncClient, w: TopicWatcher
) -> None:
    """The notifier mails the verification link carrying the token identity issued."""
    email = unique_email("smtp")
    r = await client.post("/v1/accounts", json=registration(email))
    assert r.status_code == 202
    created = await w.wait_for(lambda e: e.type == "AccountCreated" and e.event.email == email)
    token = await verification_token(w, created.event.account_id)
    mail = await asyncio.to_thread(devstack.wait_for_mail, to=email, timeout=60)
    body = mail.message.get_body(preferencelist=("plain", "html"))
    text = body.get_content() if body is not None else mail.raw.decode(errors="replace")
    links = re.findall(r"/verify-email\?token=([A-Za-z0-9_\-]+)", text)
    assert token in links, "the mailed link does not carry the issued token"


async def test_duplicate_email_gets_the_same_answer_and_the_owner_is_told(
    client: httpx.AsyncClient, w: TopicWatcher
) -> None:
    email = unique_email("dup")
    first = await client.post("/v1/accounts", json=registration(email))
    second = await client.post(
        "/v1/accounts", json=registration(f" {email.title()}  ", password="Other!pw9")
    )
    fresh = await client.post("/v1/accounts", json=registration(unique_email("dup-new")))
    for r in (first, second, fresh):
        assert r.status_code == 202
        assert r.headers["content-type"] == first.headers["content-type"]
        assert sorted(r.json()) == ["account_id", "status"]
        assert r.json()["status"] == "unverified"
        assert re.fullmatch(r"[0-9a-f-]{36}", r.json()["account_id"])
    owner = await w.wait_for(lambda e: e.type == "AccountCreated" and e.event.email == email)
    assert owner.event.account_id == first.json()["account_id"]
    dup = await event_for(w, "DuplicateRegistrationAttempted", owner.event.account_id)
    assert dup.event.email == email and dup.event.first_name == "Jenny"
    assert second.json()["account_id"] != owner.event.account_id
    assert len(events(w, "AccountCreated", email=email)) == 1


async def test_fifty_concurrent_registrations_of_one_email_make_one_account(
    portal: Portal, client: httpx.AsyncClient, w: TopicWatcher
) -> None:
    email = unique_email("race")
    body = registration(email)
    answers = await asyncio.gather(*(client.post("/v1/accounts", json=body) for _ in range(50)))
    assert [r.status_code for r in answers] == [202] * 50
    assert {tuple(sorted(r.json())) for r in answers} == {("account_id", "status")}
    owner = await w.wait_for(lambda e: e.type == "AccountCreated" and e.event.email == email)
    account_id = owner.event.account_id
    await w.wait_for(
        lambda _: len(events(w, "DuplicateRegistrationAttempted", account_id=account_id)) >= 49,
        timeout=60,
    )
    assert len(events(w, "DuplicateRegistrationAttempted", account_id=account_id)) == 49
    assert len(events(w, "AccountCreated", email=email)) == 1
    mongo, db = identity_db(portal)
    try:
        assert await db.accounts.count_documents({"email": email}) == 1
    finally:
        await mongo.close()


async def test_repeated_failures_lock_the_account_with_retry_after(
    client: httpx.AsyncClient, w: TopicWatcher
) -> None:
    email = unique_email("lock")
    password = "L0ck!edpw"
    await registered_active(client, w, email, password)
    for _ in range(5):
        r = await client.post("/v1/sessions", json={"email": email, "password": "Wr0ng!pw1"})
        assert r.status_code == 401 and r.json()["code"] == "invalid_credentials"
    r = await client.post(
        "/v1/sessions",
        json={"email": email, "password": password},
        headers={"Accept-Language": "vi"},
    )
    assert r.status_code == 429
    assert r.headers["content-type"].startswith("application/problem+json")
    assert 0 < int(r.headers["Retry-After"]) <= 15 * 60
    assert r.json()["code"] == "too_many_attempts" and "Quá nhiều" in r.json()["title"]
    # Unknown emails answer exactly like a wrong password (no enumeration).
    r = await client.post(
        "/v1/sessions", json={"email": unique_email("nobody"), "password": "Wr0ng!pw1"}
    )
    assert r.status_code == 401 and r.json()["code"] == "invalid_credentials"


async def test_resend_and_reset_answer_the_same_for_unknown_emails(
    client: httpx.AsyncClient, w: TopicWatcher
) -> None:
    email = unique_email("resend")
    r = await client.post("/v1/accounts", json=registration(email))
    created = await w.wait_for(lambda e: e.type == "AccountCreated" and e.event.email == email)
    account_id = created.event.account_id
    unknown = unique_email("unknown")
    for path in ("/v1/email-verifications/resend", "/v1/password-resets"):
        known_r = await client.post(path, json={"email": email})
        unknown_r = await client.post(path, json={"email": unknown})
        assert known_r.status_code == unknown_r.status_code == 202
        assert known_r.json() == unknown_r.json() == {"status": "accepted"}
    first = await verification_token(w, account_id)
    second = await verification_token(w, account_id, reason="resend")
    assert first != second
    # Either emailed link works (the latest few are kept).
    r = await client.post("/v1/email-verifications", json={"token": first, "password": "Secr3t!pw"})
    assert r.status_code == 200, r.text
