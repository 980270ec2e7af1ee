"""Linking on the real stack (issue 4): roster import, claims from registration, the three
link methods, staff decisions, expiry, account deletion and idempotent redelivery.

Identity's events are published here as identity would publish them (CloudEvents on the
run's prefixed topics) and guardian tokens are signed with the local identity key, so
these tests depend on linking alone; a plain Kafka consumer plays the SIS.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from linking.devtools import (
    BundleStudent,
    consumed_everything,
    mint_guardian_token,
    mint_staff_token,
    oneroster_bundle,
    publish,
)
from linking.domain.legacy import hash_pbkdf2_sha256

from shared.contracts.envelope import decode, headers_to_dict
from shared.contracts.events import (
    AccountCreated,
    AccountDeleted,
    AccountProfileUpdated,
    EmailVerified,
    Event,
    LinkExpired,
    Phone,
    StudentClaim,
)
from tests.harness import PYTHON, ROOT, Portal, async_wait_until
from tests.kafka_tools import TopicWatcher
from tests.secrets_registry import remember

SCHOOL = f"L{uuid.uuid4().hex[:6]}"
OTHER_SCHOOL = f"M{uuid.uuid4().hex[:6]}"
STUDENTS = [
    BundleStudent(f"5{i:07d}", last, first, SCHOOL, "2015-04-02")
    for i, (first, last) in enumerate(
        [
            ("Stu", "Peña"),
            ("Ana", "Lopez"),
            ("Bo", "Nguyễn"),
            ("Cy", "O'Brien"),
            ("Di", "Smith"),
            ("Ed", "Jones"),
            ("Fa", "Diallo"),
            ("Gu", "Warsame"),
            ("Ha", "Pierre"),
            ("Io", "Kim"),
        ]
    )
] + [BundleStudent("60000001", "Other", "Kid", OTHER_SCHOOL)]
LINK_TOPICS = ("LinkRequested", "LinkApproved", "LinkDenied", "LinkRevoked", "LinkWithdrawn")


def student(i: int) -> BundleStudent:
    return STUDENTS[i]


@dataclass
class Guardian:
    account_id: str
    email: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def staff_auth(
    schools: list[str], role: str = "school_staff", sub: str = "staff-7"
) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_staff_token(schools, role=role, subject=sub)}"}


async def emit(portal: Portal, event: Event, event_id: str | None = None) -> str:
    return await publish(event, topic_prefix=portal.topic_prefix, event_id=event_id)


async def new_guardian(
    portal: Portal,
    *,
    verified: bool = True,
    claims: list[BundleStudent] = (),  # type: ignore[assignment]
    locale: str = "en",
) -> tuple[Guardian, str]:
    """A guardian account as identity announces it; returns it and the AccountCreated id."""
    account_id = f"acc-{uuid.uuid4().hex[:12]}"
    email = f"linking.{uuid.uuid4().hex[:10]}@example.net"
    created = AccountCreated(
        account_id=account_id,
        email=email,
        first_name="Jenny",
        last_name="Denny",
        locale=locale,
        created_at=datetime.now(UTC),
        student_claims=[
            StudentClaim(
                school_id=s.school_id, student_id=s.student_id, student_last_name=s.last_name
            )
            for s in claims
        ],
        phones=[Phone(kind="mobile", number="9045550100", unlisted=True)],
    )
    event_id = await emit(portal, created)
    if verified:
        await emit(portal, verified_event(account_id, email))
    token = mint_guardian_token(account_id, email=email, name="Jenny Denny", locale=locale)
    remember(email, token)
    return Guardian(account_id, email, token), event_id


def verified_event(account_id: str, email: str) -> EmailVerified:
    return EmailVerified(account_id=account_id, email=email, verified_at=datetime.now(UTC))


@pytest.fixture(scope="module")
async def api(portal: Portal) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=portal.url("linking"), timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
async def roster(api: httpx.AsyncClient) -> dict[str, Any]:
    """The district roster, imported once by a district admin."""
    response = await api.post(
        "/v1/roster/imports",
        headers=staff_auth([], role="district_admin", sub="admin-1"),
        files={"file": ("roster.zip", oneroster_bundle(STUDENTS), "application/zip")},
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
async def sis(portal: Portal) -> AsyncIterator[TopicWatcher]:
    """The SIS (and anyone else): a plain Kafka consumer of the link topics."""
    async with TopicWatcher(
        [portal.topic(t) for t in LINK_TOPICS], group_prefix="sis-linking"
    ) as watcher:
        yield watcher


def events_for(sis: TopicWatcher, link_id: str, topic: str) -> list[Any]:
    return [e for e in sis.envelopes(topic) if getattr(e.event, "link_id", None) == link_id]


async def links_of(api: httpx.AsyncClient, g: Guardian) -> list[dict[str, Any]]:
    response = await api.get("/v1/links", headers=g.auth)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def wait_link(
    api: httpx.AsyncClient, g: Guardian, student_id: str, status: str, timeout: float = 30
) -> dict[str, Any]:
    async def find() -> dict[str, Any] | None:
        return next(
            (
                link
                for link in await links_of(api, g)
                if link["student_id"] == student_id and link["status"] == status
            ),
            None,
        )

    return await async_wait_until(find, timeout=timeout, what=f"{student_id} {status}")


async def consumed(portal: Portal, topic: str) -> None:
    """Linking has committed every record of ``topic`` (so a redelivery was handled)."""
    await async_wait_until(
        lambda: consumed_everything(portal.topic(topic), f"{portal.topic_prefix}linking"),
        timeout=30,
        interval=0.3,
        what=f"linking consumed {topic}",
    )


# --- the in-person journey ------------------------------------------------------------


async def test_roster_claim_pending_staff_approval_reaches_sis(
    portal: Portal, api: httpx.AsyncClient, roster: dict[str, Any], sis: TopicWatcher
) -> None:
    assert roster["created"] + roster["unchanged"] + roster["updated"] == len(STUDENTS)
    child = student(0)
    # Registration with a claim: the name as typed differs in case and accents.
    g, _ = await new_guardian(portal, verified=False, claims=[child])
    link = await wait_link(api, g, child.student_id, "pending_authorization")
    assert link["method"] == "in_person" and link["student_first_name"] is None
    requested = await sis.wait_for(
        lambda e: e.event.link_id == link["link_id"], topic_suffix="LinkRequested"
    )
    assert requested.event.guardian_email == g.email

    staff = staff_auth([SCHOOL], sub="staff-duval-7")
    queue = await api.get(f"/v1/schools/{SCHOOL}/link-requests?status=pending", headers=staff)
    mine = [i for i in queue.json()["items"] if i["link_id"] == link["link_id"]]
    assert mine and mine[0]["days_left"] in (20, 21)
    assert mine[0]["guardian"]["email"] == g.email and mine[0]["student"]["last_name"] == "Peña"

    await emit(portal, verified_event(g.account_id, g.email))
    await consumed(portal, "EmailVerified")
    approved = await api.post(
        f"/v1/link-requests/{link['link_id']}/approve",
        headers=staff,
        json={"id_document_type": "drivers_license", "note": "checked at front office"},
    )
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["status"] == "approved" and body["approved_by"] == "staff-duval-7"
    assert body["audit"][-1]["action"] == "approved"
    assert body["audit"][-1]["id_document_type"] == "drivers_license"

    event = await sis.wait_for(
        lambda e: e.event.link_id == link["link_id"], topic_suffix="LinkApproved"
    )
    assert event.source == "linking" and event.type == "LinkApproved"
    assert event.event.guardian.email == g.email and event.event.guardian.name == "Jenny Denny"
    assert event.event.guardian.phones[0].number == "9045550100"
    assert event.event.student.student_id == child.student_id
    assert event.event.student.school_id == SCHOOL and event.event.approved_by == "staff-duval-7"
    record = next(
        r
        for r in sis.records
        if r.topic.endswith("LinkApproved") and decode(r.headers, r.value).id == event.id
    )
    headers = headers_to_dict(record.headers)
    for name in ("ce_id", "ce_source", "ce_type", "ce_specversion", "ce_time", "ce_subject"):
        assert headers[name], name
    assert headers["content-type"] == "application/json" and headers["traceparent"]
    assert record.key == link["link_id"].encode()
    mine = await wait_link(api, g, child.student_id, "approved")
    assert mine["student_first_name"] == "Stu"


async def test_approval_is_held_until_the_email_is_verified(
    portal: Portal, api: httpx.AsyncClient, roster: dict[str, Any], sis: TopicWatcher
) -> None:
    child = student(1)
    g, _ = await new_guardian(portal, verified=False, claims=[child])
    link = await wait_link(api, g, child.student_id, "pending_authorization")
    approved = await api.post(
        f"/v1/link-requests/{link['link_id']}/approve",
        headers=staff_auth([SCHOOL]),
        json={"id_document_type": "passport"},
    )
    assert approved.json()["held_until_verified"] is True
    before_verification_ms = int(datetime.now(UTC).timestamp() * 1000)
    await emit(portal, verified_event(g.account_id, g.email))
    event = await sis.wait_for(
        lambda e: e.event.link_id == link["link_id"], topic_suffix="LinkApproved"
    )
    assert event.event.id_document_type == "passport"
    # Published only after the verification arrived, and once.
    (record,) = [
        r
        for r in sis.records
        if r.topic.endswith("LinkApproved") and decode(r.headers, r.value).id == event.id
    ]
    assert record.timestamp >= before_verification_ms
    assert len(events_for(sis, link["link_id"], "LinkApproved")) == 1


# --- codes and legacy credentials -----------------------------------------------------


async def test_activation_code_approves_at_once_and_only_once(
    portal: Portal, api: httpx.AsyncClient, roster: dict[str, Any], sis: TopicWatcher
) -> None:
    child = student(2)
    staff = staff_auth([SCHOOL], sub="staff-codes")
    path = f"/v1/schools/{SCHOOL}/students/{child.student_id}/activation-codes"
    issued = await api.post(path, headers=staff, json={"note": "guardian showed passport"})
    assert issued.status_code == 201, issued.text
    code = issued.json()["code"]
    remember(code)

    g, _ = await new_guardian(portal)
    await consumed(portal, "EmailVerified")
    response = await api.post(
        "/v1/links",
        headers=g.auth,
        json={
            "school_id": SCHOOL,
            "student_id": child.student_id,
            "student_last_name": "nguyen",
            "activation_code": code.lower(),
        },
    )
    assert response.status_code == 202, response.text
    link = response.json()
    assert link["status"] == "approved" and link["method"] == "activation_code"
    assert link["student_first_name"] == "Bo"
    event = await sis.wait_for(
        lambda e: e.event.link_id == link["link_id"], topic_suffix="LinkApproved"
    )
    assert event.event.approved_by == "staff-codes" and event.event.method == "activation_code"

    other, _ = await new_guardian(portal)
    reused = await api.post(
        "/v1/links",
        headers=other.auth,
        json={
            "school_id": SCHOOL,
            "student_id": child.student_id,
            "student_last_name": "Nguyen",
            "activation_code": code,
        },
    )
    assert reused.status_code == 422
    assert reused.json()["type"].endswith("activation-code-invalid")
    listed = (await api.get(path, headers=staff)).json()["items"]
    assert [c["status"] for c in listed if c["code_id"] == issued.json()["code_id"]] == ["used"]

    # A revoked code approves nothing.
    fresh = (await api.post(path, headers=staff)).json()
    remember(fresh["code"])
    revoked = await api.delete(f"{path}/{fresh['code_id']}", headers=staff)
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    refused = await api.post(
        "/v1/links",
        headers=other.auth,
        json={
            "school_id": SCHOOL,
            "student_id": child.student_id,
            "student_last_name": "Nguyen",
            "activation_code": fresh["code"],
        },
    )
    assert refused.status_code == 422


async def test_legacy_credentials_approve_and_wrong_password_falls_back_to_pending(
    portal: Portal,
    api: httpx.AsyncClient,
    roster: dict[str, Any],
    sis: TopicWatcher,
    tmp_path: Path,
) -> None:
    right, wrong = student(3), student(4)
    username = f"oncourse.{uuid.uuid4().hex[:6]}"
    password = "OnCourse!" + uuid.uuid4().hex[:6]
    remember(password)
    hashed = hash_pbkdf2_sha256(password, rounds=1000)
    csv_file = tmp_path / "legacy.csv"
    csv_file.write_text(
        "username,password_hash,school_id,student_id\n"
        f"{username},{hashed},{SCHOOL},{right.student_id}\n"
        f"{username},{hashed},{SCHOOL},{wrong.student_id}\n"
        f"broken,not-a-hash,{SCHOOL},1\n"
    )
    result = subprocess.run(
        [PYTHON, "-m", "shared.runtime.cli", "legacy", "import", str(csv_file)],
        cwd=ROOT,
        env=portal.env_for("linking"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "1 usernames for 2 students" in result.stdout and "rejected row 4" in result.stdout
    assert password not in result.stdout + result.stderr

    g, _ = await new_guardian(portal)
    await consumed(portal, "EmailVerified")
    ok = await api.post(
        "/v1/links",
        headers=g.auth,
        json={
            "school_id": SCHOOL,
            "student_id": right.student_id,
            "student_last_name": "OBRIEN",
            "legacy_username": username.upper(),
            "legacy_password": password,
        },
    )
    assert ok.status_code == 202, ok.text
    assert ok.json()["status"] == "approved" and ok.json()["method"] == "legacy_credentials"
    await sis.wait_for(
        lambda e: e.event.link_id == ok.json()["link_id"], topic_suffix="LinkApproved"
    )

    bad = await api.post(
        "/v1/links",
        headers=g.auth,
        json={
            "school_id": SCHOOL,
            "student_id": wrong.student_id,
            "student_last_name": "smith",
            "legacy_username": username,
            "legacy_password": password + "x",
        },
    )
    assert bad.status_code == 202, bad.text
    body = bad.json()
    assert body["status"] == "pending_authorization" and body["method"] == "in_person"
    assert body["expires_at"] and body["days_left"] == 21
    await sis.wait_for(lambda e: e.event.link_id == body["link_id"], topic_suffix="LinkRequested")


# --- staff decisions ------------------------------------------------------------------


async def _pending_link(
    portal: Portal, api: httpx.AsyncClient, child: BundleStudent
) -> tuple[Guardian, str]:
    g, _ = await new_guardian(portal)
    response = await api.post(
        "/v1/links",
        headers=g.auth,
        json={
            "school_id": child.school_id,
            "student_id": child.student_id,
            "student_last_name": child.last_name,
        },
    )
    assert response.status_code == 202, response.text
    return g, response.json()["link_id"]


async def test_cross_school_staff_are_refused_and_logged(
    portal: Portal, api: httpx.AsyncClient, roster: dict[str, Any]
) -> None:
    _, link_id = await _pending_link(portal, api, student(10))  # at OTHER_SCHOOL
    intruder_id = f"intruder-{uuid.uuid4().hex[:6]}"
    intruder = staff_auth([SCHOOL], sub=intruder_id)
    for method, path, body in (
        ("POST", f"/v1/link-requests/{link_id}/approve", {"id_document_type": "passport"}),
        ("POST", f"/v1/link-requests/{link_id}/deny", {"reason": "x"}),
        ("GET", f"/v1/schools/{OTHER_SCHOOL}/link-requests", None),
        ("POST", f"/v1/schools/{OTHER_SCHOOL}/students/60000001/activation-codes", None),
    ):
        response = await api.request(method, path, headers=intruder, json=body)
        assert response.status_code == 403, (path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    queue = await api.get(
        f"/v1/schools/{OTHER_SCHOOL}/link-requests", headers=staff_auth([OTHER_SCHOOL])
    )
    assert any(i["link_id"] == link_id for i in queue.json()["items"])
    log = (portal.run_dir / "linking.log").read_text()
    lines = [ln for ln in log.splitlines() if '"security.forbidden"' in ln and intruder_id in ln]
    assert len(lines) == 4 and any(link_id in ln for ln in lines)
    assert intruder["Authorization"].split()[1] not in log


async def test_deny_and_revoke_reach_the_sis(
    portal: Portal, api: httpx.AsyncClient, roster: dict[str, Any], sis: TopicWatcher
) -> None:
    staff = staff_auth([SCHOOL], sub="staff-decider")
    g1, denied_id = await _pending_link(portal, api, student(5))
    denied = await api.post(
        f"/v1/link-requests/{denied_id}/deny", headers=staff, json={"reason": "no photo ID"}
    )
    assert denied.status_code == 200 and denied.json()["status"] == "denied"
    event = await sis.wait_for(lambda e: e.event.link_id == denied_id, topic_suffix="LinkDenied")
    assert event.event.reason == "no photo ID" and event.event.denied_by == "staff-decider"
    assert (await wait_link(api, g1, student(5).student_id, "denied"))["reason"] == "no photo ID"

    _, link_id = await _pending_link(portal, api, student(6))
    await api.post(
        f"/v1/link-requests/{link_id}/approve", headers=staff, json={"id_document_type": "id"}
    )
    admin = staff_auth([], role="district_admin", sub="admin-legal")
    revoked = await api.post(
        f"/v1/links/{link_id}/revoke", headers=admin, json={"reason": "custody order 2026-118"}
    )
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert [a["action"] for a in revoked.json()["audit"]] == ["requested", "approved", "revoked"]
    event = await sis.wait_for(lambda e: e.event.link_id == link_id, topic_suffix="LinkRevoked")
    assert event.event.revoked_by == "admin-legal"
    again = await api.post(f"/v1/links/{link_id}/revoke", headers=admin, json={"reason": "x"})
    assert again.status_code == 409


async def test_guardian_withdraws_a_pending_request(
    portal: Portal, api: httpx.AsyncClient, roster: dict[str, Any], sis: TopicWatcher
) -> None:
    g, link_id = await _pending_link(portal, api, student(7))
    stranger, _ = await new_guardian(portal)
    assert (await api.delete(f"/v1/links/{link_id}", headers=stranger.auth)).status_code == 404
    response = await api.delete(f"/v1/links/{link_id}", headers=g.auth)
    assert response.status_code == 200 and response.json()["status"] == "withdrawn"
    await sis.wait_for(lambda e: e.event.link_id == link_id, topic_suffix="LinkWithdrawn")
    # A new request for the same student is possible again.
    again = await api.post(
        "/v1/links",
        headers=g.auth,
        json={
            "school_id": SCHOOL,
            "student_id": student(7).student_id,
            "student_last_name": "warsame",
        },
    )
    assert again.status_code == 202 and again.json()["link_id"] != link_id


# --- consumed events and redelivery ---------------------------------------------------


async def test_link_expired_expires_pending_not_approved_and_redelivery_is_harmless(
    portal: Portal, api: httpx.AsyncClient, roster: dict[str, Any]
) -> None:
    g, _ = await new_guardian(portal, claims=[student(8), student(9)])
    pending = await wait_link(api, g, student(8).student_id, "pending_authorization")
    other = await wait_link(api, g, student(9).student_id, "pending_authorization")
    staff = staff_auth([SCHOOL])
    await api.post(
        f"/v1/link-requests/{other['link_id']}/approve",
        headers=staff,
        json={"id_document_type": "passport"},
    )
    now = datetime.now(UTC)
    for link in (pending, other):
        expired = LinkExpired(
            link_id=link["link_id"],
            account_id=g.account_id,
            requested_at=datetime.fromisoformat(link["requested_at"]),
            expired_at=now,
        )
        event_id = await emit(portal, expired)
        await emit(portal, expired, event_id=event_id)  # redelivered
    await wait_link(api, g, student(8).student_id, "expired")
    await consumed(portal, "LinkExpired")
    links = {link["student_id"]: link for link in await links_of(api, g)}
    assert links[student(9).student_id]["status"] == "approved"
    history = await api.get(f"/v1/schools/{SCHOOL}/link-requests?status=expired", headers=staff)
    (expired_view,) = [i for i in history.json()["items"] if i["link_id"] == pending["link_id"]]
    assert [a["action"] for a in expired_view["audit"]] == ["requested", "expired"]


async def test_redelivered_identity_events_change_nothing_twice(
    portal: Portal, api: httpx.AsyncClient, roster: dict[str, Any], sis: TopicWatcher
) -> None:
    child = student(5)
    g, created_id = await new_guardian(portal, verified=False, claims=[child])
    link = await wait_link(api, g, child.student_id, "pending_authorization")
    # AccountCreated again with the same CloudEvents id: still one request.
    account = AccountCreated(
        account_id=g.account_id,
        email=g.email,
        first_name="Jenny",
        last_name="Denny",
        locale="en",
        created_at=datetime.now(UTC),
        student_claims=[
            StudentClaim(
                school_id=SCHOOL, student_id=child.student_id, student_last_name=child.last_name
            )
        ],
    )
    await emit(portal, account, event_id=created_id)
    staff = staff_auth([SCHOOL])
    await api.post(
        f"/v1/link-requests/{link['link_id']}/approve",
        headers=staff,
        json={"id_document_type": "passport"},
    )
    verified = verified_event(g.account_id, g.email)
    verified_id = await emit(portal, verified)
    await emit(portal, verified, event_id=verified_id)
    await consumed(portal, "AccountCreated")
    await consumed(portal, "EmailVerified")
    await sis.wait_for(lambda e: e.event.link_id == link["link_id"], topic_suffix="LinkApproved")

    deleted = AccountDeleted(account_id=g.account_id, reason="inactivity", at=datetime.now(UTC))
    deleted_id = await emit(portal, deleted)
    await emit(portal, deleted, event_id=deleted_id)
    await consumed(portal, "AccountDeleted")
    # The revocation is published after any duplicate approval would have been.
    await sis.wait_for(
        lambda e: e.event.link_id == link["link_id"] and e.event.reason == "account_deleted",
        topic_suffix="LinkRevoked",
    )
    assert len(events_for(sis, link["link_id"], "LinkRequested")) == 1
    assert len(events_for(sis, link["link_id"], "LinkApproved")) == 1
    assert len(events_for(sis, link["link_id"], "LinkRevoked")) == 1
    # The account is gone: its token is refused at the door (sign in again, which fails).
    refused = await api.post(
        "/v1/links",
        headers=g.auth,
        json={
            "school_id": SCHOOL,
            "student_id": student(6).student_id,
            "student_last_name": "Jones",
        },
    )
    assert refused.status_code == 401, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")


async def test_account_deleted_withdraws_pending_requests(
    portal: Portal, api: httpx.AsyncClient, roster: dict[str, Any], sis: TopicWatcher
) -> None:
    g, link_id = await _pending_link(portal, api, student(9))
    await emit(
        portal, AccountDeleted(account_id=g.account_id, reason="request", at=datetime.now(UTC))
    )
    event = await sis.wait_for(lambda e: e.event.link_id == link_id, topic_suffix="LinkWithdrawn")
    assert event.event.reason == "account_deleted"


async def test_profile_changes_reach_the_sis_with_the_approval(
    portal: Portal, api: httpx.AsyncClient, roster: dict[str, Any], sis: TopicWatcher
) -> None:
    g, link_id = await _pending_link(portal, api, student(8))
    await emit(
        portal,
        AccountProfileUpdated(
            account_id=g.account_id,
            first_name="Jennifer",
            last_name="Denny-Smith",
            locale="so",
            phones=[Phone(kind="work", number="9045550123", extension="7")],
            updated_at=datetime.now(UTC),
        ),
    )
    await consumed(portal, "AccountProfileUpdated")
    approved = await api.post(
        f"/v1/link-requests/{link_id}/approve",
        headers=staff_auth([SCHOOL]),
        json={"id_document_type": "passport"},
    )
    assert approved.json()["guardian"]["name"] == "Jennifer Denny-Smith"
    event = await sis.wait_for(lambda e: e.event.link_id == link_id, topic_suffix="LinkApproved")
    assert event.event.guardian.name == "Jennifer Denny-Smith" and event.event.locale == "so"
    assert [(p.kind, p.number, p.extension) for p in event.event.guardian.phones] == [
        ("work", "9045550123", "7")
    ]
