"""``linking.match_failures``: failed student matches (and rejected codes or legacy
passwords) per account and UTC day, each keyed so a redelivered event counts once;
documents expire (TTL) the day after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection


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
        doc = await self.collection.find_one_and_update(
            {"_id": f"{account_id}|{day}"},
            {
                "$addToSet": {"keys": key},
                "$setOnInsert": {"account_id": account_id, "day": day, "expire_at": expire_at},
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return len(doc.get("keys") or []) if doc else 0
