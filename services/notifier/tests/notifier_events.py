"""Sample events of every kind the notifier mails about."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.contracts import events as ev

NOW = datetime(2025, 3, 3, 15, 0, tzinfo=UTC)


def every_mail_event(email: str = "jenny@example.net", locale: str = "es") -> list[ev.Event]:
    """One event of each mail-causing type, addressed to ``email``."""
    link = {"link_id": "L1", "account_id": "A1", "student_id": "90966666", "school_id": "0123"}
    recipient = {"guardian_email": email, "guardian_name": "Jenny Denny", "locale": locale}
    return [
        ev.EmailVerificationRequested(
            account_id="A1",
            email=email,
            locale=locale,
            first_name="Jenny",
            token="t0k/en",
            expires_at=NOW + timedelta(hours=24),
            reason="registration",
        ),
        ev.DuplicateRegistrationAttempted(account_id="A1", email=email, locale=locale, at=NOW),
        ev.EmailVerified(account_id="A1", email=email, verified_at=NOW, locale=locale),
        ev.PasswordResetRequested(
            account_id="A1",
            email=email,
            locale=locale,
            token="r3set",
            expires_at=NOW + timedelta(hours=1),
        ),
        ev.PasswordChanged(
            account_id="A1", email=email, locale=locale, changed_at=NOW, via="change"
        ),
        ev.AccountDisabled(
            account_id="A1", email=email, locale=locale, reason="inactivity", at=NOW
        ),
        ev.LinkRequested(
            **link,
            **recipient,
            method="in_person",
            requested_at=NOW,
            expires_at=NOW + timedelta(days=21),
        ),
        ev.LinkApproved(
            link_id="L1",
            account_id="A1",
            guardian=ev.GuardianContact(name="Jenny Denny", email=email),
            student=ev.StudentRef(student_id="90966666", school_id="0123", first_name="Sam"),
            method="in_person",
            approved_by="staff-1",
            approved_at=NOW,
            locale=locale,
        ),
        ev.LinkDenied(
            **link, **recipient, reason="Not on file", denied_by="staff-1", denied_at=NOW
        ),
        ev.LinkExpired(
            link_id="L1",
            account_id="A1",
            **recipient,
            requested_at=NOW - timedelta(days=21),
            expired_at=NOW,
        ),
        ev.LinkRevoked(**link, **recipient, reason="Court order", revoked_at=NOW),
        ev.LinkExpiryReminder(**link, **recipient, expires_at=NOW + timedelta(days=7)),
        ev.InactivityReminder(
            account_id="A1",
            email=email,
            locale=locale,
            last_activity_at=NOW - timedelta(days=170),
            disable_at=NOW + timedelta(days=14),
        ),
    ]
