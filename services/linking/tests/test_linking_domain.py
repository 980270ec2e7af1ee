"""Pure rules: name matching, the link state machine, activation codes, legacy hashes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from argon2 import PasswordHasher
from linking.domain import codes, legacy
from linking.domain.errors import LegacyFileInvalid, LinkNotPending
from linking.domain.matching import ClaimDetails, details_match, id_key, name_key
from linking.domain.model import Link, LinkMethod, LinkStatus, claim_link_id
from linking.domain.staff import StaffIdentity

from shared.deadlines import end_of_day

T0 = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
NY = ZoneInfo("America/New_York")


# --- matching -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    ["Peña", "pena", "  PENA ", "Pe ña", "PEÑA", "pe\u0301na".replace("e\u0301", "e")],
)
def test_last_name_is_case_accent_and_space_insensitive(typed: str) -> None:
    assert name_key(typed) == name_key("Peña") == "pena"


def test_name_key_drops_hyphens_and_apostrophes() -> None:
    assert name_key("O'Brien-Smith") == name_key("obrien smith")
    assert name_key("Ngô") == "ngo"
    assert name_key("Straße") == "strasse"
    assert name_key("") == "" and name_key(None) == ""


def test_id_key_ignores_spaces_and_case() -> None:
    assert id_key(" 0123 ") == "0123"
    assert id_key("s 12a") == "S12A"


def _match(claim: ClaimDetails, required: tuple[str, ...] = ()) -> bool:
    return details_match(
        last_name_key="pena",
        first_name_key="ana",
        birth_date="2015-04-02",
        claim=claim,
        required_fields=required,
    )


def test_details_match_last_name_only_by_default() -> None:
    assert _match(ClaimDetails("PEÑA"))
    assert not _match(ClaimDetails("Penas"))


def test_required_first_name_and_birth_date_must_be_given_and_match() -> None:
    both = ("student_first_name", "student_birth_date")
    assert _match(ClaimDetails("pena", "Ána", date(2015, 4, 2)), both)
    assert not _match(ClaimDetails("pena", None, date(2015, 4, 2)), both)
    assert not _match(ClaimDetails("pena", "Ana", None), both)
    assert not _match(ClaimDetails("pena", "Ana", date(2015, 4, 3)), both)
    assert not _match(ClaimDetails("pena", "Anna", date(2015, 4, 2)), both)
    assert not _match(ClaimDetails("pena"), ("unknown_field",))


# --- the link state machine -----------------------------------------------------------


def _pending() -> Link:
    return Link.request(
        link_id="l1",
        account_id="a1",
        school_id="0123",
        student_id="S1",
        requested_at=T0,
        deadline_days=21,
        tz=NY,
        by="a1",
    )


def test_request_is_pending_with_deadline_and_audit() -> None:
    link = _pending()
    assert link.status == LinkStatus.PENDING and link.method == LinkMethod.IN_PERSON
    # requested 1 September (08:00 in New York): the school may approve through
    # 22 September, until local midnight
    assert link.expires_at == end_of_day(date(2026, 9, 22), NY)
    assert link.last_day(NY) == date(2026, 9, 22)
    assert link.audit[0]["action"] == "requested" and link.version == 0
    assert link.days_left(T0, NY) == 21
    assert link.days_left(T0 + timedelta(days=20, hours=1), NY) == 1
    assert link.days_left(T0 + timedelta(days=21), NY) == 0  # the last day
    assert link.days_left(T0 + timedelta(days=30), NY) == 0


def test_approve_records_staff_document_and_time() -> None:
    link = _pending()
    link.approve(
        by="staff-7",
        at=T0 + timedelta(days=2),
        guardian_verified=True,
        id_document_type="passport",
        note="seen at front desk",
    )
    assert link.status == LinkStatus.APPROVED and not link.held
    assert link.approved_by == "staff-7" and link.id_document_type == "passport"
    assert link.expires_at is None and link.days_left(T0, NY) is None
    assert link.last_day(NY) is None
    entry = link.audit[-1]
    assert entry["action"] == "approved" and entry["by"] == "staff-7"
    assert entry["id_document_type"] == "passport" and entry["at"] == T0 + timedelta(days=2)
    assert link.version == 1


def test_approval_for_unverified_guardian_is_held_then_released() -> None:
    link = _pending()
    link.approve(by="staff-7", at=T0, guardian_verified=False, id_document_type="state_id")
    assert link.held
    assert link.release(T0 + timedelta(hours=1))
    assert not link.held and link.released_at == T0 + timedelta(hours=1)
    assert not link.release(T0)  # nothing held any more


@pytest.mark.parametrize("action", ["deny", "expire", "withdraw"])
def test_decisions_end_pending_requests_only(action: str) -> None:
    link = _pending()
    if action == "deny":
        link.deny(by="s", reason="no ID", at=T0)
    elif action == "expire":
        link.expire(at=T0)
    else:
        link.withdraw(by="a1", reason="guardian", at=T0)
    assert not link.is_live and link.decided_at == T0
    with pytest.raises(LinkNotPending):
        link.approve(by="s", at=T0, guardian_verified=True)
    with pytest.raises(LinkNotPending):
        link.expire(at=T0)


def test_revoke_only_approved_and_revoked_stays_live() -> None:
    link = _pending()
    with pytest.raises(LinkNotPending):
        link.revoke(by="s", reason="custody", at=T0)
    link.approve(by="s", at=T0, guardian_verified=True)
    link.revoke(by="s2", reason="custody order", at=T0)
    assert link.status == LinkStatus.REVOKED and link.is_live
    assert [e["action"] for e in link.audit] == ["requested", "approved", "revoked"]


def test_approved_at_once_has_no_deadline() -> None:
    link = Link.approved_at_once(
        link_id="l2",
        account_id="a",
        school_id="1",
        student_id="2",
        method=LinkMethod.ACTIVATION_CODE,
        at=T0,
        by="staff-1",
        guardian_verified=True,
    )
    assert link.status == LinkStatus.APPROVED and link.expires_at is None
    assert link.version == 0 and link.method == LinkMethod.ACTIVATION_CODE


def test_claim_link_ids_are_deterministic() -> None:
    assert claim_link_id("ev1", 0) == claim_link_id("ev1", 0)
    assert claim_link_id("ev1", 0) != claim_link_id("ev1", 1)


def test_staff_act_only_for_their_schools() -> None:
    staff = StaffIdentity("s1", "school_staff", frozenset({"0123"}))
    assert staff.can_act_for("0123") and staff.can_act_for(" 0123")
    assert not staff.can_act_for("0456") and not staff.can_act_for("")
    admin = StaffIdentity("d1", "district_admin", frozenset())
    assert admin.can_act_for("0456")


# --- activation codes -----------------------------------------------------------------


def test_codes_are_random_grouped_and_hash_tolerates_typing() -> None:
    code = codes.generate_code()
    assert len(code) == 19 and code.count("-") == 3
    assert codes.looks_like_code(code)
    assert codes.generate_code() != code
    typed = code.lower().replace("-", " ")
    assert codes.hash_code(typed) == codes.hash_code(code)
    assert codes.hash_code(code) != code and len(codes.hash_code(code)) == 64


def test_confusable_letters_map_to_digits() -> None:
    assert codes.normalise_code("O1IL") == "0111"
    assert not codes.looks_like_code("short")


# --- legacy credentials ---------------------------------------------------------------


def test_pbkdf2_passlib_format_verifies() -> None:
    hashed = legacy.hash_pbkdf2_sha256("OldPortal#1", rounds=1000)
    assert hashed.startswith("$pbkdf2-sha256$1000$")
    assert legacy.check_hash_format(hashed) == "pbkdf2-sha256"
    assert legacy.verify_password("OldPortal#1", hashed)
    assert not legacy.verify_password("oldportal#1", hashed)


def test_pbkdf2_uses_passlib_adapted_base64() -> None:
    # passlib writes "." for "+" and drops the padding: b"\xfb\xef" is "++8=" in base64.
    hashed = legacy.hash_pbkdf2_sha256("password", rounds=1000, salt=b"\xfb\xef")
    assert hashed.split("$")[3] == "..8"
    assert "=" not in hashed
    assert legacy.verify_password("password", hashed)


def test_argon2_verifies() -> None:
    hashed = PasswordHasher(time_cost=1, memory_cost=1024).hash("Secret!1")
    assert legacy.check_hash_format(hashed) == "argon2"
    assert legacy.verify_password("Secret!1", hashed)
    assert not legacy.verify_password("Secret!2", hashed)


@pytest.mark.parametrize(
    "bad",
    [
        "plaintext",
        "$2b$12$abcdefghijklmnopqrstuv",
        "$pbkdf2-sha256$10$c2FsdA$xx",
        "$pbkdf2-sha256$abc$c2FsdA$xx",
        "$argon2id$garbage",
    ],
)
def test_unsupported_hashes_are_refused(bad: str) -> None:
    with pytest.raises(legacy.UnsupportedHash):
        legacy.check_hash_format(bad)
    assert not legacy.verify_password("x", bad)


def test_dummy_verification_is_always_false() -> None:
    assert legacy.verify_against_dummy("not-a-real-password") is False


def test_legacy_csv_groups_usernames_and_rejects_bad_rows() -> None:
    good = legacy.hash_pbkdf2_sha256("pw", rounds=1000)
    other = legacy.hash_pbkdf2_sha256("pw2", rounds=1000)
    text = (
        "username,password_hash,school_id,student_id\n"
        f"Parent1,{good},0123,S1\n"
        f"parent1 ,{good},0123,S2\n"
        f"PARENT1,{other},0123,S3\n"
        f"p2,plain,0123,S4\n"
        f"p3,{good},,S5\n"
    )
    parsed = legacy.parse_legacy_csv(text)
    assert parsed.rows_read == 5
    assert len(parsed.credentials) == 1
    cred = parsed.credentials[0]
    assert cred["username_key"] == "parent1"
    assert cred["students"] == [["0123", "S1"], ["0123", "S2"]]
    assert [r.row for r in parsed.rejections] == [4, 5, 6]
    assert "password_hash" in parsed.rejections[0].reason


def test_legacy_csv_without_header_is_refused() -> None:
    with pytest.raises(LegacyFileInvalid):
        legacy.parse_legacy_csv("a,b\n1,2\n")
