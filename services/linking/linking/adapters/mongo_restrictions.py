"""``linking.student_restrictions``: students whose custody was revoked (``_id`` =
school key | student key, as on links). While a student is restricted, activation codes
and legacy credentials no longer approve a link at once: the request waits for staff."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from linking.ports import StudentRestriction


def _key(school_id: str, student_id: str) -> str:
    return f"{school_id}|{student_id}"


def _restriction(doc: Mapping[str, Any]) -> StudentRestriction:
    return StudentRestriction(
        school_id=doc["school_id"],
        student_id=doc["student_id"],
        since=doc["since"],
        by=doc["by"],
        link_id=doc.get("link_id"),
    )


class MongoRestrictions:
    """:class:`~linking.ports.RestrictionRepository` on MongoDB."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self.collection = collection

    async def create_indexes(self) -> None:
        return None  # lookups by _id

    async def restrict(
        self, school_id: str, student_id: str, *, by: str, at: datetime, link_id: str | None
    ) -> None:
        await self.collection.update_one(
            {"_id": _key(school_id, student_id)},
            {
                "$setOnInsert": {
                    "school_id": school_id,
                    "student_id": student_id,
                    "since": at,
                    "by": by,
                    "link_id": link_id,
                }
            },
            upsert=True,
        )

    async def get(self, school_id: str, student_id: str) -> StudentRestriction | None:
        doc = await self.collection.find_one({"_id": _key(school_id, student_id)})
        return _restriction(doc) if doc else None

    async def get_many(
        self, students: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], StudentRestriction]:
        keys = list({_key(*s) for s in students})
        if not keys:
            return {}
        found = {}
        async for doc in self.collection.find({"_id": {"$in": keys}}):
            restriction = _restriction(doc)
            found[(restriction.school_id, restriction.student_id)] = restriction
        return found

    async def lift(self, school_id: str, student_id: str) -> bool:
        result = await self.collection.delete_one({"_id": _key(school_id, student_id)})
        return bool(result.deleted_count)
