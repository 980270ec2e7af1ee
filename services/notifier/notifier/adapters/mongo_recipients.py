"""``notifier.recipients``: the guardian's notification preferences, from
``AccountProfileUpdated`` (newest wins), erased by ``AccountDeleted`` (a tombstone stays
so that a late or redelivered profile update cannot bring the data back)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from notifier.domain.preferences import ALL_KINDS, Recipient, RecipientUpdate


class MongoRecipients:
    """The preferences projection (implements :class:`notifier.ports.RecipientStore`)."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self.collection = collection

    async def get(self, account_id: str) -> Recipient | None:
        doc = await self.collection.find_one({"_id": account_id})
        if doc is None:
            return None
        if doc.get("deleted"):
            return Recipient(account_id, deleted=True)
        return Recipient(
            account_id=account_id,
            kinds=tuple(doc.get("kinds", ALL_KINDS)),
            channels=tuple(doc.get("channels", ("email",))),
            first_name=doc.get("first_name"),
            locale=doc.get("locale"),
            updated_at=doc.get("updated_at"),
        )

    async def apply(self, update: RecipientUpdate) -> bool:
        # Matches an existing, not deleted, not newer document; otherwise the upsert tries
        # to insert the same _id and fails: the update was stale (or the account is gone).
        try:
            await self.collection.update_one(
                {
                    "_id": update.account_id,
                    "deleted": {"$ne": True},
                    "updated_at": {"$lte": update.updated_at},
                },
                {
                    "$set": {
                        "kinds": list(update.kinds),
                        "channels": list(update.channels),
                        "first_name": update.first_name,
                        "locale": update.locale,
                        "updated_at": update.updated_at,
                    }
                },
                upsert=True,
            )
        except DuplicateKeyError:
            return False
        return True

    async def erase(self, account_id: str, at: datetime) -> None:
        await self.collection.replace_one(
            {"_id": account_id}, {"deleted": True, "deleted_at": at}, upsert=True
        )
