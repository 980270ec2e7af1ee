"""The ``identity.accounts`` collection: one document per account, its pending events in
the same document (transactional outbox), and conditional single-document updates as the
guards of every state transition.

``identity.email_claims`` makes emails unique: one document per registered email whose
``_id`` *is* the normalised email, so the primary key's unique index decides a race
between concurrent registrations; erasing an account deletes its claim, which frees the
email. (A unique index on ``accounts.email`` released with ``$unset`` would do on MongoDB,
but the local MongoDB-protocol server keeps a document's old unique keys until the
document itself is deleted; the claim collection is correct on both.)

Also ``identity.signin_addresses``: per client address failure counters (fixed windows),
and the resend/reset request counters per address and per email (``mail|...``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DeleteOne, ReturnDocument, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from identity.domain.model import Action, EmailTaken, Status, allowed_from
from shared.contracts.events import Event
from shared.runtime.outbox import merge_updates, outbox_entries, outbox_fields, outbox_update

SOURCE = "identity"
#: Tokens kept per kind (older ones drop off): a guardian may click any recent email.
TOKENS_KEPT = 5

#: Everything erased when an account is deleted (only ``_id``, ``status`` and
#: ``deleted_at`` remain).
PERSONAL_FIELDS = (
    "email", "first_name", "last_name", "locale", "phones", "secondary_email", "address",
    "password_hash", "answers_hash", "security_question_ids", "notification_preferences",
    "verify_tokens", "reset_tokens", "failed_signins", "locked_until", "attempt_lease",
    "last_signin_event_day", "verified_at", "disabled_at", "last_activity_at", "created_at",
    "updated_at", "session_epoch", "password_changed_at",
)


def _entries(events: Sequence[Event], now: datetime) -> list[dict[str, Any]]:
    return outbox_entries(events, source=SOURCE, now=now)


class MongoAccounts:
    """Repository of accounts on MongoDB."""

    def __init__(
        self, db: AsyncDatabase[dict[str, Any]], on_commit: Callable[[], None] = lambda: None
    ) -> None:
        self.accounts: AsyncCollection[dict[str, Any]] = db["accounts"]
        self.addresses: AsyncCollection[dict[str, Any]] = db["signin_addresses"]
        self.claims: AsyncCollection[dict[str, Any]] = db["email_claims"]
        self.ghosts: AsyncCollection[dict[str, Any]] = db["signin_ghosts"]
        self._on_commit = on_commit

    async def create_indexes(self) -> None:
        """Email lookups (uniqueness is ``email_claims._id``), token lookups, purge scan."""
        await self.accounts.create_index([("email", ASCENDING)], sparse=True, name="email")
        await self.accounts.create_index(
            [("verify_tokens.h", ASCENDING)], sparse=True, name="verify_token"
        )
        await self.accounts.create_index(
            [("reset_tokens.h", ASCENDING)], sparse=True, name="reset_token"
        )
        await self.accounts.create_index(
            [("status", ASCENDING), ("created_at", ASCENDING)], name="status_created"
        )
        await self.addresses.create_index([("expires_at", ASCENDING)], name="expires")
        await self.ghosts.create_index("expire_at", expireAfterSeconds=0, name="ttl")

    # --- writes with events -------------------------------------------------------

    async def _update(
        self, query: dict[str, Any], update: dict[str, Any], events: Sequence[Event], now: datetime
    ) -> bool:
        entries = _entries(events, now)
        result = await self.accounts.update_one(query, merge_updates(update, outbox_update(entries)))
        if result.modified_count and entries:
            self._on_commit()
        return bool(result.modified_count)

    async def claim_email(self, email: str, account_id: str, now: datetime) -> None:
        """Reserve ``email`` for ``account_id``; :class:`EmailTaken` if it is registered."""
        try:
            await self.claims.insert_one({"_id": email, "account_id": account_id,
                                          "claimed_at": now})
        except DuplicateKeyError:
            raise EmailTaken() from None

    async def email_owner(self, email: str) -> str | None:
        """The account holding the claim on ``email``."""
        doc = await self.claims.find_one({"_id": email})
        return str(doc["account_id"]) if doc else None

    async def release_email(self, email: str, account_id: str) -> None:
        """Free ``email`` (only if ``account_id`` holds it)."""
        await self.claims.delete_one({"_id": email, "account_id": account_id})

    async def insert(self, doc: dict[str, Any], events: Sequence[Event], now: datetime) -> None:
        """Insert a new account (its email already claimed) with its events."""
        entries = _entries(events, now)
        await self.accounts.insert_one({**doc, **outbox_fields(entries)})
        self._on_commit()

    async def append_events(self, account_id: str, events: Sequence[Event], now: datetime) -> bool:
        """Queue events on an account without changing its state."""
        return await self._update({"_id": account_id}, {}, events, now)

    async def add_verify_token(
        self, account_id: str, token_hash: str, expires_at: datetime, events: Sequence[Event],
        now: datetime, statuses: Sequence[str],
    ) -> bool:
        """A new verification token (and its email event) for an account in ``statuses``."""
        return await self._update(
            {"_id": account_id, "status": {"$in": list(statuses)}},
            {"$push": {"verify_tokens": {"$each": [{"h": token_hash, "exp": expires_at}],
                                         "$slice": -TOKENS_KEPT}}},
            events, now,
        )

    async def add_reset_token(
        self, account_id: str, token_hash: str, expires_at: datetime, events: Sequence[Event],
        now: datetime,
    ) -> bool:
        """A new password-reset token (and its email event)."""
        return await self._update(
            {"_id": account_id, "status": {"$ne": str(Status.DELETED)}},
            {"$push": {"reset_tokens": {"$each": [{"h": token_hash, "exp": expires_at}],
                                        "$slice": -TOKENS_KEPT}}},
            events, now,
        )

    async def activate(
        self, account_id: str, token_hash: str, now: datetime, events: Sequence[Event]
    ) -> bool:
        """Verify: the token is consumed (all verification tokens end), status active."""
        return await self._update(
            {"_id": account_id, "verify_tokens.h": token_hash,
             "status": {"$in": allowed_from(Action.VERIFY)}},
            {"$set": {"status": str(Status.ACTIVE), "verified_at": now, "last_activity_at": now,
                      "failed_signins": 0, "updated_at": now},
             "$unset": {"verify_tokens": "", "disabled_at": "", "locked_until": ""}},
            events, now,
        )

    async def reserve_attempt(
        self, account_id: str, lease_id: str, now: datetime, lease_until: datetime,
        *, ghost: bool = False, ignore_lock: bool = False,
    ) -> int | None:
        """Reserve a password (or answers) check before it is made: in one conditional
        update, only if the account is not locked and no other check holds its lease,
        count the attempt as a failure in advance and take the lease. Returns the new
        failure count, or None when locked or busy (nothing was reserved). ``ghost``: the
        same on ``signin_ghosts``, the failure records of unknown emails (created here)."""
        free = [
            {"$or": [{"attempt_lease": {"$exists": False}}, {"attempt_lease": None},
                     {"attempt_lease.until": {"$lte": now}}]},
        ]
        if not ignore_lock:  # (a solved captcha lets a locked account be tried)
            free.append({"$or": [{"locked_until": {"$exists": False}}, {"locked_until": None},
                                 {"locked_until": {"$lte": now}}]})
        update: dict[str, Any] = {
            "$inc": {"failed_signins": 1},
            "$set": {"attempt_lease": {"id": lease_id, "until": lease_until}},
        }
        if ghost:  # forgotten a day after its last attempt (the longest lockout)
            update["$set"]["expire_at"] = now + timedelta(days=1)
        try:
            doc = await (self.ghosts if ghost else self.accounts).find_one_and_update(
                {"_id": account_id, "$and": free}, update, upsert=ghost,
                projection={"failed_signins": 1}, return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            return None  # a ghost that exists but is locked or busy: the insert collided
        return None if doc is None else int(doc.get("failed_signins", 0))

    async def end_attempt(
        self, account_id: str, lease_id: str, *, failed: bool, locked_until: datetime | None = None,
        reset: bool = False, ghost: bool = False,
    ) -> None:
        """Release the lease of a reserved attempt. A failed one keeps its count (and locks
        the account until ``locked_until`` when given); a successful one gives its count
        back, or clears the count and any lockout with ``reset`` (a sign-in)."""
        update: dict[str, Any] = {"$unset": {"attempt_lease": ""}}
        if failed:
            if locked_until is not None:
                update["$set"] = {"locked_until": locked_until}
        elif reset:
            update["$set"] = {"failed_signins": 0}
            update["$unset"]["locked_until"] = ""
        else:
            update["$inc"] = {"failed_signins": -1}
        await (self.ghosts if ghost else self.accounts).update_one(
            {"_id": account_id, "attempt_lease.id": lease_id}, update
        )

    async def ghost(self, key: str) -> dict[str, Any] | None:
        """The failure record of an unknown email (see :meth:`reserve_attempt`)."""
        return await self.ghosts.find_one({"_id": key})

    async def signed_in(
        self, account_id: str, now: datetime, day: str, events: Sequence[Event],
        new_hash: str | None = None, old_hash: str | None = None,
    ) -> bool:
        """Record a successful sign-in. With ``events`` (the first sign-in of ``day``), only
        if no sign-in was recorded that day (so ``AccountSignedIn`` is emitted at most once
        per account per day); returns whether it was recorded that way."""
        reset: dict[str, Any] = {"failed_signins": 0}
        if new_hash and old_hash:
            reset["password_hash"] = new_hash
        if events:
            recorded = await self._update(
                {"_id": account_id, "status": str(Status.ACTIVE),
                 "last_signin_event_day": {"$ne": day}},
                {"$set": {**reset, "last_signin_event_day": day, "last_activity_at": now},
                 "$unset": {"locked_until": ""}},
                events, now,
            )
            if recorded:
                return True
        query: dict[str, Any] = {"_id": account_id}
        if "password_hash" in reset:
            query["password_hash"] = old_hash
        await self.accounts.update_one(query, {"$set": reset, "$unset": {"locked_until": ""}})
        return False

    async def update_profile(
        self, account_id: str, fields: dict[str, Any], now: datetime, events: Sequence[Event]
    ) -> bool:
        """Set profile fields of an active account."""
        return await self._update(
            {"_id": account_id, "status": str(Status.ACTIVE)},
            {"$set": {**fields, "updated_at": now}}, events, now,
        )

    async def change_password(
        self, account_id: str, old_hash: str, new_hash: str, epoch: int, now: datetime,
        events: Sequence[Event],
    ) -> bool:
        """Replace the password (only if it is still ``old_hash``) and move the session
        epoch to ``epoch`` (other sessions end); outstanding reset links end too."""
        return await self._update(
            {"_id": account_id, "status": str(Status.ACTIVE), "password_hash": old_hash},
            {"$set": {"password_hash": new_hash, "session_epoch": epoch,
                      "password_changed_at": now, "updated_at": now},
             "$unset": {"reset_tokens": ""}},
            events, now,
        )

    async def set_answers(
        self, account_id: str, answers_hash: str, question_ids: list[str], now: datetime
    ) -> bool:
        """Replace the security answers of an active account."""
        return await self._update(
            {"_id": account_id, "status": str(Status.ACTIVE)},
            {"$set": {"answers_hash": answers_hash, "security_question_ids": question_ids,
                      "updated_at": now}},
            [], now,
        )

    async def reset_password(
        self, account_id: str, token_hash: str, new_hash: str, now: datetime,
        events: Sequence[Event],
    ) -> bool:
        """Consume the reset token (all reset tokens end), set the password, end every
        session (the epoch moves on) and clear the lockout."""
        return await self._update(
            {"_id": account_id, "reset_tokens.h": token_hash,
             "status": {"$ne": str(Status.DELETED)}},
            {"$set": {"password_hash": new_hash, "failed_signins": 0, "password_changed_at": now,
                      "updated_at": now},
             "$inc": {"session_epoch": 1},
             "$unset": {"reset_tokens": "", "locked_until": ""}},
            events, now,
        )

    async def disable(
        self, account_id: str, last_activity: datetime, now: datetime, events: Sequence[Event]
    ) -> bool:
        """Inactivity stage 1: only an active account whose last activity is not newer than
        ``last_activity``; its sessions end."""
        return await self._update(
            {"_id": account_id, "status": {"$in": allowed_from(Action.DISABLE)},
             "$or": [{"last_activity_at": {"$lte": last_activity}},
                     {"last_activity_at": {"$exists": False}}]},
            {"$set": {"status": str(Status.DISABLED), "disabled_at": now, "updated_at": now},
             "$inc": {"session_epoch": 1}},
            events, now,
        )

    def _erase_update(self, now: datetime) -> dict[str, Any]:
        return {"$set": {"status": str(Status.DELETED), "deleted_at": now},
                "$unset": {name: "" for name in PERSONAL_FIELDS}}

    async def erase(
        self, account_id: str, last_activity: datetime, now: datetime, events: Sequence[Event]
    ) -> bool:
        """Inactivity stage 2: erase personal data (``_id``, ``status`` and ``deleted_at``
        remain), unless the account was active after ``last_activity``."""
        return await self._update(
            {"_id": account_id, "status": {"$in": allowed_from(Action.DELETE)},
             "$or": [{"last_activity_at": {"$lte": last_activity}},
                     {"last_activity_at": {"$exists": False}}]},
            self._erase_update(now), events, now,
        )

    async def unverified_before(self, cutoff: datetime, limit: int) -> list[tuple[str, str]]:
        """(id, email) of accounts never verified and created before ``cutoff``."""
        cursor = self.accounts.find(
            {"status": str(Status.UNVERIFIED), "created_at": {"$lt": cutoff}},
            {"_id": 1, "email": 1},
        ).limit(limit)
        return [(doc["_id"], doc.get("email", "")) async for doc in cursor]

    async def purge(
        self, batch: Sequence[tuple[str, str, Event]], cutoff: datetime, now: datetime
    ) -> int:
        """Erase a batch of never-verified accounts in one round trip (each with its
        ``AccountDeleted``), then free their emails; returns how many were purged."""
        if not batch:
            return 0
        ops = []
        for account_id, _email, event in batch:
            entries = _entries([event], now)
            ops.append(UpdateOne(
                {"_id": account_id, "status": {"$in": allowed_from(Action.PURGE)},
                 "created_at": {"$lt": cutoff}},
                merge_updates(self._erase_update(now), outbox_update(entries)),
            ))
        result = await self.accounts.bulk_write(ops, ordered=False)
        if result.modified_count:
            self._on_commit()
        releases = [DeleteOne({"_id": email, "account_id": account_id})
                    for account_id, email, _ in batch if email]
        if releases:
            await self.claims.bulk_write(releases, ordered=False)
        return int(result.modified_count)

    # --- reads --------------------------------------------------------------------

    async def by_id(self, account_id: str) -> dict[str, Any] | None:
        return await self.accounts.find_one({"_id": account_id}, {"_outbox": 0})

    async def by_email(self, email: str) -> dict[str, Any] | None:
        return await self.accounts.find_one({"email": email}, {"_outbox": 0})

    async def by_verify_token(self, token_hash: str) -> dict[str, Any] | None:
        return await self.accounts.find_one({"verify_tokens.h": token_hash}, {"_outbox": 0})

    async def by_reset_token(self, token_hash: str) -> dict[str, Any] | None:
        return await self.accounts.find_one({"reset_tokens.h": token_hash}, {"_outbox": 0})

    # --- per-address sign-in failures --------------------------------------------

    @staticmethod
    def _address_key(address: str, window: int) -> str:
        # Addresses are personal data: only a digest is stored.
        return hashlib.sha256(address.encode()).hexdigest()[:32] + f"|{window}"

    async def address_failures(self, address: str, window: int) -> int:
        """Failed (and reserved) sign-ins from ``address`` in the window."""
        doc = await self.addresses.find_one({"_id": self._address_key(address, window)})
        return int((doc or {}).get("failures", 0))

    async def reserve_address(self, address: str, window: int, expires_at: datetime) -> int:
        """Count one sign-in from ``address`` in the window as a failure in advance; the
        new count (the caller gives it back with :meth:`release_address` unless the
        attempt fails)."""
        key = self._address_key(address, window)
        for _ in range(3):
            try:
                doc = await self.addresses.find_one_and_update(
                    {"_id": key}, {"$inc": {"failures": 1}, "$set": {"expires_at": expires_at}},
                    upsert=True, projection={"failures": 1}, return_document=ReturnDocument.AFTER,
                )
                return int((doc or {}).get("failures", 1))
            except DuplicateKeyError:
                continue  # two first attempts raced on the upsert; the retry increments
        raise RuntimeError("address counter upsert kept colliding")

    async def release_address(self, address: str, window: int) -> None:
        """Give back a reservation of :meth:`reserve_address` (the attempt did not fail)."""
        await self.addresses.update_one(
            {"_id": self._address_key(address, window), "failures": {"$gt": 0}},
            {"$inc": {"failures": -1}},
        )

    async def count_mail_request(self, key: str, window: int, expires_at: datetime) -> int:
        """Count one resend or reset request under ``key`` (``address|...`` or
        ``email|...``, stored as a digest) in the window; the new count."""
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        doc_id = f"mail|{digest}|{window}"
        for _ in range(3):
            try:
                doc = await self.addresses.find_one_and_update(
                    {"_id": doc_id},
                    {"$inc": {"requests": 1}, "$set": {"expires_at": expires_at}},
                    upsert=True, projection={"requests": 1},
                    return_document=ReturnDocument.AFTER,
                )
                return int((doc or {}).get("requests", 1))
            except DuplicateKeyError:
                continue  # two first requests raced on the upsert; the retry increments
        raise RuntimeError("mail request counter upsert kept colliding")

    async def forget_expired_addresses(self, now: datetime) -> int:
        """Remove finished windows."""
        result = await self.addresses.delete_many({"expires_at": {"$lt": now}})
        return int(result.deleted_count)
