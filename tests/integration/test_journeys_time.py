"""Journeys that move the scheduler's clock: 21-day expiry and the inactivity lifecycle.
They run on a portal of their own (``time_portal``) so other tests keep real time."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.harness import Portal, advance_clock, async_wait_until
from tests.kafka_tools import TopicWatcher
from tests.oneroster import Student, bundle
from tests.portal_client import VERIFY_LINK, Guardian, Staff, mail_with
from tools.devstack.testing import list_mail

DAY = 86400
SCHOOL = f"T{uuid.uuid4().hex[:6]}"
STUDENTS = [Student(SCHOOL, f"7{i:07d}", f"Kid{i}", "Tester") for i in range(6)]


@pytest.fixture(scope="module")
def staff(time_portal: Portal) -> Staff:
    admin = Staff(time_portal, [SCHOOL], role="district_admin", subject="admin-t")
    assert admin.import_roster(bundle(STUDENTS)).status_code in (200, 201, 202)
    return Staff(time_portal, [SCHOOL], subject="staff-t")


@pytest.fixture(scope="module")
async def sis(time_portal: Portal) -> AsyncIterator[TopicWatcher]:
    topics = [time_portal.topic(t) for t in ("LinkApproved", "LinkDenied", "LinkRevoked")]
    async with TopicWatcher(topics, group_prefix="sis-time") as watcher:
        yield watcher


async def test_two_children_one_approved_one_expired_after_21_days(
    time_portal: Portal, staff: Staff
) -> None:
    first, second = STUDENTS[0], STUDENTS[1]
    guardian = Guardian(time_portal).onboard()
    approved_id = guardian.request_link(
        first.school_id, first.student_id, first.family_name
    ).json()["link_id"]
    pending = guardian.request_link(second.school_id, second.student_id, second.family_name)
    assert pending.status_code == 202 and pending.json()["status"] == "pending_authorization"
    assert staff.approve(approved_id).status_code == 200

    advance_clock(time_portal, 21 * DAY + 3600)

    guardian.wait_link(second.student_id, "expired", timeout=60)
    assert guardian.wait_link(first.student_id, "approved")  # approval cancelled its timer
    mail_with(guardian.email, re.compile(r"(21)"), after=3, timeout=45)  # the automatic denial


async def test_inactivity_disables_then_reverification_reactivates(time_portal: Portal) -> None:
    guardian = Guardian(time_portal).onboard()
    links = f"{guardian.linking}/v1/links"
    old_session = guardian.auth
    await asyncio.sleep(1.1)  # tokens carry whole-second issue times: disable in a later second
    advance_clock(time_portal, 183 * DAY)

    def disabled() -> bool:
        return guardian.sign_in().status_code == 403

    await async_wait_until(disabled, timeout=60, interval=0.5, what="account disabled")
    # Disabling ended the sessions at linking too.
    await async_wait_until(
        lambda: httpx.get(links, headers=old_session, timeout=10).status_code == 401,
        timeout=30,
        what="linking refuses the disabled account's session",
    )
    # Refused sign-in sent a fresh verification; re-verifying reactivates the account.
    before = len(list_mail(to=guardian.email))
    guardian.sign_in()
    _, token = mail_with(guardian.email, VERIFY_LINK, after=max(before - 1, 0), timeout=45)
    assert guardian.verify(token).status_code in (200, 204)
    assert guardian.sign_in().status_code == 200
    assert httpx.get(links, headers=guardian.auth, timeout=10).status_code == 200


async def test_thirteen_months_idle_deletes_account_and_revokes_links_for_sis(
    time_portal: Portal, staff: Staff, sis: TopicWatcher
) -> None:
    child = STUDENTS[2]
    guardian = Guardian(time_portal).onboard()
    link_id = guardian.request_link(child.school_id, child.student_id, child.family_name).json()[
        "link_id"
    ]
    assert staff.approve(link_id).status_code == 200
    await sis.wait_for(lambda e: e.event.link_id == link_id, topic_suffix="LinkApproved")

    advance_clock(time_portal, 400 * DAY)

    revoked = await sis.wait_for(
        lambda e: e.event.link_id == link_id, topic_suffix="LinkRevoked", timeout=90
    )
    assert revoked.event.account_id == guardian.account_id
    refused = guardian.sign_in()
    assert refused.status_code in (401, 403)
