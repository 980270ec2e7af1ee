"""Use cases on fakes: record once per (event, template), skip with a reason, keep and
erase preferences."""

from __future__ import annotations

from datetime import timedelta

import pytest
from notifier import handlers
from notifier.domain.model import SkipReason, Status, Template
from notifier.handlers import Dependencies
from notifier.rendering import Renderer
from notifier_events import NOW, every_mail_event
from notifier_fakes import FakeClock, FakeNotifications, FakeRecipients

from shared.contracts import events as ev
from shared.contracts.envelope import Envelope, new_event_id
from shared.runtime.policy import load_policy

POLICY = load_policy()


@pytest.fixture
def deps() -> Dependencies:
    woken: list[int] = []
    d = Dependencies(
        notifications=FakeNotifications(),
        recipients=FakeRecipients(),
        renderer=Renderer(POLICY, portal_url="https://portal.example.org"),
        policy=POLICY,
        portal_url="https://portal.example.org",
        wake_sender=lambda: woken.append(1),
        clock=FakeClock(NOW),
    )
    d.woken = woken  # type: ignore[attr-defined]
    return d


def envelope(event: ev.Event, event_id: str | None = None) -> Envelope:
    return Envelope(
        id=event_id or new_event_id(),
        source="test",
        type=event.event_type(),
        time=NOW,
        subject=event.subject(),
        event=event,
    )


async def test_every_mail_event_is_queued_rendered_in_the_guardians_language(
    deps: Dependencies,
) -> None:
    for event in every_mail_event(locale="vi"):
        (n,) = await handlers.record_notifications(envelope(event), deps)
        assert n.status is Status.QUEUED and n.to == "jenny@example.net"
        assert n.locale == "vi" and 'lang="vi"' in (n.html or "")
        assert n.subject and n.text and n.attempts == 0
    assert len(deps.notifications.docs) == 13
    assert len(deps.woken) == 13


async def test_redelivered_event_is_recorded_once(deps: Dependencies) -> None:
    event = every_mail_event()[3]
    env = envelope(event, "evt-1")
    await handlers.record_notifications(env, deps)
    await handlers.record_notifications(env, deps)
    assert list(deps.notifications.docs) == ["evt-1:password_reset"]
    assert deps.notifications.adds == 2 and len(deps.woken) == 1


async def test_secret_token_only_in_the_mail_body(deps: Dependencies) -> None:
    (n,) = await handlers.record_notifications(envelope(every_mail_event()[3]), deps)
    assert "reset-password?token=r3set" in (n.text or "")
    assert "r3set" not in (n.subject or "")
    assert n.send_before == NOW + timedelta(hours=1)


async def test_preferences_skip_non_security_mail(deps: Dependencies) -> None:
    profile = ev.AccountProfileUpdated(
        account_id="A1", first_name="Jenny", last_name="Denny", locale="es",
        notification_preferences=ev.NotificationPreferences(kinds=["account"]), updated_at=NOW,
    )  # fmt: skip
    assert await handlers.update_recipient(envelope(profile), deps)
    events = every_mail_event()
    approved = next(e for e in events if isinstance(e, ev.LinkApproved))
    changed = next(e for e in events if isinstance(e, ev.PasswordChanged))
    (skipped,) = await handlers.record_notifications(envelope(approved), deps)
    (sent,) = await handlers.record_notifications(envelope(changed), deps)
    assert skipped.status is Status.SKIPPED and skipped.skip_reason is SkipReason.PREFERENCES
    assert skipped.to is None and skipped.text is None
    assert sent.status is Status.QUEUED
    assert len(deps.woken) == 1


async def test_older_profile_update_does_not_win(deps: Dependencies) -> None:
    def profile(kinds: list[str], at_offset: int) -> ev.AccountProfileUpdated:
        return ev.AccountProfileUpdated(
            account_id="A1", first_name="J", last_name="D", locale="en",
            notification_preferences=ev.NotificationPreferences(kinds=kinds),
            updated_at=NOW + timedelta(minutes=at_offset),
        )  # fmt: skip

    assert await handlers.update_recipient(envelope(profile([], 5)), deps)
    assert not await handlers.update_recipient(envelope(profile(["reminders"], 1)), deps)
    recipient = await deps.recipients.get("A1")
    assert recipient is not None and recipient.kinds == ()


async def test_greeting_falls_back_to_the_projected_first_name(deps: Dependencies) -> None:
    profile = ev.AccountProfileUpdated(
        account_id="A1", first_name="Layla", last_name="D", locale="ar", updated_at=NOW
    )
    await handlers.update_recipient(envelope(profile), deps)
    changed = ev.PasswordChanged(
        account_id="A1", email="l@example.net", changed_at=NOW, via="reset"
    )
    (n,) = await handlers.record_notifications(envelope(changed), deps)
    assert "Hello Layla," in (n.text or "")


async def test_event_without_address_is_recorded_as_skipped(deps: Dependencies) -> None:
    revoked = ev.LinkRevoked(
        link_id="L", account_id="A9", student_id="s", school_id="x", reason="r", revoked_at=NOW
    )
    (n,) = await handlers.record_notifications(envelope(revoked, "e9"), deps)
    assert n.status is Status.SKIPPED and n.skip_reason is SkipReason.NO_ADDRESS
    assert deps.notifications.get("e9:link_revoked").status is Status.SKIPPED
    assert deps.woken == []


async def test_account_deleted_erases_preferences_and_cancels_queued_mail(
    deps: Dependencies,
) -> None:
    reminder = next(e for e in every_mail_event() if isinstance(e, ev.InactivityReminder))
    (_queued,) = await handlers.record_notifications(envelope(reminder, "r1"), deps)
    deleted = ev.AccountDeleted(account_id="A1", reason="inactivity", at=NOW)
    assert await handlers.erase_recipient(envelope(deleted), deps) == 1
    n = deps.notifications.get("r1:inactivity_reminder")
    assert n.status is Status.SKIPPED and n.skip_reason is SkipReason.ACCOUNT_DELETED
    assert n.to is None and n.text is None
    # A late profile update cannot bring the preferences back...
    profile = ev.AccountProfileUpdated(
        account_id="A1", first_name="J", last_name="D", locale="en", updated_at=NOW
    )
    assert not await handlers.update_recipient(envelope(profile), deps)
    # ...and later mail for the deleted account is not sent.
    (late,) = await handlers.record_notifications(envelope(every_mail_event()[4]), deps)
    assert late.status is Status.SKIPPED and late.skip_reason is SkipReason.ACCOUNT_DELETED


def test_templates_cover_every_mail_topic() -> None:
    from notifier.entrypoints.consumers import MAIL_TOPICS

    kinds = {type(e).topic for e in every_mail_event()}
    assert kinds == set(MAIL_TOPICS)
    assert len(Template) == len(MAIL_TOPICS)


async def test_unsolicited_mail_is_capped_per_recipient_and_day(deps: Dependencies) -> None:
    deps.daily_cap = 3
    reset = every_mail_event()[3]
    assert isinstance(reset, ev.PasswordResetRequested)
    statuses = []
    for _ in range(5):
        (n,) = await handlers.record_notifications(envelope(reset), deps)
        statuses.append((n.status, n.skip_reason))
    assert statuses[:3] == [(Status.QUEUED, None)] * 3
    assert statuses[3:] == [(Status.SKIPPED, SkipReason.DAILY_CAP)] * 2
    # a redelivery is not counted twice, and mail the guardian asked for is not capped
    env = envelope(reset, "evt-again")
    deps.daily_cap = 6
    (first,) = await handlers.record_notifications(env, deps)
    (again,) = await handlers.record_notifications(env, deps)
    assert first.status is Status.QUEUED and again.status is Status.QUEUED
    assert [len(ids) for ids in deps.notifications.recipient_days.values()] == [6]
    approved = [e for e in every_mail_event() if isinstance(e, ev.LinkApproved)]
    for _ in range(3):
        (n,) = await handlers.record_notifications(envelope(approved[0]), deps)
        assert n.status is Status.QUEUED
