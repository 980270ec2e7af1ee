"""``linking.roster``: one document per student and school (``_id`` =
``SCHOOL|STUDENT`` in normalised form), written in bulk by roster imports; and
``linking.roster_imports``: the summary of every import."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DeleteOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from linking.domain.matching import student_doc_id
from linking.domain.roster import RosterStudent, StoredStudent
from linking.ports import RosterEntry

_STORED = {"hash": 1, "status": 1, "sourced_id": 1}


def _stored(doc: Mapping[str, Any]) -> StoredStudent:
    return StoredStudent(doc.get("hash"), doc.get("status", ""), doc.get("sourced_id"))


class MongoRoster:
    """:class:`~linking.ports.RosterRepository` on MongoDB."""

    def __init__(
        self,
        collection: AsyncCollection[dict[str, Any]],
        imports: AsyncCollection[dict[str, Any]],
        schools: AsyncCollection[dict[str, Any]],
    ) -> None:
        self.collection = collection
        self.imports = imports
        #: ``{_id: school_id, name, updated_at}``: the schools families choose from
        self.schools_collection = schools

    async def create_indexes(self) -> None:
        await self.collection.create_index(
            [("school_key", ASCENDING), ("status", ASCENDING)], name="by_school"
        )
        await self.collection.create_index("sourced_id", name="by_sourced_id")

    async def get(self, school_id: str, student_id: str) -> RosterEntry | None:
        doc = await self.collection.find_one({"_id": student_doc_id(school_id, student_id)})
        if doc is None:
            return None
        return RosterEntry(
            school_id=doc["school_id"],
            student_id=doc["student_id"],
            first_name=doc.get("first_name", ""),
            last_name=doc.get("last_name", ""),
            first_name_key=doc.get("first_name_key", ""),
            last_name_key=doc.get("last_name_key", ""),
            birth_date=doc.get("birth_date"),
            status=doc.get("status", ""),
        )

    async def _stored_for(self, query: dict[str, Any]) -> dict[str, StoredStudent]:
        return {d["_id"]: _stored(d) async for d in self.collection.find(query, _STORED)}

    async def existing_in_schools(self, school_keys: Iterable[str]) -> dict[str, StoredStudent]:
        keys = sorted(set(school_keys))
        return await self._stored_for({"school_key": {"$in": keys}}) if keys else {}

    async def existing_by_ids(self, doc_ids: Iterable[str]) -> dict[str, StoredStudent]:
        ids = list(doc_ids)
        return await self._stored_for({"_id": {"$in": ids}}) if ids else {}

    async def existing_by_sourced_ids(self, sourced_ids: Iterable[str]) -> dict[str, StoredStudent]:
        ids = sorted(set(sourced_ids))
        return await self._stored_for({"sourced_id": {"$in": ids}}) if ids else {}

    async def upsert(self, students: Sequence[RosterStudent], import_id: str, at: datetime) -> None:
        ops = [
            UpdateOne(
                {"_id": s.doc_id},
                {
                    "$set": {
                        **s.fields(),
                        "hash": s.content_hash,
                        "status": "active",
                        "import_id": import_id,
                        "updated_at": at,
                    },
                    "$setOnInsert": {"created_at": at},
                    "$unset": {"withdrawn_at": ""},
                },
                upsert=True,
            )
            for s in students
        ]
        if ops:
            await self.collection.bulk_write(ops, ordered=False)

    async def insert_new(
        self, students: Sequence[RosterStudent], import_id: str, at: datetime
    ) -> None:
        docs = [
            {
                "_id": s.doc_id,
                **s.fields(),
                "hash": s.content_hash,
                "status": "active",
                "import_id": import_id,
                "updated_at": at,
                "created_at": at,
            }
            for s in students
        ]
        if not docs:
            return
        try:
            await self.collection.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            # Created meanwhile (a concurrent import): update those instead.
            failed = {
                e["index"] for e in exc.details.get("writeErrors", []) if e.get("code") == 11000
            }
            others = [e for e in exc.details.get("writeErrors", []) if e.get("code") != 11000]
            if others:
                raise
            await self.upsert([students[i] for i in sorted(failed)], import_id, at)

    async def withdraw(self, doc_ids: Sequence[str], import_id: str, at: datetime) -> int:
        if not doc_ids:
            return 0
        result = await self.collection.update_many(
            {"_id": {"$in": list(doc_ids)}, "status": "active"},
            {
                "$set": {
                    "status": "withdrawn",
                    "withdrawn_at": at,
                    "import_id": import_id,
                    "updated_at": at,
                }
            },
        )
        return result.modified_count

    async def record_import(self, summary: Mapping[str, Any]) -> None:
        await self.imports.insert_one(dict(summary))

    async def save_schools(
        self, names: Mapping[str, str], closed: Iterable[str], at: datetime
    ) -> None:
        ops: list[UpdateOne | DeleteOne] = [
            UpdateOne({"_id": school_id}, {"$set": {"name": name, "updated_at": at}}, upsert=True)
            for school_id, name in names.items()
        ]
        ops += [DeleteOne({"_id": school_id}) for school_id in closed]
        if ops:
            await self.schools_collection.bulk_write(ops, ordered=True)

    async def schools(self) -> list[tuple[str, str]]:
        cursor = self.schools_collection.find({}, {"name": 1}).sort("name", ASCENDING)
        return [(str(d["_id"]), str(d["name"])) async for d in cursor]
