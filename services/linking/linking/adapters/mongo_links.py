"""``linking.links``: one document per link, with its audit trail and its pending events
(transactional outbox: the state change and its events are one single-document write).

``linking.live_links`` enforces *one live link per guardian and student*: a document
whose ``_id`` is ``account|school|student`` names the live link. It is inserted before
the link and deleted after the link leaves the live states. (A unique index on a field
of the link that is unset when the link is decided would do on MongoDB, but the local
MongoDB-protocol server keeps stale keys in unique indexes after updates; the ``_id``
claim works on both.) A claim left behind by a crash is recognised and replaced: it
names a link that is decided, or that does not exist a minute after the claim.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from linking.adapters.mongo_guardians import doc_to_guardian
from linking.domain.guardians import Guardian
from linking.domain.matching import id_key, name_key
from linking.domain.model import LIVE_STATUSES, Link, LinkMethod, LinkStatus, live_key
from linking.ports import QueueFilter
from shared.contracts.events import Event
from shared.runtime.outbox import (
    OUTBOX,
    ImmediateDispatch,
    merge_updates,
    outbox_entries,
    outbox_fields,
    outbox_update,
)

SOURCE = "linking"
#: A claim naming a link that still does not exist after this long was left by a crash.
ORPHAN_CLAIM_AGE = timedelta(seconds=60)

_STATE_FIELDS = (
    "method",
    "status",
    "expires_at",
    "decided_at",
    "decided_by",
    "reason",
    "approved_by",
    "approved_at",
    "id_document_type",
    "held",
    "released_at",
    "contact_digest",
    "version",
    "audit",
)


def link_to_doc(link: Link) -> dict[str, Any]:
    """The stored form of a link."""
    doc: dict[str, Any] = {
        "_id": link.link_id,
        "account_id": link.account_id,
        "school_id": link.school_id,
        "student_id": link.student_id,
        "school_key": id_key(link.school_id),
        "student_key": id_key(link.student_id),
        "student_name_key": name_key(link.student_last_name),
        "requested_at": link.requested_at,
        "student": {"first_name": link.student_first_name, "last_name": link.student_last_name},
        "method": str(link.method),
        "status": str(link.status),
        "expires_at": link.expires_at,
        "decided_at": link.decided_at,
        "decided_by": link.decided_by,
        "reason": link.reason,
        "approved_by": link.approved_by,
        "approved_at": link.approved_at,
        "id_document_type": link.id_document_type,
        "held": link.held,
        "released_at": link.released_at,
        "contact_digest": dict(link.contact_digest),
        "version": link.version,
        "audit": list(link.audit),
    }
    return doc


def doc_to_link(doc: dict[str, Any]) -> Link:
    """A link from its stored form."""
    student = doc.get("student") or {}
    return Link(
        link_id=doc["_id"],
        account_id=doc["account_id"],
        school_id=doc["school_id"],
        student_id=doc["student_id"],
        method=LinkMethod(doc["method"]),
        status=LinkStatus(doc["status"]),
        requested_at=doc["requested_at"],
        expires_at=doc.get("expires_at"),
        decided_at=doc.get("decided_at"),
        student_first_name=student.get("first_name"),
        student_last_name=student.get("last_name"),
        approved_by=doc.get("approved_by"),
        approved_at=doc.get("approved_at"),
        id_document_type=doc.get("id_document_type"),
        decided_by=doc.get("decided_by"),
        reason=doc.get("reason"),
        held=bool(doc.get("held")),
        released_at=doc.get("released_at"),
        contact_digest=dict(doc.get("contact_digest") or {}),
        version=int(doc.get("version", 0)),
        audit=list(doc.get("audit") or []),
    )


_PROJECTION = {"_outbox": 0, "_outbox_since": 0, "_outbox_lease": 0, "_outbox_owner": 0}


class MongoLinks:
    """:class:`~linking.ports.LinkRepository` on MongoDB."""

    def __init__(
        self,
        collection: AsyncCollection[dict[str, Any]],
        live: AsyncCollection[dict[str, Any]],
        dispatch: ImmediateDispatch | None = None,
        guardians: str = "guardians",
    ) -> None:
        self.collection = collection
        self.live = live
        #: Name of the guardians collection (same database), joined by get_with_guardian.
        self.guardians = guardians
        #: Publishes a write's events right after it (None: the relay alone publishes).
        self.dispatch = dispatch

    async def create_indexes(self) -> None:
        c = self.collection
        await c.create_index(
            [
                ("school_key", ASCENDING),
                ("status", ASCENDING),
                ("requested_at", ASCENDING),
                ("_id", ASCENDING),
            ],
            name="school_queue",
        )
        await c.create_index(
            [("account_id", ASCENDING), ("requested_at", DESCENDING)], name="by_account"
        )
        await c.create_index(
            [("school_key", ASCENDING), ("student_key", ASCENDING), ("requested_at", ASCENDING)],
            name="by_student",
        )

    def _entries(self, events: Sequence[Event]) -> list[dict[str, Any]]:
        return outbox_entries(events, source=SOURCE) if events else []

    async def _claim(self, link: Link) -> bool:
        """Claim the live key for ``link``; False if another live link holds it."""
        key = link.live_key
        for _ in range(3):
            try:
                await self.live.insert_one(
                    {"_id": key, "link_id": link.link_id, "at": datetime.now(UTC)}
                )
                return True
            except DuplicateKeyError:
                holder = await self.live.find_one({"_id": key})
            if holder is None:
                continue  # released meanwhile
            if holder["link_id"] == link.link_id:
                return True  # ours (a redelivery or a retry)
            if not await self._is_stale(holder):
                return False
            await self.live.delete_one({"_id": key, "link_id": holder["link_id"]})
        return False

    async def _is_stale(self, holder: dict[str, Any]) -> bool:
        other = await self.collection.find_one({"_id": holder["link_id"]}, {"status": 1})
        if other is not None:
            return LinkStatus(other["status"]) not in LIVE_STATUSES
        at = holder.get("at")
        return at is None or datetime.now(UTC) - at > ORPHAN_CLAIM_AGE

    async def _release(self, link: Link) -> None:
        await self.live.delete_one({"_id": link.live_key, "link_id": link.link_id})

    async def add(self, link: Link, events: Sequence[Event]) -> bool:
        if link.is_live and not await self._claim(link):
            return False
        entries = self._entries(events)
        doc = {**link_to_doc(link), **outbox_fields(entries)}
        owner = None
        if entries and self.dispatch is not None:
            owner, claim = self.dispatch.claim()
            doc.update(claim)
        try:
            await self.collection.insert_one(doc)
        except DuplicateKeyError:
            # This link exists already (a redelivered event); keep the claim only if it is
            # still live.
            existing = await self.get(link.link_id)
            if existing is not None and not existing.is_live:
                await self._release(existing)
            return False
        if owner is not None and self.dispatch is not None:
            self.dispatch.publish_soon(self.collection, link.link_id, owner, entries)
        return True

    async def save(self, link: Link, expected_version: int, events: Sequence[Event]) -> bool:
        doc = link_to_doc(link)
        entries = self._entries(events)
        update = merge_updates({"$set": {k: doc[k] for k in _STATE_FIELDS}}, outbox_update(entries))
        where = {"_id": link.link_id, "version": expected_version}
        if entries and self.dispatch is not None:
            owner, claim = self.dispatch.claim()
            stored = await self.collection.find_one_and_update(
                where,
                merge_updates(update, {"$set": claim}),
                projection={OUTBOX: 1},
                return_document=ReturnDocument.AFTER,
            )
            if stored is None:
                return False
            # The whole outbox, older entries first, so a link's events keep their order.
            self.dispatch.publish_soon(
                self.collection, link.link_id, owner, stored.get(OUTBOX) or []
            )
        else:
            result = await self.collection.update_one(where, update)
            if result.matched_count != 1:
                return False
        if not link.is_live:
            await self._release(link)
        return True

    async def get(self, link_id: str) -> Link | None:
        doc = await self.collection.find_one({"_id": link_id}, _PROJECTION)
        return doc_to_link(doc) if doc else None

    async def get_with_guardian(self, link_id: str) -> tuple[Link, Guardian | None] | None:
        pipeline: list[dict[str, Any]] = [
            {"$match": {"_id": link_id}},
            {"$limit": 1},
            {"$project": _PROJECTION},
            {
                "$lookup": {
                    "from": self.guardians,
                    "localField": "account_id",
                    "foreignField": "_id",
                    "as": "_guardian",
                }
            },
        ]
        docs = await (await self.collection.aggregate(pipeline)).to_list()
        if not docs:
            return None
        joined = docs[0].pop("_guardian", None) or []
        return doc_to_link(docs[0]), doc_to_guardian(joined[0]) if joined else None

    async def find_live(self, account_id: str, school_id: str, student_id: str) -> Link | None:
        holder = await self.live.find_one({"_id": live_key(account_id, school_id, student_id)})
        if holder is None:
            return None
        link = await self.get(holder["link_id"])
        if link is None or not link.is_live:
            return None  # a stale claim; replaced by the next add
        return link

    async def for_account(
        self, account_id: str, statuses: Iterable[LinkStatus] | None = None, limit: int = 500
    ) -> list[Link]:
        query: dict[str, Any] = {"account_id": account_id}
        if statuses is not None:
            query["status"] = {"$in": [str(s) for s in statuses]}
        cursor = (
            self.collection.find(query, _PROJECTION)
            .sort([("requested_at", DESCENDING), ("_id", ASCENDING)])
            .limit(limit)
        )
        return [doc_to_link(d) async for d in cursor]

    async def held_for(self, account_id: str) -> list[Link]:
        query = {"account_id": account_id, "status": str(LinkStatus.APPROVED), "held": True}
        return [doc_to_link(d) async for d in self.collection.find(query, _PROJECTION)]

    async def for_student(self, school_key: str, student_key: str, limit: int = 200) -> list[Link]:
        # links written before student_key was stored are found by their exact student id
        query = {
            "school_key": school_key,
            "$or": [{"student_key": student_key}, {"student_id": student_key}],
        }
        cursor = (
            self.collection.find(query, _PROJECTION)
            .sort([("requested_at", ASCENDING), ("_id", ASCENDING)])
            .limit(limit)
        )
        return [doc_to_link(d) async for d in cursor]

    async def queue(
        self,
        school_key: str,
        status: LinkStatus,
        after: tuple[datetime, str] | None,
        limit: int,
        narrow: QueueFilter | None = None,
    ) -> list[Link]:
        query: dict[str, Any] = {"school_key": school_key, "status": str(status)}
        either: list[list[dict[str, Any]]] = []
        if after is not None:
            at, link_id = after
            either.append(
                [{"requested_at": {"$gt": at}}, {"requested_at": at, "_id": {"$gt": link_id}}]
            )
        if narrow is not None:
            if narrow.method:
                query["method"] = narrow.method
            if narrow.expires_by is not None:
                query["expires_at"] = {"$lte": narrow.expires_by}
            if narrow.searching:
                found: list[dict[str, Any]] = []
                if narrow.student_key:
                    # links written before student_key was stored: their exact id
                    found += [{"student_key": narrow.student_key},
                              {"student_id": narrow.student_key}]  # fmt: skip
                if narrow.account_ids:
                    found.append({"account_id": {"$in": list(narrow.account_ids)}})
                if narrow.last_name_key:
                    found.append({"student_name_key": narrow.last_name_key})
                either.append(found)
        if len(either) == 1:
            query["$or"] = either[0]
        elif either:
            query["$and"] = [{"$or": alternatives} for alternatives in either]
        cursor = (
            self.collection.find(query, _PROJECTION)
            .sort([("requested_at", ASCENDING), ("_id", ASCENDING)])
            .limit(limit)
        )
        return [doc_to_link(d) async for d in cursor]
