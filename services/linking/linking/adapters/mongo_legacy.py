"""``linking.legacy_credentials``: usernames and password hashes of the previous parent
portal, with the students each gave access to (``_id`` = normalised username).

``linking.legacy_uses``: which account used a username for which student (``_id`` =
username | school | student); the insert's unique key makes the credentials single-use
per student even under concurrent requests."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from linking.ports import LegacyCredential

#: How long the reference hash (see ``reference_hash``) is reused before it is read again.
REFERENCE_TTL_SECONDS = 600.0


class MongoLegacyCredentials:
    """:class:`~linking.ports.LegacyCredentialRepository` on MongoDB."""

    def __init__(
        self, collection: AsyncCollection[dict[str, Any]], uses: AsyncCollection[dict[str, Any]]
    ) -> None:
        self.collection = collection
        self.uses = uses
        self._reference: tuple[float, str | None] | None = None

    async def create_indexes(self) -> None:
        return None  # lookups by _id

    async def get(self, username_key: str) -> LegacyCredential | None:
        doc = await self.collection.find_one({"_id": username_key})
        if doc is None:
            return None
        return LegacyCredential(
            username=doc.get("username", username_key),
            password_hash=doc["password_hash"],
            students=frozenset((s["school"], s["student"]) for s in doc.get("students") or []),
        )

    async def upsert_many(self, rows: Sequence[Mapping[str, Any]], at: datetime) -> None:
        ops = [
            UpdateOne(
                {"_id": row["username_key"]},
                {
                    "$set": {
                        "username": row["username"],
                        "password_hash": row["password_hash"],
                        "imported_at": at,
                    },
                    "$addToSet": {
                        "students": {
                            "$each": [{"school": s, "student": t} for s, t in row["students"]]
                        }
                    },
                },
                upsert=True,
            )
            for row in rows
        ]
        if ops:
            await self.collection.bulk_write(ops, ordered=False)

    async def reference_hash(self) -> str | None:
        now = time.monotonic()
        if self._reference is None or now - self._reference[0] > REFERENCE_TTL_SECONDS:
            doc = await self.collection.find_one({}, {"password_hash": 1})
            self._reference = (now, doc.get("password_hash") if doc else None)
        return self._reference[1]

    async def claim_use(
        self, username_key: str, school_id: str, student_id: str, account_id: str, at: datetime
    ) -> bool:
        key = f"{username_key}|{school_id}|{student_id}"
        try:
            await self.uses.insert_one({"_id": key, "account_id": account_id, "at": at})
            return True
        except DuplicateKeyError:
            doc = await self.uses.find_one({"_id": key})
            return bool(doc and doc.get("account_id") == account_id)
