"""The notification: one mail for one (event, template), and its delivery state machine.

::

    queued ──claim──▶ sending ──accepted──▶ sent
      ▲                 │ ├──5xx──────────▶ failed   (permanent, never retried)
      └──4xx / down ────┘ └──too late─────▶ expired  (the link in it no longer works)
    skipped                                         (no address, preferences, deleted)

A notification is created once per ``(event id, template)`` (its ``_id``), so a
redelivered event finds it already there. While ``sending``, ``next_attempt_at`` is the
end of the sender's lease: a sender that died mid-batch leaves it to be claimed again
once the lease has run out.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


class Template(StrEnum):
    """Every mail the notifier sends (one template each)."""

    VERIFICATION = "verification"
    DUPLICATE_REGISTRATION = "duplicate_registration"
    WELCOME = "welcome"
    PASSWORD_RESET = "password_reset"  # noqa: S105 (a template name)
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 (a template name)
    LINK_PENDING = "link_pending"
    LINK_APPROVED = "link_approved"
    LINK_DENIED = "link_denied"
    LINK_EXPIRED = "link_expired"
    LINK_REVOKED = "link_revoked"
    ACCOUNT_DISABLED = "account_disabled"
    LINK_EXPIRY_REMINDER = "link_expiry_reminder"
    INACTIVITY_REMINDER = "inactivity_reminder"


class Category(StrEnum):
    """Which preference governs a mail. Security mail ignores preferences."""

    SECURITY = "security"
    ACCOUNT = "account"
    LINK_UPDATES = "link_updates"
    REMINDERS = "reminders"


CATEGORY: dict[Template, Category] = {
    Template.VERIFICATION: Category.SECURITY,
    Template.DUPLICATE_REGISTRATION: Category.SECURITY,
    Template.PASSWORD_RESET: Category.SECURITY,
    Template.PASSWORD_CHANGED: Category.SECURITY,
    Template.ACCOUNT_DISABLED: Category.SECURITY,
    Template.WELCOME: Category.ACCOUNT,
    Template.LINK_PENDING: Category.LINK_UPDATES,
    Template.LINK_APPROVED: Category.LINK_UPDATES,
    Template.LINK_DENIED: Category.LINK_UPDATES,
    Template.LINK_EXPIRED: Category.LINK_UPDATES,
    Template.LINK_REVOKED: Category.LINK_UPDATES,
    Template.LINK_EXPIRY_REMINDER: Category.REMINDERS,
    Template.INACTIVITY_REMINDER: Category.REMINDERS,
}


class Status(StrEnum):
    """Delivery state of a notification."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    EXPIRED = "expired"
    SKIPPED = "skipped"


TERMINAL: frozenset[Status] = frozenset(
    {Status.SENT, Status.FAILED, Status.EXPIRED, Status.SKIPPED}
)


class SkipReason(StrEnum):
    """Why a notification was recorded without sending."""

    NO_ADDRESS = "no_address"
    PREFERENCES = "preferences"
    ACCOUNT_DELETED = "account_deleted"
    #: Over the per-recipient daily cap of mail anyone can trigger by typing an address.
    DAILY_CAP = "daily_cap"


#: Mails a stranger can cause by typing someone's address (resend, reset, registering a
#: registered email): capped per recipient and day, so the portal cannot be used to
#: flood an inbox.
UNSOLICITED = frozenset(
    {Template.VERIFICATION, Template.PASSWORD_RESET, Template.DUPLICATE_REGISTRATION}
)


def notification_id(event_id: str, template: Template | str) -> str:
    """The unique key of the mail ``template`` caused by event ``event_id``."""
    return f"{event_id}:{template}"


def message_id(notification_id: str, domain: str) -> str:
    """A stable RFC 5322 Message-ID derived from the notification id: a resend after a
    crash carries the same id, so receiving systems can recognise the duplicate."""
    digest = hashlib.sha256(notification_id.encode()).hexdigest()[:32]
    return f"<{digest}.notifier@{domain or 'localhost'}>"


@dataclass(frozen=True)
class RenderedMail:
    """A rendered message: subject, plain-text and HTML bodies."""

    subject: str
    text: str
    html: str
    locale: str
    #: ``rtl`` for right-to-left languages (Arabic), else ``ltr``.
    direction: str = "ltr"


@dataclass
class Notification:
    """One mail to send (or recorded as skipped)."""

    id: str
    event_id: str
    event_type: str
    template: Template
    category: Category
    account_id: str
    locale: str
    status: Status
    created_at: datetime
    to: str | None = None
    to_name: str | None = None
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    attempts: int = 0
    next_attempt_at: datetime | None = None
    #: A mail whose link stops working at this time is not sent after it.
    send_before: datetime | None = None
    skip_reason: SkipReason | None = None
    last_error: str | None = None
    trace_headers: dict[str, str] = field(default_factory=dict)
    #: Written just before the end of the message went to the relay. A claimed mail
    #: that has it was left by a sender that stopped after handing it over: it counts
    #: as delivered and is not sent again.
    handed_over_at: datetime | None = None

    @classmethod
    def queued(
        cls,
        *,
        event_id: str,
        event_type: str,
        template: Template,
        account_id: str,
        to: str,
        to_name: str | None,
        mail: RenderedMail,
        now: datetime,
        send_before: datetime | None = None,
        trace_headers: dict[str, str] | None = None,
    ) -> Notification:
        """A notification ready for the sender."""
        return cls(
            id=notification_id(event_id, template),
            event_id=event_id,
            event_type=event_type,
            template=template,
            category=CATEGORY[template],
            account_id=account_id,
            locale=mail.locale,
            status=Status.QUEUED,
            created_at=now,
            to=to,
            to_name=to_name,
            subject=mail.subject,
            text=mail.text,
            html=mail.html,
            next_attempt_at=now,
            send_before=send_before,
            trace_headers=dict(trace_headers or {}),
        )

    @classmethod
    def skipped(
        cls,
        *,
        event_id: str,
        event_type: str,
        template: Template,
        account_id: str,
        locale: str,
        reason: SkipReason,
        now: datetime,
    ) -> Notification:
        """A notification recorded as not sent, with why (no personal data kept)."""
        return cls(
            id=notification_id(event_id, template),
            event_id=event_id,
            event_type=event_type,
            template=template,
            category=CATEGORY[template],
            account_id=account_id,
            locale=locale,
            status=Status.SKIPPED,
            created_at=now,
            skip_reason=reason,
        )

    def is_too_late(self, now: datetime) -> bool:
        """True when the link in the mail has expired: sending it would only confuse."""
        return self.send_before is not None and now >= self.send_before

    def to_document(self) -> dict[str, Any]:
        """The MongoDB document (``_id`` = notification id; empty fields left out)."""
        doc: dict[str, Any] = {
            "_id": self.id,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "template": str(self.template),
            "category": str(self.category),
            "account_id": self.account_id,
            "locale": self.locale,
            "status": str(self.status),
            "attempts": self.attempts,
            "created_at": self.created_at,
            "updated_at": self.created_at,
        }
        optional = {
            "to": self.to,
            "to_name": self.to_name,
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
            "next_attempt_at": self.next_attempt_at,
            "send_before": self.send_before,
            "skip_reason": str(self.skip_reason) if self.skip_reason else None,
            "last_error": self.last_error,
            "trace_headers": self.trace_headers or None,
            "handed_over_at": self.handed_over_at,
        }
        doc.update({k: v for k, v in optional.items() if v is not None})
        return doc

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Notification:
        """Rebuild a notification from its MongoDB document."""
        return cls(
            id=doc["_id"],
            event_id=doc["event_id"],
            event_type=doc["event_type"],
            template=Template(doc["template"]),
            category=Category(doc["category"]),
            account_id=doc["account_id"],
            locale=doc.get("locale", "en"),
            status=Status(doc["status"]),
            created_at=doc["created_at"],
            to=doc.get("to"),
            to_name=doc.get("to_name"),
            subject=doc.get("subject"),
            text=doc.get("text"),
            html=doc.get("html"),
            attempts=doc.get("attempts", 0),
            next_attempt_at=doc.get("next_attempt_at"),
            send_before=doc.get("send_before"),
            skip_reason=SkipReason(doc["skip_reason"]) if doc.get("skip_reason") else None,
            last_error=doc.get("last_error"),
            trace_headers=dict(doc.get("trace_headers") or {}),
            handed_over_at=doc.get("handed_over_at"),
        )


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter for transient SMTP failures."""

    base_seconds: float = 5.0
    max_seconds: float = 900.0

    def delay(self, attempts: int, rand: Callable[[], float] = random.random) -> timedelta:
        """Delay before attempt ``attempts + 1`` (``attempts`` ≥ 1 already failed): the
        exponential step capped at ``max_seconds``, then "equal jitter" (half fixed, half
        random) so that mails refused together do not all come back at the same instant."""
        step = min(self.max_seconds, self.base_seconds * 2 ** max(0, attempts - 1))
        return timedelta(seconds=step / 2 + rand() * step / 2)
