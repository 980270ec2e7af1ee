"""Pure rules: the account state machine, lockout, sessions, inactivity, normalisation and
field validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from identity.domain.commands import (
    Address,
    HomePhone,
    MobilePhone,
    Phones,
    Register,
    SecurityAnswer,
    UpdateProfile,
    WorkPhone,
)
from identity.domain.messages import MESSAGES
from identity.domain.model import (
    TRANSITIONS,
    Action,
    InvalidTransition,
    SignInOutcome,
    Status,
    address_window,
    allowed_from,
    day_of,
    inactivity_applies,
    lockout_until,
    next_status,
    retry_after_seconds,
    session_epoch_of,
    session_id,
    session_is_current,
    should_emit_signed_in,
    sign_in_outcome,
    truncate_ms,
)
from identity.domain.normalise import (
    domain_is_forbidden,
    is_valid_name,
    normalise_answer,
    normalise_email,
    phone_digits,
)
from identity.domain.questions import QUESTIONS, questions_in
from identity.domain.tokens import hash_token, new_token
from identity.domain.validation import (
    ValidationFailed,
    answers_secret,
    check_answers,
    check_phones,
    phones_for_event,
    validate_profile_update,
    validate_registration,
)

from shared.runtime.policy import NIST_POLICY, SignInPolicy, load_policy
from shared.runtime.problems import SUPPORTED_LOCALES

NOW = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
DUVAL = load_policy()
NIST = load_policy(NIST_POLICY)

# --- state machine --------------------------------------------------------------------

ALL = [(a, s) for a in Action for s in Status]


@pytest.mark.parametrize(("action", "status"), ALL, ids=[f"{a}-{s}" for a, s in ALL])
def test_every_transition_is_either_defined_or_refused(action: Action, status: Status) -> None:
    expected = {
        (Action.VERIFY, Status.UNVERIFIED): Status.ACTIVE,
        (Action.VERIFY, Status.DISABLED): Status.ACTIVE,
        (Action.DISABLE, Status.ACTIVE): Status.DISABLED,
        (Action.DELETE, Status.ACTIVE): Status.DELETED,
        (Action.DELETE, Status.DISABLED): Status.DELETED,
        (Action.DELETE, Status.UNVERIFIED): Status.DELETED,
        (Action.PURGE, Status.UNVERIFIED): Status.DELETED,
    }
    assert TRANSITIONS == expected
    if (action, status) in expected:
        assert next_status(status, action) is expected[(action, status)]
        assert str(status) in allowed_from(action)
    else:
        with pytest.raises(InvalidTransition):
            next_status(status, action)
        assert str(status) not in allowed_from(action)


def test_deleted_is_final_and_unknown_statuses_are_refused() -> None:
    assert not [a for a in Action if str(Status.DELETED) in allowed_from(a)]
    with pytest.raises(InvalidTransition):
        next_status("frozen", Action.VERIFY)


@pytest.mark.parametrize(("status", "outcome"), [
    (Status.ACTIVE, SignInOutcome.SIGNED_IN),
    (Status.UNVERIFIED, SignInOutcome.MUST_VERIFY),
    (Status.DISABLED, SignInOutcome.REACTIVATE),
    (Status.DELETED, SignInOutcome.REFUSED),
])
def test_sign_in_outcome_by_status(status: Status, outcome: SignInOutcome) -> None:
    assert sign_in_outcome(status) is outcome


# --- lockout and limits ---------------------------------------------------------------

def test_lockout_starts_at_the_threshold_and_backs_off_exponentially() -> None:
    policy = SignInPolicy(max_failures_per_account=5, lockout_minutes=15)
    assert [lockout_until(n, policy, NOW) for n in range(5)] == [None] * 5
    assert lockout_until(5, policy, NOW) == NOW + timedelta(minutes=15)
    assert lockout_until(6, policy, NOW) == NOW + timedelta(minutes=30)
    assert lockout_until(7, policy, NOW) == NOW + timedelta(minutes=60)
    assert lockout_until(50, policy, NOW) == NOW + timedelta(hours=24)  # capped


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    assert retry_after_seconds(NOW + timedelta(seconds=90.2), NOW) == 91
    assert retry_after_seconds(NOW, NOW) == 1


def test_address_windows_are_fixed() -> None:
    policy = SignInPolicy(address_window_minutes=15)
    index, end = address_window(NOW, policy)
    assert address_window(NOW + timedelta(minutes=14, seconds=59), policy)[0] == index
    assert address_window(NOW + timedelta(minutes=15), policy)[0] == index + 1
    assert end == NOW + timedelta(minutes=15)


def test_signed_in_event_once_per_local_day() -> None:
    ny = ZoneInfo("America/New_York")
    assert should_emit_signed_in(None, NOW, ny)
    assert not should_emit_signed_in("2025-03-03", NOW, ny)
    assert should_emit_signed_in("2025-03-02", NOW, ny)
    # 02:00 UTC on 4 March is still 3 March in New York: the same day, no second event
    late = datetime(2025, 3, 4, 2, 0, tzinfo=UTC)
    assert day_of(late, ny) == "2025-03-03"
    assert not should_emit_signed_in("2025-03-03", late, ny)


# --- inactivity and sessions ----------------------------------------------------------

def test_inactivity_applies_unless_the_account_was_active_since() -> None:
    assert inactivity_applies(None, NOW)
    assert inactivity_applies(NOW, NOW)
    assert inactivity_applies(NOW - timedelta(days=1), NOW)
    assert not inactivity_applies(NOW + timedelta(milliseconds=1), NOW)
    # Stored times have millisecond precision; the event's microseconds do not matter.
    assert inactivity_applies(NOW, NOW + timedelta(microseconds=400))
    assert truncate_ms(NOW + timedelta(microseconds=1999)) == NOW + timedelta(milliseconds=1)


def test_sessions_end_when_the_epoch_moves() -> None:
    sid = session_id(3, "abcdef")
    assert session_epoch_of(sid) == 3 and session_is_current(sid, 3)
    assert not session_is_current(sid, 4)
    assert session_epoch_of("garbage") is None and not session_is_current("x.y", 0)


def test_tokens_have_128_bits_and_are_stored_hashed() -> None:
    token = new_token()
    assert len(token) == 22 and token != new_token()
    assert hash_token(token) != token and len(hash_token(token)) == 64
    assert hash_token(token) == hash_token(token)


# --- normalisation --------------------------------------------------------------------

def test_email_normalisation_and_forbidden_domains() -> None:
    assert normalise_email("  Jenny.Denny@Example.NET ") == "jenny.denny@example.net"
    assert domain_is_forbidden("a@duvalschools.org", ["duvalschools.org"]) == "duvalschools.org"
    assert domain_is_forbidden("a@mail.duvalschools.org", ["duvalschools.org"])
    assert domain_is_forbidden("a@notduvalschools.org", ["duvalschools.org"]) is None


def test_answers_are_casefolded_trimmed_collapsed_and_accent_free() -> None:
    assert normalise_answer("  Émile   ZOLA ") == "emile zola"
    assert normalise_answer("Straße") == "strasse"
    assert normalise_answer("Nguyễn  Văn") == "nguyen van"
    assert answers_secret([("b", "x"), ("a", "y")]) == answers_secret([("a", "y"), ("b", "x")])


def test_phone_digits_allow_formatting_only() -> None:
    assert phone_digits("(904) 555-0100") == "9045550100"
    assert phone_digits("+1 904.555.0100") == "19045550100"
    assert phone_digits("904-555-01OO") is None
    assert phone_digits("٩٠٤٥٥٥٠١٠٠") is None  # non-ASCII digits


# --- registration and profile validation ---------------------------------------------

def body(**overrides: object) -> Register:
    data: dict[str, object] = {
        "email": "Jenny@Example.net", "password": "Secr3t!pw", "first_name": " Jenny ",
        "last_name": "Denny", "locale": "es-US",
        "phones": {"mobile": {"number": "904 555 0100", "sms": True},
                   "home": {"same_as_mobile": True}, "work": None, "emergency": "home"},
        "address": {"street": "111  Street Dr.", "city": "Jacksonville", "state": "fl",
                    "zip": "32207-1234"},
        "security_answers": [{"question_id": q, "answer": "Answer one"}
                             for q in ("first_pet", "birth_city", "first_school")],
        "accepted_usage_policy": True,
    }
    data.update(overrides)
    return Register.model_validate(data)


def test_a_valid_registration_is_normalised() -> None:
    reg = validate_registration(body(), DUVAL)
    assert reg.email == "jenny@example.net" and reg.first_name == "Jenny"
    assert reg.locale == "es" and reg.address["state"] == "FL"
    assert reg.address["street"] == "111 Street Dr."
    assert reg.phones["mobile"] == {"number": "9045550100", "unlisted": False, "sms": True}
    assert [(p.kind, p.number) for p in phones_for_event(reg.phones)] == [
        ("mobile", "9045550100"), ("home", "9045550100")]
    assert [q for q, _ in reg.answers] == sorted(["first_pet", "birth_city", "first_school"])


def _codes(**overrides: object) -> set[tuple[str, str]]:
    with pytest.raises(ValidationFailed) as info:
        validate_registration(body(**overrides), DUVAL)
    return {(e.field, e.code) for e in info.value.errors}


def test_every_registration_rule() -> None:
    assert ("email", "email_forbidden_domain") in _codes(email="x@duvalschools.org")
    assert ("email", "invalid_email") in _codes(email="x@")
    assert ("first_name", "name_invalid") in _codes(first_name="<script>")
    assert ("last_name", "missing") in _codes(last_name="   ")
    assert ("locale", "locale_unsupported") in _codes(locale="fr")
    assert ("accepted_usage_policy", "usage_policy_required") in _codes(
        accepted_usage_policy=False)
    assert ("secondary_email", "secondary_email_same") in _codes(
        secondary_email="JENNY@example.net")
    assert ("security_answers", "security_answers_count") in _codes(security_answers=[])
    assert ("address.zip", "zip_invalid") in _codes(
        address={"street": "a", "city": "b", "state": "FL", "zip": "3220"})
    assert ("address.state", "state_invalid") in _codes(
        address={"street": "a", "city": "b", "state": "Florida", "zip": "32207"})
    dup = [{"school_id": "1", "student_id": "2", "student_last_name": "X"}] * 2
    assert ("student_claims.1", "student_claim_duplicate") in _codes(student_claims=dup)


def test_all_errors_are_reported_at_once() -> None:
    assert len(_codes(email="x@", password="a", accepted_usage_policy=False)) >= 4


def test_nist_preset_refuses_security_answers_and_accepts_none() -> None:
    with pytest.raises(ValidationFailed) as info:
        validate_registration(body(password="correct horse battery staple"), NIST)
    assert {(e.field, e.code) for e in info.value.errors} == {
        ("security_answers", "security_questions_disabled")}
    reg = validate_registration(
        body(password="correct horse battery staple", security_answers=[]), NIST)
    assert reg.answers == []


def test_phone_rules() -> None:
    def errs(phones: Phones) -> set[tuple[str, str]]:
        found: list = []
        check_phones(phones, found)
        return {(e.field, e.code) for e in found}

    assert errs(Phones()) == set()  # every phone "N/A"
    assert errs(Phones(mobile=MobilePhone(number="904"), emergency="mobile")) == {
        ("phones.mobile.number", "phone_number_invalid")}
    assert errs(Phones(mobile=MobilePhone(number="1" * 16), emergency="mobile")) == {
        ("phones.mobile.number", "phone_number_invalid")}
    assert errs(Phones(mobile=MobilePhone(number="1234567"), emergency="mobile")) == set()
    assert errs(Phones(home=HomePhone(same_as_mobile=True), emergency="home")) == {
        ("phones.home.same_as_mobile", "home_needs_mobile")}
    assert errs(Phones(home=HomePhone(), emergency="home")) == {
        ("phones.home.number", "home_number_required")}
    assert errs(Phones(work=WorkPhone(number="9045550100", extension="12a"),
                       emergency="work")) == {("phones.work.extension", "phone_extension_invalid")}
    assert errs(Phones(work=WorkPhone(number="9045550100"), emergency="mobile")) == {
        ("phones.emergency", "emergency_not_given")}
    assert errs(Phones(work=WorkPhone(number="9045550100"))) == {
        ("phones.emergency", "emergency_required")}


def test_answer_rules() -> None:
    found: list = []
    check_answers([SecurityAnswer(question_id="first_pet", answer="  a  b "),
                   SecurityAnswer(question_id="first_pet", answer="Rover"),
                   SecurityAnswer(question_id="nope", answer="Rover")],
                  DUVAL.security_questions, found)
    assert {(e.field, e.code) for e in found} == {
        ("security_answers.0.answer", "security_answer_too_short"),
        ("security_answers.1.question_id", "security_question_duplicate"),
        ("security_answers.2.question_id", "security_question_unknown"),
    }


def test_profile_update_rules() -> None:
    current = {"mobile": {"number": "9045550100", "unlisted": False, "sms": False}}
    with pytest.raises(ValidationFailed) as info:
        validate_profile_update(UpdateProfile(email="other@example.net"), DUVAL, "me@example.net")
    assert info.value.errors[0].code == "email_immutable"
    # Re-sending the same email is harmless.
    assert validate_profile_update(UpdateProfile(email=" ME@example.net"), DUVAL,
                                   "me@example.net") == {}
    with pytest.raises(ValidationFailed) as info:
        validate_profile_update(UpdateProfile.model_validate(
            {"notification_preferences": {"channels": ["sms"], "kinds": ["spam"]}}),
            DUVAL, "me@example.net", current)
    assert {e.code for e in info.value.errors} == {"sms_needs_mobile", "invalid_choice"}
    fields = validate_profile_update(UpdateProfile.model_validate(
        {"first_name": "Ann", "address": Address(street="1 A St", city="X", state="ga",
                                                 zip="30301").model_dump()}),
        DUVAL, "me@example.net")
    assert fields["first_name"] == "Ann" and fields["address"]["state"] == "GA"
    with pytest.raises(ValidationFailed):
        validate_profile_update(UpdateProfile.model_validate({"first_name": None}), DUVAL, "x")


# --- texts ----------------------------------------------------------------------------

def test_every_message_and_question_exists_in_all_six_languages() -> None:
    for code, texts in MESSAGES.items():
        assert set(texts) == set(SUPPORTED_LOCALES), code
        assert all(t.strip() for t in texts.values()), code
    for qid, texts in QUESTIONS.items():
        assert set(texts) == set(SUPPORTED_LOCALES), qid
    assert questions_in("zz")[0]["text"] == QUESTIONS["first_pet"]["en"]


@pytest.mark.parametrize(
    "name",
    ["Jenny", "Nguyễn Thị", "O'Brien", "Mary-Jane", "J. R.", "محمد", "Jean‐Baptiste", "St. John"],
)
def test_names_of_people_are_accepted(name: str) -> None:
    assert is_valid_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "https://evil.example/reset",
        "Win a prize at evil.com",
        "www.example.org",
        "Jenny2",
        "Jenny: call 555",
        "J" * 51,
        "...",
        "a/b",
    ],
)
def test_urls_digits_and_long_text_are_not_names(name: str) -> None:
    assert not is_valid_name(name)
