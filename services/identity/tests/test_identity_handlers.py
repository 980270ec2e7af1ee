"""The use cases on fakes of the ports: every state transition, its guards and events."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from identity.adapters.captcha import CaptchaUnavailable
from identity.domain.commands import (
    ChangePassword,
    ConfirmReset,
    Register,
    ReplaceSecurityAnswers,
    SignIn,
    UpdateProfile,
    VerifyEmail,
)
from identity.domain.model import Status
from identity.domain.validation import ValidationFailed
from identity.handlers import IdentityService, Refusal
from identity_fakes import FakeAccounts, FakeCaptcha, FakeClock, FakeHasher, session_tokens

from shared.contracts.envelope import Envelope
from shared.contracts.events import InactivityTimeout
from shared.runtime.policy import DistrictPolicy, SecurityQuestionPolicy, load_policy

EMAIL = "jenny@example.net"
PASSWORD = "Secr3t!pw"
ANSWERS = [{"question_id": q, "answer": f"answer {q}"}
           for q in ("first_pet", "birth_city", "first_school")]


def make(policy: DistrictPolicy | None = None, captcha: FakeCaptcha | None = None) -> Any:
    repo, clock, hasher = FakeAccounts(), FakeClock(), FakeHasher()
    service = IdentityService(repo=repo, hasher=hasher, captcha=captcha or FakeCaptcha(),
                              tokens=session_tokens(), policy=policy or load_policy(),
                              clock=clock)
    return service, repo, clock, hasher


def registration(email: str = EMAIL, **overrides: Any) -> Register:
    data = {
        "email": email, "password": PASSWORD, "first_name": "Jenny", "last_name": "Denny",
        "locale": "es", "phones": {"mobile": {"number": "9045550100"}, "emergency": "mobile"},
        "address": {"street": "1 A St", "city": "Jacksonville", "state": "FL", "zip": "32207"},
        "security_answers": ANSWERS, "accepted_usage_policy": True,
        "student_claims": [{"school_id": "0123", "student_id": "9", "student_last_name": "S"}],
    }
    data.update(overrides)
    return Register.model_validate(data)


def last(repo: FakeAccounts, type_: str) -> Any:
    return repo.published(type_)[-1]


async def active(service: IdentityService, repo: FakeAccounts) -> str:
    answer = await service.register(registration(), "1.2.3.4")
    token = last(repo, "EmailVerificationRequested").token
    await service.verify_email(VerifyEmail(token=token, password=PASSWORD))
    return answer["account_id"]


def timeout(account_id: str, stage: str, last_activity: Any) -> Envelope:
    event = InactivityTimeout(account_id=account_id, stage=stage, last_activity_at=last_activity,
                              due_at=last_activity)
    return Envelope(id="e1", source="scheduler", type="InactivityTimeout", time=last_activity,
                    subject=account_id, event=event)


# --- registration ---------------------------------------------------------------------

async def test_register_creates_an_unverified_account_with_both_events_in_one_write() -> None:
    service, repo, clock, _ = make()
    answer = await service.register(registration(email=" Jenny@EXAMPLE.net "), "1.2.3.4")
    assert answer["status"] == "unverified"
    doc = repo.docs[answer["account_id"]]
    assert doc["email"] == EMAIL and doc["status"] == Status.UNVERIFIED
    assert doc["password_hash"] == f"v1${PASSWORD}"
    assert "answer first_pet" in doc["answers_hash"]  # one hash over all normalised answers
    assert [e.event_type() for e in repo.outbox] == ["AccountCreated",
                                                     "EmailVerificationRequested"]
    created, verification = repo.outbox
    assert created.student_claims[0].school_id == "0123" and created.phones[0].kind == "mobile"
    assert verification.reason == "registration"
    assert verification.expires_at == clock.now + timedelta(hours=24)
    assert doc["verify_tokens"][0]["h"] != verification.token  # stored hashed


async def test_a_registered_email_gets_the_same_answer_and_the_owner_is_told() -> None:
    service, repo, *_ = make()
    first = await service.register(registration(), "1.2.3.4")
    second = await service.register(registration(email="JENNY@example.net"), "1.2.3.4")
    assert second.keys() == first.keys() and second["status"] == first["status"]
    assert len(repo.docs) == 1
    dup = last(repo, "DuplicateRegistrationAttempted")
    assert dup.account_id == first["account_id"] and dup.locale == "es"


async def test_a_stale_claim_is_released_and_the_registration_goes_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service, repo, *_ = make()
    repo.claims[EMAIL] = "ghost"  # a crash between claim and insert
    monkeypatch.setattr("identity.handlers.OWNER_WAIT_SECONDS", 0.05)
    answer = await service.register(registration(), "1.2.3.4")
    assert repo.claims[EMAIL] == answer["account_id"] and answer["account_id"] in repo.docs


async def test_captcha_failure_is_a_field_error_and_an_outage_a_503() -> None:
    service, repo, *_ = make(captcha=FakeCaptcha(False))
    with pytest.raises(ValidationFailed) as info:
        await service.register(registration(), "1.2.3.4")
    assert info.value.errors[0].field == "captcha_token" and not repo.docs
    service, repo, *_ = make(captcha=FakeCaptcha(CaptchaUnavailable("turnstile")))
    with pytest.raises(Refusal) as refused:
        await service.register(registration(), "1.2.3.4")
    assert refused.value.status == 503


# --- verification ---------------------------------------------------------------------

async def test_verification_needs_the_password_and_is_single_use() -> None:
    service, repo, *_ = make()
    account_id = (await service.register(registration(), "ip"))["account_id"]
    token = last(repo, "EmailVerificationRequested").token
    with pytest.raises(ValidationFailed):
        await service.verify_email(VerifyEmail(token=token, password="Wr0ng!pw"))
    assert repo.docs[account_id]["failed_signins"] == 1
    assert await service.verify_email(VerifyEmail(token=token, password=PASSWORD)) == {
        "account_id": account_id, "status": "active"}
    assert repo.docs[account_id]["status"] == Status.ACTIVE
    assert last(repo, "EmailVerified").reactivated is False
    with pytest.raises(Refusal) as refused:
        await service.verify_email(VerifyEmail(token=token, password=PASSWORD))
    assert refused.value.code == "token_invalid"


async def test_an_expired_verification_token_is_refused() -> None:
    service, repo, clock, _ = make()
    await service.register(registration(), "ip")
    token = last(repo, "EmailVerificationRequested").token
    clock.advance(hours=24, seconds=1)
    with pytest.raises(Refusal):
        await service.verify_email(VerifyEmail(token=token, password=PASSWORD))


async def test_resend_only_for_unverified_or_disabled_accounts() -> None:
    service, repo, *_ = make()
    assert await service.resend_verification("nobody@example.net") == {"status": "accepted"}
    assert await service.resend_verification("not an email") == {"status": "accepted"}
    await service.register(registration(), "ip")
    await service.resend_verification(EMAIL)
    assert last(repo, "EmailVerificationRequested").reason == "resend"
    first, _ = repo.published("EmailVerificationRequested")
    await service.verify_email(VerifyEmail(token=first.token, password=PASSWORD))
    count = len(repo.outbox)
    await service.resend_verification(EMAIL)  # active now: nothing to send
    assert len(repo.outbox) == count


# --- sign-in --------------------------------------------------------------------------

async def test_unverified_must_verify_first() -> None:
    service, _, *_ = make()
    await service.register(registration(), "ip")
    with pytest.raises(Refusal) as refused:
        await service.sign_in(SignIn(email=EMAIL, password=PASSWORD), "ip")
    assert (refused.value.status, refused.value.code) == (403, "email_not_verified")
    assert refused.value.locale == "es"


async def test_sign_in_issues_a_verifiable_token_and_one_event_per_day() -> None:
    service, repo, clock, _ = make()
    account_id = await active(service, repo)
    session = await service.sign_in(SignIn(email=EMAIL, password=PASSWORD), "ip")
    claims = service.tokens.verify(session["access_token"])
    assert claims.account_id == account_id and session["expires_at"].endswith("Z")
    await service.sign_in(SignIn(email=EMAIL, password=PASSWORD), "ip")
    assert len(repo.published("AccountSignedIn")) == 1
    clock.advance(days=1)
    await service.sign_in(SignIn(email=EMAIL, password=PASSWORD), "ip")
    assert len(repo.published("AccountSignedIn")) == 2
    assert repo.docs[account_id]["last_activity_at"] == clock.now


async def test_lockout_after_repeated_failures_then_unlock_after_the_wait() -> None:
    service, repo, clock, _ = make()
    await active(service, repo)
    for _ in range(5):
        with pytest.raises(Refusal) as refused:
            await service.sign_in(SignIn(email=EMAIL, password="bad"), "ip")
        assert refused.value.status == 401
    with pytest.raises(Refusal) as refused:
        await service.sign_in(SignIn(email=EMAIL, password=PASSWORD), "ip")
    assert refused.value.status == 429 and refused.value.headers["Retry-After"] == "900"
    clock.advance(minutes=15, seconds=1)
    await service.sign_in(SignIn(email=EMAIL, password=PASSWORD), "ip")
    assert repo.docs[next(iter(repo.docs))]["failed_signins"] == 0


async def test_per_address_limit_covers_unknown_emails_too() -> None:
    service, repo, *_ = make()
    await active(service, repo)
    for i in range(20):
        with pytest.raises(Refusal):
            await service.sign_in(SignIn(email=f"x{i}@example.net", password="bad"), "6.6.6.6")
    with pytest.raises(Refusal) as refused:
        await service.sign_in(SignIn(email=EMAIL, password=PASSWORD), "6.6.6.6")
    assert refused.value.status == 429 and int(refused.value.headers["Retry-After"]) > 0
    # Another address is not affected.
    await service.sign_in(SignIn(email=EMAIL, password=PASSWORD), "7.7.7.7")


async def test_password_is_rehashed_when_the_parameters_change() -> None:
    service, repo, *_ = make()
    account_id = await active(service, repo)
    service.hasher = FakeHasher("v2")
    await service.sign_in(SignIn(email=EMAIL, password=PASSWORD), "ip")
    assert repo.docs[account_id]["password_hash"] == f"v2${PASSWORD}"


# --- profile, passwords and sessions --------------------------------------------------

async def test_profile_update_emits_account_profile_updated() -> None:
    service, repo, *_ = make()
    account_id = await active(service, repo)
    acc = repo.docs[account_id]
    view = await service.update_profile(acc, UpdateProfile.model_validate(
        {"locale": "vi", "phones": {"mobile": {"number": "9045550199", "sms": True},
                                    "emergency": "mobile"}}))
    assert view["locale"] == "vi" and "password_hash" not in view
    event = last(repo, "AccountProfileUpdated")
    assert event.locale == "vi" and event.phones[0].number == "9045550199"


async def test_change_password_ends_other_sessions() -> None:
    service, repo, *_ = make()
    account_id = await active(service, repo)
    old = (await service.sign_in(SignIn(email=EMAIL, password=PASSWORD), "ip"))["access_token"]
    acc, _ = await service.authenticate(old)
    with pytest.raises(ValidationFailed) as info:
        await service.change_password(acc, ChangePassword(current_password=PASSWORD,
                                                          new_password=PASSWORD))
    assert {e.code for e in info.value.errors} == {"password_same_as_current"}
    fresh = await service.change_password(acc, ChangePassword(current_password=PASSWORD,
                                                              new_password="N3w!passw"))
    with pytest.raises(Refusal):
        await service.authenticate(old)
    assert (await service.authenticate(fresh["access_token"]))[0]["_id"] == account_id
    assert last(repo, "PasswordChanged").via == "change"


async def test_security_answers_replacement_needs_the_password() -> None:
    service, repo, *_ = make()
    account_id = await active(service, repo)
    acc = repo.docs[account_id]
    new = [{"question_id": q, "answer": "new answer"} for q in ("first_pet", "first_job",
                                                               "favorite_food")]
    with pytest.raises(ValidationFailed):
        await service.replace_security_answers(acc, ReplaceSecurityAnswers.model_validate(
            {"current_password": "bad", "security_answers": new}))
    saved = await service.replace_security_answers(acc, ReplaceSecurityAnswers.model_validate(
        {"current_password": PASSWORD, "security_answers": new}))
    assert saved["security_question_ids"] == ["favorite_food", "first_job", "first_pet"]


async def test_reset_ends_every_session_and_the_token_is_single_use() -> None:
    service, repo, clock, _ = make()
    await active(service, repo)
    access = (await service.sign_in(SignIn(email=EMAIL, password=PASSWORD), "ip"))["access_token"]
    assert await service.request_reset("unknown@example.net") == {"status": "accepted"}
    assert await service.request_reset(EMAIL) == {"status": "accepted"}
    reset = last(repo, "PasswordResetRequested")
    assert reset.expires_at == clock.now + timedelta(minutes=60)
    await service.confirm_reset(ConfirmReset(token=reset.token, new_password="R3set!pwd"))
    with pytest.raises(Refusal):
        await service.authenticate(access)
    with pytest.raises(Refusal):
        await service.confirm_reset(ConfirmReset(token=reset.token, new_password="An0ther!pw"))
    assert last(repo, "PasswordChanged").via == "reset"
    await service.sign_in(SignIn(email=EMAIL, password="R3set!pwd"), "ip")


async def test_reset_with_required_security_answers() -> None:
    policy = load_policy().model_copy(update={"security_questions": SecurityQuestionPolicy(
        count=3, min_answer_length=4, required_for_reset=True)})
    service, repo, *_ = make(policy)
    await active(service, repo)
    await service.request_reset(EMAIL)
    token = last(repo, "PasswordResetRequested").token
    with pytest.raises(ValidationFailed) as info:
        await service.confirm_reset(ConfirmReset(token=token, new_password="R3set!pwd"))
    assert info.value.errors[0].field == "security_answers"
    wrong = [{**a, "answer": "wrong answer"} for a in ANSWERS]
    with pytest.raises(ValidationFailed) as info:
        await service.confirm_reset(ConfirmReset.model_validate(
            {"token": token, "new_password": "R3set!pwd", "security_answers": wrong}))
    assert info.value.errors[0].code == "security_answers_incorrect"
    shuffled = [{**a, "answer": "  " + a["answer"].upper() + " "} for a in reversed(ANSWERS)]
    await service.confirm_reset(ConfirmReset.model_validate(
        {"token": token, "new_password": "R3set!pwd", "security_answers": shuffled}))


# --- lifecycle ------------------------------------------------------------------------

async def test_disable_is_idempotent_ignores_stale_timeouts_and_reactivation_works() -> None:
    service, repo, clock, _ = make()
    account_id = await active(service, repo)
    access = (await service.sign_in(SignIn(email=EMAIL, password=PASSWORD), "ip"))["access_token"]
    last_activity = repo.docs[account_id]["last_activity_at"]
    await service.on_inactivity_timeout(timeout(account_id, "disable",
                                                last_activity - timedelta(seconds=1)))
    assert repo.docs[account_id]["status"] == Status.ACTIVE  # stale
    clock.advance(days=180)
    await service.on_inactivity_timeout(timeout(account_id, "disable", last_activity))
    await service.on_inactivity_timeout(timeout(account_id, "disable", last_activity))
    assert repo.docs[account_id]["status"] == Status.DISABLED
    assert len(repo.published("AccountDisabled")) == 1
    with pytest.raises(Refusal):
        await service.authenticate(access)
    with pytest.raises(Refusal) as refused:
        await service.sign_in(SignIn(email=EMAIL, password=PASSWORD), "ip")
    assert refused.value.code == "account_disabled"
    verification = last(repo, "EmailVerificationRequested")
    assert verification.reason == "reactivation"
    await service.verify_email(VerifyEmail(token=verification.token, password=PASSWORD))
    assert last(repo, "EmailVerified").reactivated is True
    # The delete stage based on the old activity is stale now.
    await service.on_inactivity_timeout(timeout(account_id, "delete", last_activity))
    assert repo.docs[account_id]["status"] == Status.ACTIVE


async def test_delete_erases_personal_data_and_frees_the_email() -> None:
    service, repo, clock, _ = make()
    account_id = await active(service, repo)
    last_activity = repo.docs[account_id]["last_activity_at"]
    clock.advance(days=400)
    await service.on_inactivity_timeout(timeout(account_id, "delete", last_activity))
    await service.on_inactivity_timeout(timeout(account_id, "delete", last_activity))
    assert set(repo.docs[account_id]) == {"_id", "status", "deleted_at"}
    assert len(repo.published("AccountDeleted")) == 1 and EMAIL not in repo.claims
    await service.on_inactivity_timeout(timeout("unknown", "delete", last_activity))
    answer = await service.register(registration(), "ip")
    assert answer["account_id"] in repo.docs and len(repo.docs) == 2


async def test_purge_erases_only_old_never_verified_accounts() -> None:
    service, repo, clock, _ = make()
    old = (await service.register(registration(email="old@example.net"), "ip"))["account_id"]
    verified = await active(service, repo)
    clock.advance(days=29)
    young = (await service.register(registration(email="young@example.net"), "ip"))["account_id"]
    clock.advance(days=1, seconds=1)
    assert await service.purge_unverified() == 1
    assert repo.docs[old]["status"] == Status.DELETED and "email" not in repo.docs[old]
    assert repo.docs[young]["status"] == Status.UNVERIFIED
    assert repo.docs[verified]["status"] == Status.ACTIVE
    assert last(repo, "AccountDeleted").reason == "unverified"
    assert "old@example.net" not in repo.claims
    assert await service.purge_unverified() == 0


# --- the contact block other services pass on to the SIS (issue 20) -------------------

async def test_account_events_carry_the_whole_contact_block() -> None:
    service, repo, *_ = make()
    await service.register(registration(secondary_email="jd.work@example.org"), "1.2.3.4")
    created = last(repo, "AccountCreated")
    assert created.emergency_phone == "mobile" and created.secondary_email == "jd.work@example.org"
    assert created.address.city == "Jacksonville" and created.address.apt is None
    assert [(p.kind, p.e164, p.sms) for p in created.phones] == [("mobile", "+19045550100", False)]

    service, repo, *_ = make()
    account_id = await active(service, repo)
    acc = repo.docs[account_id]
    await service.update_profile(acc, UpdateProfile.model_validate(
        {"phones": {"mobile": {"number": "(904) 555-0142", "sms": True},
                    "home": {"same_as_mobile": True}, "emergency": "home"},
         "secondary_email": None}))
    event = last(repo, "AccountProfileUpdated")
    assert [(p.kind, p.number, p.e164, p.sms) for p in event.phones] == [
        ("mobile", "9045550142", "+19045550142", True),
        ("home", "9045550142", "+19045550142", False),
    ]
    assert event.emergency_phone == "home" and event.secondary_email is None
    assert event.address is not None and event.address.zip == "32207"  # unchanged, still sent
    # the keys are sent even when null: a consumer tells "none" from "not said"
    assert {"emergency_phone", "secondary_email", "address"} <= event.model_fields_set
