"""Guardian use cases: request a link (in person, activation code, legacy credentials),
list and withdraw."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from linking.domain import codes as code_rules
from linking.domain import legacy as legacy_rules
from linking.domain.errors import (
    AccountUnavailable,
    ActivationCodeInvalid,
    ConcurrentUpdate,
    LinkNotFound,
    LinkNotPending,
    LinkRevokedConflict,
    MethodDisabled,
    StudentNotMatched,
)
from linking.domain.guardians import GuardianIdentity
from linking.domain.matching import ClaimDetails, details_match, id_key
from linking.domain.model import (
    SYSTEM_LEGACY_CREDENTIALS,
    Link,
    LinkMethod,
    LinkStatus,
    new_link_id,
)
from linking.handlers.deps import Deps
from linking.handlers.events import approval_events, link_requested, link_withdrawn
from linking.handlers.steps import (
    Attempt,
    apply_transition,
    contact_since_approval,
    load_link,
    release_held_approvals,
    reserved_attempt,
)
from linking.ports import (
    ActivationCode,
    RosterEntry,
)
from shared.contracts.events import (
    Event,
)
from shared.runtime.logs import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class RequestLink:
    """``POST /v1/links``: a guardian claims a student."""

    school_id: str
    student_id: str
    student_last_name: str
    student_first_name: str | None = None
    student_birth_date: date | None = None
    activation_code: str | None = None
    legacy_username: str | None = None
    legacy_password: str | None = None

    @property
    def method(self) -> LinkMethod:
        if self.activation_code:
            return LinkMethod.ACTIVATION_CODE
        if self.legacy_username:
            return LinkMethod.LEGACY_CREDENTIALS
        return LinkMethod.IN_PERSON

    def details(self) -> ClaimDetails:
        return ClaimDetails(
            last_name=self.student_last_name,
            first_name=self.student_first_name,
            birth_date=self.student_birth_date,
        )


async def request_link(deps: Deps, guardian: GuardianIdentity, cmd: RequestLink) -> Link:
    """Match the student, then create a pending request (in person, or wrong legacy
    credentials) or approve at once (activation code, legacy credentials)."""
    now = deps.clock()
    method = cmd.method
    if method not in deps.policy.links.methods:
        raise MethodDisabled()
    projection = await deps.guardians.remember(guardian)
    if projection is None or projection.deleted:
        raise AccountUnavailable()
    account_id = guardian.account_id
    async with reserved_attempt(deps, account_id, now) as attempt:
        return await _request_link(deps, cmd, account_id, projection, attempt, now)


async def _request_link(
    deps: Deps,
    cmd: RequestLink,
    account_id: str,
    projection: Any,
    attempt: Attempt,
    now: datetime,
) -> Link:
    method = cmd.method
    entry = await deps.roster.get(cmd.school_id, cmd.student_id)
    matched = details_match(
        last_name_key=entry.last_name_key if entry else "\x00",
        first_name_key=entry.first_name_key if entry else "\x00",
        birth_date=entry.birth_date if entry else None,
        claim=cmd.details(),
        required_fields=deps.policy.links.required_student_fields,
    )
    if entry is None or not entry.active or not matched:
        log.info("link.match_failed", account_id=account_id, method=str(method))
        if method == LinkMethod.ACTIVATION_CODE:
            # The same answer as a wrong code: a junk code must not tell whether the
            # student details match.
            raise ActivationCodeInvalid()
        raise StudentNotMatched()

    existing = await deps.links.find_live(account_id, entry.school_id, entry.student_id)
    if existing is not None and existing.status == LinkStatus.REVOKED:
        raise LinkRevokedConflict()
    if existing is not None and existing.status == LinkStatus.APPROVED:
        return existing

    authorised_by = await _authorisation(deps, cmd, entry, account_id, attempt, now)
    if existing is not None:  # pending: credentials may approve it now
        if authorised_by is None:
            return existing
        return await _approve_existing(deps, existing, authorised_by, method, now)

    if authorised_by is not None:
        link = Link.approved_at_once(
            link_id=new_link_id(),
            account_id=account_id,
            school_id=entry.school_id,
            student_id=entry.student_id,
            method=method,
            at=now,
            by=authorised_by,
            guardian_verified=projection.can_receive_approvals,
            student_first_name=entry.first_name,
            student_last_name=entry.last_name,
        )
        events = approval_events(link, projection, now)
    else:
        link = Link.request(
            link_id=new_link_id(),
            account_id=account_id,
            school_id=entry.school_id,
            student_id=entry.student_id,
            requested_at=now,
            deadline_days=deps.policy.links.deadline_days,
            tz=deps.policy.tz,
            student_first_name=entry.first_name,
            student_last_name=entry.last_name,
            by=account_id,
            attempted_method=method,
        )
        events = [link_requested(link, projection)]
    if await deps.links.add(link, events):
        log.info(
            "link.requested",
            link_id=link.link_id,
            account_id=account_id,
            school_id=link.school_id,
            status=str(link.status),
            method=str(link.method),
            held=link.held or None,
        )
        if link.held:
            await release_held_approvals(deps, account_id)
            return await deps.links.get(link.link_id) or link
        await contact_since_approval(deps, link)
        return link
    # Lost a race with a concurrent request for the same student.
    existing = await deps.links.find_live(account_id, entry.school_id, entry.student_id)
    if existing is None:
        raise ConcurrentUpdate()
    if authorised_by is not None and existing.status == LinkStatus.PENDING:
        return await _approve_existing(deps, existing, authorised_by, method, now)
    return existing


async def _authorisation(
    deps: Deps,
    cmd: RequestLink,
    entry: RosterEntry,
    account_id: str,
    attempt: Attempt,
    now: datetime,
) -> str | None:
    """Who authorises an immediate approval (the code's issuer, or the legacy portal);
    None for an in-person request or wrong legacy credentials, and for a student under
    restriction after a revocation (staff review every request; no code is consumed and
    no password is checked)."""
    if cmd.method != LinkMethod.IN_PERSON and await deps.restrictions.get(
        id_key(entry.school_id), id_key(entry.student_id)
    ):
        log.info("link.restricted_student", account_id=account_id, method=str(cmd.method))
        return None
    if cmd.method == LinkMethod.ACTIVATION_CODE:
        assert cmd.activation_code is not None
        code: ActivationCode | None = None
        if code_rules.looks_like_code(cmd.activation_code):
            code = await deps.codes.consume(
                code_rules.hash_code(cmd.activation_code),
                account_id=account_id,
                school_id=entry.school_id,
                student_id=entry.student_id,
                at=now,
            )
        if code is None:
            log.info("link.activation_code_rejected", account_id=account_id)
            raise ActivationCodeInvalid()
        log.info("activation_code.used", code_id=code.code_id, account_id=account_id)
        return code.issued_by
    if cmd.method == LinkMethod.LEGACY_CREDENTIALS:
        assert cmd.legacy_username is not None
        ok = await _legacy_credentials_ok(
            deps, cmd.legacy_username, cmd.legacy_password or "", entry
        )
        if ok and await deps.legacy.claim_use(
            legacy_rules.username_key(cmd.legacy_username),
            entry.school_id,
            entry.student_id,
            account_id,
            now,
        ):
            return SYSTEM_LEGACY_CREDENTIALS
        if ok:  # right, but another account already used them for this student
            log.warning("link.legacy_credentials_reused", account_id=account_id)
            return None
        attempt.failed = True  # the request goes on as an in-person one
        log.info("link.legacy_credentials_rejected", account_id=account_id)
    return None


async def _legacy_credentials_ok(
    deps: Deps, username: str, password: str, entry: RosterEntry
) -> bool:
    credential = await deps.legacy.get(legacy_rules.username_key(username))
    if credential is None:
        # As costly as a real check: against a hash imported with the real ones (the
        # same scheme and rounds), so timing does not tell which usernames exist.
        reference = await deps.legacy.reference_hash()
        if reference is None:
            await asyncio.to_thread(legacy_rules.verify_against_dummy, password)
        else:
            await asyncio.to_thread(legacy_rules.verify_password, password, reference)
        return False
    ok = await asyncio.to_thread(legacy_rules.verify_password, password, credential.password_hash)
    return ok and (id_key(entry.school_id), id_key(entry.student_id)) in credential.students


async def _approve_existing(
    deps: Deps, link: Link, by: str, method: LinkMethod, now: datetime
) -> Link:
    guardian = await deps.guardians.get(link.account_id)
    verified = bool(guardian and guardian.can_receive_approvals)

    def approve(current: Link) -> list[Event]:
        current.approve(by=by, at=now, guardian_verified=verified, method=method)
        return approval_events(current, guardian, now)

    try:
        link = await apply_transition(deps, link, approve)
    except LinkNotPending:
        return await load_link(deps, link.link_id)
    if link.held:
        await release_held_approvals(deps, link.account_id)
        return await load_link(deps, link.link_id)
    await contact_since_approval(deps, link)
    return link


async def list_links(deps: Deps, guardian: GuardianIdentity) -> list[Link]:
    """The guardian's own links, newest first."""
    return await deps.links.for_account(guardian.account_id)


async def withdraw_link(deps: Deps, guardian: GuardianIdentity, link_id: str) -> Link:
    """The guardian withdraws one of their pending requests."""
    link = await deps.links.get(link_id)
    if link is None or link.account_id != guardian.account_id:
        raise LinkNotFound()
    projection = await deps.guardians.get(guardian.account_id)
    now = deps.clock()

    def withdraw(current: Link) -> list[Event]:
        current.withdraw(by=guardian.account_id, reason="guardian", at=now)
        return [link_withdrawn(current, projection)]

    link = await apply_transition(deps, link, withdraw)
    log.info("link.withdrawn", link_id=link_id, account_id=guardian.account_id)
    return link
