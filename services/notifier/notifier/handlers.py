"""Use cases: one function per event kind the notifier consumes.

Handlers only record: a notification is stored as ``queued`` (or ``skipped``) under its
``(event id, template)`` key and the sender is woken; sending happens in
:mod:`notifier.sender`. Storing is an idempotent upsert, so a redelivered event finds
its notification already there and nothing is sent twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from notifier.domain.catalog import mail_requests
from notifier.domain.model import UNSOLICITED, Notification, SkipReason, notification_id
from notifier.domain.preferences import Decision, RecipientUpdate, decide
from notifier.ports import NotificationStore, RecipientStore
from notifier.rendering import Renderer
from notifier.sender import NOTIFICATIONS, utcnow
from shared.contracts.envelope import Envelope
from shared.contracts.events import AccountDeleted, AccountProfileUpdated
from shared.runtime.logs import get_logger
from shared.runtime.policy import DistrictPolicy
from shared.runtime.tracing import current_trace_headers

log = get_logger(__name__)


@dataclass
class Dependencies:
    """What the handlers need (wired in ``app.py``; fakes in unit tests)."""

    notifications: NotificationStore
    recipients: RecipientStore
    renderer: Renderer
    policy: DistrictPolicy
    portal_url: str
    wake_sender: Callable[[], None] = lambda: None
    clock: Callable[[], datetime] = field(default=utcnow)
    #: Most unsolicited mails (verification, reset, duplicate registration) one address
    #: receives per UTC day; 0: no cap.
    daily_cap: int = 0


async def record_notifications(envelope: Envelope, deps: Dependencies) -> list[Notification]:
    """Record the mails an event asks for: queued for the sender, or skipped (no
    address, the guardian's preferences, account deleted). Idempotent per event id."""
    requests = mail_requests(envelope.event, portal_url=deps.portal_url, policy=deps.policy)
    if not requests:
        return []
    # Preferences, the deletion tombstone and a fallback first name (one _id lookup).
    recipient = await deps.recipients.get(requests[0].account_id)
    now = deps.clock()
    recorded: list[Notification] = []
    queued = False
    for request in requests:
        decision = decide(request.template, request.to, recipient)
        if decision.send and request.to and await _over_daily_cap(deps, envelope, request, now):
            decision = Decision(False, SkipReason.DAILY_CAP)
        if decision.send and request.to:
            name = request.name or (recipient.first_name if recipient else None)
            mail = deps.renderer.render(request.template, request.locale, request.data, name=name)
            notification = Notification.queued(
                event_id=envelope.id,
                event_type=envelope.type,
                template=request.template,
                account_id=request.account_id,
                to=request.to,
                to_name=request.name,
                mail=mail,
                now=now,
                send_before=request.send_before,
                trace_headers=current_trace_headers(),
            )
        else:
            assert decision.reason is not None
            notification = Notification.skipped(
                event_id=envelope.id,
                event_type=envelope.type,
                template=request.template,
                account_id=request.account_id,
                locale=request.locale,
                reason=decision.reason,
                now=now,
            )
        if await deps.notifications.add(notification):
            outcome = "queued" if notification.to else "skipped"
            NOTIFICATIONS.labels(str(notification.template), outcome).inc()
            queued = queued or bool(notification.to)
            log.info(
                "notification recorded",
                notification_id=notification.id,
                template=str(notification.template),
                status=str(notification.status),
                skip_reason=str(notification.skip_reason or ""),
                locale=notification.locale,
                account_id=notification.account_id,
            )
        else:
            log.info(
                "duplicate event; notification already recorded",
                notification_id=notification.id,
                template=str(notification.template),
            )
        recorded.append(notification)
    if queued:
        deps.wake_sender()
    return recorded


async def _over_daily_cap(
    deps: Dependencies, envelope: Envelope, request: Any, now: datetime
) -> bool:
    """Count an unsolicited mail against its recipient's day; True over the cap."""
    if not deps.daily_cap or request.template not in UNSOLICITED:
        return False
    count = await deps.notifications.count_for_recipient(
        request.to,
        now.astimezone(UTC).date().isoformat(),
        notification_id(envelope.id, request.template),
    )
    if count <= deps.daily_cap:
        return False
    log.warning(
        "security.daily_cap_reached",
        template=str(request.template),
        account_id=request.account_id,
        cap=deps.daily_cap,
    )
    return True


async def update_recipient(envelope: Envelope, deps: Dependencies) -> bool:
    """Keep the guardian's notification preferences (newest profile wins)."""
    event = envelope.event
    assert isinstance(event, AccountProfileUpdated)
    prefs = event.notification_preferences
    applied = await deps.recipients.apply(
        RecipientUpdate(
            account_id=event.account_id,
            kinds=list(prefs.kinds),
            channels=list(prefs.channels),
            first_name=event.first_name,
            locale=event.locale,
            updated_at=event.updated_at,
        )
    )
    log.info("recipient preferences", account_id=event.account_id, applied=applied)
    return applied


async def erase_recipient(envelope: Envelope, deps: Dependencies) -> int:
    """Account deleted: drop its preferences, cancel its queued mail and forget the
    addresses and content kept on its notifications."""
    event = envelope.event
    assert isinstance(event, AccountDeleted)
    now = deps.clock()
    await deps.recipients.erase(event.account_id, event.at)
    touched = await deps.notifications.erase_account(event.account_id, now)
    log.info("recipient erased", account_id=event.account_id, notifications=touched)
    return touched
