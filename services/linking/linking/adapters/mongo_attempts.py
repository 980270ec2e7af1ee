"""``linking.match_failures``: failed student matches (and rejected codes or legacy
passwords) per account and UTC day, each keyed so a redelivered event counts once;
documents expire (TTL) the day after.

The same collection holds each account's link-attempt lease (``_id`` ``lease|<account>``):
at most one attempt per account is checked at a time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError


class MongoAttempts:
    """:class:`~linking.ports.AttemptCounter` on MongoDB."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self.collection = collection

    async def create_indexes(self) -> None:
        await self.collection.create_index("expire_at", expireAfterSeconds=0, name="ttl")

    async def count(self, account_id: str, day: str) -> int:
        doc = await self.collection.find_one({"_id": f"{account_id}|{day}"}, {"keys": 1})
        return len(doc.get("keys") or []) if doc else 0

    async def record(self, account_id: str, day: str, key: str, expire_at: datetime) -> int:
        for _ in range(3):
            try:
                doc = await self.collection.find_one_and_update(
                    {"_id": f"{account_id}|{day}"},
                    {
                        "$addToSet": {"keys": key},
                        "$setOnInsert": {
                            "account_id": account_id,
                            "day": day,
                            "expire_at": expire_at,
                        },
                    },
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
                return len(doc.get("keys") or []) if doc else 0
            except DuplicateKeyError:
                continue  # two first attempts of the day raced on the upsert
        raise RuntimeError("attempt counter upsert kept colliding")

    async def reserve(
        self, account_id: str, day: str, key: str, expire_at: datetime, limit: int
    ) -> bool:
        """Count an attempt as failed before it is checked, if the day's count stays
        within ``limit``. The increment returns the new count, so concurrent reservations
        each see a distinct one and no more than ``limit`` are ever held; an over-limit
        reservation is taken back at once."""
        count = await self.record(account_id, day, key, expire_at)
        if count <= limit:
            return True
        await self.release(account_id, day, key)
        return False

    async def release(self, account_id: str, day: str, key: str) -> None:
        """Take back a reservation (the attempt did not fail)."""
        await self.collection.update_one({"_id": f"{account_id}|{day}"}, {"$pull": {"keys": key}})

    async def acquire_lease(
        self, account_id: str, lease_id: str, now: datetime, until: datetime
    ) -> bool:
        """Take the account's attempt lease unless another unexpired one holds it."""
        try:
            await self.collection.update_one(
                {"_id": f"lease|{account_id}", "until": {"$lte": now}},
                {"$set": {"lease_id": lease_id, "until": until, "expire_at": until}},
                upsert=True,
            )
        except DuplicateKeyError:
            return False  # held: the filter missed and the insert collided
        return True

    async def release_lease(self, account_id: str, lease_id: str) -> None:
        """Give the lease back (only if ``lease_id`` still holds it)."""
        await self.collection.delete_one({"_id": f"lease|{account_id}", "lease_id": lease_id})
