"""Staff help-desk writes on ``identity.accounts``: lifting a lockout and the staff audit
trail (``staff_audit``, the last 100 entries, kept in the account document so that it
goes when the account's personal data goes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from identity.domain.model import Status

AUDIT_KEEP = 100


class MongoHelpDesk:
    """The help desk's port on the accounts collection."""

    def __init__(self, accounts: AsyncCollection[dict[str, Any]]) -> None:
        self.accounts = accounts

    async def by_id(self, account_id: str) -> dict[str, Any] | None:
        """The account document (any status but deleted)."""
        return await self.accounts.find_one(
            {"_id": account_id, "status": {"$ne": str(Status.DELETED)}}
        )

    async def by_email(self, email: str) -> dict[str, Any] | None:
        """The account of a normalised email (any status but deleted)."""
        return await self.accounts.find_one(
            {"email": email, "status": {"$ne": str(Status.DELETED)}}
        )

    async def unlock(
        self, account_id: str, entry: dict[str, Any], now: datetime
    ) -> dict[str, Any] | None:
        """Clear the failed sign-ins and the lockout, recording ``entry``; the account
        after, or None when it does not exist (or is deleted)."""
        return await self.accounts.find_one_and_update(
            {"_id": account_id, "status": {"$ne": str(Status.DELETED)}},
            {
                "$set": {"failed_signins": 0, "updated_at": now},
                "$unset": {"locked_until": ""},
                "$push": {"staff_audit": {"$each": [entry], "$slice": -AUDIT_KEEP}},
            },
            return_document=ReturnDocument.AFTER,
        )

    async def audit(self, account_id: str, entry: dict[str, Any]) -> None:
        """Record what a staff member did or looked at."""
        await self.accounts.update_one(
            {"_id": account_id},
            {"$push": {"staff_audit": {"$each": [entry], "$slice": -AUDIT_KEEP}}},
        )
