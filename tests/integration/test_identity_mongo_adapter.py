"""The identity repository on the real MongoDB-protocol server (no service process): the
purge of never-verified accounts in one bulk write, the email claims, and the guards of
the lifecycle updates."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from identity.adapters.captcha import NoCaptcha
from identity.adapters.jwt_sessions import SessionTokens
from identity.adapters.mongo_accounts import MongoAccounts
from identity.domain.model import EmailTaken
from identity.handlers import IdentityService
from pymongo import AsyncMongoClient

from shared.contracts.events import AccountDeleted, AccountDisabled, AccountSignedIn
from shared.runtime.policy import load_policy

pytestmark = pytest.mark.usefixtures("stack")


class PlainHasher:
    async def hash(self, secret: str) -> str:
        return "plain$" + secret

    async def verify(self, encoded: str | None, secret: str) -> bool:
        return encoded == "plain$" + secret

    def needs_rehash(self, encoded: str) -> bool:
        return False


@pytest.fixture
async def repo() -> AsyncIterator[MongoAccounts]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        "mongodb://127.0.0.1:27017", tz_aware=True
    )
    name = f"ia{uuid.uuid4().hex[:8]}_identity"
    accounts = MongoAccounts(client[name])
    await accounts.create_indexes()
    try:
        yield accounts
    finally:
        await client.drop_database(name)
        await client.close()


def account(account_id: str, email: str, status: str, created_at: datetime) -> dict[str, Any]:
    return {
        "_id": account_id,
        "email": email,
        "status": status,
        "first_name": "A",
        "last_name": "B",
        "locale": "en",
        "password_hash": "plain$x",
        "session_epoch": 0,
        "created_at": created_at,
        "last_activity_at": created_at,
    }


async def test_purge_erases_old_unverified_accounts_in_batches_and_frees_emails(
    repo: MongoAccounts,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    old, young = now - timedelta(days=31), now - timedelta(days=29)
    docs = [account(f"old{i}", f"old{i}@example.net", "unverified", old) for i in range(205)]
    docs += [
        account("young", "young@example.net", "unverified", young),
        account("verified", "verified@example.net", "active", old),
    ]
    for doc in docs:
        await repo.claim_email(doc["email"], doc["_id"], now)
    await repo.accounts.insert_many(docs)
    service = IdentityService(
        repo=repo,
        hasher=PlainHasher(),
        captcha=NoCaptcha(),
        tokens=SessionTokens.from_settings(None, None, production=False),
        policy=load_policy(),
    )

    assert await service.purge_unverified() == 205  # two batches (200 + 5)
    erased = await repo.accounts.find_one({"_id": "old7"})
    assert erased is not None
    assert {k for k in erased if not k.startswith("_outbox")} == {"_id", "status", "deleted_at"}
    assert erased["status"] == "deleted"
    assert [e["topic"] for e in erased["_outbox"]] == ["AccountDeleted"]
    assert '"reason":"unverified"' in erased["_outbox"][0]["value"]
    assert await repo.claims.count_documents({"_id": {"$regex": "^old"}}) == 0
    assert (await repo.by_id("young"))["status"] == "unverified"
    assert (await repo.by_id("verified"))["status"] == "active"
    # The freed email registers again; a claimed one does not.
    await repo.claim_email("old7@example.net", "new", now)
    with pytest.raises(EmailTaken):
        await repo.claim_email("young@example.net", "other", now)
    assert await service.purge_unverified() == 0


async def test_lifecycle_guards(repo: MongoAccounts) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    await repo.insert(account("a1", "a1@example.net", "active", now), [], now)
    stale = now - timedelta(seconds=1)
    disabled = AccountDisabled(account_id="a1", reason="inactivity", at=now)
    deleted = AccountDeleted(account_id="a1", reason="inactivity", at=now)
    assert not await repo.disable("a1", stale, now, [disabled])  # active since
    assert await repo.disable("a1", now, now, [disabled])
    assert not await repo.disable("a1", now, now, [disabled])  # redelivery
    doc = await repo.accounts.find_one({"_id": "a1"})
    assert doc["status"] == "disabled" and doc["session_epoch"] == 1
    assert len(doc["_outbox"]) == 1
    assert await repo.erase("a1", now, now, [deleted])
    assert not await repo.erase("a1", now, now, [deleted])
    doc = await repo.accounts.find_one({"_id": "a1"})
    assert {k for k in doc if not k.startswith("_outbox")} == {"_id", "status", "deleted_at"}
    assert [e["topic"] for e in doc["_outbox"]] == ["AccountDisabled", "AccountDeleted"]
    assert await repo.by_email("a1@example.net") is None


async def test_sign_in_event_at_most_once_per_day_under_concurrency(repo: MongoAccounts) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    await repo.insert(account("s1", "s1@example.net", "active", now), [], now)
    day = now.date().isoformat()
    results = await asyncio.gather(
        *(
            repo.signed_in("s1", now, day, [AccountSignedIn(account_id="s1", at=now)])
            for _ in range(10)
        )
    )
    assert results.count(True) == 1
    doc = await repo.accounts.find_one({"_id": "s1"})
    assert len(doc["_outbox"]) == 1 and doc["last_signin_event_day"] == day
