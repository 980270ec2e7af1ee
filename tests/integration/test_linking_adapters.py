"""Linking's MongoDB adapters against the real MongoDB-protocol server: events arriving
out of order, tombstones, the one-live-link claim surviving a crash, single-use codes
under concurrency, and the outbox written with each state change."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from linking.adapters.mongo_store import MongoStore
from linking.domain.model import Link, LinkStatus
from linking.ports import ActivationCode
from pymongo import AsyncMongoClient

from shared.contracts.events import (
    AccountCreated,
    AccountProfileUpdated,
    EmailVerified,
    LinkRequested,
    Phone,
)

NOW = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def store(stack: None) -> AsyncIterator[MongoStore]:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        "mongodb://127.0.0.1:27017", tz_aware=True
    )
    name = f"tadapters_{uuid.uuid4().hex[:8]}_linking"
    store = MongoStore.on(client[name])
    await store.create_indexes()
    try:
        yield store
    finally:
        await client.drop_database(name)
        await client.close()


def created(account: str, at: datetime = NOW) -> AccountCreated:
    return AccountCreated(
        account_id=account,
        email=f"{account}@example.net",
        first_name="Jenny",
        last_name="Denny",
        locale="es",
        created_at=at,
        phones=[Phone(kind="mobile", number="9045550100")],
    )


def profile(account: str, first: str, at: datetime) -> AccountProfileUpdated:
    return AccountProfileUpdated(
        account_id=account,
        first_name=first,
        last_name="Denny",
        locale="vi",
        phones=[Phone(kind="work", number="9045550199", extension="12")],
        updated_at=at,
    )


async def test_projection_tolerates_any_order_and_never_revives_a_deleted_account(
    store: MongoStore,
) -> None:
    g = store.guardians
    # Verified before created: the flag survives the later AccountCreated.
    await g.record_verified(EmailVerified(account_id="a1", email="a1@example.net", verified_at=NOW))
    after = await g.record_created(created("a1"))
    assert after is not None and after.verified and after.name == "Jenny Denny"
    assert after.locale == "es" and after.phones[0]["number"] == "9045550100"

    # A newer profile wins over an older one, whatever the arrival order.
    await g.record_profile(profile("a1", "Newer", NOW + timedelta(hours=2)))
    await g.record_profile(profile("a1", "Older", NOW + timedelta(hours=1)))
    await g.record_created(created("a1"))  # a redelivered AccountCreated does not undo it
    current = await g.get("a1")
    assert current is not None and current.first_name == "Newer" and current.locale == "vi"
    assert current.contact().phones[0].extension == "12"

    # Erased: personal data gone, and no later event brings the account back.
    await g.erase("a1", NOW)
    assert await g.record_created(created("a1")) is None
    assert (
        await g.record_verified(
            EmailVerified(account_id="a1", email="a1@example.net", verified_at=NOW)
        )
        is None
    )
    await g.record_profile(profile("a1", "Ghost", NOW + timedelta(days=1)))
    gone = await g.get("a1")
    assert gone is not None and gone.deleted and gone.email is None and gone.first_name is None


def pending(link_id: str, account: str = "a2") -> Link:
    return Link.request(
        link_id=link_id,
        account_id=account,
        school_id="0123",
        student_id="S1",
        requested_at=NOW,
        deadline_days=21,
        tz=ZoneInfo("America/New_York"),
        by=account,
    )


def requested_event(link: Link) -> LinkRequested:
    assert link.expires_at is not None
    return LinkRequested(
        link_id=link.link_id,
        account_id=link.account_id,
        school_id=link.school_id,
        student_id=link.student_id,
        method="in_person",
        requested_at=link.requested_at,
        expires_at=link.expires_at,
    )


async def test_one_live_link_per_guardian_and_student(store: MongoStore) -> None:
    links = store.links
    first = pending("l-1")
    assert await links.add(first, [requested_event(first)])
    assert not await links.add(pending("l-2"), [])  # a second live request is refused
    stored = await links.collection.find_one({"_id": "l-1"})
    assert stored is not None and stored["_outbox"][0]["topic"] == "LinkRequested"

    # Decided: the key is free again (the server's unique indexes are not used for this).
    version = first.version
    first.deny(by="staff", reason="no ID", at=NOW)
    assert await links.save(first, version, [])
    assert not await links.save(first, version, [])  # stale version: refused
    second = pending("l-2")
    assert await links.add(second, [])
    live = await links.find_live("a2", "0123", "S1")
    assert live is not None and live.link_id == "l-2"


async def test_a_claim_left_by_a_crash_is_replaced(store: MongoStore) -> None:
    links = store.links
    # A claim whose link was never written (the process died in between), long ago.
    await links.live.insert_one(
        {"_id": "a3|0123|S1", "link_id": "never-written", "at": NOW - timedelta(hours=1)}
    )
    assert await links.find_live("a3", "0123", "S1") is None
    assert await links.add(pending("l-3", "a3"), [])
    # A claim naming a link that was decided but not released is replaced too.
    link = await links.get("l-3")
    assert link is not None
    await links.collection.update_one({"_id": "l-3"}, {"$set": {"status": "withdrawn"}})
    assert await links.add(pending("l-4", "a3"), [])
    assert (await links.live.find_one({"_id": "a3|0123|S1"}) or {})["link_id"] == "l-4"


async def test_a_code_is_used_once_even_under_concurrency(store: MongoStore) -> None:
    codes = store.codes
    code = ActivationCode(
        code_id="c1",
        school_id="0123",
        student_id="S1",
        issued_by="staff-7",
        issued_at=NOW,
        expires_at=datetime.now(UTC) + timedelta(days=1),
    )
    await codes.add(code, "hash-1")
    now = datetime.now(UTC)
    results = await asyncio.gather(
        *(
            codes.consume("hash-1", account_id=f"g{i}", school_id="0123", student_id="S1", at=now)
            for i in range(8)
        )
    )
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    winner = winners[0].used_by
    assert winner is not None
    # The same guardian may retry; nobody else; not for another student.
    again = await codes.consume(
        "hash-1", account_id=winner, school_id="0123", student_id="S1", at=now
    )
    assert again is not None
    assert (
        await codes.consume("hash-1", account_id="x", school_id="0123", student_id="S1", at=now)
        is None
    )
    revoked = await codes.revoke("c1", school_id="0123", student_id="S1", by="s", at=now)
    assert revoked is not None and revoked.revoked_at is None and revoked.used_at is not None


async def test_status_change_and_events_are_one_write(store: MongoStore) -> None:
    links = store.links
    link = pending("l-5", "a5")
    await links.add(link, [requested_event(link)])
    version = link.version
    link.withdraw(by="a5", reason="guardian", at=NOW)
    assert await links.save(link, version, [requested_event(link)])
    doc = await links.collection.find_one({"_id": "l-5"})
    assert doc is not None and doc["status"] == "withdrawn"
    assert [e["topic"] for e in doc["_outbox"]] == ["LinkRequested", "LinkRequested"]
    assert doc["_outbox_since"] is not None
    assert (await links.get("l-5")).status == LinkStatus.WITHDRAWN  # type: ignore[union-attr]


async def test_contact_block_is_projected_and_announced_digests_are_kept(
    store: MongoStore,
) -> None:
    """Issue 20: the whole contact block is kept; an event from an older identity (no
    such keys) keeps it; an explicit null clears a field; erasure removes it; a link keeps
    the digests of the contact it announced."""
    from linking.domain.model import LinkMethod

    from shared.contracts.events import PostalAddress

    g = store.guardians
    address = PostalAddress(street="1 A St", apt="2B", city="Jacksonville", state="FL", zip="32207")
    await g.record_created(AccountCreated(
        account_id="c1", email="c1@example.net", first_name="Jenny", last_name="Denny",
        locale="es", created_at=NOW,
        phones=[Phone(kind="mobile", number="9045550100", e164="+19045550100", sms=True)],
        emergency_phone="mobile", secondary_email="c1.work@example.org", address=address,
    ))
    contact = (await g.get("c1")).contact()  # type: ignore[union-attr]
    assert contact.address == address and contact.emergency_phone == "mobile"
    assert contact.secondary_email == "c1.work@example.org" and contact.phones[0].sms is True

    older_identity = AccountProfileUpdated.model_validate({
        "account_id": "c1", "first_name": "Jenny", "last_name": "Denny", "locale": "es",
        "phones": [{"kind": "mobile", "number": "9045550142"}],
        "updated_at": (NOW + timedelta(hours=1)).isoformat(),
    })
    await g.record_profile(older_identity)
    kept = (await g.get("c1")).contact()  # type: ignore[union-attr]
    assert kept.address == address and kept.secondary_email == "c1.work@example.org"
    assert kept.phones[0].e164 == "+19045550142"  # derived for an older event's phone

    await g.record_profile(profile("c1", "Jenny", NOW + timedelta(hours=2)).model_copy(
        update={"secondary_email": None}
    ))
    cleared = (await g.get("c1")).contact()  # type: ignore[union-attr]
    assert cleared.secondary_email is None and cleared.address == address

    guardian = await g.get("c1")
    assert guardian is not None
    link = Link.approved_at_once(
        link_id=str(uuid.uuid4()), account_id="c1", school_id="0123", student_id="S9",
        method=LinkMethod.ACTIVATION_CODE, at=NOW, by="staff-1", guardian_verified=True,
    )
    link.mark_announced(NOW)
    link.contact_digest = guardian.contact_digest()
    assert await store.links.add(link, [])
    stored = await store.links.get(link.link_id)
    assert stored is not None and stored.announced
    assert stored.contact_digest == guardian.contact_digest()

    await g.erase("c1", NOW)
    gone = await g.get("c1")
    assert gone is not None and gone.address is None and gone.secondary_email is None
    assert gone.emergency_phone is None


async def test_student_view_and_narrowed_queue_on_the_real_server(store: MongoStore) -> None:
    """The staff console's student view and queue filters: the queries the fakes stand
    in for, on the MongoDB-protocol server ($or with a cursor, $and, $in, $lte)."""
    from linking.domain.matching import name_key
    from linking.ports import QueueFilter

    tz = ZoneInfo("America/New_York")
    links = store.links
    made = []
    for i, (account, student, last) in enumerate(
        [("a1", "S1", "Peña"), ("a2", "s1", "Pena"), ("a3", "S2", "Lopez"), ("a4", "S3", "Ng")]
    ):
        link = Link.request(
            link_id=f"l-{i}", account_id=account, school_id="0123", student_id=student,
            requested_at=NOW + timedelta(days=i), deadline_days=21, tz=tz,
            student_last_name=last, by=account,
        )  # fmt: skip
        assert await links.add(link, [])
        made.append(link)
    # a link stored before student_key existed is found by its exact id
    await links.collection.update_one({"_id": "l-3"}, {"$unset": {"student_key": ""}})

    assert [x.link_id for x in await links.for_student("0123", "S1")] == ["l-0", "l-1"]
    assert [x.link_id for x in await links.for_student("0123", "S3")] == ["l-3"]
    assert await links.for_student("0456", "S1") == []

    async def queue(
        narrow: QueueFilter | None, after: tuple[datetime, str] | None = None
    ) -> list[str]:
        found = await links.queue("0123", LinkStatus.PENDING, after, 10, narrow)
        return [x.link_id for x in found]

    assert await queue(None) == ["l-0", "l-1", "l-2", "l-3"]
    assert await queue(QueueFilter(student_key="S1")) == ["l-0", "l-1"]
    assert await queue(QueueFilter(account_ids=("a3",))) == ["l-2"]
    assert await queue(QueueFilter(last_name_key=name_key("pena"))) == ["l-0", "l-1"]
    assert await queue(QueueFilter(method="activation_code")) == []
    assert await queue(QueueFilter(expires_by=made[1].expires_at)) == ["l-0", "l-1"]
    # the cursor and a search together ($and of two $or)
    after = (made[0].requested_at, "l-0")
    assert await queue(QueueFilter(student_key="S1"), after) == ["l-1"]
