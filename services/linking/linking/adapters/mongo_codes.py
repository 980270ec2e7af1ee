"""``linking.activation_codes``: issued codes, stored by hash only."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from linking.ports import ActivationCode


def doc_to_code(doc: Mapping[str, Any]) -> ActivationCode:
    return ActivationCode(
        code_id=doc["_id"],
        school_id=doc["school_id"],
        student_id=doc["student_id"],
        issued_by=doc["issued_by"],
        issued_at=doc["issued_at"],
        expires_at=doc["expires_at"],
        used_at=doc.get("used_at"),
        used_by=doc.get("used_by"),
        revoked_at=doc.get("revoked_at"),
        note=doc.get("note"),
    )


class MongoActivationCodes:
    """:class:`~linking.ports.ActivationCodeRepository` on MongoDB."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self.collection = collection

    async def create_indexes(self) -> None:
        await self.collection.create_index("code_hash", unique=True, name="by_hash")
        await self.collection.create_index(
            [("school_id", ASCENDING), ("student_id", ASCENDING)], name="by_student"
        )

    async def add(self, code: ActivationCode, code_hash: str) -> None:
        await self.collection.insert_one(
            {
                "_id": code.code_id,
                "code_hash": code_hash,
                "school_id": code.school_id,
                "student_id": code.student_id,
                "issued_by": code.issued_by,
                "issued_at": code.issued_at,
                "expires_at": code.expires_at,
                "used_at": None,
                "used_by": None,
                "revoked_at": None,
                "note": code.note,
            }
        )

    async def consume(
        self, code_hash: str, *, account_id: str, school_id: str, student_id: str, at: datetime
    ) -> ActivationCode | None:
        valid = {
            "code_hash": code_hash,
            "school_id": school_id,
            "student_id": student_id,
            "revoked_at": None,
            "expires_at": {"$gt": at},
        }
        doc = await self.collection.find_one_and_update(
            {**valid, "used_by": None},
            {"$set": {"used_by": account_id, "used_at": at}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            # The same guardian again (a retry after a crash before the link was written).
            doc = await self.collection.find_one({**valid, "used_by": account_id})
        return doc_to_code(doc) if doc else None

    async def revoke(
        self, code_id: str, *, school_id: str, student_id: str, by: str, at: datetime
    ) -> ActivationCode | None:
        where = {"_id": code_id, "school_id": school_id, "student_id": student_id}
        await self.collection.update_one(
            {**where, "revoked_at": None, "used_at": None},
            {"$set": {"revoked_at": at, "revoked_by": by}},
        )
        doc = await self.collection.find_one(where)
        return doc_to_code(doc) if doc else None

    async def for_student(self, school_id: str, student_id: str) -> list[ActivationCode]:
        cursor = self.collection.find({"school_id": school_id, "student_id": student_id}).sort(
            "issued_at", DESCENDING
        )
        return [doc_to_code(d) async for d in cursor]

    async def revoke_unused_for_student(
        self, school_id: str, student_id: str, *, by: str, at: datetime
    ) -> int:
        result = await self.collection.update_many(
            {"school_id": school_id, "student_id": student_id, "revoked_at": None, "used_at": None},
            {"$set": {"revoked_at": at, "revoked_by": by}},
        )
        return int(result.modified_count)
