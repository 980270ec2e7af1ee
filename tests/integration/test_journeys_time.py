"""Journeys that move the scheduler's clock: 21-day expiry and the inactivity lifecycle.
They run on a portal of their own (``time_portal``) so other tests keep real time. Every
target is computed with the calendar rules (``shared/deadlines.py``) from the clock the
test reads, never from a fixed number of days; each journey starts from the clock where
it finds it, so the order of the tests does not matter."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from babel.dates import format_date

from shared.deadlines import days_left, inactivity_deadline, last_day, link_deadline
from shared.runtime.policy import load_policy
from tests.harness import Portal, advance_clock_to, async_wait_until, read_clock
from tests.kafka_tools import TopicWatcher
from tests.oneroster import Student, bundle
from tests.portal_client import VERIFY_LINK, Guardian, Staff, mail_with
from tools.devstack.testing import list_mail

POLICY = load_policy()
TZ = POLICY.tz
SECOND = timedelta(seconds=1)
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

    # linking's deadline: the end of the 21st local day after the request (on linking's
    # own clock, which is real time)
    link = pending.json()
    requested = datetime.fromisoformat(link["requested_at"])
    expires = datetime.fromisoformat(link["expires_at"])
    assert expires == link_deadline(requested, 21, TZ)
    assert date.fromisoformat(link["last_day"]) == last_day(expires, TZ)
    # the email names that day, and the staff queue counts the days to it
    day = format_date(last_day(expires, TZ), "long", locale="en")
    words = r"\s+".join(re.escape(w) for w in day.split())
    mail_with(guardian.email, re.compile(rf"by\s+({words})"), timeout=45)
    (queued,) = [i for i in staff.queue(SCHOOL) if i["link_id"] == link["link_id"]]
    assert queued["last_day"] == link["last_day"]
    assert queued["days_left"] == days_left(expires, datetime.now(UTC), TZ) == 21

    # on the scheduler's timeline the event arrived "now": move to the end of that day
    _, offset = read_clock(time_portal)
    advance_clock_to(time_portal, expires + offset + SECOND)

    guardian.wait_link(second.student_id, "expired", timeout=60)
    assert guardian.wait_link(first.student_id, "approved")  # approval cancelled its timer
    mail_with(guardian.email, re.compile(r"(21)"), after=3, timeout=45)  # the automatic denial


async def test_inactivity_disables_then_reverification_reactivates(time_portal: Portal) -> None:
    guardian = Guardian(time_portal).onboard()
    links = f"{guardian.linking}/v1/links"
    old_session = guardian.auth
    await asyncio.sleep(1.1)  # tokens carry whole-second issue times: disable in a later second
    # the last activity (verification, then sign-in) was just now on the scheduler's clock
    now, _ = read_clock(time_portal)
    disable_at = inactivity_deadline(now, POLICY.inactivity.disable_after_months, TZ)
    advance_clock_to(time_portal, disable_at + SECOND)

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

    now, _ = read_clock(time_portal)
    advance_clock_to(
        time_portal, inactivity_deadline(now, POLICY.inactivity.delete_after_months, TZ) + SECOND
    )

    revoked = await sis.wait_for(
        lambda e: e.event.link_id == link_id, topic_suffix="LinkRevoked", timeout=90
    )
    assert revoked.event.account_id == guardian.account_id
    refused = guardian.sign_in()
    assert refused.status_code in (401, 403)
