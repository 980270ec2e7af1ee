"""``notifier.notifications`` on MongoDB: one document per (event id, template).

Claiming works like the outbox relay's (shared/runtime/outbox.py): find due ids, then
``update_many`` them to ``sending`` with an owner token and a lease in one write, then
read back what this owner got. A claimed notification's ``next_attempt_at`` is the end
of its lease, so the same "due" query finds both queued mail and mail left behind by a
sender that died. Every later write is conditioned on the owner token.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from notifier.domain.model import Notification, SkipReason, Status

ACTIVE = [str(Status.QUEUED), str(Status.SENDING)]
#: Fields that only live while a mail is being delivered (bodies may hold a token).
_DELIVERY_ONLY = {
    "text": "",
    "html": "",
    "owner": "",
    "next_attempt_at": "",
    "handed_over_at": "",
}


class MongoNotifications:
    """The notification store (implements :class:`notifier.ports.NotificationStore`)."""

    def __init__(
        self,
        collection: AsyncCollection[dict[str, Any]],
        *,
        retention: timedelta,
        recipient_days: AsyncCollection[dict[str, Any]] | None = None,
    ) -> None:
        self.collection = collection
        self.retention = retention
        #: ``notifier.recipient_days``: unsolicited mails per recipient (a digest of the
        #: address) and UTC day, for the daily cap; deleted two days later (TTL).
        self.recipient_days = recipient_days

    async def create_indexes(self) -> None:
        """Due-work lookup, per-account erasure, and deletion after the retention time."""
        if self.recipient_days is not None:
            await self.recipient_days.create_index("expire_at", expireAfterSeconds=0, name="ttl")
        await self.collection.create_index(
            [("status", ASCENDING), ("next_attempt_at", ASCENDING)], name="due"
        )
        await self.collection.create_index([("account_id", ASCENDING)], name="account")
        await self.collection.create_index(
            [("purge_at", ASCENDING)], expireAfterSeconds=0, name="retention"
        )

    async def add(self, notification: Notification) -> bool:
        doc = notification.to_document()
        if notification.status is Status.SKIPPED:
            doc["purge_at"] = notification.created_at + self.retention
        try:
            result = await self.collection.update_one(
                {"_id": notification.id}, {"$setOnInsert": doc}, upsert=True
            )
        except DuplicateKeyError:  # a concurrent upsert of the same redelivered event won
            return False
        return result.upserted_id is not None

    async def get(self, notification_id: str) -> Notification | None:
        """One notification (operators and tests)."""
        doc = await self.collection.find_one({"_id": notification_id})
        return Notification.from_document(doc) if doc else None

    async def claim_due(
        self, now: datetime, owner: str, limit: int, lease_until: datetime
    ) -> list[Notification]:
        due = {"status": {"$in": ACTIVE}, "next_attempt_at": {"$lte": now}}
        cursor = self.collection.find(due, {"_id": 1}).sort("next_attempt_at", ASCENDING)
        ids = [d["_id"] async for d in cursor.limit(limit)]
        if not ids:
            return []
        await self.collection.update_many(
            {"_id": {"$in": ids}, **due},
            {
                "$set": {
                    "status": str(Status.SENDING),
                    "owner": owner,
                    "next_attempt_at": lease_until,
                    "updated_at": now,
                },
                "$inc": {"claims": 1},
            },
        )
        docs = [d async for d in self.collection.find({"_id": {"$in": ids}, "owner": owner})]
        order = {i: n for n, i in enumerate(ids)}
        docs.sort(key=lambda d: order.get(d["_id"], 0))
        return [Notification.from_document(d) for d in docs]

    def _finish(self, status: Status, now: datetime, **fields: Any) -> dict[str, Any]:
        return {
            "$set": {
                "status": str(status),
                "updated_at": now,
                "purge_at": now + self.retention,
                **fields,
            },
            "$unset": dict(_DELIVERY_ONLY),
        }

    async def mark_handed_over(self, notification_id: str, owner: str, now: datetime) -> bool:
        result = await self.collection.update_one(
            {"_id": notification_id, "owner": owner, "status": str(Status.SENDING)},
            {"$set": {"handed_over_at": now, "updated_at": now}},
        )
        return result.matched_count == 1

    async def mark_sent(self, ids: Sequence[str], owner: str, now: datetime) -> None:
        if not ids:
            return
        update = self._finish(Status.SENT, now, sent_at=now)
        update["$inc"] = {"attempts": 1}
        await self.collection.update_many({"_id": {"$in": list(ids)}, "owner": owner}, update)

    async def mark_retry(
        self,
        notification: Notification,
        owner: str,
        now: datetime,
        next_attempt_at: datetime,
        error: str,
    ) -> None:
        await self.collection.update_one(
            {"_id": notification.id, "owner": owner},
            {
                "$set": {
                    "status": str(Status.QUEUED),
                    "next_attempt_at": next_attempt_at,
                    "last_error": error,
                    "updated_at": now,
                },
                "$inc": {"attempts": 1},
                "$unset": {"owner": "", "handed_over_at": ""},
            },
        )

    async def mark_failed(
        self, notification: Notification, owner: str, now: datetime, error: str
    ) -> None:
        update = self._finish(Status.FAILED, now, last_error=error, failed_at=now)
        update["$inc"] = {"attempts": 1}
        await self.collection.update_one({"_id": notification.id, "owner": owner}, update)

    async def mark_expired(self, ids: Sequence[str], owner: str, now: datetime) -> None:
        if not ids:
            return
        await self.collection.update_many(
            {"_id": {"$in": list(ids)}, "owner": owner}, self._finish(Status.EXPIRED, now)
        )

    async def release(self, ids: Sequence[str], owner: str, at: datetime) -> None:
        if not ids:
            return
        await self.collection.update_many(
            {"_id": {"$in": list(ids)}, "owner": owner},
            {
                "$set": {"status": str(Status.QUEUED), "next_attempt_at": at},
                "$unset": {"owner": "", "handed_over_at": ""},
            },
        )

    async def erase_account(self, account_id: str, now: datetime) -> int:
        personal = {"to": "", "to_name": "", "text": "", "html": "", "subject": ""}
        cancelled = await self.collection.update_many(
            {"account_id": account_id, "status": str(Status.QUEUED)},
            {
                "$set": {
                    "status": str(Status.SKIPPED),
                    "skip_reason": str(SkipReason.ACCOUNT_DELETED),
                    "updated_at": now,
                    "purge_at": now + self.retention,
                },
                "$unset": {**personal, "next_attempt_at": "", "owner": ""},
            },
        )
        # A mail being sent right now keeps its data until it is finished.
        scrubbed = await self.collection.update_many(
            {
                "account_id": account_id,
                "status": {"$ne": str(Status.SENDING)},
                "to": {"$exists": True},
            },
            {"$unset": personal, "$set": {"erased_at": now}},
        )
        return cancelled.modified_count + scrubbed.modified_count

    async def count_for_recipient(self, to: str, day: str, notification_id: str) -> int:
        if self.recipient_days is None:
            return 0
        digest = hashlib.sha256(to.strip().lower().encode()).hexdigest()[:32]
        expire_at = datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(days=2)
        for _ in range(3):
            try:
                doc = await self.recipient_days.find_one_and_update(
                    {"_id": f"{digest}|{day}"},
                    {"$addToSet": {"ids": notification_id}, "$set": {"expire_at": expire_at}},
                    upsert=True,
                    projection={"ids": 1},
                    return_document=ReturnDocument.AFTER,
                )
                return len((doc or {}).get("ids") or [])
            except DuplicateKeyError:
                continue  # two first mails of the day raced on the upsert
        raise RuntimeError("recipient day counter upsert kept colliding")
