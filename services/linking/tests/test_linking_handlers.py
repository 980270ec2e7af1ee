"""Use cases on in-memory fakes of the ports."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from linking import handlers
from linking.devtools import BundleStudent, oneroster_bundle
from linking.domain import legacy
from linking.domain.errors import (
    AccountUnavailable,
    ActivationCodeInvalid,
    ActivationCodeUsed,
    AttemptInProgress,
    Forbidden,
    LinkNotFound,
    LinkNotPending,
    LinkRevokedConflict,
    MethodDisabled,
    RosterFileInvalid,
    StudentNotFound,
    StudentNotMatched,
    TooManyAttempts,
)
from linking.domain.guardians import GuardianIdentity
from linking.domain.model import LinkMethod, LinkStatus
from linking.domain.staff import StaffIdentity
from linking.handlers import RequestLink
from linking_fakes import World, make_world

from shared.contracts.envelope import Envelope
from shared.contracts.events import (
    AccountCreated,
    AccountDeleted,
    AccountDisabled,
    EmailVerified,
    Event,
    LinkApproved,
    LinkExpired,
    PasswordChanged,
    StudentClaim,
)
from shared.deadlines import link_deadline
from shared.runtime.policy import DistrictPolicy

STAFF = StaffIdentity("staff-7", "school_staff", frozenset({"0123"}))
OTHER_STAFF = StaffIdentity("staff-9", "school_staff", frozenset({"0456"}))
ADMIN = StaffIdentity("admin-1", "district_admin", frozenset())


def envelope(event: Event, event_id: str | None = None) -> Envelope:
    return Envelope(
        id=event_id or str(uuid.uuid4()),
        source="identity",
        type=event.event_type(),
        time=datetime.now(UTC),
        subject=event.subject(),
        event=event,
    )


def guardian(account_id: str = "acct-1") -> GuardianIdentity:
    return GuardianIdentity(account_id, "jenny@example.net", "Jenny Denny", "es")


@pytest.fixture
def world() -> World:
    w = make_world()
    w.roster.add("0123", "90966666", "Stu", "Peña", "2015-04-02")
    w.roster.add("0123", "90967777", "Ana", "Lopez")
    w.roster.add("0456", "11110000", "Max", "Other")
    return w


async def _pending(world: World, account: str = "acct-1") -> str:
    world.guardians.verified(account)
    link = await handlers.request_link(
        world.deps, guardian(account), RequestLink("0123", "90966666", "pena")
    )
    return link.link_id


# --- requests -------------------------------------------------------------------------


async def test_in_person_request_is_pending_with_deadline_and_event(world: World) -> None:
    link = await handlers.request_link(
        world.deps, guardian(), RequestLink(" 0123", "90966666", "  PEÑA ")
    )
    assert link.status == LinkStatus.PENDING and link.method == LinkMethod.IN_PERSON
    assert link.expires_at == link_deadline(world.clock.now, 21, DistrictPolicy().tz)
    (event,) = world.links.of_type("LinkRequested")
    assert event.link_id == link.link_id and event.school_id == "0123"
    assert event.guardian_email == "jenny@example.net" and event.locale == "es"


async def test_one_request_per_guardian_and_student(world: World) -> None:
    first = await handlers.request_link(
        world.deps, guardian(), RequestLink("0123", "90966666", "Pena")
    )
    again = await handlers.request_link(
        world.deps, guardian(), RequestLink("0123", "90966666", "pena")
    )
    assert again.link_id == first.link_id
    assert len(world.links.docs) == 1 and len(world.links.of_type("LinkRequested")) == 1


async def test_mismatch_is_generic_and_counted(world: World) -> None:
    for cmd in (
        RequestLink("0123", "90966666", "Wrong"),  # exists, wrong name
        RequestLink("0123", "00000000", "Pena"),  # no such student
        RequestLink("9999", "90966666", "Pena"),  # no such school
    ):
        with pytest.raises(StudentNotMatched) as info:
            await handlers.request_link(world.deps, guardian(), cmd)
        assert info.value.detail is None and not info.value.extra
    assert sum(len(k) for k in world.attempts.keys.values()) == 3
    assert not world.links.docs


async def test_failed_matches_are_limited_per_day(world: World) -> None:
    w = make_world(max_failed_matches_per_day=2)
    w.roster.docs.update(world.roster.docs)
    for _ in range(2):
        with pytest.raises(StudentNotMatched):
            await handlers.request_link(w.deps, guardian(), RequestLink("0123", "90966666", "x"))
    with pytest.raises(TooManyAttempts) as info:
        await handlers.request_link(w.deps, guardian(), RequestLink("0123", "90966666", "Pena"))
    assert 0 < info.value.retry_after_seconds <= 86400
    # another guardian is not affected; the next day the guardian may try again
    await handlers.request_link(w.deps, guardian("acct-2"), RequestLink("0123", "90966666", "Pena"))
    w.clock.now += timedelta(days=1)
    await handlers.request_link(w.deps, guardian(), RequestLink("0123", "90966666", "Pena"))


async def test_withdrawn_student_does_not_match(world: World) -> None:
    world.roster.docs["0123|90966666"]["status"] = "withdrawn"
    with pytest.raises(StudentNotMatched):
        await handlers.request_link(world.deps, guardian(), RequestLink("0123", "90966666", "Pena"))


async def test_policy_required_fields_apply_to_requests() -> None:
    w = make_world(required_student_fields=["student_birth_date"])
    w.roster.add("0123", "1", "Stu", "Pena", "2015-04-02")
    with pytest.raises(StudentNotMatched):
        await handlers.request_link(w.deps, guardian(), RequestLink("0123", "1", "Pena"))
    from datetime import date

    link = await handlers.request_link(
        w.deps, guardian(), RequestLink("0123", "1", "Pena", student_birth_date=date(2015, 4, 2))
    )
    assert link.status == LinkStatus.PENDING


async def test_disabled_method_is_refused() -> None:
    w = make_world(methods=["in_person"])
    w.roster.add("0123", "1", "Stu", "Pena")
    with pytest.raises(MethodDisabled):
        await handlers.request_link(
            w.deps, guardian(), RequestLink("0123", "1", "Pena", activation_code="ABCD")
        )


async def test_deleted_account_cannot_request(world: World) -> None:
    await world.guardians.erase("acct-1", world.clock.now)
    with pytest.raises(AccountUnavailable):
        await handlers.request_link(world.deps, guardian(), RequestLink("0123", "90966666", "Pena"))


# --- activation codes -----------------------------------------------------------------


async def test_activation_code_approves_at_once_and_is_single_use(world: World) -> None:
    world.guardians.verified("acct-1")
    code, record = await handlers.issue_activation_code(world.deps, STAFF, "0123", "90966666")
    assert record.issued_by == "staff-7" and code not in str(world.codes.codes)
    link = await handlers.request_link(
        world.deps, guardian(), RequestLink("0123", "90966666", "Pena", activation_code=code)
    )
    assert link.status == LinkStatus.APPROVED and link.method == LinkMethod.ACTIVATION_CODE
    (approved,) = world.links.of_type("LinkApproved")
    assert isinstance(approved, LinkApproved)
    assert approved.approved_by == "staff-7" and approved.guardian.email == "g@example.net"
    assert approved.student.first_name == "Stu" and approved.guardian.phones[0].number
    # another guardian cannot reuse it
    world.guardians.verified("acct-2")
    with pytest.raises(ActivationCodeInvalid):
        await handlers.request_link(
            world.deps,
            guardian("acct-2"),
            RequestLink("0123", "90966666", "Pena", activation_code=code),
        )
    with pytest.raises(ActivationCodeUsed):
        await handlers.revoke_activation_code(world.deps, STAFF, "0123", "90966666", record.code_id)


async def test_code_for_another_student_expired_or_revoked_is_invalid(world: World) -> None:
    world.guardians.verified("acct-1")
    other_code, _ = await handlers.issue_activation_code(world.deps, STAFF, "0123", "90967777")
    with pytest.raises(ActivationCodeInvalid):
        await handlers.request_link(
            world.deps,
            guardian(),
            RequestLink("0123", "90966666", "Pena", activation_code=other_code),
        )
    code, record = await handlers.issue_activation_code(
        world.deps, STAFF, "0123", "90966666", expires_in_days=1
    )
    revoked = await handlers.revoke_activation_code(
        world.deps, STAFF, "0123", "90966666", record.code_id
    )
    assert revoked.revoked_at is not None
    with pytest.raises(ActivationCodeInvalid):
        await handlers.request_link(
            world.deps, guardian(), RequestLink("0123", "90966666", "Pena", activation_code=code)
        )
    code2, _ = await handlers.issue_activation_code(
        world.deps, STAFF, "0123", "90966666", expires_in_days=1
    )
    world.clock.now += timedelta(days=2)
    with pytest.raises(ActivationCodeInvalid):
        await handlers.request_link(
            world.deps, guardian(), RequestLink("0123", "90966666", "Pena", activation_code=code2)
        )


async def test_code_upgrades_an_existing_pending_request(world: World) -> None:
    link_id = await _pending(world)
    code, _ = await handlers.issue_activation_code(world.deps, STAFF, "0123", "90966666")
    link = await handlers.request_link(
        world.deps, guardian(), RequestLink("0123", "90966666", "Pena", activation_code=code)
    )
    assert link.link_id == link_id and link.status == LinkStatus.APPROVED
    assert len(world.links.of_type("LinkApproved")) == 1


async def test_staff_codes_only_for_their_schools_and_roster(world: World) -> None:
    with pytest.raises(Forbidden):
        await handlers.issue_activation_code(world.deps, OTHER_STAFF, "0123", "90966666")
    with pytest.raises(StudentNotFound):
        await handlers.issue_activation_code(world.deps, STAFF, "0123", "nope")


# --- legacy credentials ---------------------------------------------------------------


async def _legacy(world: World) -> None:
    hashed = legacy.hash_pbkdf2_sha256("OnCourse!1", rounds=1000)
    await handlers.import_legacy_credentials(
        world.deps, f"username,password_hash,school_id,student_id\nJDenny,{hashed},0123,90966666\n"
    )


async def test_legacy_credentials_approve_at_once(world: World) -> None:
    await _legacy(world)
    world.guardians.verified("acct-1")
    link = await handlers.request_link(
        world.deps,
        guardian(),
        RequestLink(
            "0123", "90966666", "Pena", legacy_username=" jdenny ", legacy_password="OnCourse!1"
        ),
    )
    assert link.status == LinkStatus.APPROVED and link.method == LinkMethod.LEGACY_CREDENTIALS
    assert world.links.of_type("LinkApproved")[0].approved_by == "system:legacy-credentials"


@pytest.mark.parametrize(
    ("username", "password", "student"),
    [
        ("jdenny", "wrong", "90966666"),
        ("nobody", "OnCourse!1", "90966666"),
        ("jdenny", "OnCourse!1", "90967777"),
    ],
)
async def test_wrong_legacy_credentials_fall_back_to_pending(
    world: World, username: str, password: str, student: str
) -> None:
    await _legacy(world)
    last = "Pena" if student == "90966666" else "Lopez"
    link = await handlers.request_link(
        world.deps,
        guardian(),
        RequestLink("0123", student, last, legacy_username=username, legacy_password=password),
    )
    assert link.status == LinkStatus.PENDING and link.method == LinkMethod.IN_PERSON
    assert link.audit[0]["attempted_method"] == "legacy_credentials"
    assert world.links.of_type("LinkRequested") and not world.links.of_type("LinkApproved")
    assert sum(len(k) for k in world.attempts.keys.values()) == 1


# --- staff decisions ------------------------------------------------------------------


async def test_approve_emits_link_approved_with_contact_and_audit(world: World) -> None:
    link_id = await _pending(world)
    link = (
        await handlers.approve_link(world.deps, STAFF, link_id, id_document_type="passport")
    ).link
    assert link.status == LinkStatus.APPROVED and link.audit[-1]["by"] == "staff-7"
    (event,) = world.links.of_type("LinkApproved")
    assert event.id_document_type == "passport" and event.guardian.name == "Gina Guard"
    assert event.student.school_id == "0123" and event.student.last_name == "Peña"
    with pytest.raises(LinkNotPending):
        await handlers.approve_link(world.deps, STAFF, link_id, id_document_type="passport")


async def test_cross_school_staff_are_refused(world: World) -> None:
    link_id = await _pending(world)
    for action in (
        handlers.approve_link(world.deps, OTHER_STAFF, link_id, id_document_type="passport"),
        handlers.deny_link(world.deps, OTHER_STAFF, link_id, reason="x"),
        handlers.school_queue(world.deps, OTHER_STAFF, "0123"),
    ):
        with pytest.raises(Forbidden):
            await action
    assert world.links.docs[link_id].status == LinkStatus.PENDING
    admin_view = await handlers.school_queue(world.deps, ADMIN, "0123")
    assert [i.link.link_id for i in admin_view.items] == [link_id]


async def test_deny_and_revoke(world: World) -> None:
    link_id = await _pending(world)
    denied = (await handlers.deny_link(world.deps, STAFF, link_id, reason="no photo ID")).link
    assert denied.status == LinkStatus.DENIED
    (event,) = world.links.of_type("LinkDenied")
    assert event.reason == "no photo ID" and event.denied_by == "staff-7"
    # a new request is possible after a denial
    link_id2 = await _pending(world)
    assert link_id2 != link_id
    await handlers.approve_link(world.deps, STAFF, link_id2, id_document_type="state_id")
    revoked = (await handlers.revoke_link(world.deps, ADMIN, link_id2, reason="custody order")).link
    assert revoked.status == LinkStatus.REVOKED
    assert world.links.of_type("LinkRevoked")[0].revoked_by == "admin-1"
    # a revoked link blocks new online requests
    with pytest.raises(LinkRevokedConflict):
        await handlers.request_link(world.deps, guardian(), RequestLink("0123", "90966666", "Pena"))


async def test_queue_oldest_first_with_days_left_and_paging(world: World) -> None:
    ids = []
    for i in range(5):
        world.clock.now += timedelta(hours=1)
        ids.append(await _pending(world, f"acct-{i}"))
    world.clock.now += timedelta(days=3)
    page = await handlers.school_queue(world.deps, STAFF, "0123", limit=2)
    assert [i.link.link_id for i in page.items] == ids[:2]
    assert page.items[0].days_left == 18 and page.items[0].guardian is not None
    seen = [i.link.link_id for i in page.items]
    while page.next_cursor:
        page = await handlers.school_queue(
            world.deps, STAFF, "0123", cursor=page.next_cursor, limit=2
        )
        seen += [i.link.link_id for i in page.items]
    assert seen == ids
    with pytest.raises(handlers.InvalidCursor):
        await handlers.school_queue(world.deps, STAFF, "0123", cursor="garbage!")


async def test_queue_narrowed_by_method_days_left_and_search(world: World) -> None:
    world.guardians.verified("acct-1", email="first@example.net")
    early = (
        await handlers.request_link(
            world.deps, guardian("acct-1"), RequestLink("0123", "90966666", "pena")
        )
    ).link_id
    world.clock.now += timedelta(days=10)
    world.guardians.verified("acct-2", email="second@example.net")
    late = (
        await handlers.request_link(
            world.deps, guardian("acct-2"), RequestLink("0123", "90967777", "Lopez")
        )
    ).link_id

    async def ids(**query: Any) -> list[str]:
        page = await handlers.school_queue(
            world.deps, STAFF, "0123", query=handlers.QueueQuery(**query)
        )
        return [i.link.link_id for i in page.items]

    assert await ids() == [early, late]
    # 11 days left for the first request, 21 for the second
    assert await ids(max_days_left=11) == [early]
    assert await ids(max_days_left=10) == []
    assert await ids(max_days_left=21) == [early, late]
    assert await ids(method=LinkMethod.IN_PERSON) == [early, late]
    assert await ids(method=LinkMethod.ACTIVATION_CODE) == []
    assert await ids(search=" 90967777 ") == [late]
    assert await ids(search="SECOND@example.net") == [late]
    assert await ids(search="nobody@example.net") == []
    assert await ids(search="Peña") == [early]  # the student's last name, accents aside
    assert await ids(search="pena", max_days_left=5) == []


async def test_withdraw_own_pending_only(world: World) -> None:
    link_id = await _pending(world)
    with pytest.raises(LinkNotFound):
        await handlers.withdraw_link(world.deps, guardian("acct-2"), link_id)
    link = await handlers.withdraw_link(world.deps, guardian(), link_id)
    assert link.status == LinkStatus.WITHDRAWN
    assert world.links.of_type("LinkWithdrawn")[0].reason == "guardian"
    with pytest.raises(LinkNotPending):
        await handlers.withdraw_link(world.deps, guardian(), link_id)


async def test_transition_retries_after_a_concurrent_write(world: World) -> None:
    link_id = await _pending(world)
    world.links.conflicts_to_inject = 1
    link = (await handlers.deny_link(world.deps, STAFF, link_id, reason="no ID")).link
    assert link.status == LinkStatus.DENIED and len(world.links.of_type("LinkDenied")) == 1


# --- consumed events ------------------------------------------------------------------


def _created(account: str = "acct-1", claims: list[StudentClaim] | None = None) -> AccountCreated:
    return AccountCreated(
        account_id=account,
        email="jenny@example.net",
        first_name="Jenny",
        last_name="Denny",
        locale="en",
        created_at=datetime(2026, 8, 30, 9, 0, tzinfo=UTC),
        student_claims=claims
        if claims is not None
        else [
            StudentClaim(school_id="0123", student_id="90966666", student_last_name="PENA"),
            StudentClaim(school_id="0123", student_id="90967777", student_last_name="nope"),
        ],
    )


async def test_account_created_turns_claims_into_requests_once(world: World) -> None:
    env = envelope(_created())
    await handlers.on_account_created(world.deps, env)
    await handlers.on_account_created(world.deps, env)  # redelivered
    (link,) = world.links.docs.values()
    assert link.status == LinkStatus.PENDING
    assert link.requested_at == datetime(2026, 8, 30, 9, 0, tzinfo=UTC)
    assert link.expires_at == link_deadline(link.requested_at, 21, DistrictPolicy().tz)
    assert len(world.links.of_type("LinkRequested")) == 1
    # the unmatched claim counted once despite the redelivery
    assert sum(len(k) for k in world.attempts.keys.values()) == 1


async def test_approval_is_held_until_email_verified(world: World) -> None:
    await handlers.on_account_created(world.deps, envelope(_created()))
    (link,) = world.links.docs.values()
    approved, guardian = await handlers.approve_link(
        world.deps, STAFF, link.link_id, id_document_type="passport"
    )
    assert approved.status == LinkStatus.APPROVED and approved.held
    assert guardian is not None and not guardian.verified
    assert not world.links.of_type("LinkApproved")
    verified = envelope(
        EmailVerified(account_id="acct-1", email="jenny@example.net", verified_at=world.clock.now)
    )
    await handlers.on_email_verified(world.deps, verified)
    await handlers.on_email_verified(world.deps, verified)  # redelivered
    (event,) = world.links.of_type("LinkApproved")
    assert event.guardian.email == "jenny@example.net" and event.guardian.name == "Jenny Denny"
    assert not world.links.docs[link.link_id].held


async def test_link_expired_expires_pending_but_not_decided(world: World) -> None:
    pending_id = await _pending(world, "acct-1")
    approved_id = await _pending(world, "acct-2")
    await handlers.approve_link(world.deps, STAFF, approved_id, id_document_type="passport")
    for link_id, account in ((pending_id, "acct-1"), (approved_id, "acct-2")):
        env = envelope(
            LinkExpired(
                link_id=link_id,
                account_id=account,
                requested_at=world.clock.now,
                expired_at=world.clock.now,
            )
        )
        await handlers.on_link_expired(world.deps, env)
        await handlers.on_link_expired(world.deps, env)
    assert world.links.docs[pending_id].status == LinkStatus.EXPIRED
    assert world.links.docs[approved_id].status == LinkStatus.APPROVED
    assert [e["action"] for e in world.links.docs[pending_id].audit] == ["requested", "expired"]
    # unknown link: ignored
    await handlers.on_link_expired(
        world.deps,
        envelope(
            LinkExpired(
                link_id="nope",
                account_id="x",
                requested_at=world.clock.now,
                expired_at=world.clock.now,
            )
        ),
    )


async def test_account_deleted_revokes_withdraws_and_erases(world: World) -> None:
    pending_id = await _pending(world)
    world.roster.add("0123", "5", "Kim", "Lee")
    approved = await handlers.request_link(world.deps, guardian(), RequestLink("0123", "5", "Lee"))
    await handlers.approve_link(world.deps, STAFF, approved.link_id, id_document_type="passport")
    env = envelope(AccountDeleted(account_id="acct-1", reason="inactivity", at=world.clock.now))
    await handlers.on_account_deleted(world.deps, env)
    await handlers.on_account_deleted(world.deps, env)  # redelivered
    assert world.links.docs[pending_id].status == LinkStatus.WITHDRAWN
    assert world.links.docs[approved.link_id].status == LinkStatus.REVOKED
    assert len(world.links.of_type("LinkRevoked")) == 1
    assert len(world.links.of_type("LinkWithdrawn")) == 1
    g = world.guardians.docs["acct-1"]
    assert g.deleted and g.email is None
    # a late AccountCreated does not bring the account back
    await handlers.on_account_created(world.deps, envelope(_created()))
    assert len(world.links.docs) == 2


async def test_password_change_and_disabling_end_sessions_never_backwards(world: World) -> None:
    later = world.clock.now + timedelta(hours=1)
    changed = PasswordChanged(
        account_id="acct-1", changed_at=later, via="reset", email="g@example.net"
    )
    await handlers.on_sessions_ended(world.deps, envelope(changed))
    assert world.guardians.docs["acct-1"].sessions_valid_from == later
    # an older disabling delivered late does not move the boundary back
    disabled = AccountDisabled(
        account_id="acct-1", reason="inactivity", at=world.clock.now, email="g@example.net"
    )
    await handlers.on_sessions_ended(world.deps, envelope(disabled))
    g = world.guardians.docs["acct-1"]
    assert g.sessions_valid_from == later
    before = GuardianIdentity(
        "acct-1", "g@example.net", "G", issued_at=later - timedelta(seconds=1)
    )
    same_second = GuardianIdentity(
        "acct-1", "g@example.net", "G", issued_at=later.replace(microsecond=0)
    )
    assert not g.accepts(before) and g.accepts(same_second)


# --- roster import --------------------------------------------------------------------


async def test_roster_import_reimport_and_withdrawal(world: World) -> None:
    students = [BundleStudent(str(i), f"Last{i}", f"First{i}", "0777") for i in range(5)]
    first = await handlers.import_roster(world.deps, oneroster_bundle(students), started_by="t")
    assert (first.created, first.updated, first.withdrawn) == (5, 0, 0)
    assert world.roster.inserts == 2 and world.roster.writes == 0  # new: batches of 3
    same = await handlers.import_roster(world.deps, oneroster_bundle(students), started_by="t")
    assert (same.created, same.updated, same.unchanged) == (0, 0, 5)
    changed = [BundleStudent("0", "Renamed", "First0", "0777"), *students[1:4]]
    again = await handlers.import_roster(world.deps, oneroster_bundle(changed), started_by="t")
    assert (again.updated, again.unchanged, again.withdrawn) == (1, 3, 1)
    assert world.roster.docs["0777|4"]["status"] == "withdrawn"
    assert world.roster.docs["0123|90966666"]["status"] == "active"  # other school untouched
    assert len(world.roster.imports) == 3


async def test_an_import_lists_its_schools_by_name(world: World) -> None:
    students = [BundleStudent("1", "Last", "First", "0777"), BundleStudent("2", "L", "F", "0555")]
    await handlers.import_roster(world.deps, oneroster_bundle(students), started_by="t")
    assert await handlers.list_schools(world.deps) == [
        ("0555", "School 0555"),
        ("0777", "School 0777"),
    ]


async def test_bad_roster_changes_nothing(world: World) -> None:
    before = dict(world.roster.docs)
    with pytest.raises(RosterFileInvalid):
        await handlers.import_roster(world.deps, b"PK\x03\x04garbage", started_by="t")
    bad_rows = [
        [
            "u1",
            "",
            "",
            "true",
            "org-0123",
            "student",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
        ]
    ]
    with pytest.raises(RosterFileInvalid) as info:
        await handlers.import_roster(
            world.deps,
            oneroster_bundle([], extra_schools=["0123"], extra_user_rows=bad_rows),
            started_by="t",
        )
    assert info.value.extra["rejections"]
    assert world.roster.docs == before and world.roster.writes == world.roster.inserts == 0


# --- reserve, then decide (issue 15, item 1) ------------------------------------------


async def test_a_parallel_burst_of_legacy_passwords_checks_no_more_than_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = make_world(max_failed_matches_per_day=3)
    w.roster.add("0123", "90966666", "Stu", "Peña", "2015-04-02")
    await _legacy(w)
    checked: list[str] = []
    real = legacy.verify_password

    def counting(password: str, encoded: str) -> bool:
        checked.append(password)
        return real(password, encoded)

    monkeypatch.setattr(legacy, "verify_password", counting)

    async def attempt(i: int) -> object:
        try:
            return await handlers.request_link(
                w.deps,
                guardian(),
                RequestLink(
                    "0123",
                    "90966666",
                    "Pena",
                    legacy_username="jdenny",
                    legacy_password=f"guess{i}",
                ),
            )
        except TooManyAttempts as refused:  # AttemptInProgress is one too
            return refused

    for _ in range(5):  # bursts, one after another, each of 40 parallel guesses
        await asyncio.gather(*(attempt(i) for i in range(40)))
    assert 1 <= len(checked) <= 3
    assert sum(len(k) for k in w.attempts.keys.values()) <= 3
    assert not w.attempts.leases  # every lease was given back
    assert not w.links.of_type("LinkApproved")


async def test_an_attempt_that_succeeds_gives_its_reservation_back(world: World) -> None:
    w = make_world(max_failed_matches_per_day=1)
    w.roster.docs.update(world.roster.docs)
    for _ in range(3):
        await handlers.request_link(w.deps, guardian(), RequestLink("0123", "90966666", "Pena"))
    assert sum(len(k) for k in w.attempts.keys.values()) == 0
    with pytest.raises(StudentNotMatched):
        await handlers.request_link(w.deps, guardian(), RequestLink("0123", "90966666", "x"))
    with pytest.raises(TooManyAttempts):
        await handlers.request_link(w.deps, guardian(), RequestLink("0123", "90966666", "Pena"))


async def test_one_link_attempt_in_flight_per_account(world: World) -> None:
    lease = await world.attempts.acquire_lease(
        "acct-1", "other", world.clock.now, world.clock.now + timedelta(seconds=30)
    )
    assert lease
    with pytest.raises(AttemptInProgress):
        await handlers.request_link(world.deps, guardian(), RequestLink("0123", "90966666", "Pena"))
    await handlers.request_link(
        world.deps, guardian("acct-2"), RequestLink("0123", "90966666", "Pena")
    )
    world.clock.now += timedelta(seconds=31)  # a dead holder's lease runs out
    await handlers.request_link(world.deps, guardian(), RequestLink("0123", "90966666", "Pena"))


# --- a revoked custody stays revoked (issue 15, item 2) -------------------------------


async def test_revocation_restricts_the_student_for_every_other_account(world: World) -> None:
    await _legacy(world)
    old_code, _ = await handlers.issue_activation_code(world.deps, STAFF, "0123", "90966666")
    link_id = await _pending(world)
    await handlers.approve_link(world.deps, STAFF, link_id, id_document_type="state_id")
    await handlers.revoke_link(world.deps, STAFF, link_id, reason="custody order")
    assert world.restrictions.docs  # the student is restricted
    assert all(c.code.revoked_at is not None for c in world.codes.codes.values())
    approvals = len(world.links.of_type("LinkApproved"))

    world.guardians.verified("acct-2")
    by_legacy = await handlers.request_link(
        world.deps,
        guardian("acct-2"),
        RequestLink(
            "0123", "90966666", "Pena", legacy_username="jdenny", legacy_password="OnCourse!1"
        ),
    )
    assert by_legacy.status == LinkStatus.PENDING
    world.guardians.verified("acct-3")
    by_old_code = await handlers.request_link(
        world.deps,
        guardian("acct-3"),
        RequestLink("0123", "90966666", "Pena", activation_code=old_code),
    )
    assert by_old_code.status == LinkStatus.PENDING
    new_code, _ = await handlers.issue_activation_code(world.deps, STAFF, "0123", "90966666")
    world.guardians.verified("acct-4")
    by_new_code = await handlers.request_link(
        world.deps,
        guardian("acct-4"),
        RequestLink("0123", "90966666", "Pena", activation_code=new_code),
    )
    assert by_new_code.status == LinkStatus.PENDING
    assert len(world.links.of_type("LinkApproved")) == approvals  # no new approval

    page = await handlers.school_queue(world.deps, STAFF, "0123")
    assert page.items and all(item.restriction is not None for item in page.items)

    # the school lifts the restriction: the unused new code approves again
    assert await handlers.lift_restriction(world.deps, STAFF, "0123", "90966666")
    with pytest.raises(Forbidden):
        await handlers.lift_restriction(world.deps, OTHER_STAFF, "0123", "90966666")
    assert not await handlers.lift_restriction(world.deps, STAFF, "0123", "90966666")
    lifted = await handlers.request_link(
        world.deps,
        guardian("acct-4"),
        RequestLink("0123", "90966666", "Pena", activation_code=new_code),
    )
    assert lifted.status == LinkStatus.APPROVED


async def test_legacy_credentials_are_single_use_per_student(world: World) -> None:
    await _legacy(world)
    right = {"legacy_username": "jdenny", "legacy_password": "OnCourse!1"}
    for account in ("acct-1", "acct-2"):
        world.guardians.verified(account)
    first = await handlers.request_link(
        world.deps, guardian("acct-1"), RequestLink("0123", "90966666", "Pena", **right)
    )
    second = await handlers.request_link(
        world.deps, guardian("acct-2"), RequestLink("0123", "90966666", "Pena", **right)
    )
    assert first.status == LinkStatus.APPROVED
    assert second.status == LinkStatus.PENDING
    assert world.legacy.uses == {("jdenny", "0123", "90966666"): "acct-1"}
    # not a guessed password: the second account's attempt is not counted as a failure
    assert sum(len(k) for k in world.attempts.keys.values()) == 0


# --- small leaks (issue 15, item 8) ---------------------------------------------------


async def test_a_junk_code_does_not_tell_whether_the_student_details_match(world: World) -> None:
    answers = []
    for last_name in ("Pena", "Wrong"):  # right and wrong details, the same junk code
        with pytest.raises(ActivationCodeInvalid) as info:
            await handlers.request_link(
                world.deps,
                guardian(),
                RequestLink("0123", "90966666", last_name, activation_code="ABCD-EFGH-JKMN"),
            )
        answers.append((type(info.value), info.value.status, info.value.detail))
    assert answers[0] == answers[1]


async def test_an_unknown_legacy_username_costs_a_real_hash_check(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _legacy(world)
    checked: list[str] = []
    real = legacy.verify_password

    def recording(password: str, encoded: str) -> bool:
        checked.append(encoded)
        return real(password, encoded)

    monkeypatch.setattr(legacy, "verify_password", recording)
    await handlers.request_link(
        world.deps,
        guardian(),
        RequestLink("0123", "90966666", "Pena", legacy_username="nobody", legacy_password="x"),
    )
    (stored,) = [c.password_hash for c in world.legacy.docs.values()]
    assert checked == [stored]  # the same scheme and rounds as the imported credentials
