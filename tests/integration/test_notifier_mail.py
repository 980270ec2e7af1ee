"""The notifier on the real stack: events published to Kafka become mail received by the
devstack SMTP server, in the guardian's language, once per event, honouring preferences.

Every test writes to addresses of its own, so the shared inbox can be read concurrently.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from notifier.rendering import Renderer, sample_data

from shared.contracts import events as ev
from shared.runtime.policy import load_policy
from tests.harness import BASE_PORTS, Portal, async_wait_until
from tests.integration.notifier_support import NotificationsDb, publish, unique_email
from tests.portal_client import Guardian
from tests.secrets_registry import remember
from tools.devstack.testing import list_mail, wait_for_mail, wait_for_mails

# PORTAL_PUBLIC_URL of the test portal: its web front end (tests/harness.py)
PORTAL_URL = (
    f"http://127.0.0.1:{BASE_PORTS['web'] + int(os.environ.get('PORTAL_PORT_OFFSET', '0'))}"
)
POLICY = load_policy()
RENDERER = Renderer(POLICY, portal_url=PORTAL_URL)
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
async def db(portal: Portal) -> AsyncIterator[NotificationsDb]:
    handle = NotificationsDb(portal)
    try:
        yield handle
    finally:
        await handle.close()


def _token() -> str:
    """A token as identity makes them (a secret: it must never reach a log line)."""
    token = secrets.token_urlsafe(16)
    remember(token)
    return token


async def _status(db: NotificationsDb, event_id: str, template: str, status: str) -> bool:
    doc = await db.get(event_id, template)
    return doc is not None and doc["status"] == status


async def test_verification_mail_in_arabic_with_a_working_link(
    portal: Portal, db: NotificationsDb
) -> None:
    email, token = unique_email("ar"), _token()
    event = ev.EmailVerificationRequested(
        account_id=f"acc-{uuid.uuid4().hex[:12]}",
        email=email,
        locale="ar",
        first_name="ليلى",
        token=token,
        expires_at=NOW + timedelta(hours=24),
        reason="registration",
    )
    (event_id,) = await publish(portal, [event])
    mail = wait_for_mail(to=email, timeout=45)

    assert mail.recipients == {email}
    assert mail.subject == "أكّد عنوان بريدك الإلكتروني في Parent Portal"
    assert mail.message["Content-Language"] == "ar"
    assert mail.sender == POLICY.branding.mail_from
    assert '<html lang="ar" dir="rtl">' in mail.html
    assert "مرحبًا ليلى،" in mail.text
    link = f"{PORTAL_URL}/verify-email?token={token}"
    assert link in mail.text and f'href="{link}"' in mail.html
    # The mail is recorded as sent, and its body (which holds the token) is dropped.
    await async_wait_until(lambda: _status(db, event_id, "verification", "sent"), timeout=15)
    doc = await db.get(event_id, "verification")
    assert doc is not None and "text" not in doc and "html" not in doc
    assert doc["attempts"] == 1 and doc["locale"] == "ar"


def test_registration_link_in_the_mail_really_verifies(portal: Portal) -> None:
    """Through identity: the link the notifier wrote is the one identity accepts, and the
    welcome mail that follows comes in the guardian's language."""
    guardian = Guardian(portal, locale="es")
    remember(guardian.email)
    assert guardian.register().status_code == 202
    token = guardian.verification_token()
    assert guardian.verify(token).status_code in (200, 204)
    welcome = wait_for_mail(
        to=guardian.email, subject_contains="Le damos la bienvenida", timeout=45
    )
    assert welcome.message["Content-Language"] == "es"
    assert "Próximos pasos:" in welcome.text


@pytest.mark.parametrize("locale", ["vi", "so", "ht"])
async def test_every_kind_of_mail_in_the_guardians_language(
    portal: Portal, db: NotificationsDb, locale: str
) -> None:
    email = unique_email(locale)
    account, link = f"acc-{uuid.uuid4().hex[:12]}", f"link-{uuid.uuid4().hex[:12]}"
    base = {"guardian_email": email, "guardian_name": "Jenny Denny", "locale": locale}
    link_ids = {
        "link_id": link,
        "account_id": account,
        "student_id": "90966666",
        "school_id": "0123",
    }
    events: list[ev.Event] = [
        ev.EmailVerificationRequested(
            account_id=account,
            email=email,
            locale=locale,
            first_name="Jenny",
            token=_token(),
            expires_at=NOW + timedelta(hours=24),
            reason="resend",
        ),
        ev.PasswordResetRequested(
            account_id=account,
            email=email,
            locale=locale,
            token=_token(),
            expires_at=NOW + timedelta(hours=1),
        ),
        ev.DuplicateRegistrationAttempted(account_id=account, email=email, locale=locale, at=NOW),
        ev.EmailVerified(account_id=account, email=email, verified_at=NOW, locale=locale),
        ev.PasswordChanged(
            account_id=account, email=email, locale=locale, changed_at=NOW, via="reset"
        ),
        ev.AccountDisabled(
            account_id=account, email=email, locale=locale, reason="inactivity", at=NOW
        ),
        ev.LinkRequested(
            **link_ids,
            **base,
            method="in_person",
            requested_at=NOW,
            expires_at=NOW + timedelta(days=21),
        ),
        ev.LinkApproved(
            link_id=link,
            account_id=account,
            guardian=ev.GuardianContact(name="Jenny Denny", email=email),
            student=ev.StudentRef(student_id="90966666", school_id="0123", first_name="Sam"),
            method="in_person",
            approved_by="staff-1",
            approved_at=NOW,
            locale=locale,
        ),
        ev.LinkDenied(**link_ids, **base, reason="Not on file", denied_by="s", denied_at=NOW),
        ev.LinkExpired(
            link_id=link,
            account_id=account,
            **base,
            requested_at=NOW - timedelta(days=21),
            expired_at=NOW,
        ),
        ev.LinkRevoked(**link_ids, **base, reason="Court order", revoked_at=NOW),
        ev.LinkExpiryReminder(**link_ids, **base, expires_at=NOW + timedelta(days=7)),
        ev.InactivityReminder(
            account_id=account,
            email=email,
            locale=locale,
            last_activity_at=NOW - timedelta(days=170),
            disable_at=NOW + timedelta(days=14),
        ),
    ]
    await publish(portal, events)
    mails = wait_for_mails(len(events), to=email, timeout=60)
    assert len(mails) == len(events)
    english = {RENDERER.sample(t, "en").subject for t in RENDERER.template_names()}
    for mail in mails:
        assert mail.message["Content-Language"] == locale
        assert f'<html lang="{locale}" dir="ltr">' in mail.html
        assert mail.subject and mail.subject not in english
        assert mail.text.startswith(POLICY.branding.district_name)
    # The deadline mail names the date in the guardian's language.
    expected = RENDERER.render(
        "link_pending",
        locale,
        {**sample_data("link_pending", RENDERER), "expires_at": NOW + timedelta(days=21)},
    ).subject  # type: ignore[arg-type]
    assert expected in {m.subject for m in mails}


async def test_duplicate_delivery_sends_one_mail(portal: Portal, db: NotificationsDb) -> None:
    email, sentinel_email = unique_email("dup"), unique_email("sentinel")
    account = f"acc-{uuid.uuid4().hex[:12]}"
    changed = ev.PasswordChanged(
        account_id=account, email=email, locale="en", changed_at=NOW, via="change"
    )
    # The same CloudEvent three times (a redelivery), then another event with the same key
    # (same partition, so processed after the duplicates).
    sentinel = changed.model_copy(update={"email": sentinel_email})
    dup = str(uuid.uuid4())
    await publish(portal, [changed, changed, changed, sentinel], event_ids=[dup] * 3 + ["s-" + dup])
    wait_for_mail(to=sentinel_email, timeout=45)
    await async_wait_until(lambda: _status(db, dup, "password_changed", "sent"), timeout=15)
    assert len(list_mail(to=email)) == 1
    doc = await db.get(dup, "password_changed")
    assert doc is not None and doc["attempts"] == 1 and doc.get("claims") == 1


async def test_preferences_are_honoured_but_security_mail_always_goes(
    portal: Portal, db: NotificationsDb
) -> None:
    email = unique_email("prefs")
    account = f"acc-{uuid.uuid4().hex[:12]}"
    profile = ev.AccountProfileUpdated(
        account_id=account,
        first_name="Jenny",
        last_name="Denny",
        locale="es",
        notification_preferences=ev.NotificationPreferences(kinds=["account"]),
        updated_at=NOW,
    )
    await publish(portal, [profile])

    async def projected() -> bool:
        doc = await db.recipients.find_one({"_id": account})
        return doc is not None and doc["kinds"] == ["account"]

    await async_wait_until(projected, timeout=30)
    approved = ev.LinkApproved(
        link_id=f"L-{account}",
        account_id=account,
        guardian=ev.GuardianContact(name="Jenny Denny", email=email),
        student=ev.StudentRef(student_id="1", school_id="0123"),
        method="activation_code",
        approved_by="staff-1",
        approved_at=NOW,
        locale="es",
    )
    changed = ev.PasswordChanged(
        account_id=account, email=email, locale="es", changed_at=NOW, via="change"
    )
    approved_id, _ = await publish(portal, [approved, changed])
    security = wait_for_mail(to=email, timeout=45)
    assert security.subject == "Se cambió su contraseña de Parent Portal"
    await async_wait_until(lambda: _status(db, approved_id, "link_approved", "skipped"), timeout=30)
    doc = await db.get(approved_id, "link_approved")
    assert doc is not None and doc["skip_reason"] == "preferences" and "to" not in doc
    assert len(list_mail(to=email)) == 1


async def test_event_without_address_is_recorded_as_skipped(
    portal: Portal, db: NotificationsDb
) -> None:
    revoked = ev.LinkRevoked(
        link_id="L-noaddr",
        account_id="acc-deleted",
        student_id="1",
        school_id="0123",
        reason="Court order",
        revoked_at=NOW,
    )
    (event_id,) = await publish(portal, [revoked])
    await async_wait_until(lambda: _status(db, event_id, "link_revoked", "skipped"), timeout=30)
    doc = await db.get(event_id, "link_revoked")
    assert doc is not None and doc["skip_reason"] == "no_address"


async def test_account_deleted_erases_the_recipient(portal: Portal, db: NotificationsDb) -> None:
    account = f"acc-erase-{uuid.uuid4().hex[:12]}"
    profile = ev.AccountProfileUpdated(
        account_id=account, first_name="Jenny", last_name="Denny", locale="en", updated_at=NOW
    )
    deleted = ev.AccountDeleted(account_id=account, reason="inactivity", at=NOW)
    await publish(portal, [profile])
    await async_wait_until(lambda: db.recipients.find_one({"_id": account}), timeout=30)
    await publish(portal, [deleted])

    async def erased() -> bool:
        doc = await db.recipients.find_one({"_id": account})
        return doc is not None and doc.get("deleted") is True

    await async_wait_until(erased, timeout=30)
    doc = await db.recipients.find_one({"_id": account})
    assert doc is not None and "first_name" not in doc and "kinds" not in doc
    # A redelivered profile update cannot bring the data back.
    await publish(portal, [profile.model_copy(update={"updated_at": NOW + timedelta(seconds=1)})])
    sentinel = ev.AccountDeleted(account_id=account, reason="again", at=NOW)
    await publish(portal, [sentinel])
    await async_wait_until(
        lambda: db.recipients.find_one({"_id": account, "deleted_at": NOW}), timeout=30
    )
    doc = await db.recipients.find_one({"_id": account})
    assert doc is not None and "first_name" not in doc


def test_template_preview_for_operators(portal: Portal) -> None:
    base = portal.url("notifier")
    arabic = httpx.get(f"{base}/v1/templates/link_denied", params={"locale": "ar"}, timeout=10)
    assert arabic.status_code == 200
    body = arabic.json()
    assert body["direction"] == "rtl" and '<html lang="ar" dir="rtl">' in body["html"]
    assert body["subject"] == "لم تتم الموافقة على طلبك لربط طالب"
    missing = httpx.get(f"{base}/v1/templates/nope", timeout=10)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    bad = httpx.get(f"{base}/v1/templates/welcome", params={"locale": "xx"}, timeout=10)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "locale"
