"""Issue 20: contact changes reach the SIS. On the real stack (identity, linking, notifier,
scheduler; real Kafka and MongoDB): a guardian's profile change at identity becomes one
``GuardianContactUpdated`` on the public topic for each approved link, carrying the whole
contact block that ``LinkApproved`` now carries too; a change the SIS does not keep
publishes nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.harness import Portal
from tests.kafka_tools import TopicWatcher
from tests.oneroster import Student, bundle
from tests.portal_client import Guardian, Staff

SCHOOL = f"C{uuid.uuid4().hex[:6]}"
STUDENTS = [Student(SCHOOL, f"7{i:07d}", f"Kid{i}", "Contact") for i in range(2)]


@pytest.fixture(scope="module")
def staff(portal: Portal) -> Staff:
    admin = Staff(portal, [SCHOOL], role="district_admin", subject="admin-contacts")
    response = admin.import_roster(bundle(STUDENTS))
    assert response.status_code in (200, 201, 202), response.text
    return Staff(portal, [SCHOOL], subject="staff-contacts-1")


@pytest.fixture(scope="module")
async def sis(portal: Portal) -> AsyncIterator[TopicWatcher]:
    topics = [portal.topic(t) for t in ("LinkApproved", "GuardianContactUpdated")]
    async with TopicWatcher(topics, group_prefix="sis-contacts") as watcher:
        yield watcher


def _patch(guardian: Guardian, body: dict[str, object]) -> None:
    response = httpx.patch(
        f"{guardian.identity}/v1/accounts/me", json=body, headers=guardian.auth, timeout=30
    )
    assert response.status_code == 200, response.text


async def test_profile_change_reaches_the_sis_once_per_approved_link(
    portal: Portal, staff: Staff, sis: TopicWatcher
) -> None:
    approved_child, pending_child = STUDENTS
    guardian = Guardian(portal).onboard()
    link_id = guardian.request_link(SCHOOL, approved_child.student_id, "contact").json()["link_id"]
    pending = guardian.request_link(SCHOOL, pending_child.student_id, "contact").json()["link_id"]
    assert staff.approve(link_id, "passport").status_code == 200

    approval = await sis.wait_for(
        lambda e: e.event.link_id == link_id, topic_suffix="LinkApproved"
    )
    contact = approval.event.guardian
    assert [(p.kind, p.number, p.e164, p.sms) for p in contact.phones] == [
        ("mobile", "9045550100", "+19045550100", False),
        ("home", "9045550100", "+19045550100", False),
    ]
    assert contact.emergency_phone == "mobile" and contact.secondary_email is None
    assert contact.address is not None and contact.address.zip == "32207"

    phones = {"mobile": {"number": "(904) 555-0142", "sms": True}, "home": None,
              "work": {"number": "904.555.0199", "extension": "12"}, "emergency": "work"}
    _patch(guardian, {"phones": phones, "secondary_email": "jd.work@example.org"})
    update = await sis.wait_for(
        lambda e: e.event.link_id == link_id, topic_suffix="GuardianContactUpdated"
    )
    assert update.source == "linking" and update.subject == link_id
    assert update.dataschema == "urn:guardian-portal:schema:GuardianContactUpdated:v1"
    event = update.event
    assert event.changed == ["phones", "emergency_phone", "secondary_email"]
    assert event.student_id == approved_child.student_id and event.school_id == SCHOOL
    assert [(p.kind, p.e164, p.sms, p.extension) for p in event.guardian.phones] == [
        ("mobile", "+19045550142", True, None),
        ("work", "+19045550199", False, "12"),
    ]
    assert event.guardian.emergency_phone == "work"
    assert event.guardian.secondary_email == "jd.work@example.org"
    assert event.guardian.address is not None and event.guardian.address.city == "Jacksonville"

    # The same values again, then only notification preferences: nothing for the SIS.
    # A language change afterwards is published; the partition's order proves the two
    # before it published nothing.
    _patch(guardian, {"phones": phones, "secondary_email": "jd.work@example.org"})
    _patch(guardian, {"notification_preferences": {"channels": ["email"], "kinds": ["account"]}})
    _patch(guardian, {"locale": "es"})
    await sis.wait_for(
        lambda e: e.event.link_id == link_id and e.event.changed == ["locale"],
        topic_suffix="GuardianContactUpdated",
    )
    ours = [e for e in sis.envelopes("GuardianContactUpdated")
            if e.event.account_id == guardian.account_id]
    assert [e.event.changed for e in ours] == [
        ["phones", "emergency_phone", "secondary_email"], ["locale"],
    ]
    assert all(e.event.link_id == link_id for e in ours)  # never for the pending request
    assert pending != link_id
