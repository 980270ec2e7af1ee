"""``linking.guardians``: linking's projection of identity's account events (contact for
``LinkApproved``, verified flag), erased to a tombstone when the account is deleted.

Events of different topics arrive in any order, so every write is an upsert that never
undoes a newer fact: a tombstone is never revived (the upsert's filter excludes it, so
the insert it attempts collides on ``_id``), the verified flag is only ever set, and a
profile change applies only if newer than the last one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from linking.domain.guardians import Guardian, GuardianIdentity, contact_fields
from shared.contracts.events import AccountCreated, AccountProfileUpdated, EmailVerified

_ALIVE = {"deleted": {"$ne": True}}


def doc_to_guardian(doc: Mapping[str, Any]) -> Guardian:
    return Guardian(
        account_id=doc["_id"],
        email=doc.get("email"),
        first_name=doc.get("first_name"),
        last_name=doc.get("last_name"),
        locale=doc.get("locale") or "en",
        phones=list(doc.get("phones") or []),
        emergency_phone=doc.get("emergency_phone"),
        secondary_email=doc.get("secondary_email"),
        address=doc.get("address"),
        contact_updated_at=_aware(doc.get("profile_updated_at") or doc.get("account_created_at")),
        verified=bool(doc.get("verified")),
        verified_at=doc.get("verified_at"),
        deleted=bool(doc.get("deleted")),
        sessions_valid_from=_aware(doc.get("sessions_valid_from")),
    )


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class MongoGuardians:
    """:class:`~linking.ports.GuardianRepository` on MongoDB."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self.collection = collection

    async def create_indexes(self) -> None:
        # the staff help desk finds a guardian by email; everything else is by _id
        await self.collection.create_index("email")

    async def find_by_email(self, email: str) -> Guardian | None:
        doc = await self.collection.find_one({"email": email, "deleted": {"$ne": True}})
        return doc_to_guardian(doc) if doc else None

    async def get(self, account_id: str) -> Guardian | None:
        doc = await self.collection.find_one({"_id": account_id})
        return doc_to_guardian(doc) if doc else None

    async def get_many(self, account_ids: Iterable[str]) -> dict[str, Guardian]:
        ids = list(account_ids)
        if not ids:
            return {}
        return {
            d["_id"]: doc_to_guardian(d) async for d in self.collection.find({"_id": {"$in": ids}})
        }

    async def _upsert(self, account_id: str, update: dict[str, Any]) -> Guardian | None:
        try:
            doc = await self.collection.find_one_and_update(
                {"_id": account_id, **_ALIVE},
                update,
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            return None  # a tombstone: the account was deleted
        return doc_to_guardian(doc) if doc else None

    async def record_created(self, event: AccountCreated) -> Guardian | None:
        created = await self._upsert(
            event.account_id,
            {
                "$set": {"email": event.email, "account_created_at": event.created_at},
                "$setOnInsert": {"verified": False},
            },
        )
        if created is None:
            return None
        # Name, locale and phones unless a (newer) profile change already set them.
        await self.collection.update_one(
            {"_id": event.account_id, **_ALIVE, "profile_updated_at": {"$exists": False}},
            {
                "$set": {
                    "first_name": event.first_name,
                    "last_name": event.last_name,
                    "locale": event.locale,
                    "phones": [p.model_dump() for p in event.phones],
                    **contact_fields(event),
                }
            },
        )
        return await self.get(event.account_id)

    async def record_verified(self, event: EmailVerified) -> Guardian | None:
        return await self._upsert(
            event.account_id,
            {
                "$set": {"verified": True, "verified_at": event.verified_at},
                "$setOnInsert": {
                    "email": event.email,
                    "first_name": event.first_name,
                    "locale": event.locale,
                },
            },
        )

    async def record_profile(self, event: AccountProfileUpdated) -> None:
        try:
            await self.collection.update_one(
                {
                    "_id": event.account_id,
                    **_ALIVE,
                    "$or": [
                        {"profile_updated_at": {"$exists": False}},
                        {"profile_updated_at": {"$lt": event.updated_at}},
                    ],
                },
                {
                    "$set": {
                        "first_name": event.first_name,
                        "last_name": event.last_name,
                        "locale": event.locale,
                        "phones": [p.model_dump() for p in event.phones],
                        **contact_fields(event),
                        "profile_updated_at": event.updated_at,
                    },
                    "$setOnInsert": {"verified": False},
                },
                upsert=True,
            )
        except DuplicateKeyError:
            pass  # deleted, or a newer profile is already stored

    async def end_sessions(self, account_id: str, at: datetime) -> None:
        try:
            await self.collection.update_one(
                {"_id": account_id, **_ALIVE},
                {"$max": {"sessions_valid_from": at}, "$setOnInsert": {"verified": False}},
                upsert=True,
            )
        except DuplicateKeyError:
            pass  # deleted: every token is refused anyway

    async def remember(self, identity: GuardianIdentity) -> Guardian | None:
        return await self._upsert(
            identity.account_id,
            {
                "$setOnInsert": {
                    "email": identity.email,
                    "first_name": identity.name,
                    "locale": identity.locale,
                    "phones": [],
                    "verified": False,
                }
            },
        )

    async def erase(self, account_id: str, at: datetime) -> None:
        await self.collection.update_one(
            {"_id": account_id},
            {
                "$set": {"deleted": True, "deleted_at": at, "verified": False},
                "$unset": {
                    "email": "",
                    "first_name": "",
                    "last_name": "",
                    "phones": "",
                    "emergency_phone": "",
                    "secondary_email": "",
                    "address": "",
                    "locale": "",
                    "verified_at": "",
                },
            },
            upsert=True,
        )
