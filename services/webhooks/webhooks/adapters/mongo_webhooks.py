"""MongoDB storage of the webhooks service: ``endpoints``, ``deliveries`` (the delivery
log an operator reads and replays) and ``counters`` (the order of deliveries).

A delivery is claimed by moving its ``next_attempt_at`` to the end of a lease and
recording the claimer in ``owner``: a sender killed mid-attempt leaves the delivery due
again when the lease runs out, so nothing is lost across restarts (the receiver may see
that attempt twice, with the same ``webhook-id``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from webhooks.domain.model import LOG_LIMIT, Attempt, Delivery, Endpoint, SigningSecret, Status

Doc = dict[str, Any]


def endpoint_to_doc(e: Endpoint) -> Doc:
    return {
        "_id": e.id,
        "sis": e.sis,
        "url": e.url,
        "event_types": sorted(e.event_types),
        "secrets": [
            {"secret": s.secret, "created_at": s.created_at, "expires_at": s.expires_at}
            for s in e.secrets
        ],
        "created_at": e.created_at,
        "enabled": e.enabled,
        "description": e.description,
    }


def doc_to_endpoint(d: Doc) -> Endpoint:
    return Endpoint(
        id=d["_id"],
        sis=d["sis"],
        url=d["url"],
        event_types=frozenset(d["event_types"]),
        secrets=tuple(
            SigningSecret(s["secret"], _aware(s["created_at"]), _aware(s.get("expires_at")))
            for s in d["secrets"]
        ),
        created_at=_aware(d["created_at"]),
        enabled=d.get("enabled", True),
        description=d.get("description", ""),
    )


def _aware(value: Any) -> Any:
    from datetime import UTC

    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def attempt_to_doc(a: Attempt) -> Doc:
    return {
        "at": a.at,
        "status_code": a.status_code,
        "error": a.error,
        "duration_ms": a.duration_ms,
    }


def delivery_to_doc(d: Delivery) -> Doc:
    return {
        "_id": d.id,
        "endpoint_id": d.endpoint_id,
        "ce_id": d.ce_id,
        "event_type": d.event_type,
        "key": d.key,
        "event_time": d.event_time,
        "seq": d.seq,
        "body": d.body,
        "status": str(d.status),
        "created_at": d.created_at,
        "next_attempt_at": d.next_attempt_at,
        "attempts": d.attempts,
        "log": [attempt_to_doc(a) for a in d.log],
        "delivered_at": d.delivered_at,
    }


def doc_to_delivery(d: Doc) -> Delivery:
    return Delivery(
        id=d["_id"],
        endpoint_id=d["endpoint_id"],
        ce_id=d["ce_id"],
        event_type=d["event_type"],
        key=d["key"],
        event_time=_aware(d["event_time"]),
        seq=d["seq"],
        body=d["body"],
        status=Status(d["status"]),
        created_at=_aware(d["created_at"]),
        next_attempt_at=_aware(d["next_attempt_at"]),
        attempts=d.get("attempts", 0),
        log=tuple(
            Attempt(_aware(a["at"]), a.get("status_code"), a.get("error"), a["duration_ms"])
            for a in d.get("log", [])
        ),
        delivered_at=_aware(d.get("delivered_at")),
    )


class MongoEndpoints:
    def __init__(self, collection: AsyncCollection[Doc]) -> None:
        self.collection = collection

    async def add(self, endpoint: Endpoint) -> None:
        await self.collection.insert_one(endpoint_to_doc(endpoint))

    async def save(self, endpoint: Endpoint) -> None:
        await self.collection.replace_one({"_id": endpoint.id}, endpoint_to_doc(endpoint))

    async def get(self, endpoint_id: str) -> Endpoint | None:
        doc = await self.collection.find_one({"_id": endpoint_id})
        return doc_to_endpoint(doc) if doc else None

    async def all(self) -> list[Endpoint]:
        return [doc_to_endpoint(d) async for d in self.collection.find({}).sort("_id", ASCENDING)]

    async def receiving(self, event_type: str) -> list[Endpoint]:
        cursor = self.collection.find({"enabled": True, "event_types": event_type})
        return [doc_to_endpoint(d) async for d in cursor]


class MongoDeliveries:
    def __init__(self, collection: AsyncCollection[Doc], counters: AsyncCollection[Doc]) -> None:
        self.collection = collection
        self.counters = counters

    async def create_indexes(self) -> None:
        await self.collection.create_index(
            [("status", ASCENDING), ("next_attempt_at", ASCENDING)], name="due"
        )
        await self.collection.create_index(
            [
                ("endpoint_id", ASCENDING),
                ("key", ASCENDING),
                ("event_time", ASCENDING),
                ("seq", ASCENDING),
            ],
            name="queue",
        )
        await self.collection.create_index([("created_at", DESCENDING)], name="recent")

    async def next_seq(self) -> int:
        """A number larger than every earlier one (the consumption order)."""
        doc = await self.counters.find_one_and_update(
            {"_id": "deliveries"},
            {"$inc": {"n": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return int(doc["n"])  # type: ignore[index]

    async def add(self, delivery: Delivery) -> bool:
        """Record a delivery once; False when this event was already recorded."""
        try:
            await self.collection.insert_one(delivery_to_doc(delivery))
        except DuplicateKeyError:
            return False
        return True

    async def get(self, delivery_id: str) -> Delivery | None:
        doc = await self.collection.find_one({"_id": delivery_id})
        return doc_to_delivery(doc) if doc else None

    async def due_ids(self, now: datetime, limit: int) -> list[str]:
        cursor = (
            self.collection.find(
                {"status": str(Status.PENDING), "next_attempt_at": {"$lte": now}}, {"_id": 1}
            )
            .sort("next_attempt_at", ASCENDING)
            .limit(limit)
        )
        return [d["_id"] async for d in cursor]

    async def claim(
        self, delivery_id: str, now: datetime, lease_until: datetime, owner: str
    ) -> Delivery | None:
        """Take a due delivery for one attempt (None when another sender has it)."""
        doc = await self.collection.find_one_and_update(
            {"_id": delivery_id, "status": str(Status.PENDING), "next_attempt_at": {"$lte": now}},
            {"$set": {"next_attempt_at": lease_until, "owner": owner}},
            return_document=ReturnDocument.AFTER,
        )
        return doc_to_delivery(doc) if doc else None

    async def predecessor(self, delivery: Delivery) -> Delivery | None:
        """The earliest still-pending delivery of an event before ``delivery``'s (same
        endpoint and key), which must go first."""
        doc = await self.collection.find_one(
            {
                "endpoint_id": delivery.endpoint_id,
                "key": delivery.key,
                "status": str(Status.PENDING),
                "$or": [
                    {"event_time": {"$lt": delivery.event_time}},
                    {"event_time": delivery.event_time, "seq": {"$lt": delivery.seq}},
                ],
            },
            sort=[("event_time", ASCENDING), ("seq", ASCENDING)],
        )
        return doc_to_delivery(doc) if doc else None

    async def postpone(self, delivery_id: str, owner: str, until: datetime) -> None:
        await self.collection.update_one(
            {"_id": delivery_id, "owner": owner},
            {"$set": {"next_attempt_at": until}, "$unset": {"owner": ""}},
        )

    async def record_attempt(
        self,
        delivery_id: str,
        owner: str,
        attempt: Attempt,
        *,
        status: Status,
        next_attempt_at: datetime,
    ) -> bool:
        fields: Doc = {"status": str(status), "next_attempt_at": next_attempt_at}
        if status == Status.DELIVERED:
            fields["delivered_at"] = attempt.at
        result = await self.collection.update_one(
            {"_id": delivery_id, "owner": owner},
            {
                "$set": fields,
                "$unset": {"owner": ""},
                "$inc": {"attempts": 1},
                "$push": {"log": {"$each": [attempt_to_doc(attempt)], "$slice": -LOG_LIMIT}},
            },
        )
        return result.matched_count == 1

    async def wake_successor(self, delivery: Delivery, now: datetime) -> None:
        """Make the next delivery of the same queue due now."""
        doc = await self.collection.find_one(
            {
                "endpoint_id": delivery.endpoint_id,
                "key": delivery.key,
                "status": str(Status.PENDING),
                "_id": {"$ne": delivery.id},
            },
            sort=[("event_time", ASCENDING), ("seq", ASCENDING)],
        )
        if doc and _aware(doc["next_attempt_at"]) > now and "owner" not in doc:
            await self.collection.update_one(
                {"_id": doc["_id"], "owner": {"$exists": False}},
                {"$set": {"next_attempt_at": now}},
            )

    async def replay(self, delivery_id: str, now: datetime) -> bool:
        """Send a delivered or failed delivery again (an operator's decision)."""
        result = await self.collection.update_one(
            {"_id": delivery_id, "status": {"$in": [str(Status.DELIVERED), str(Status.FAILED)]}},
            {"$set": {"status": str(Status.PENDING), "next_attempt_at": now, "attempts": 0}},
        )
        return result.modified_count == 1

    async def list(
        self,
        *,
        endpoint_id: str | None = None,
        status: Status | None = None,
        key: str | None = None,
        limit: int = 100,
    ) -> list[Delivery]:
        query: Doc = {}
        if endpoint_id:
            query["endpoint_id"] = endpoint_id
        if status:
            query["status"] = str(status)
        if key:
            query["key"] = key
        cursor = (
            self.collection.find(query)
            .sort([("event_time", ASCENDING), ("seq", ASCENDING)])
            .limit(limit)
        )
        return [doc_to_delivery(d) async for d in cursor]
