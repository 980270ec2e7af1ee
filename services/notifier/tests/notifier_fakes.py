"""In-memory fakes of the notifier's ports, for unit tests."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from notifier.domain.model import Notification, SkipReason, Status
from notifier.domain.preferences import Recipient, RecipientUpdate
from notifier.ports import Handover, PermanentSendError, TransientSendError


class FakeNotifications:
    """NotificationStore in memory, with the same owner/lease rules as the Mongo adapter."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.adds = 0
        self.recipient_days: dict[tuple[str, str], set[str]] = {}

    async def count_for_recipient(self, to: str, day: str, notification_id: str) -> int:
        ids = self.recipient_days.setdefault((to.strip().lower(), day), set())
        ids.add(notification_id)
        return len(ids)

    async def add(self, notification: Notification) -> bool:
        self.adds += 1
        if notification.id in self.docs:
            return False
        self.docs[notification.id] = {"n": copy.deepcopy(notification), "owner": None}
        return True

    def get(self, notification_id: str) -> Notification:
        return self.docs[notification_id]["n"]

    def owner(self, notification_id: str) -> str | None:
        return self.docs[notification_id]["owner"]

    async def claim_due(
        self, now: datetime, owner: str, limit: int, lease_until: datetime
    ) -> list[Notification]:
        due = [
            d
            for d in self.docs.values()
            if d["n"].status in (Status.QUEUED, Status.SENDING)
            and d["n"].next_attempt_at is not None
            and d["n"].next_attempt_at <= now
        ]
        due.sort(key=lambda d: d["n"].next_attempt_at)
        claimed = []
        for d in due[:limit]:
            d["n"].status = Status.SENDING
            d["n"].next_attempt_at = lease_until
            d["owner"] = owner
            claimed.append(copy.deepcopy(d["n"]))
        return claimed

    def _owned(self, ids: Sequence[str], owner: str) -> list[dict[str, Any]]:
        return [self.docs[i] for i in ids if self.docs[i]["owner"] == owner]

    def _finish(self, d: dict[str, Any], status: Status) -> None:
        d["n"].status = status
        d["n"].text = d["n"].html = None
        d["n"].next_attempt_at = None
        d["n"].handed_over_at = None
        d["owner"] = None

    async def mark_handed_over(self, notification_id: str, owner: str, now: datetime) -> bool:
        owned = [
            d for d in self._owned([notification_id], owner) if d["n"].status is Status.SENDING
        ]
        for d in owned:
            d["n"].handed_over_at = now
        return bool(owned)

    async def mark_sent(self, ids: Sequence[str], owner: str, now: datetime) -> None:
        for d in self._owned(ids, owner):
            d["n"].attempts += 1
            self._finish(d, Status.SENT)

    async def mark_retry(
        self,
        notification: Notification,
        owner: str,
        now: datetime,
        next_attempt_at: datetime,
        error: str,
    ) -> None:
        for d in self._owned([notification.id], owner):
            d["n"].attempts += 1
            d["n"].status = Status.QUEUED
            d["n"].next_attempt_at = next_attempt_at
            d["n"].last_error = error
            d["n"].handed_over_at = None
            d["owner"] = None

    async def mark_failed(
        self, notification: Notification, owner: str, now: datetime, error: str
    ) -> None:
        for d in self._owned([notification.id], owner):
            d["n"].attempts += 1
            d["n"].last_error = error
            self._finish(d, Status.FAILED)

    async def mark_expired(self, ids: Sequence[str], owner: str, now: datetime) -> None:
        for d in self._owned(ids, owner):
            self._finish(d, Status.EXPIRED)

    async def release(self, ids: Sequence[str], owner: str, at: datetime) -> None:
        for d in self._owned(ids, owner):
            d["n"].status = Status.QUEUED
            d["n"].next_attempt_at = at
            d["n"].handed_over_at = None
            d["owner"] = None

    async def erase_account(self, account_id: str, now: datetime) -> int:
        touched = 0
        for d in self.docs.values():
            n = d["n"]
            if n.account_id != account_id:
                continue
            if n.status is Status.QUEUED:
                n.status = Status.SKIPPED
                n.skip_reason = SkipReason.ACCOUNT_DELETED
            if n.status is not Status.SENDING:
                n.to = n.to_name = n.text = n.html = n.subject = None
                touched += 1
        return touched


class FakeRecipients:
    """RecipientStore in memory (newest update wins; a tombstone blocks updates)."""

    def __init__(self) -> None:
        self.docs: dict[str, Recipient] = {}

    async def get(self, account_id: str) -> Recipient | None:
        return self.docs.get(account_id)

    async def apply(self, update: RecipientUpdate) -> bool:
        current = self.docs.get(update.account_id)
        if current is not None and (
            current.deleted
            or (current.updated_at and update.updated_at and current.updated_at > update.updated_at)
        ):
            return False
        self.docs[update.account_id] = Recipient(
            update.account_id,
            kinds=tuple(update.kinds),
            channels=tuple(update.channels),
            first_name=update.first_name,
            locale=update.locale,
            updated_at=update.updated_at,
        )
        return True

    async def erase(self, account_id: str, at: datetime) -> None:
        self.docs[account_id] = Recipient(account_id, deleted=True)


class FakeSession:
    def __init__(self, mailer: FakeMailer) -> None:
        self.mailer = mailer

    async def send(self, notification: Notification, handover: Handover) -> None:
        self.mailer.attempts.append(notification.id)
        outcome = self.mailer.script.pop(0) if self.mailer.script else "ok"
        if outcome == "transient":
            raise TransientSendError("451 try later", code=451)
        if outcome == "down":
            raise TransientSendError("connection refused", connection=True)
        if outcome == "permanent":
            raise PermanentSendError("550 no such user", code=550)
        await handover()
        if outcome == "refused_at_end":
            raise PermanentSendError("554 message refused", code=554)
        if outcome == "dropped_at_end":
            raise TransientSendError("connection lost", connection=True)
        self.mailer.sent.append(copy.deepcopy(notification))
        if outcome == "killed_after":
            raise Killed()


class Killed(BaseException):
    """The process died right after the relay accepted the mail (no mark written)."""


class FakeMailer:
    """Mailer whose outcomes are scripted: "ok", "transient", "down", "permanent" (refused
    before the handover), "refused_at_end", "dropped_at_end" (after it), "killed_after"
    (accepted, then the sender dies: raises :class:`Killed`)."""

    def __init__(self, script: list[str] | None = None) -> None:
        self.script = list(script or [])
        self.sent: list[Notification] = []
        self.attempts: list[str] = []
        self.sessions = 0

    @asynccontextmanager
    async def session(self) -> AsyncIterator[FakeSession]:
        self.sessions += 1
        yield FakeSession(self)


class FakeClock:
    """A settable clock."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now
