"""Account lifecycle on the real stack: InactivityTimeout disables (and a re-verification
re-activates) or erases an account; stale and redelivered timeouts change nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.harness import Portal, async_wait_until
from tests.integration.identity_support import (
    event_for,
    events,
    identity_db,
    publish_inactivity,
    registered_active,
    registration,
    sign_in,
    unique_email,
    verification_token,
    watcher,
)
from tests.kafka_tools import TopicWatcher


@pytest.fixture(scope="module")
async def w(portal: Portal) -> AsyncIterator[TopicWatcher]:
    async with watcher(portal) as topic_watcher:
        yield topic_watcher


@pytest.fixture
async def client(portal: Portal) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=portal.url("identity"), timeout=60) as c:
        yield c


async def test_disabled_account_must_reverify_before_signing_in(
    portal: Portal, client: httpx.AsyncClient, w: TopicWatcher
) -> None:
    email = unique_email("disable")
    account_id, access = await registered_active(client, w, email)
    signed = await event_for(w, "AccountSignedIn", account_id)

    # A timeout based on an activity older than the last one is stale: ignored.
    stale_id = await publish_inactivity(
        portal, account_id, "disable", signed.event.at - timedelta(days=1)
    )
    event_id = await publish_inactivity(portal, account_id, "disable", signed.event.at)
    disabled = await event_for(w, "AccountDisabled", account_id)
    assert disabled.event.reason == "inactivity" and disabled.event.email == email
    # Redelivery of the same event (same CloudEvents id) and a second timeout: no change.
    await publish_inactivity(portal, account_id, "disable", signed.event.at, event_id=event_id)
    await publish_inactivity(portal, account_id, "disable", signed.event.at)
    assert stale_id != event_id

    # Existing sessions ended with the disable.
    r = await client.get("/v1/accounts/me", headers={"Authorization": f"Bearer {access}"})
    assert r.status_code == 401

    r = await client.post(
        "/v1/sessions",
        json={"email": email, "password": "Secr3t!pw"},
        headers={"Accept-Language": "ht"},
    )
    assert r.status_code == 403 and r.json()["code"] == "account_disabled"
    assert "imèl" in r.json()["title"]
    token = await verification_token(w, account_id, reason="reactivation")
    r = await client.post("/v1/email-verifications", json={"token": token, "password": "Secr3t!pw"})
    assert r.status_code == 200 and r.json()["status"] == "active"
    await event_for(w, "EmailVerified", account_id, reactivated=True)
    await sign_in(client, email, "Secr3t!pw")
    assert len(events(w, "AccountDisabled", account_id=account_id)) == 1

    # A delete timeout based on the activity before the re-activation is stale too. A
    # later timeout for the same account (same key, same partition, handled in order)
    # shows when the stale one has been handled.
    await publish_inactivity(portal, account_id, "delete", signed.event.at)
    await publish_inactivity(portal, account_id, "disable", datetime.now(UTC) + timedelta(days=1))
    await w.wait_for(lambda _: len(events(w, "AccountDisabled", account_id=account_id)) == 2)
    assert events(w, "AccountDeleted", account_id=account_id) == []


async def test_deleted_account_keeps_only_its_id_status_and_deletion_time(
    portal: Portal, client: httpx.AsyncClient, w: TopicWatcher
) -> None:
    email = unique_email("delete")
    account_id, _ = await registered_active(client, w, email)
    signed = await event_for(w, "AccountSignedIn", account_id)
    event_id = await publish_inactivity(portal, account_id, "delete", signed.event.at)
    deleted = await event_for(w, "AccountDeleted", account_id)
    assert deleted.event.reason == "inactivity"
    await publish_inactivity(portal, account_id, "delete", signed.event.at, event_id=event_id)

    mongo, db = identity_db(portal)
    try:

        async def erased() -> dict | None:
            doc = await db.accounts.find_one({"_id": account_id})
            return doc if doc and not doc.get("_outbox") else None

        doc = await async_wait_until(erased, timeout=30, what="outbox relayed")
        assert {k for k in doc if not k.startswith("_outbox")} == {"_id", "status", "deleted_at"}
        assert doc["status"] == "deleted"
    finally:
        await mongo.close()

    r = await client.post("/v1/sessions", json={"email": email, "password": "Secr3t!pw"})
    assert r.status_code == 401 and r.json()["code"] == "invalid_credentials"
    # The email is free again: a new registration makes a new account.
    r = await client.post("/v1/accounts", json=registration(email))
    again = await w.wait_for(
        lambda e: (
            e.type == "AccountCreated"
            and e.event.email == email
            and e.event.account_id != account_id
        )
    )
    assert again.event.account_id != account_id
    assert len(events(w, "AccountDeleted", account_id=account_id)) == 1
