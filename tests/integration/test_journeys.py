"""Whole-system journeys, black-box: public HTTP APIs, the SMTP sink and a Kafka consumer
playing the SIS, on the real local stack (issue 7). Time-travel journeys are in
test_journeys_time.py."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from argon2 import PasswordHasher

from tests.harness import ROOT, Portal, wait_until
from tests.kafka_tools import TopicWatcher
from tests.oneroster import Student, bundle
from tests.portal_client import RESET_LINK, VERIFY_LINK, Guardian, Staff, mail_with
from tests.secrets_registry import remember
from tools.devstack.testing import list_mail, wait_for_mails

SCHOOL = f"S{uuid.uuid4().hex[:6]}"
OTHER_SCHOOL = f"S{uuid.uuid4().hex[:6]}"
STUDENTS = [Student(SCHOOL, f"9{i:07d}", f"Kid{i}", "Student") for i in range(8)] + [
    Student(OTHER_SCHOOL, "80000001", "Ana", "Núñez")
]


@pytest.fixture(scope="module")
def staff(portal: Portal) -> Staff:
    """School staff of SCHOOL; the district roster is imported once."""
    admin = Staff(portal, [SCHOOL, OTHER_SCHOOL], role="district_admin", subject="admin-1")
    response = admin.import_roster(bundle(STUDENTS))
    assert response.status_code in (200, 201, 202), response.text
    return Staff(portal, [SCHOOL], subject="staff-duval-1")


@pytest.fixture(scope="module")
async def sis(portal: Portal) -> AsyncIterator[TopicWatcher]:
    """The SIS: a plain Kafka consumer of the public link topics."""
    topics = [portal.topic(t) for t in ("LinkApproved", "LinkDenied", "LinkRevoked")]
    async with TopicWatcher(topics, group_prefix="sis-journeys") as watcher:
        yield watcher


def _claim(student: Student) -> dict[str, str]:
    return {
        "school_id": student.school_id,
        "student_id": student.student_id,
        "student_last_name": student.family_name,
    }


async def test_duval_wizard_claim_pending_staff_approval_reaches_sis(
    portal: Portal, staff: Staff, sis: TopicWatcher
) -> None:
    child = STUDENTS[0]
    guardian = Guardian(portal)
    assert guardian.register(claims=[_claim(child)]).status_code == 202
    # An unverified account cannot sign in: the answer says to verify first.
    refused = guardian.sign_in()
    assert refused.status_code in (401, 403)
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert guardian.verify().status_code in (200, 204)
    assert guardian.sign_in().status_code == 200

    link = guardian.wait_link(child.student_id, "pending_authorization")
    assert link["method"] == "in_person" and link["expires_at"]
    queued = [r for r in staff.queue(SCHOOL) if r["link_id"] == link["link_id"]]
    assert queued and queued[0].get("days_left") in (20, 21)
    mail_with(guardian.email, re.compile(r"(\d{1,2})"), timeout=30)  # pending mail

    approved = staff.approve(link["link_id"], "drivers_license")
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    event = await sis.wait_for(
        lambda e: e.event.link_id == link["link_id"], topic_suffix="LinkApproved"
    )
    assert event.event.guardian.email == guardian.email
    assert event.event.student.student_id == child.student_id
    assert event.event.approved_by == "staff-duval-1"
    assert event.source == "linking" and event.type == "LinkApproved"
    assert (
        guardian.wait_link(child.student_id, "approved")["student_first_name"] == child.given_name
    )
    wait_for_mails(3, to=guardian.email, timeout=30)  # verification, pending, approval (+welcome)


def test_cross_school_staff_cannot_act(portal: Portal, staff: Staff) -> None:
    child = STUDENTS[-1]  # at OTHER_SCHOOL
    guardian = Guardian(portal).onboard()
    response = guardian.request_link(
        child.school_id, child.student_id, "nunez"
    )  # accent-insensitive
    assert response.status_code == 202, response.text
    link_id = response.json()["link_id"]
    refused = staff.approve(link_id)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert (
        httpx.get(
            f"{portal.url('linking')}/v1/schools/{OTHER_SCHOOL}/link-requests",
            headers=staff.auth,
            timeout=10,
        ).status_code
        == 403
    )


async def test_custody_revocation_reaches_sis(
    portal: Portal, staff: Staff, sis: TopicWatcher
) -> None:
    child = STUDENTS[1]
    guardian = Guardian(portal).onboard()
    link_id = guardian.request_link(child.school_id, child.student_id, child.family_name).json()[
        "link_id"
    ]
    assert staff.approve(link_id, "passport").status_code == 200
    revoked = staff.revoke(link_id, "custody restriction (court order)")
    assert revoked.status_code == 200, revoked.text
    event = await sis.wait_for(lambda e: e.event.link_id == link_id, topic_suffix="LinkRevoked")
    assert event.event.reason.startswith("custody")
    assert guardian.wait_link(child.student_id, "revoked")


async def test_denial_is_emailed_and_published(
    portal: Portal, staff: Staff, sis: TopicWatcher
) -> None:
    child = STUDENTS[2]
    guardian = Guardian(portal).onboard()
    link_id = guardian.request_link(child.school_id, child.student_id, child.family_name).json()[
        "link_id"
    ]
    denied = staff.deny(link_id, "ID did not match the guardian on file")
    assert denied.status_code == 200, denied.text
    await sis.wait_for(lambda e: e.event.link_id == link_id, topic_suffix="LinkDenied")
    mail_with(guardian.email, re.compile(r"(ID did not match)"), timeout=30)


def test_forgot_password(portal: Portal) -> None:
    guardian = Guardian(portal).onboard()
    links = f"{guardian.linking}/v1/links"
    old_session = guardian.auth
    assert httpx.get(links, headers=old_session, timeout=10).status_code == 200
    # Tokens carry whole-second issue times: let the reset fall in a later second.
    time.sleep(1.1)
    before = len(list_mail(to=guardian.email))
    identity = portal.url("identity")
    assert (
        httpx.post(f"{identity}/v1/password-resets", json={"email": guardian.email}).status_code
        == 202
    )
    _, token = mail_with(guardian.email, RESET_LINK, after=before)
    remember(token)
    new_password = "N3w!pass" + uuid.uuid4().hex[:4].upper()
    remember(new_password)
    confirm = httpx.post(
        f"{identity}/v1/password-resets/confirm",
        json={"token": token, "new_password": new_password},
        timeout=30,
    )
    assert confirm.status_code in (200, 204), confirm.text
    # Single use: the same token again is refused.
    again = httpx.post(
        f"{identity}/v1/password-resets/confirm",
        json={"token": token, "new_password": new_password + "x"},
        timeout=30,
    )
    assert again.status_code in (400, 404, 410, 422)
    assert guardian.sign_in().status_code in (401, 403)
    assert guardian.sign_in(new_password).status_code == 200
    # The reset ended every session: linking refuses the old token too (once it has
    # consumed PasswordChanged), and accepts the new one.
    wait_until(
        lambda: httpx.get(links, headers=old_session, timeout=10).status_code == 401,
        timeout=30,
        what="linking refuses the session ended by the reset",
    )
    assert httpx.get(links, headers=guardian.auth, timeout=10).status_code == 200


@pytest.mark.parametrize(("locale", "marker"), [("es", 'lang="es"'), ("ar", 'dir="rtl"')])
def test_every_email_in_the_guardians_language(
    portal: Portal, staff: Staff, locale: str, marker: str
) -> None:
    child = STUDENTS[3] if locale == "es" else STUDENTS[4]
    guardian = Guardian(portal, locale=locale)
    assert guardian.register(claims=[_claim(child)]).status_code == 202
    mail_with(guardian.email, VERIFY_LINK)
    assert guardian.verify().status_code in (200, 204)
    assert guardian.sign_in().status_code == 200
    link = guardian.wait_link(child.student_id, "pending_authorization")
    assert staff.approve(link["link_id"]).status_code == 200
    mails = wait_for_mails(4, to=guardian.email, timeout=45)  # verify, welcome, pending, approved
    english_subjects = {m.subject for m in mails if m.message.get("Content-Language", "en") == "en"}
    assert not english_subjects, f"English mail sent to a {locale} guardian: {english_subjects}"
    for mail in mails:
        assert marker in mail.html, f"{mail.subject!r} is not {locale}"


async def test_denver_district_code_approves_at_once(
    portal: Portal, staff: Staff, sis: TopicWatcher
) -> None:
    child = STUDENTS[5]
    issued = httpx.post(
        f"{portal.url('linking')}/v1/schools/{child.school_id}/students/{child.student_id}/activation-codes",
        headers=staff.auth,
        json={},
        timeout=30,
    )
    assert issued.status_code == 201, issued.text
    code = issued.json()["code"]
    remember(code)
    guardian = Guardian(portal).onboard()
    response = guardian.request_link(
        child.school_id, child.student_id, child.family_name, activation_code=code
    )
    assert response.status_code == 202, response.text
    assert (
        response.json()["status"] == "approved" and response.json()["method"] == "activation_code"
    )
    await sis.wait_for(
        lambda e: e.event.link_id == response.json()["link_id"], topic_suffix="LinkApproved"
    )
    # Single use: a second guardian with the same code gets nothing.
    other = Guardian(portal).onboard()
    reused = other.request_link(
        child.school_id, child.student_id, child.family_name, activation_code=code
    )
    assert reused.status_code != 202 or reused.json()["status"] != "approved"


def _import_legacy(portal: Portal, rows: list[tuple[str, str, str, str]]) -> None:
    path = portal.run_dir / f"legacy-{uuid.uuid4().hex[:6]}.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["username", "password_hash", "school_id", "student_id"])
        writer.writerows(rows)
    result = subprocess.run(
        [sys.executable, "-m", "shared.runtime.cli", "legacy", "import", str(path)],
        cwd=ROOT,
        env=portal.env_for("linking"),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rejected 0 rows" in result.stdout, result.stdout


async def test_legacy_credentials_right_approves_wrong_falls_back_to_pending(
    portal: Portal, staff: Staff, sis: TopicWatcher
) -> None:
    right_child, wrong_child = STUDENTS[6], STUDENTS[7]
    username = f"oncourse.{uuid.uuid4().hex[:6]}"
    legacy_password = "OnCourse-" + uuid.uuid4().hex[:6]
    remember(legacy_password)
    hashed = PasswordHasher().hash(legacy_password)
    _import_legacy(
        portal, [(username, hashed, c.school_id, c.student_id) for c in (right_child, wrong_child)]
    )
    guardian = Guardian(portal).onboard()
    ok = guardian.request_link(
        right_child.school_id,
        right_child.student_id,
        right_child.family_name,
        legacy_username=username,
        legacy_password=legacy_password,
    )
    assert ok.status_code == 202 and ok.json()["status"] == "approved", ok.text
    await sis.wait_for(
        lambda e: e.event.link_id == ok.json()["link_id"], topic_suffix="LinkApproved"
    )
    wrong = guardian.request_link(
        wrong_child.school_id,
        wrong_child.student_id,
        wrong_child.family_name,
        legacy_username=username,
        legacy_password="not-the-password",
    )
    assert wrong.status_code == 202 and wrong.json()["status"] == "pending_authorization", (
        wrong.text
    )
