"""Reserve-then-decide limits (issue 15, item 1): a burst of parallel password checks on
one account or from one address never evaluates more than the limit allows."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from identity.domain.commands import ChangePassword, ConfirmReset, SignIn
from identity.domain.validation import ValidationFailed
from identity.handlers import Refusal
from identity_fakes import FakeCaptcha, FakeHasher
from test_identity_handlers import ANSWERS, EMAIL, PASSWORD, active, make, registration

from shared.runtime.policy import SecurityQuestionPolicy, load_policy


class SlowHasher(FakeHasher):
    """Yields to the event loop inside every check (as argon2id in a thread does) and
    counts the checks made against a stored hash."""

    def __init__(self) -> None:
        super().__init__()
        self.checked = 0

    async def verify(self, encoded: str | None, secret: str) -> bool:
        if encoded:
            self.checked += 1
        await asyncio.sleep(0.001)
        return await super().verify(encoded, secret)


async def _statuses(calls: list[Any]) -> list[int]:
    results = await asyncio.gather(*calls, return_exceptions=True)
    out = []
    for result in results:
        assert isinstance(result, (Refusal, dict)), result
        out.append(result.status if isinstance(result, Refusal) else 200)
    return out


async def test_a_parallel_burst_on_one_account_evaluates_no_more_than_the_lockout() -> None:
    service, repo, *_ = make()
    account_id = await active(service, repo)
    hasher = service.hasher = SlowHasher()
    limit = service.policy.sign_in.max_failures_per_account
    statuses = await _statuses(
        [
            service.sign_in(SignIn(email=EMAIL, password="Wr0ng!pw"), f"10.0.0.{i}")
            for i in range(150)
        ]
    )
    assert hasher.checked <= limit
    assert statuses.count(401) <= limit and set(statuses) <= {401, 429}
    assert repo.docs[account_id]["failed_signins"] <= limit
    assert "attempt_lease" not in repo.docs[account_id]  # every lease was released


async def test_one_check_in_flight_per_account_and_the_lease_is_released() -> None:
    service, repo, *_ = make()
    account_id = await active(service, repo)
    service.hasher = SlowHasher()
    statuses = await _statuses(
        [service.sign_in(SignIn(email=EMAIL, password=PASSWORD), "10.0.0.1") for _ in range(3)]
    )
    assert statuses.count(200) >= 1 and set(statuses) <= {200, 429}
    assert "attempt_lease" not in repo.docs[account_id]
    assert repo.docs[account_id]["failed_signins"] == 0
    assert "access_token" in await service.sign_in(SignIn(email=EMAIL, password=PASSWORD), "ip")


async def test_a_parallel_burst_from_one_address_evaluates_no_more_than_its_limit() -> None:
    service, _repo, *_ = make()
    hasher = service.hasher = SlowHasher()
    emails = [f"g{i}@example.net" for i in range(60)]
    for email in emails:
        await service.register(registration(email=email), "ip")
    limit = service.policy.sign_in.max_failures_per_address
    statuses = await _statuses(
        [service.sign_in(SignIn(email=e, password="Wr0ng!pw"), "6.6.6.6") for e in emails]
    )
    assert hasher.checked <= limit and statuses.count(401) <= limit
    assert statuses.count(429) >= len(emails) - limit


async def test_a_correct_sign_in_gives_its_address_reservation_back() -> None:
    service, repo, *_ = make()
    await active(service, repo)
    limit = service.policy.sign_in.max_failures_per_address
    for _ in range(limit + 3):
        await service.sign_in(SignIn(email=EMAIL, password=PASSWORD), "7.7.7.7")
    assert max(repo.addresses.values()) == 0


async def test_a_crashed_check_gives_its_count_back_and_a_wrong_current_password_counts() -> None:
    service, repo, *_ = make()
    account_id = await active(service, repo)
    acc = await repo.by_id(account_id)

    class Broken(FakeHasher):
        async def verify(self, encoded: str | None, secret: str) -> bool:
            raise RuntimeError("hasher down")

    service.hasher = Broken()
    with pytest.raises(RuntimeError):
        await service.sign_in(SignIn(email=EMAIL, password=PASSWORD), "ip")
    assert repo.docs[account_id]["failed_signins"] == 0
    assert "attempt_lease" not in repo.docs[account_id]
    service.hasher = FakeHasher()
    with pytest.raises(ValidationFailed):
        await service.change_password(
            acc, ChangePassword(current_password="Wr0ng!pw", new_password="N3w!passphrase")
        )
    assert repo.docs[account_id]["failed_signins"] == 1


# --- small leaks (issue 15, item 8) ---------------------------------------------------


async def test_a_password_change_ends_outstanding_reset_links() -> None:
    service, repo, *_ = make()
    account_id = await active(service, repo)
    await service.request_reset(EMAIL)
    token = repo.published("PasswordResetRequested")[-1].token
    acc = await repo.by_id(account_id)
    await service.change_password(
        acc, ChangePassword(current_password=PASSWORD, new_password="N3w!passphrase")
    )
    with pytest.raises(Refusal) as refused:
        await service.confirm_reset(
            ConfirmReset(token=token, new_password="An0ther!phrase", security_answers=ANSWERS)
        )
    assert refused.value.status == 400


async def test_reset_confirmation_answers_respect_the_lockout() -> None:
    policy = load_policy().model_copy(
        update={
            "security_questions": SecurityQuestionPolicy(
                count=3, min_answer_length=4, required_for_reset=True
            )
        }
    )
    service, repo, *_ = make(policy)
    account_id = await active(service, repo)
    await service.request_reset(EMAIL)
    token = repo.published("PasswordResetRequested")[-1].token
    wrong = [{**a, "answer": "wrong answer"} for a in ANSWERS]
    limit = service.policy.sign_in.max_failures_per_account
    for _ in range(limit):
        with pytest.raises(ValidationFailed):
            await service.confirm_reset(
                ConfirmReset(token=token, new_password="An0ther!phrase", security_answers=wrong)
            )
    with pytest.raises(Refusal) as refused:  # locked: the right answers are not even checked
        await service.confirm_reset(
            ConfirmReset(token=token, new_password="An0ther!phrase", security_answers=ANSWERS)
        )
    assert refused.value.status == 429
    assert repo.docs[account_id]["failed_signins"] == limit


async def test_ipv6_clients_are_limited_by_their_64() -> None:
    service, repo, *_ = make()
    await active(service, repo)
    limit = service.policy.sign_in.max_failures_per_address
    for i in range(limit):
        await service.register(registration(email=f"v6.{i}@example.net"), "ip")
        with pytest.raises(Refusal):
            await service.sign_in(
                SignIn(email=f"v6.{i}@example.net", password="Wr0ng!pw"), f"2001:db8:1:2::{i:x}"
            )
    with pytest.raises(Refusal) as refused:  # another address of the same /64
        await service.sign_in(SignIn(email=EMAIL, password=PASSWORD), "2001:db8:1:2:ffff::1")
    assert refused.value.status == 429
    assert "access_token" in await service.sign_in(
        SignIn(email=EMAIL, password=PASSWORD), "2001:db8:1:3::1"
    )


# --- resend and reset (issue 15, item 5) ----------------------------------------------


async def test_resend_and_reset_are_limited_per_email_known_or_not() -> None:
    service, repo, *_ = make()
    await active(service, repo)
    limit = service.policy.mail_requests.max_per_email
    for email in (EMAIL, "nobody@example.net"):
        for i in range(limit):
            await service.request_reset(email, f"10.0.{i}.1")
        with pytest.raises(Refusal) as refused:
            await service.request_reset(email, "10.9.9.9")
        assert refused.value.status == 429 and int(refused.value.headers["Retry-After"]) > 0


async def test_resend_and_reset_are_limited_per_address() -> None:
    service, *_ = make()
    limit = service.policy.mail_requests.max_per_address
    for i in range(limit):
        await service.resend_verification(f"n{i}@example.net", "2001:db8:5:5::1")
    with pytest.raises(Refusal):  # the same /64
        await service.resend_verification("other@example.net", "2001:db8:5:5::2")
    await service.resend_verification("other@example.net", "2001:db8:5:6::1")


async def test_repeated_requests_are_coalesced_and_keep_the_first_links_valid() -> None:
    service, repo, clock, _ = make()
    await active(service, repo)
    for _ in range(4):
        await service.request_reset(EMAIL, "ip")
    sent = repo.published("PasswordResetRequested")
    assert len(sent) == 2  # two links within the window; the repeats send nothing
    clock.advance(minutes=service.policy.mail_requests.coalesce_minutes + 1)
    await service.request_reset(EMAIL, "ip")
    assert len(repo.published("PasswordResetRequested")) == 3
    await service.confirm_reset(
        ConfirmReset(token=sent[0].token, new_password="An0ther!phrase", security_answers=ANSWERS)
    )


async def test_the_lookup_runs_after_the_answer() -> None:
    service, repo, *_ = make()
    await active(service, repo)
    deferred: list[Any] = []

    async def later(work: Any) -> None:
        deferred.append(work)

    service.after_answer = later
    before = len(repo.published("PasswordResetRequested"))
    assert await service.request_reset(EMAIL, "ip") == {"status": "accepted"}
    assert len(repo.published("PasswordResetRequested")) == before  # answered first
    await deferred.pop()
    assert len(repo.published("PasswordResetRequested")) == before + 1


# --- the lockout does not tell which emails have an account (issue 15, item 4) ---------


async def test_known_and_unknown_emails_go_through_the_same_lockout() -> None:
    service, repo, *_ = make()
    await active(service, repo)

    async def answers(email: str) -> list[tuple[int, str, str | None]]:
        seen = []
        for i in range(8):
            with pytest.raises(Refusal) as refused:
                await service.sign_in(SignIn(email=email, password="Wr0ng!pw"), f"10.7.0.{i}")
            r = refused.value
            seen.append((r.status, r.code, r.headers.get("Retry-After")))
        return seen

    known, unknown = await answers(EMAIL), await answers("nobody.here@example.net")
    assert known == unknown
    assert known[0][0] == 401 and known[-1][0] == 429
    assert not any(key.startswith("ghost|") and "@" in key for key in repo.ghosts)


class TokenCaptcha(FakeCaptcha):
    """A configured provider: only the token ``solved`` passes."""

    async def verify(self, token: str | None, remote_ip: str | None) -> bool:
        return token == "solved"


async def test_with_a_captcha_the_owner_is_never_locked_out() -> None:
    service, repo, *_ = make()
    account_id = await active(service, repo)
    service.captcha = TokenCaptcha()
    limit = service.policy.sign_in.max_failures_per_account
    for i in range(limit):
        with pytest.raises(Refusal):
            await service.sign_in(SignIn(email=EMAIL, password="Wr0ng!pw"), f"10.8.0.{i}")
    for token in (None, "forged"):
        with pytest.raises(Refusal) as refused:
            await service.sign_in(
                SignIn(email=EMAIL, password=PASSWORD, captcha_token=token), "10.8.1.1"
            )
        assert (refused.value.status, refused.value.code) == (429, "captcha_required")
    with pytest.raises(Refusal) as wrong:  # a solved captcha buys one more (counted) guess
        await service.sign_in(
            SignIn(email=EMAIL, password="Wr0ng!pw", captcha_token="solved"), "10.8.1.2"
        )
    assert wrong.value.status == 401
    assert repo.docs[account_id]["failed_signins"] == limit + 1
    answer = await service.sign_in(
        SignIn(email=EMAIL, password=PASSWORD, captcha_token="solved"), "10.8.1.3"
    )
    assert "access_token" in answer
    assert repo.docs[account_id]["failed_signins"] == 0
