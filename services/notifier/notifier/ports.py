"""The notifier's ports: what the use cases need from storage and from the mail relay.

Adapters in ``notifier.adapters`` implement them on MongoDB and aiosmtplib; unit tests
use in-memory fakes of the same protocols.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from notifier.domain.model import Notification
from notifier.domain.preferences import Recipient, RecipientUpdate


class TransientSendError(Exception):
    """The relay could not take the mail now (4xx, refused, timeout): retry later.

    ``connection`` is True when the failure is not about this mail (the relay is down,
    refuses us, or authentication fails): the rest of the batch would fail the same way.
    """

    def __init__(self, reason: str, *, code: int | None = None, connection: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.connection = connection


class PermanentSendError(Exception):
    """The relay refused this mail for good (5xx at MAIL, RCPT or DATA): do not retry."""

    def __init__(self, reason: str, *, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class LeaseLost(Exception):
    """The claim on a notification ran out and another sender holds it now: this one
    must not send it."""


#: Called by a mail session once the relay has accepted the envelope and is waiting for
#: the message, right before the end of the message goes out; raises :class:`LeaseLost`
#: (or a storage error) to abandon the mail instead.
Handover = Callable[[], Awaitable[None]]


class NotificationStore(Protocol):
    """``notifier.notifications``."""

    async def add(self, notification: Notification) -> bool:
        """Record ``notification`` unless one with its id exists; True if it was new."""
        ...

    async def claim_due(
        self, now: datetime, owner: str, limit: int, lease_until: datetime
    ) -> list[Notification]:
        """Reserve up to ``limit`` notifications due at ``now`` (queued, or sending with an
        expired lease) to ``owner`` until ``lease_until``."""
        ...

    async def mark_handed_over(self, notification_id: str, owner: str, now: datetime) -> bool:
        """Record that the mail is about to reach the relay (``handed_over_at``); False
        when ``owner`` no longer holds the claim."""
        ...

    async def mark_sent(self, ids: Sequence[str], owner: str, now: datetime) -> None:
        """The relay accepted these mails: drop their bodies, keep the record."""
        ...

    async def mark_retry(
        self,
        notification: Notification,
        owner: str,
        now: datetime,
        next_attempt_at: datetime,
        error: str,
    ) -> None:
        """A transient failure: count the attempt, queue again for ``next_attempt_at``."""
        ...

    async def mark_failed(
        self, notification: Notification, owner: str, now: datetime, error: str
    ) -> None:
        """A permanent refusal: never retried."""
        ...

    async def mark_expired(self, ids: Sequence[str], owner: str, now: datetime) -> None:
        """Too late to send (the link in the mail has expired)."""
        ...

    async def release(self, ids: Sequence[str], owner: str, at: datetime) -> None:
        """Give claimed notifications back (not attempted), due again at ``at``."""
        ...

    async def erase_account(self, account_id: str, now: datetime) -> int:
        """Forget the address and content of an account's notifications; cancel queued
        ones. Returns how many were touched."""
        ...

    async def count_for_recipient(self, to: str, day: str, notification_id: str) -> int:
        """Count ``notification_id`` among the unsolicited mails to ``to`` on ``day``
        (idempotent per id); the day's count, this one included."""
        ...


class RecipientStore(Protocol):
    """``notifier.recipients``: the preferences projection."""

    async def get(self, account_id: str) -> Recipient | None:
        """The recipient's preferences (None when never told)."""
        ...

    async def apply(self, update: RecipientUpdate) -> bool:
        """Store newer preferences (older or post-deletion updates are ignored)."""
        ...

    async def erase(self, account_id: str, at: datetime) -> None:
        """Replace the recipient by a tombstone without personal data."""
        ...


class MailSession(Protocol):
    """One connection's worth of sends (reconnects as needed)."""

    async def send(self, notification: Notification, handover: Handover) -> None:
        """Hand the mail to the relay, awaiting ``handover`` just before the end of the
        message; raise :class:`TransientSendError` or :class:`PermanentSendError`."""
        ...


class Mailer(Protocol):
    """The SMTP relay."""

    def session(self) -> AbstractAsyncContextManager[MailSession]:
        """A session that keeps one connection open across several sends."""
        ...
