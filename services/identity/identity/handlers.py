"""Use cases of the identity service: one method per command or event.

Every state change and the events it causes are one conditional single-document write
(the repository's transactional outbox); the guards come from the domain's transition
table, so concurrent requests and redelivered events apply a change at most once.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from identity.adapters.captcha import CaptchaUnavailable, CaptchaVerifier, NoCaptcha
from identity.adapters.jwt_sessions import Claims, InvalidSession, SessionTokens
from identity.domain.commands import (
    ChangePassword,
    ConfirmReset,
    Register,
    ReplaceSecurityAnswers,
    SignIn,
    UpdateProfile,
    VerifyEmail,
)
from identity.domain.model import (
    Action,
    EmailTaken,
    SignInOutcome,
    Status,
    address_window,
    allowed_from,
    day_of,
    inactivity_applies,
    lockout_until,
    retry_after_seconds,
    session_id,
    session_is_current,
    should_emit_signed_in,
    sign_in_outcome,
    truncate_ms,
)
from identity.domain.normalise import is_valid_email, normalise_email
from identity.domain.tokens import hash_token, new_session_random, new_token
from identity.domain.validation import (
    FieldError,
    ValidationFailed,
    answers_secret,
    check_answers,
    contact_for_event,
    password_errors,
    phones_for_event,
    user_inputs_for,
    validate_profile_update,
    validate_registration,
)
from shared.contracts.envelope import Envelope
from shared.contracts.events import (
    AccountCreated,
    AccountDeleted,
    AccountDisabled,
    AccountProfileUpdated,
    AccountSignedIn,
    DuplicateRegistrationAttempted,
    EmailVerificationRequested,
    EmailVerified,
    Event,
    InactivityTimeout,
    NotificationPreferences,
    PasswordChanged,
    PasswordResetRequested,
    StudentClaim,
)
from shared.runtime.client_address import limit_key
from shared.runtime.logs import get_logger
from shared.runtime.policy import DistrictPolicy

log = get_logger(__name__)

PURGE_BATCH = 200
#: How long a duplicate registration waits for the first one's account to appear.
OWNER_WAIT_SECONDS = 5.0
ACCEPTED = {"status": "accepted"}
#: Links of one kind sent within ``mail_requests.coalesce_minutes`` before further
#: resend or reset requests send nothing.
COALESCE_AFTER = 2
#: How long a reserved password check holds its account's lease if its holder dies.
ATTEMPT_LEASE_SECONDS = 30


class Refusal(Exception):
    """A request the service answers with a problem (not a field validation error).

    ``code`` is a translated message code; ``locale`` the account's language when the
    answer is for its proven owner.
    """

    def __init__(
        self, status: int, code: str, *, params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None, locale: str | None = None,
    ) -> None:
        super().__init__(code)
        self.status, self.code = status, code
        self.params = dict(params or {})
        self.headers = dict(headers or {})
        self.locale = locale


@dataclass
class _Attempt:
    """The outcome of a reserved password or answers check (see ``_attempt``)."""

    failed: bool = False
    reset: bool = False


class Hasher(Protocol):
    """Port: argon2id hashing off the event loop."""

    async def hash(self, secret: str) -> str: ...
    async def verify(self, encoded: str | None, secret: str) -> bool: ...
    def needs_rehash(self, encoded: str) -> bool: ...


@dataclass
class IdentityService:
    """The identity use cases with their dependencies (wired in ``app.py``)."""

    repo: Any  # MongoAccounts or a fake with the same methods
    hasher: Hasher
    captcha: CaptchaVerifier
    tokens: SessionTokens
    policy: DistrictPolicy
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    #: Runs the lookup-dependent part of resend and reset. The app runs it after the
    #: answer (a background task), so the answer's timing cannot tell whether the email
    #: has an account; by default (tests) it is awaited in place.
    after_answer: Callable[[Coroutine[Any, Any, None]], Awaitable[None]] = field(
        default=lambda work: work
    )

    def now(self) -> datetime:
        """The current time at MongoDB's precision."""
        return truncate_ms(self.clock())

    # --- registration -------------------------------------------------------------

    async def register(self, cmd: Register, remote_ip: str | None) -> dict[str, str]:
        """Create an unverified account (or, for a registered email, tell its owner).

        The answer is identical either way: no account enumeration.
        """
        reg = validate_registration(cmd, self.policy)
        try:
            human = await self.captcha.verify(reg.captcha_token, remote_ip)
        except CaptchaUnavailable:
            raise Refusal(503, "captcha_unavailable", headers={"Retry-After": "60"}) from None
        if not human:
            raise ValidationFailed([FieldError("captcha_token", "captcha_failed")])
        now = self.now()
        account_id = str(uuid.uuid4())
        answers = answers_secret(reg.answers) if reg.answers else None
        password_hash, answers_hash = await asyncio.gather(
            self.hasher.hash(reg.password),
            self.hasher.hash(answers) if answers else _none(),
        )
        token = new_token()
        expires = now + timedelta(hours=self.policy.tokens.verification_hours)
        doc = {
            "_id": account_id,
            "email": reg.email,
            "status": str(Status.UNVERIFIED),
            "first_name": reg.first_name,
            "last_name": reg.last_name,
            "locale": reg.locale,
            "phones": reg.phones,
            "secondary_email": reg.secondary_email,
            "address": reg.address,
            "password_hash": password_hash,
            "answers_hash": answers_hash,
            "security_question_ids": [qid for qid, _ in reg.answers],
            "notification_preferences": NotificationPreferences().model_dump(),
            "verify_tokens": [{"h": hash_token(token), "exp": expires}],
            "failed_signins": 0,
            "session_epoch": 0,
            "created_at": now,
            "updated_at": now,
            "last_activity_at": now,
        }
        events: list[Event] = [
            AccountCreated(
                account_id=account_id, email=reg.email, first_name=reg.first_name,
                last_name=reg.last_name, locale=reg.locale, created_at=now,
                student_claims=[StudentClaim(**c) for c in reg.student_claims],
                phones=phones_for_event(reg.phones),
                **contact_for_event(doc),
            ),
            EmailVerificationRequested(
                account_id=account_id, email=reg.email, locale=reg.locale,
                first_name=reg.first_name, token=token, expires_at=expires,
                reason="registration",
            ),
        ]
        for _ in range(2):
            try:
                await self.repo.claim_email(reg.email, account_id, now)
            except EmailTaken:
                if await self._tell_owner(reg.email, reg.locale, now):
                    break
                continue  # a stale claim was released: claim again
            try:
                await self.repo.insert(doc, events, now)
            except BaseException:
                await self.repo.release_email(reg.email, account_id)
                raise
            log.info("account registered", account_id=account_id)
            break
        return {"account_id": account_id, "status": str(Status.UNVERIFIED)}

    async def _tell_owner(self, email: str, locale: str, now: datetime) -> bool:
        """Emit ``DuplicateRegistrationAttempted`` on the account holding ``email``.

        The holder may be a registration still in flight (its account appears within
        moments). A claim whose account never appears (a crash between claim and insert)
        or was erased (a crash before the claim was released) is released instead, and
        False is returned so the caller claims again.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + OWNER_WAIT_SECONDS
        owner_id = await self.repo.email_owner(email)
        while owner_id is not None:
            acc = await self.repo.by_id(owner_id)
            if acc is not None and acc.get("status") != Status.DELETED:
                await self.repo.append_events(owner_id, [
                    DuplicateRegistrationAttempted(
                        account_id=owner_id, email=email, locale=acc.get("locale", locale),
                        at=now, first_name=acc.get("first_name"),
                    )
                ], now)
                log.info("duplicate registration", account_id=owner_id)
                return True
            if acc is None and loop.time() < deadline:
                await asyncio.sleep(0.05)
                continue
            log.warning("releasing a stale email claim", account_id=owner_id)
            await self.repo.release_email(email, owner_id)
            return False
        return False

    # --- email verification -------------------------------------------------------

    async def verify_email(self, cmd: VerifyEmail) -> dict[str, str]:
        """Consume a verification token (with the password): the account becomes active."""
        now = self.now()
        token_hash = hash_token(cmd.token)
        acc = await self.repo.by_verify_token(token_hash)
        if acc is None or not _token_valid(acc.get("verify_tokens"), token_hash, now) or (
            acc["status"] not in allowed_from(Action.VERIFY)
        ):
            raise Refusal(400, "token_invalid")
        await self._require_password(acc, cmd.password, "password", now)
        reactivated = acc["status"] == Status.DISABLED
        event = EmailVerified(
            account_id=acc["_id"], email=acc["email"], verified_at=now,
            locale=acc.get("locale", "en"), first_name=acc.get("first_name"),
            reactivated=reactivated,
        )
        if not await self.repo.activate(acc["_id"], token_hash, now, [event]):
            raise Refusal(400, "token_invalid")  # used by a concurrent request
        log.info("email verified", account_id=acc["_id"], reactivated=reactivated)
        return {"account_id": acc["_id"], "status": str(Status.ACTIVE)}

    async def resend_verification(
        self, raw_email: str, remote_ip: str = "unknown"
    ) -> dict[str, str]:
        """A new verification email for an unverified or disabled account; the answer is
        the same whether or not the account exists, and given before the lookup."""
        await self._limit_mail_request(raw_email, remote_ip)
        await self.after_answer(self._resend(raw_email))
        return ACCEPTED

    async def _resend(self, raw_email: str) -> None:
        acc = await self._find_by_email(raw_email)
        if acc is not None and acc["status"] in (Status.UNVERIFIED, Status.DISABLED):
            reason = "resend" if acc["status"] == Status.UNVERIFIED else "reactivation"
            await self._send_verification(acc, reason, coalesce=True)

    async def _limit_mail_request(self, raw_email: str, remote_ip: str) -> None:
        """Count the request per client address and per email (known or not, the same
        two writes) before anything else; 429 over either limit."""
        now = self.now()
        limits = self.policy.mail_requests
        size = limits.window_minutes * 60
        window = int(now.timestamp() // size)
        window_end = datetime.fromtimestamp((window + 1) * size, tz=UTC)
        by_address = await self.repo.count_mail_request(
            f"address|{limit_key(remote_ip)}", window, window_end
        )
        by_email = await self.repo.count_mail_request(
            f"email|{normalise_email(raw_email)}", window, window_end
        )
        if by_address > limits.max_per_address or by_email > limits.max_per_email:
            log.warning("security.mail_requests_limited", by_address=by_address,
                        by_email=by_email)
            raise self._too_many(window_end, now)

    def _recently_sent(self, records: Any, lifetime: timedelta, now: datetime) -> bool:
        """Two links of this kind were sent within the policy's coalescing window: a
        further request sends none (a flood cannot push the guardian's valid links out
        of the few that are kept)."""
        coalesce = timedelta(minutes=self.policy.mail_requests.coalesce_minutes)
        recent = [
            rec for rec in records or []
            if rec.get("exp") is not None and _aware(rec["exp"]) - lifetime > now - coalesce
        ]
        return len(recent) >= COALESCE_AFTER

    async def _send_verification(
        self, acc: dict[str, Any], reason: str, *, coalesce: bool = False
    ) -> None:
        now = self.now()
        lifetime = timedelta(hours=self.policy.tokens.verification_hours)
        if coalesce and self._recently_sent(acc.get("verify_tokens"), lifetime, now):
            log.info("verification email coalesced", account_id=acc["_id"])
            return
        token = new_token()
        expires = now + timedelta(hours=self.policy.tokens.verification_hours)
        event = EmailVerificationRequested(
            account_id=acc["_id"], email=acc["email"], locale=acc.get("locale", "en"),
            first_name=acc.get("first_name") or "", token=token, expires_at=expires,
            reason=reason,  # type: ignore[arg-type]
        )
        await self.repo.add_verify_token(
            acc["_id"], hash_token(token), expires, [event], now,
            statuses=[Status.UNVERIFIED, Status.DISABLED],
        )

    # --- sign-in ------------------------------------------------------------------

    async def sign_in(self, cmd: SignIn, remote_ip: str) -> dict[str, str]:
        """Check the password and issue an access token, with per-account lockout and
        per-address limits; an unverified or disabled account is told what to do."""
        now = self.now()
        limits = self.policy.sign_in
        window, window_end = address_window(now, limits)
        remote_ip = limit_key(remote_ip)  # IPv6 by /64
        # Reserve, then decide: the attempt is counted against the address (and the
        # account) before the password is checked, so a burst cannot all pass a check
        # made before any of its failures were recorded.
        if await self.repo.reserve_address(remote_ip, window, window_end) > (
            limits.max_failures_per_address
        ):
            await self.repo.release_address(remote_ip, window)
            raise self._too_many(window_end, now)
        failed = False
        try:
            past_lock = await self._solved_captcha(cmd.captcha_token, remote_ip)
            acc = await self._find_by_email(cmd.email)
            if acc is None:
                # An unknown email is counted and locked exactly like an account, so the
                # lockout does not tell which emails have one.
                ghost = await self._ghost(cmd.email)
                async with self._attempt(ghost, now, ghost=True, past_lock=past_lock) as attempt:
                    ok = await self.hasher.verify(None, cmd.password)
                    attempt.failed = True
            else:
                async with self._attempt(acc, now, past_lock=past_lock) as attempt:
                    ok = await self.hasher.verify(acc.get("password_hash"), cmd.password)
                    attempt.failed = not ok
                    attempt.reset = ok
            failed = not ok
        finally:
            if not failed:
                await self.repo.release_address(remote_ip, window)
        if not ok:
            raise Refusal(401, "invalid_credentials")
        assert acc is not None
        locale = acc.get("locale")
        outcome = sign_in_outcome(acc["status"])
        if outcome is SignInOutcome.MUST_VERIFY:
            raise Refusal(403, "email_not_verified", locale=locale)
        if outcome is SignInOutcome.REACTIVATE:
            await self._send_verification(acc, "reactivation")
            raise Refusal(403, "account_disabled", locale=locale)
        if outcome is SignInOutcome.REFUSED:
            raise Refusal(401, "invalid_credentials")
        old_hash = acc["password_hash"]
        new_hash = await self.hasher.hash(cmd.password) if self.hasher.needs_rehash(old_hash) else None
        tz = self.policy.tz
        emit = should_emit_signed_in(acc.get("last_signin_event_day"), now, tz)
        if emit or new_hash:
            events = [AccountSignedIn(account_id=acc["_id"], at=now)] if emit else []
            await self.repo.signed_in(
                acc["_id"], now, day_of(now, tz), events, new_hash=new_hash, old_hash=old_hash
            )
        return self._issue(acc, int(acc.get("session_epoch", 0)), now)

    def _issue(self, acc: dict[str, Any], epoch: int, now: datetime) -> dict[str, str]:
        token, expires = self.tokens.issue(
            account_id=acc["_id"], email=acc["email"],
            name=f"{acc.get('first_name', '')} {acc.get('last_name', '')}".strip(),
            locale=acc.get("locale", "en"), sid=session_id(epoch, new_session_random()),
            now=now, ttl=timedelta(minutes=self.policy.tokens.session_minutes),
        )
        return {"access_token": token, "token_type": "Bearer",
                "expires_at": _iso(expires) or ""}

    def _refuse_if_locked(self, acc: dict[str, Any], now: datetime) -> None:
        until = acc.get("locked_until")
        if until is not None and until > now:
            if self.captcha_configured:
                # The owner is never locked out: a solved captcha lets the next try in.
                seconds = retry_after_seconds(until, now)
                raise Refusal(429, "captcha_required", headers={"Retry-After": str(seconds)})
            raise self._too_many(until, now)

    @property
    def captcha_configured(self) -> bool:
        """A real captcha provider is configured (not ``none``)."""
        return not isinstance(self.captcha, NoCaptcha)

    async def _solved_captcha(self, token: str | None, remote_ip: str) -> bool:
        if not token or not self.captcha_configured:
            return False
        try:
            return await self.captcha.verify(token, remote_ip)
        except CaptchaUnavailable:
            return False

    def _too_many(self, until: datetime, now: datetime) -> Refusal:
        seconds = retry_after_seconds(until, now)
        return Refusal(429, "too_many_attempts", params={"minutes": max(1, (seconds + 59) // 60)},
                       headers={"Retry-After": str(seconds)})

    @asynccontextmanager
    async def _attempt(
        self, acc: dict[str, Any], now: datetime, *, ghost: bool = False, past_lock: bool = False
    ) -> AsyncIterator[_Attempt]:
        """Reserve one password (or answers) check on ``acc`` before making it.

        At most one check per account is in flight (a lease that expires after
        ``ATTEMPT_LEASE_SECONDS`` if its holder dies), and it is counted as a failure in
        advance, so no burst evaluates more than the lockout allows. Refused with 429
        when the account is locked or another check holds the lease. The body sets
        ``failed`` (the count stays; at the threshold the account locks) or ``reset``
        (a sign-in: the count and lockout clear); otherwise the count is given back.
        ``ghost``: ``acc`` stands for an unknown email (see ``_ghost``). ``past_lock``: a
        solved captcha came with a sign-in, so a locked account is checked anyway (still
        one at a time and counted: a further failure extends the lock).
        """
        if not past_lock:
            self._refuse_if_locked(acc, now)
        lease_id = uuid.uuid4().hex
        lease_until = now + timedelta(seconds=ATTEMPT_LEASE_SECONDS)
        failures = await self.repo.reserve_attempt(
            acc["_id"], lease_id, now, lease_until, ghost=ghost, ignore_lock=past_lock
        )
        if failures is None:
            fresh = await (self.repo.ghost(acc["_id"]) if ghost else self.repo.by_id(acc["_id"]))
            fresh = fresh or acc
            self._refuse_if_locked(fresh, now)
            raise Refusal(429, "too_many_attempts", params={"minutes": 1},
                          headers={"Retry-After": "1"})
        attempt = _Attempt()
        try:
            yield attempt
        except BaseException:
            await self.repo.end_attempt(acc["_id"], lease_id, failed=False, ghost=ghost)
            raise
        if not attempt.failed:
            await self.repo.end_attempt(
                acc["_id"], lease_id, failed=False, reset=attempt.reset, ghost=ghost
            )
            return
        until = lockout_until(failures, self.policy.sign_in, now)
        await self.repo.end_attempt(
            acc["_id"], lease_id, failed=True, locked_until=until, ghost=ghost
        )
        if until is not None and not ghost:
            log.warning("account locked after failed sign-ins", account_id=acc["_id"],
                        failures=failures)

    async def _ghost(self, raw: str) -> dict[str, Any]:
        """The failure record of an unknown email (only a digest of it is stored)."""
        key = "ghost|" + hashlib.sha256(normalise_email(raw).encode()).hexdigest()[:32]
        return await self.repo.ghost(key) or {"_id": key}

    async def _find_by_email(self, raw: str) -> dict[str, Any] | None:
        email = normalise_email(raw)
        if not is_valid_email(email):
            return None
        return await self.repo.by_email(email)  # type: ignore[no-any-return]

    # --- authenticated guardian ---------------------------------------------------

    async def authenticate(self, bearer: str | None) -> tuple[dict[str, Any], Claims]:
        """The active account behind a bearer token whose session has not ended."""
        if not bearer:
            raise Refusal(401, "session_invalid", headers={"WWW-Authenticate": "Bearer"})
        try:
            claims = self.tokens.verify(bearer)
        except InvalidSession:
            raise Refusal(401, "session_invalid",
                          headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from None
        acc = await self.repo.by_id(claims.account_id)
        if (
            acc is None or acc.get("status") != Status.ACTIVE
            or not session_is_current(claims.sid, int(acc.get("session_epoch", 0)))
        ):
            raise Refusal(401, "session_invalid",
                          headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return acc, claims

    async def update_profile(self, acc: dict[str, Any], cmd: UpdateProfile) -> dict[str, Any]:
        """Change profile fields (never the email); other services learn it from
        ``AccountProfileUpdated``."""
        fields = validate_profile_update(cmd, self.policy, acc["email"], acc.get("phones"))
        if not fields:
            return profile_view(acc)
        now = self.now()
        merged = {**acc, **fields}
        event = AccountProfileUpdated(
            account_id=acc["_id"], first_name=merged["first_name"], last_name=merged["last_name"],
            locale=merged["locale"], phones=phones_for_event(merged.get("phones")),
            notification_preferences=NotificationPreferences(
                **(merged.get("notification_preferences") or {})
            ),
            updated_at=now,
            **contact_for_event(merged),
        )
        if not await self.repo.update_profile(acc["_id"], fields, now, [event]):
            raise Refusal(401, "session_invalid")
        return profile_view({**merged, "updated_at": now})

    async def change_password(self, acc: dict[str, Any], cmd: ChangePassword) -> dict[str, str]:
        """Current + new password; other sessions end and a fresh token is returned."""
        now = self.now()
        await self._require_password(acc, cmd.current_password, "current_password", now)
        errors = password_errors(
            cmd.new_password, self.policy,
            user_inputs_for(acc["email"], acc.get("first_name", ""), acc.get("last_name", "")),
            name="new_password",
        )
        if cmd.new_password == cmd.current_password:
            errors.append(FieldError("new_password", "password_same_as_current"))
        if errors:
            raise ValidationFailed(errors)
        new_hash = await self.hasher.hash(cmd.new_password)
        epoch = int(acc.get("session_epoch", 0)) + 1
        event = PasswordChanged(
            account_id=acc["_id"], changed_at=now, via="change", email=acc["email"],
            locale=acc.get("locale", "en"), first_name=acc.get("first_name"),
        )
        if not await self.repo.change_password(
            acc["_id"], acc["password_hash"], new_hash, epoch, now, [event]
        ):
            raise Refusal(401, "session_invalid")
        log.info("password changed", account_id=acc["_id"])
        return self._issue(acc, epoch, now)

    async def replace_security_answers(
        self, acc: dict[str, Any], cmd: ReplaceSecurityAnswers
    ) -> dict[str, Any]:
        """New answers to the security questions, confirmed with the current password."""
        now = self.now()
        errors: list[FieldError] = []
        pairs = check_answers(cmd.security_answers, self.policy.security_questions, errors)
        if not errors and not pairs:
            errors.append(FieldError("security_answers", "security_questions_disabled"))
        if errors:
            raise ValidationFailed(errors)
        await self._require_password(acc, cmd.current_password, "current_password", now)
        answers_hash = await self.hasher.hash(answers_secret(pairs))
        ids = [qid for qid, _ in pairs]
        if not await self.repo.set_answers(acc["_id"], answers_hash, ids, now):
            raise Refusal(401, "session_invalid")
        return {"security_question_ids": ids}

    async def _require_password(
        self, acc: dict[str, Any], password: str, name: str, now: datetime
    ) -> None:
        async with self._attempt(acc, now) as attempt:
            attempt.failed = not await self.hasher.verify(acc.get("password_hash"), password)
        if attempt.failed:
            raise ValidationFailed([FieldError(name, "password_incorrect")])

    # --- password reset -----------------------------------------------------------

    async def request_reset(self, raw_email: str, remote_ip: str = "unknown") -> dict[str, str]:
        """A reset email for an existing account; the same answer otherwise, given
        before the lookup."""
        await self._limit_mail_request(raw_email, remote_ip)
        await self.after_answer(self._reset(raw_email))
        return ACCEPTED

    async def _reset(self, raw_email: str) -> None:
        acc = await self._find_by_email(raw_email)
        if acc is not None and acc["status"] != Status.DELETED:
            now = self.now()
            lifetime = timedelta(minutes=self.policy.tokens.reset_minutes)
            if self._recently_sent(acc.get("reset_tokens"), lifetime, now):
                log.info("reset email coalesced", account_id=acc["_id"])
                return
            token = new_token()
            expires = now + lifetime
            event = PasswordResetRequested(
                account_id=acc["_id"], email=acc["email"], locale=acc.get("locale", "en"),
                token=token, expires_at=expires, first_name=acc.get("first_name"),
            )
            await self.repo.add_reset_token(acc["_id"], hash_token(token), expires, [event], now)

    async def confirm_reset(self, cmd: ConfirmReset) -> dict[str, str]:
        """Set a new password with a reset token (and the security answers when the
        district requires them); every existing session ends."""
        now = self.now()
        token_hash = hash_token(cmd.token)
        acc = await self.repo.by_reset_token(token_hash)
        if acc is None or acc["status"] == Status.DELETED or not _token_valid(
            acc.get("reset_tokens"), token_hash, now
        ):
            raise Refusal(400, "token_invalid")
        errors = password_errors(
            cmd.new_password, self.policy,
            user_inputs_for(acc["email"], acc.get("first_name", ""), acc.get("last_name", "")),
            name="new_password",
        )
        questions = self.policy.security_questions
        check_answers_needed = (
            questions.required_for_reset and questions.count > 0 and acc.get("answers_hash")
        )
        pairs: list[tuple[str, str]] = []
        if check_answers_needed:
            if not cmd.security_answers:
                errors.append(FieldError("security_answers", "missing"))
            else:
                pairs = check_answers(cmd.security_answers, questions, errors)
        if errors:
            raise ValidationFailed(errors)
        if check_answers_needed:
            async with self._attempt(acc, now) as attempt:
                attempt.failed = not await self.hasher.verify(
                    acc["answers_hash"], answers_secret(pairs)
                )
            if attempt.failed:
                raise ValidationFailed(
                    [FieldError("security_answers", "security_answers_incorrect")]
                )
        new_hash = await self.hasher.hash(cmd.new_password)
        event = PasswordChanged(
            account_id=acc["_id"], changed_at=now, via="reset", email=acc["email"],
            locale=acc.get("locale", "en"), first_name=acc.get("first_name"),
        )
        if not await self.repo.reset_password(acc["_id"], token_hash, new_hash, now, [event]):
            raise Refusal(400, "token_invalid")
        log.info("password reset", account_id=acc["_id"])
        return {"status": "password_changed"}

    # --- lifecycle ----------------------------------------------------------------

    async def on_inactivity_timeout(self, envelope: Envelope) -> None:
        """Disable (stage ``disable``) or erase (stage ``delete``) an inactive account.

        Idempotent: the conditional update does nothing on redelivery, for an account in
        another state, or when the account was active after the event's
        ``last_activity_at``.
        """
        event = envelope.event
        assert isinstance(event, InactivityTimeout)
        acc = await self.repo.by_id(event.account_id)
        last = truncate_ms(event.last_activity_at)
        if acc is None or not inactivity_applies(acc.get("last_activity_at"), last):
            log.info("inactivity timeout ignored", account_id=event.account_id, stage=event.stage,
                     reason="unknown account" if acc is None else "active since")
            return
        now = self.now()
        if event.stage == "disable":
            done = await self.repo.disable(acc["_id"], last, now, [
                AccountDisabled(account_id=acc["_id"], reason="inactivity", at=now,
                                email=acc.get("email"), locale=acc.get("locale", "en"),
                                first_name=acc.get("first_name"))
            ])
        else:
            done = await self.repo.erase(acc["_id"], last, now, [
                AccountDeleted(account_id=acc["_id"], reason="inactivity", at=now)
            ])
            if done and acc.get("email"):
                await self.repo.release_email(acc["email"], acc["_id"])
        log.info("inactivity timeout", account_id=acc["_id"], stage=event.stage, applied=done)

    async def purge_unverified(self) -> int:
        """Erase accounts never verified within the policy period, in batches; each gets
        an ``AccountDeleted`` (reason ``unverified``) so linking and the scheduler forget
        it too. Returns how many were purged."""
        now = self.now()
        cutoff = now - timedelta(days=self.policy.tokens.unverified_purge_days)
        total = 0
        while True:
            ids = await self.repo.unverified_before(cutoff, PURGE_BATCH)
            if not ids:
                break
            batch = [(i, email, AccountDeleted(account_id=i, reason="unverified", at=now))
                     for i, email in ids]
            total += await self.repo.purge(batch, cutoff, now)
            if len(ids) < PURGE_BATCH:
                break
        await self.repo.forget_expired_addresses(now)
        if total:
            log.info("purged never-verified accounts", count=total)
        return total


def profile_view(acc: Mapping[str, Any]) -> dict[str, Any]:
    """The account as ``GET /v1/accounts/me`` shows it (never a hash or token)."""
    return {
        "account_id": acc["_id"],
        "email": acc["email"],
        "status": acc["status"],
        "first_name": acc.get("first_name"),
        "last_name": acc.get("last_name"),
        "locale": acc.get("locale"),
        "phones": acc.get("phones"),
        "secondary_email": acc.get("secondary_email"),
        "address": acc.get("address"),
        "notification_preferences": acc.get("notification_preferences")
        or NotificationPreferences().model_dump(),
        "security_question_ids": acc.get("security_question_ids", []),
        "created_at": _iso(acc.get("created_at")),
        "verified_at": _iso(acc.get("verified_at")),
        "updated_at": _iso(acc.get("updated_at")),
    }


def _token_valid(records: Any, token_hash: str, now: datetime) -> bool:
    for rec in records or []:
        if rec.get("h") == token_hash:
            exp = rec.get("exp")
            return bool(exp is not None and _aware(exp) > now)
    return False


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return _aware(moment).astimezone(UTC).isoformat().replace("+00:00", "Z")


async def _none() -> None:
    return None
