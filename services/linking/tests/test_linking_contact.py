"""Issue 20: a linked guardian's contact changes reach the SIS (``GuardianContactUpdated``
through the link's outbox, once per change) and ``LinkApproved`` carries the whole
contact block. Use cases on in-memory fakes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from linking import handlers
from linking.domain.guardians import Guardian, GuardianIdentity
from linking.domain.model import LinkStatus
from linking.domain.staff import StaffIdentity
from linking.handlers import RequestLink
from linking_fakes import World, make_world

from shared.contracts.envelope import Envelope
from shared.contracts.events import (
    AccountCreated,
    AccountProfileUpdated,
    Event,
    NotificationPreferences,
    Phone,
    PostalAddress,
)

STAFF = StaffIdentity("staff-7", "school_staff", frozenset({"0123"}))
ADDRESS = PostalAddress(street="111 Street Dr.", city="Jacksonville", state="FL", zip="32207")


def envelope(event: Event) -> Envelope:
    return Envelope(
        id=str(uuid.uuid4()), source="identity", type=event.event_type(),
        time=datetime.now(UTC), subject=event.subject(), event=event,
    )


def profile(account: str, at: datetime, **changes: Any) -> AccountProfileUpdated:
    data: dict[str, Any] = {
        "account_id": account, "first_name": "Gina", "last_name": "Guard", "locale": "en",
        "phones": [Phone(kind="mobile", number="9045550100", e164="+19045550100", sms=False)],
        "emergency_phone": "mobile", "secondary_email": None, "address": ADDRESS,
        "updated_at": at,
    }
    data.update(changes)
    return AccountProfileUpdated(**data)


@pytest.fixture
def world() -> World:
    w = make_world()
    w.roster.add("0123", "90966666", "Stu", "Peña")
    w.roster.add("0123", "90967777", "Ana", "Lopez")
    w.roster.add("0123", "90968888", "Bea", "Ruiz")
    return w


def identity(account: str) -> GuardianIdentity:
    return GuardianIdentity(account, "g@example.net", "Gina Guard", "en")


async def _link(world: World, account: str, student: str, last: str, approve: bool) -> str:
    link = await handlers.request_link(world.deps, identity(account), RequestLink("0123", student, last))
    if approve:
        await handlers.approve_link(world.deps, STAFF, link.link_id, id_document_type="passport")
    return link.link_id


async def _two_approved_one_pending(world: World, account: str = "acct-1") -> list[str]:
    world.guardians.verified(account)
    await handlers.on_profile_updated(world.deps, envelope(profile(account, world.clock.now)))
    return [
        await _link(world, account, "90966666", "pena", approve=True),
        await _link(world, account, "90967777", "lopez", approve=True),
        await _link(world, account, "90968888", "ruiz", approve=False),
    ]


def _updates(world: World) -> list[Any]:
    return world.links.of_type("GuardianContactUpdated")


async def test_link_approved_carries_the_whole_contact_block(world: World) -> None:
    await _two_approved_one_pending(world)
    event = world.links.of_type("LinkApproved")[0]
    contact = event.guardian
    assert [(p.kind, p.e164, p.sms) for p in contact.phones] == [("mobile", "+19045550100", False)]
    assert contact.emergency_phone == "mobile" and contact.address == ADDRESS
    assert contact.secondary_email is None
    assert not _updates(world)  # nothing changed since the approvals


async def test_a_change_is_published_once_per_approved_link(world: World) -> None:
    approved_1, approved_2, pending = await _two_approved_one_pending(world)
    at = world.clock.now + timedelta(minutes=5)
    changed = envelope(profile(
        "acct-1", at,
        phones=[Phone(kind="mobile", number="9045550142", e164="+19045550142", sms=True)],
        secondary_email="gina.work@example.org",
    ))
    await handlers.on_profile_updated(world.deps, changed)
    await handlers.on_profile_updated(world.deps, changed)  # redelivered
    updates = _updates(world)
    assert sorted(u.link_id for u in updates) == sorted([approved_1, approved_2])
    for update in updates:
        assert update.changed == ["phones", "secondary_email"]
        assert update.updated_at == at and update.student_id in {"90966666", "90967777"}
        assert update.guardian.phones[0].e164 == "+19045550142" and update.guardian.phones[0].sms
        assert update.guardian.secondary_email == "gina.work@example.org"
        assert update.guardian.address == ADDRESS and update.guardian.email == "g@example.net"
    assert world.links.docs[pending].audit[-1]["action"] == "requested"
    assert world.links.docs[approved_1].audit[-1]["action"] == "contact_updated"


async def test_changes_the_sis_does_not_keep_publish_nothing(world: World) -> None:
    await _two_approved_one_pending(world)
    only_preferences = profile(
        "acct-1", world.clock.now + timedelta(minutes=1),
        notification_preferences=NotificationPreferences(kinds=["account"]),
    )
    await handlers.on_profile_updated(world.deps, envelope(only_preferences))
    assert not _updates(world)


async def test_an_older_profile_event_arriving_late_publishes_nothing(world: World) -> None:
    await _two_approved_one_pending(world)
    newer = profile("acct-1", world.clock.now + timedelta(minutes=10), locale="es")
    older = profile("acct-1", world.clock.now + timedelta(minutes=5), locale="vi")
    await handlers.on_profile_updated(world.deps, envelope(newer))
    await handlers.on_profile_updated(world.deps, envelope(older))
    assert [u.changed for u in _updates(world)] == [["locale"], ["locale"]]
    assert {u.locale for u in _updates(world)} == {"es"}


async def test_a_redelivery_completes_what_a_crash_left_half_done(world: World) -> None:
    approved_1, approved_2, _ = await _two_approved_one_pending(world)
    before = dict(world.links.docs[approved_2].contact_digest)
    changed = envelope(profile("acct-1", world.clock.now + timedelta(minutes=5), first_name="Regina"))
    await handlers.on_profile_updated(world.deps, changed)
    # as if the process died after writing the first link only
    world.links.docs[approved_2].contact_digest = before
    world.links.events = [e for e in world.links.events if getattr(e, "link_id", "") != approved_2
                          or e.event_type() != "GuardianContactUpdated"]
    await handlers.on_profile_updated(world.deps, changed)
    assert sorted(u.link_id for u in _updates(world)) == sorted([approved_1, approved_2])
    assert all(u.changed == ["name"] and u.guardian.name == "Regina Guard" for u in _updates(world))


async def test_guardians_without_an_announced_approval_publish_nothing(world: World) -> None:
    world.guardians.verified("acct-2")
    await _link(world, "acct-2", "90966666", "pena", approve=False)
    await handlers.on_profile_updated(world.deps, envelope(profile("acct-2", world.clock.now)))
    # held approval: not announced yet, LinkApproved will carry the contact at release
    world.guardians.docs["acct-3"] = Guardian("acct-3", email="h@example.net", verified=False)
    held = await _link(world, "acct-3", "90967777", "lopez", approve=True)
    assert world.links.docs[held].held
    await handlers.on_profile_updated(world.deps, envelope(profile("acct-3", world.clock.now)))
    assert not _updates(world)


async def test_revoked_links_are_not_told(world: World) -> None:
    approved_1, approved_2, _ = await _two_approved_one_pending(world)
    await handlers.revoke_link(world.deps, STAFF, approved_1, reason="court order")
    await handlers.on_profile_updated(
        world.deps, envelope(profile("acct-1", world.clock.now + timedelta(minutes=1), locale="so"))
    )
    assert [u.link_id for u in _updates(world)] == [approved_2]
    assert world.links.docs[approved_1].status == LinkStatus.REVOKED


async def test_account_created_arriving_after_the_approval_tells_the_sis(world: World) -> None:
    """Topics are read independently: the approval may be announced with the contact the
    token gave before AccountCreated brings the phones and address."""
    world.guardians.verified("acct-1", name="Gina Guard", phones=[])
    link_id = await _link(world, "acct-1", "90966666", "pena", approve=True)
    created = AccountCreated(
        account_id="acct-1", email="g@example.net", first_name="Gina", last_name="Guard",
        locale="en", created_at=world.clock.now,
        phones=[Phone(kind="mobile", number="9045550100", e164="+19045550100", sms=True)],
        emergency_phone="mobile", address=ADDRESS,
    )
    await handlers.on_account_created(world.deps, envelope(created))
    (update,) = _updates(world)
    assert update.link_id == link_id and update.changed == ["phones", "emergency_phone", "address"]


def test_phones_from_older_events_get_their_e164_form() -> None:
    guardian = Guardian(
        "acct-1", email="g@example.net", first_name="Gina",
        phones=[{"kind": "mobile", "number": "9045550100", "unlisted": False},
                {"kind": "home", "number": "5550100", "unlisted": True}],
    )
    contact = guardian.contact()
    assert [p.e164 for p in contact.phones] == ["+19045550100", None]
    assert contact.address is None and contact.emergency_phone is None


async def test_a_change_made_while_the_approval_is_written_is_not_lost(world: World) -> None:
    """The profile consumer looks for approved links before the approval is saved, and the
    approval carries the contact it read before the change: the approval re-checks."""
    world.guardians.verified("acct-1")
    link_id = await _link(world, "acct-1", "90966666", "pena", approve=False)
    save = world.links.save

    async def save_after_a_profile_change(link: Any, version: int, events: Any) -> bool:
        if link.status == LinkStatus.APPROVED and not world.links.of_type("LinkApproved"):
            # the consumer runs now: it updates the projection and finds no approved link
            await handlers.on_profile_updated(
                world.deps, envelope(profile("acct-1", world.clock.now, locale="ht"))
            )
            assert not _updates(world)
        return await save(link, version, events)

    world.links.save = save_after_a_profile_change  # type: ignore[method-assign]
    await handlers.approve_link(world.deps, STAFF, link_id, id_document_type="passport")
    (approved,) = world.links.of_type("LinkApproved")
    assert approved.locale == "en"  # what the approval read
    (update,) = _updates(world)
    assert update.link_id == link_id and update.locale == "ht" and "locale" in update.changed
