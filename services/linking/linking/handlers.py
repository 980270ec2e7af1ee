"""Use cases of the linking service: one function per command or consumed event.

Every function takes the message and a :class:`Deps` bundle of ports. A state change and
the events it causes are written together by the repository (transactional outbox in
the link document); ``deps.wake()`` then tells the relay to publish. Consumed events are
handled idempotently: transitions are guarded by the link's state and version, links
created from claims have deterministic ids, and failed-attempt records are keyed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

from linking.domain import codes as code_rules
from linking.domain import legacy as legacy_rules
from linking.domain.errors import (
    AccountUnavailable,
    ActivationCodeInvalid,
    ActivationCodeNotFound,
    ActivationCodeUsed,
    AttemptInProgress,
    ConcurrentUpdate,
    Forbidden,
    LinkingError,
    LinkNotFound,
    LinkNotPending,
    LinkRevokedConflict,
    MethodDisabled,
    RosterFileInvalid,
    StudentNotFound,
    StudentNotMatched,
    TooManyAttempts,
)
from linking.domain.guardians import Guardian, GuardianIdentity
from linking.domain.matching import ClaimDetails, details_match, id_key, name_key
from linking.domain.model import (
    SYSTEM_ACCOUNT_DELETED,
    SYSTEM_LEGACY_CREDENTIALS,
    Link,
    LinkMethod,
    LinkStatus,
    claim_link_id,
    new_link_id,
)
from linking.domain.roster import (
    ImportPlan,
    RosterBundle,
    StoredStudent,
    batches,
    parse_bundle,
    plan_import,
)
from linking.domain.staff import StaffIdentity
from linking.ports import (
    ActivationCode,
    ActivationCodeRepository,
    AttemptCounter,
    GuardianRepository,
    LegacyCredentialRepository,
    LinkRepository,
    QueueFilter,
    RestrictionRepository,
    RosterEntry,
    RosterRepository,
    StudentRestriction,
)
from shared.contracts.envelope import Envelope
from shared.contracts.events import (
    AccountCreated,
    AccountDeleted,
    AccountDisabled,
    AccountProfileUpdated,
    EmailVerified,
    Event,
    GuardianContactUpdated,
    LinkApproved,
    LinkDenied,
    LinkExpired,
    LinkRequested,
    LinkRevoked,
    LinkWithdrawn,
    PasswordChanged,
    StudentRef,
)
from shared.deadlines import end_of_day, local_date
from shared.runtime.logs import get_logger
from shared.runtime.policy import DistrictPolicy

log = get_logger(__name__)

#: How often a transition is retried when the link changed under it.
MAX_TRANSITION_ATTEMPTS = 3


def utcnow() -> datetime:
    """The current time (UTC, aware), to the millisecond (what MongoDB stores)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@dataclass
class Deps:
    """The ports and settings every use case needs (wired in ``app.py``)."""

    links: LinkRepository
    roster: RosterRepository
    guardians: GuardianRepository
    codes: ActivationCodeRepository
    legacy: LegacyCredentialRepository
    attempts: AttemptCounter
    restrictions: RestrictionRepository
    policy: DistrictPolicy
    clock: Callable[[], datetime] = utcnow
    wake: Callable[[], None] = lambda: None
    roster_batch_size: int = 1000


class InvalidCursor(LinkingError):
    code = "invalid-cursor"
    status = 422


# --- commands -------------------------------------------------------------------------


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


# --- events ---------------------------------------------------------------------------


def _recipient(guardian: Guardian | None) -> dict[str, Any]:
    if guardian is None or guardian.deleted:
        return {"guardian_email": None, "guardian_name": None, "locale": "en"}
    return {
        "guardian_email": guardian.email,
        "guardian_name": guardian.name or None,
        "locale": guardian.locale or "en",
    }


def link_requested(link: Link, guardian: Guardian | None) -> LinkRequested:
    """The event of a new pending request."""
    assert link.expires_at is not None
    return LinkRequested(
        link_id=link.link_id,
        account_id=link.account_id,
        school_id=link.school_id,
        student_id=link.student_id,
        method=str(link.method),  # type: ignore[arg-type]
        requested_at=link.requested_at,
        expires_at=link.expires_at,
        **_recipient(guardian),
    )


def link_approved(link: Link, guardian: Guardian) -> LinkApproved:
    """The event the SIS grants access on: guardian contact and student."""
    assert link.approved_at is not None and link.approved_by is not None
    return LinkApproved(
        link_id=link.link_id,
        account_id=link.account_id,
        guardian=guardian.contact(),
        student=StudentRef(
            student_id=link.student_id,
            school_id=link.school_id,
            first_name=link.student_first_name,
            last_name=link.student_last_name,
        ),
        method=str(link.method),  # type: ignore[arg-type]
        approved_by=link.approved_by,
        approved_at=link.approved_at,
        id_document_type=link.id_document_type,
        locale=guardian.locale or "en",
    )


def guardian_contact_updated(
    link: Link, guardian: Guardian, changed: Sequence[str], updated_at: datetime
) -> GuardianContactUpdated:
    """The event that keeps the SIS's copy of a linked guardian's contact current."""
    return GuardianContactUpdated(
        link_id=link.link_id,
        account_id=link.account_id,
        student_id=link.student_id,
        school_id=link.school_id,
        guardian=guardian.contact(),
        changed=list(changed),
        updated_at=updated_at,
        locale=guardian.locale or "en",
    )


def link_denied(link: Link, guardian: Guardian | None) -> LinkDenied:
    assert link.decided_at is not None
    return LinkDenied(
        link_id=link.link_id,
        account_id=link.account_id,
        student_id=link.student_id,
        school_id=link.school_id,
        reason=link.reason or "",
        denied_by=link.decided_by or "",
        denied_at=link.decided_at,
        **_recipient(guardian),
    )


def link_revoked(link: Link, guardian: Guardian | None) -> LinkRevoked:
    assert link.decided_at is not None
    return LinkRevoked(
        link_id=link.link_id,
        account_id=link.account_id,
        student_id=link.student_id,
        school_id=link.school_id,
        reason=link.reason or "",
        revoked_at=link.decided_at,
        revoked_by=link.decided_by,
        **_recipient(guardian),
    )


def link_withdrawn(link: Link, guardian: Guardian | None) -> LinkWithdrawn:
    assert link.decided_at is not None
    return LinkWithdrawn(
        link_id=link.link_id,
        account_id=link.account_id,
        student_id=link.student_id,
        school_id=link.school_id,
        reason=link.reason or "",
        withdrawn_at=link.decided_at,
        **_recipient(guardian),
    )


def _approval_events(link: Link, guardian: Guardian | None, now: datetime) -> list[Event]:
    """``LinkApproved`` now if the guardian is verified; nothing while the approval is
    held."""
    if link.status != LinkStatus.APPROVED or link.held or guardian is None:
        return []
    link.mark_announced(now)
    link.contact_digest = guardian.contact_digest()
    return [link_approved(link, guardian)]


# --- shared steps ---------------------------------------------------------------------


async def _apply(deps: Deps, link: Link, mutate: Callable[[Link], Sequence[Event]]) -> Link:
    """Apply ``mutate`` (a guarded transition returning its events) and write it; reload
    and retry if the link changed meanwhile. ``LinkNotPending`` propagates."""
    for _ in range(MAX_TRANSITION_ATTEMPTS):
        version = link.version
        events = list(mutate(link))
        if link.version == version:
            return link  # nothing changed (e.g. nothing held any more)
        if await deps.links.save(link, version, events):
            if events:
                deps.wake()
            return link
        reloaded = await deps.links.get(link.link_id)
        if reloaded is None:
            raise LinkNotFound()
        link = reloaded
    raise ConcurrentUpdate()


def _day(now: datetime) -> str:
    return now.astimezone(UTC).date().isoformat()


def _next_midnight(now: datetime) -> datetime:
    start = datetime.combine(now.astimezone(UTC).date(), datetime.min.time(), tzinfo=UTC)
    return start + timedelta(days=1)


#: How long a link attempt holds its account's lease if the pod checking it dies.
ATTEMPT_LEASE_SECONDS = 30


@dataclass
class _Attempt:
    """A reserved link attempt: ``failed`` keeps its reservation as a failure."""

    failed: bool = False


@asynccontextmanager
async def _reserved_attempt(deps: Deps, account_id: str, now: datetime) -> AsyncIterator[_Attempt]:
    """Reserve, then decide: one attempt per account at a time (a lease), counted as a
    failure before the student details, the code or the legacy password are checked, so
    no burst checks more than the daily limit. The count is given back unless the body
    marks the attempt failed."""
    lease_id = uuid.uuid4().hex
    lease_until = now + timedelta(seconds=ATTEMPT_LEASE_SECONDS)
    if not await deps.attempts.acquire_lease(account_id, lease_id, now, lease_until):
        raise AttemptInProgress()
    try:
        limit = deps.policy.links.max_failed_matches_per_day
        key = uuid.uuid4().hex
        expire_at = _next_midnight(now) + timedelta(days=1)
        if not await deps.attempts.reserve(account_id, _day(now), key, expire_at, limit):
            retry = max(1, int((_next_midnight(now) - now).total_seconds()))
            log.warning("security.link_attempts_exceeded", account_id=account_id, limit=limit)
            raise TooManyAttempts(retry)
        attempt = _Attempt()
        try:
            yield attempt
        except (StudentNotMatched, ActivationCodeInvalid):
            attempt.failed = True
            raise
        finally:
            if not attempt.failed:
                await deps.attempts.release(account_id, _day(now), key)
    finally:
        await deps.attempts.release_lease(account_id, lease_id)


async def _record_failure(
    deps: Deps, account_id: str, now: datetime, key: str | None = None
) -> None:
    await deps.attempts.record(
        account_id,
        _day(now),
        key or uuid.uuid4().hex,
        expire_at=_next_midnight(now) + timedelta(days=1),
    )


def _authorise(staff: StaffIdentity, school_id: str, action: str, **context: Any) -> None:
    """Refuse (403) and log a security event when ``staff`` may not act for the school."""
    if staff.can_act_for(school_id):
        return
    log.warning(
        "security.forbidden",
        staff_id=staff.staff_id,
        role=staff.role,
        school_id=school_id,
        action=action,
        **context,
    )
    raise Forbidden("you do not act for this school")


def require_district_admin(staff: StaffIdentity, action: str) -> None:
    """Refuse (403, security event) unless ``staff`` is a district admin."""
    if staff.is_district_admin:
        return
    log.warning("security.forbidden", staff_id=staff.staff_id, role=staff.role, action=action)
    raise Forbidden("this action needs the district_admin role")


async def _load(deps: Deps, link_id: str) -> Link:
    link = await deps.links.get(link_id)
    if link is None:
        raise LinkNotFound()
    return link


async def _load_with_guardian(deps: Deps, link_id: str) -> tuple[Link, Guardian | None]:
    found = await deps.links.get_with_guardian(link_id)
    if found is None:
        raise LinkNotFound()
    return found


async def release_held_approvals(deps: Deps, account_id: str) -> int:
    """Publish ``LinkApproved`` for every held approval of a now verified guardian."""
    guardian = await deps.guardians.get(account_id)
    if guardian is None or not guardian.can_receive_approvals:
        return 0
    released = 0
    for link in await deps.links.held_for(account_id):
        now = deps.clock()

        def release(current: Link, now: datetime = now) -> list[Event]:
            if not current.release(now):
                return []
            current.contact_digest = guardian.contact_digest()
            return [link_approved(current, guardian)]

        await _apply(deps, link, release)
        released += 1
    if released:
        log.info("link.approvals_released", account_id=account_id, count=released)
        await announce_contact_change(deps, account_id)
    return released


async def announce_contact_change(deps: Deps, account_id: str) -> int:
    """Tell the SIS of a change of the guardian's contact block: one
    ``GuardianContactUpdated`` per announced approved link whose last announced contact
    differs from the current one (each through that link's outbox, guarded by its
    version). Idempotent: a redelivered event finds every link up to date and publishes
    nothing; after a crash half-way it completes the links not yet written. Returns the
    number of events published."""
    guardian = await deps.guardians.get(account_id)
    if guardian is None or not guardian.can_receive_approvals:
        return 0
    digest = guardian.contact_digest()
    published = 0
    for link in await deps.links.for_account(account_id, statuses=[LinkStatus.APPROVED]):
        if not link.announced or link.contact_digest == digest:
            continue
        now = deps.clock()
        updated_at = guardian.contact_updated_at or now

        def update(
            current: Link, now: datetime = now, updated_at: datetime = updated_at
        ) -> list[Event]:
            changed = current.update_contact(digest, now)
            if not changed:
                return []
            return [guardian_contact_updated(current, guardian, changed, updated_at)]

        before = link.version
        try:
            saved = await _apply(deps, link, update)
        except LinkNotPending:
            continue
        if saved.version != before:
            published += 1
    if published:
        log.info("guardian.contact_announced", account_id=account_id, links=published)
    return published


async def _contact_since_approval(deps: Deps, link: Link) -> None:
    """After announcing an approval: if the guardian's contact changed while it was being
    decided (read before, written after the profile consumer looked for approved links),
    tell the SIS now rather than at the next change."""
    if link.announced:
        await announce_contact_change(deps, link.account_id)


# --- guardian use cases ---------------------------------------------------------------


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
    async with _reserved_attempt(deps, account_id, now) as attempt:
        return await _request_link(deps, cmd, account_id, projection, attempt, now)


async def _request_link(
    deps: Deps,
    cmd: RequestLink,
    account_id: str,
    projection: Any,
    attempt: _Attempt,
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
        events = _approval_events(link, projection, now)
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
        deps.wake()
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
        await _contact_since_approval(deps, link)
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
    attempt: _Attempt,
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
        return _approval_events(current, guardian, now)

    try:
        link = await _apply(deps, link, approve)
    except LinkNotPending:
        return await _load(deps, link.link_id)
    if link.held:
        await release_held_approvals(deps, link.account_id)
        return await _load(deps, link.link_id)
    await _contact_since_approval(deps, link)
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

    link = await _apply(deps, link, withdraw)
    log.info("link.withdrawn", link_id=link_id, account_id=guardian.account_id)
    return link


# --- staff use cases ------------------------------------------------------------------


class StaffDecision(NamedTuple):
    """A decided link and its guardian (for the answer, without another read)."""

    link: Link
    guardian: Guardian | None


@dataclass
class QueueItem:
    link: Link
    guardian: Guardian | None
    days_left: int | None
    restriction: StudentRestriction | None = None


@dataclass
class QueuePage:
    items: list[QueueItem] = field(default_factory=list)
    next_cursor: str | None = None


def encode_cursor(link: Link) -> str:
    raw = json.dumps([link.requested_at.isoformat(), link.link_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, link_id = json.loads(raw)
        when = datetime.fromisoformat(at)
        if when.tzinfo is None or not isinstance(link_id, str):
            raise ValueError
        return when, link_id
    except (ValueError, TypeError, json.JSONDecodeError):
        raise InvalidCursor("the cursor is not one this service returned") from None


@dataclass(frozen=True)
class QueueQuery:
    """What staff narrow a queue with: a method, at most so many days left (pending
    requests), a search by student ID, guardian email or student last name."""

    method: LinkMethod | None = None
    max_days_left: int | None = None
    search: str | None = None


async def _queue_filter(deps: Deps, query: QueueQuery) -> QueueFilter | None:
    if query == QueueQuery():
        return None
    expires_by = None
    if query.max_days_left is not None:
        today = local_date(deps.clock(), deps.policy.tz)
        expires_by = end_of_day(today + timedelta(days=query.max_days_left), deps.policy.tz)
    student_key = last_name_key = None
    account_ids: tuple[str, ...] = ()
    text = (query.search or "").strip()
    if "@" in text:
        guardian = await deps.guardians.find_by_email(text.lower())
        # an unknown email matches nothing (the search then finds no row)
        account_ids = (guardian.account_id,) if guardian else ("",)
    elif text:
        student_key = id_key(text)
        last_name_key = name_key(text) or None
    return QueueFilter(
        method=str(query.method) if query.method else None,
        expires_by=expires_by,
        student_key=student_key,
        account_ids=account_ids,
        last_name_key=last_name_key,
    )


async def school_queue(
    deps: Deps,
    staff: StaffIdentity,
    school_id: str,
    status: LinkStatus = LinkStatus.PENDING,
    cursor: str | None = None,
    limit: int = 50,
    query: QueueQuery | None = None,
) -> QueuePage:
    """A school's requests in one status, oldest first, with days left and the guardian,
    narrowed by ``query``."""
    _authorise(staff, school_id, "list_link_requests")
    after = decode_cursor(cursor) if cursor else None
    narrow = await _queue_filter(deps, query or QueueQuery())
    links = await deps.links.queue(id_key(school_id), status, after, limit + 1, narrow)
    more = len(links) > limit
    links = links[:limit]
    guardians = await deps.guardians.get_many({link.account_id for link in links})
    restrictions = await deps.restrictions.get_many(
        {(id_key(link.school_id), id_key(link.student_id)) for link in links}
    )
    now = deps.clock()
    page = QueuePage(
        items=[
            QueueItem(
                link,
                guardians.get(link.account_id),
                link.days_left(now, deps.policy.tz),
                restrictions.get((id_key(link.school_id), id_key(link.student_id))),
            )
            for link in links
        ]
    )
    if more and links:
        page.next_cursor = encode_cursor(links[-1])
    return page


async def student_links(
    deps: Deps, staff: StaffIdentity, school_id: str, student_id: str
) -> list[QueueItem]:
    """Every guardian linked to or asking for one student, with each link's history."""
    _authorise(staff, school_id, "list_student_links", student_id=student_id)
    links = await deps.links.for_student(id_key(school_id), id_key(student_id))
    guardians = await deps.guardians.get_many({link.account_id for link in links})
    now = deps.clock()
    return [
        QueueItem(link, guardians.get(link.account_id), link.days_left(now, deps.policy.tz))
        for link in links
    ]


async def approve_link(
    deps: Deps,
    staff: StaffIdentity,
    link_id: str,
    *,
    id_document_type: str,
    note: str | None = None,
) -> StaffDecision:
    """Staff approve a pending request after checking the guardian's photo ID."""
    link, guardian = await _load_with_guardian(deps, link_id)
    _authorise(staff, link.school_id, "approve", link_id=link_id)
    verified = bool(guardian and guardian.can_receive_approvals)
    now = deps.clock()

    def approve(current: Link) -> list[Event]:
        current.approve(
            by=staff.staff_id,
            at=now,
            guardian_verified=verified,
            id_document_type=id_document_type,
            note=note,
        )
        return _approval_events(current, guardian, now)

    link = await _apply(deps, link, approve)
    log.info(
        "link.approved",
        link_id=link_id,
        staff_id=staff.staff_id,
        school_id=link.school_id,
        held=link.held or None,
    )
    if link.held:
        await release_held_approvals(deps, link.account_id)
        return StaffDecision(await _load(deps, link_id), guardian)
    await _contact_since_approval(deps, link)
    return StaffDecision(link, guardian)


async def deny_link(
    deps: Deps, staff: StaffIdentity, link_id: str, *, reason: str
) -> StaffDecision:
    """Staff deny a pending request with a reason."""
    link, guardian = await _load_with_guardian(deps, link_id)
    _authorise(staff, link.school_id, "deny", link_id=link_id)
    now = deps.clock()

    def deny(current: Link) -> list[Event]:
        current.deny(by=staff.staff_id, reason=reason, at=now)
        return [link_denied(current, guardian)]

    link = await _apply(deps, link, deny)
    log.info("link.denied", link_id=link_id, staff_id=staff.staff_id, school_id=link.school_id)
    return StaffDecision(link, guardian)


async def revoke_link(
    deps: Deps, staff: StaffIdentity, link_id: str, *, reason: str
) -> StaffDecision:
    """Staff (or a district admin) revoke an approved link, e.g. a custody restriction."""
    link, guardian = await _load_with_guardian(deps, link_id)
    _authorise(staff, link.school_id, "revoke", link_id=link_id)
    now = deps.clock()

    def revoke(current: Link) -> list[Event]:
        current.revoke(by=staff.staff_id, reason=reason, at=now)
        return [link_revoked(current, guardian)]

    link = await _apply(deps, link, revoke)
    log.info("link.revoked", link_id=link_id, staff_id=staff.staff_id, school_id=link.school_id)
    await restrict_student(deps, link, by=staff.staff_id, at=now)
    return StaffDecision(link, guardian)


async def restrict_student(deps: Deps, link: Link, *, by: str, at: datetime) -> None:
    """After a revocation, no instant approval for the student: codes and legacy
    credentials go to staff review until the school lifts the restriction, and the
    student's unused codes are revoked (a revoked custody cannot come back through a
    second account)."""
    await deps.restrictions.restrict(
        id_key(link.school_id), id_key(link.student_id), by=by, at=at, link_id=link.link_id
    )
    revoked = await deps.codes.revoke_unused_for_student(
        link.school_id, link.student_id, by=by, at=at
    )
    log.warning(
        "security.student_restricted",
        link_id=link.link_id,
        school_id=link.school_id,
        codes_revoked=revoked,
    )


async def lift_restriction(
    deps: Deps, staff: StaffIdentity, school_id: str, student_id: str
) -> bool:
    """Staff of the school end a student's restriction; False if there was none."""
    _authorise(staff, school_id, "lift_restriction", student_id=student_id)
    lifted = await deps.restrictions.lift(id_key(school_id), id_key(student_id))
    log.info("restriction.lifted", school_id=school_id, staff_id=staff.staff_id, lifted=lifted)
    return lifted


async def issue_activation_code(
    deps: Deps,
    staff: StaffIdentity,
    school_id: str,
    student_id: str,
    *,
    expires_in_days: int | None = None,
    note: str | None = None,
) -> tuple[str, ActivationCode]:
    """Issue a single-use code for one guardian of one student; the code is returned
    once and only its hash is stored."""
    _authorise(staff, school_id, "issue_activation_code", student_id=student_id)
    if LinkMethod.ACTIVATION_CODE not in deps.policy.links.methods:
        raise MethodDisabled()
    entry = await deps.roster.get(school_id, student_id)
    if entry is None or not entry.active:
        raise StudentNotFound()
    now = deps.clock()
    days = expires_in_days or deps.policy.links.activation_code_days
    code = code_rules.generate_code()
    record = ActivationCode(
        code_id=uuid.uuid4().hex,
        school_id=entry.school_id,
        student_id=entry.student_id,
        issued_by=staff.staff_id,
        issued_at=now,
        expires_at=now + timedelta(days=days),
        note=note,
    )
    await deps.codes.add(record, code_rules.hash_code(code))
    log.info(
        "activation_code.issued",
        code_id=record.code_id,
        school_id=record.school_id,
        staff_id=staff.staff_id,
    )
    return code, record


async def revoke_activation_code(
    deps: Deps, staff: StaffIdentity, school_id: str, student_id: str, code_id: str
) -> ActivationCode:
    """Revoke an unused code."""
    _authorise(staff, school_id, "revoke_activation_code", code_id=code_id)
    entry = await deps.roster.get(school_id, student_id)
    if entry is None:
        raise ActivationCodeNotFound()
    result = await deps.codes.revoke(
        code_id,
        school_id=entry.school_id,
        student_id=entry.student_id,
        by=staff.staff_id,
        at=deps.clock(),
    )
    if result is None:
        raise ActivationCodeNotFound()
    if result.revoked_at is None and result.used_at is not None:
        raise ActivationCodeUsed()
    log.info("activation_code.revoked", code_id=code_id, staff_id=staff.staff_id)
    return result


async def list_activation_codes(
    deps: Deps, staff: StaffIdentity, school_id: str, student_id: str
) -> list[ActivationCode]:
    """The codes issued for a student (never the codes themselves)."""
    _authorise(staff, school_id, "list_activation_codes", student_id=student_id)
    entry = await deps.roster.get(school_id, student_id)
    if entry is None:
        raise StudentNotFound()
    return await deps.codes.for_student(entry.school_id, entry.student_id)


# --- roster and legacy imports --------------------------------------------------------

Progress = Callable[[str, int, int], None]


@dataclass
class ImportSummary:
    """What an import did (the answer of ``POST /v1/roster/imports``)."""

    import_id: str
    mode: str
    schools: int
    students_in_file: int
    created: int
    updated: int
    unchanged: int
    withdrawn: int
    rejected: int
    rejections: list[dict[str, Any]]
    started_at: datetime
    finished_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "import_id": self.import_id,
            "mode": self.mode,
            "schools": self.schools,
            "students_in_file": self.students_in_file,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "withdrawn": self.withdrawn,
            "rejected": self.rejected,
            "rejections": self.rejections,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "seconds": round((self.finished_at - self.started_at).total_seconds(), 3),
        }


async def _existing_for(deps: Deps, bundle: RosterBundle) -> dict[str, StoredStudent]:
    if bundle.mode == "bulk":
        return await deps.roster.existing_in_schools(bundle.scope_school_keys)
    existing: dict[str, StoredStudent] = {}
    ids = [s.doc_id for s in bundle.students] + sorted(bundle.withdraw_doc_ids)
    for batch in batches(ids, deps.roster_batch_size):
        existing.update(await deps.roster.existing_by_ids(batch))
    if bundle.withdraw_sourced_ids:
        existing.update(await deps.roster.existing_by_sourced_ids(bundle.withdraw_sourced_ids))
    return existing


async def import_roster(
    deps: Deps, data: bytes, *, started_by: str, progress: Progress | None = None
) -> ImportSummary:
    """Import a OneRoster 1.1 CSV bundle: create and update students, withdraw those a
    bulk import no longer lists, reject bad rows. A bad file raises
    :class:`RosterFileInvalid` before anything is written."""
    started = deps.clock()
    import_id = uuid.uuid4().hex
    report = progress or (lambda stage, done, total: None)
    report("parsing", 0, 0)
    bundle = await asyncio.to_thread(parse_bundle, data)
    if not bundle.students and bundle.mode == "bulk":
        raise RosterFileInvalid(
            "the bundle has no valid student rows; nothing was imported "
            f"({bundle.rejected_count} rows rejected)",
            rejections=[r.as_dict() for r in bundle.rejections[:100]],
        )
    existing = await _existing_for(deps, bundle)
    plan: ImportPlan = plan_import(bundle, existing)
    total = len(plan.create) + len(plan.update)
    done = 0
    report("writing", 0, total)
    # Two bulk writes in flight: the database works while the next batch is sent.
    in_flight = asyncio.Semaphore(2)

    async def write(batch: list[Any], new: bool) -> None:
        nonlocal done
        async with in_flight:
            if new:
                await deps.roster.insert_new(batch, import_id, deps.clock())
            else:
                await deps.roster.upsert(batch, import_id, deps.clock())
            done += len(batch)
            report("writing", done, total)

    await asyncio.gather(
        *(write(b, True) for b in batches(plan.create, deps.roster_batch_size)),
        *(write(b, False) for b in batches(plan.update, deps.roster_batch_size)),
    )
    withdrawn = 0
    for batch in batches(plan.withdraw, deps.roster_batch_size):
        withdrawn += await deps.roster.withdraw(batch, import_id, deps.clock())
        report("withdrawing", withdrawn, len(plan.withdraw))
    summary = ImportSummary(
        import_id=import_id,
        mode=bundle.mode,
        schools=len(bundle.scope_school_keys),
        students_in_file=len(bundle.students),
        created=len(plan.create),
        updated=len(plan.update),
        unchanged=plan.unchanged,
        withdrawn=withdrawn,
        rejected=bundle.rejected_count,
        rejections=[r.as_dict() for r in bundle.rejections[:1000]],
        started_at=started,
        finished_at=deps.clock(),
    )
    await deps.roster.save_schools(bundle.school_names, bundle.closed_school_ids, deps.clock())
    await deps.roster.record_import({**summary.as_dict(), "_id": import_id, "by": started_by})
    log.info(
        "roster.imported",
        import_id=import_id,
        mode=bundle.mode,
        created=summary.created,
        updated=summary.updated,
        unchanged=summary.unchanged,
        withdrawn=summary.withdrawn,
        rejected=summary.rejected,
        by=started_by,
    )
    return summary


async def list_schools(deps: Deps) -> list[tuple[str, str]]:
    """The schools families choose from, ``(school_id, name)`` by name."""
    return await deps.roster.schools()


@dataclass
class LegacyImportSummary:
    usernames: int
    students: int
    rows_read: int
    rejected: int
    rejections: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "usernames": self.usernames,
            "students": self.students,
            "rows_read": self.rows_read,
            "rejected": self.rejected,
            "rejections": self.rejections,
        }


async def import_legacy_credentials(deps: Deps, text: str) -> LegacyImportSummary:
    """Load ``username,password_hash,school_id,student_id`` rows of the previous portal."""
    parsed = legacy_rules.parse_legacy_csv(text)
    now = deps.clock()
    for batch in batches(parsed.credentials, deps.roster_batch_size):
        await deps.legacy.upsert_many(batch, now)
    summary = LegacyImportSummary(
        usernames=len(parsed.credentials),
        students=sum(len(c["students"]) for c in parsed.credentials),
        rows_read=parsed.rows_read,
        rejected=len(parsed.rejections),
        rejections=[{"row": r.row, "reason": r.reason} for r in parsed.rejections[:1000]],
    )
    log.info("legacy.imported", usernames=summary.usernames, rejected=summary.rejected)
    return summary


# --- consumed events ------------------------------------------------------------------


async def on_account_created(deps: Deps, envelope: Envelope) -> None:
    """Keep the guardian's contact; turn each student claim into a pending request (the
    deadline counts from the account's creation)."""
    event = envelope.event
    assert isinstance(event, AccountCreated)
    guardian = await deps.guardians.record_created(event)
    if guardian is None:
        log.info("account_created.ignored", account_id=event.account_id, reason="deleted")
        return
    for index, claim in enumerate(event.student_claims):
        await _link_from_claim(deps, envelope.id, index, event, guardian, claim)
    # Topics arrive in any order: a link may have been approved and announced (with the
    # contact the token and EmailVerified gave) before this event brought the phones.
    await announce_contact_change(deps, event.account_id)


async def _link_from_claim(
    deps: Deps,
    event_id: str,
    index: int,
    event: AccountCreated,
    guardian: Guardian,
    claim: Any,
) -> None:
    if LinkMethod.IN_PERSON not in deps.policy.links.methods:
        log.info("claim.ignored", account_id=event.account_id, reason="in_person_disabled")
        return
    entry = await deps.roster.get(claim.school_id, claim.student_id)
    # Claims carry only school, id and last name (no secret travels in AccountCreated):
    # they become in-person requests that the school checks, so the policy's extra fields
    # are not required here.
    ok = (
        entry is not None
        and entry.active
        and details_match(
            last_name_key=entry.last_name_key,
            first_name_key=entry.first_name_key,
            birth_date=entry.birth_date,
            claim=ClaimDetails(last_name=claim.student_last_name),
            required_fields=(),
        )
    )
    if not ok or entry is None:
        await _record_failure(deps, event.account_id, deps.clock(), key=f"claim:{event_id}:{index}")
        log.info("claim.unmatched", account_id=event.account_id, claim_index=index)
        return
    if await deps.links.find_live(event.account_id, entry.school_id, entry.student_id):
        return
    link = Link.request(
        link_id=claim_link_id(event_id, index),
        account_id=event.account_id,
        school_id=entry.school_id,
        student_id=entry.student_id,
        requested_at=event.created_at,
        deadline_days=deps.policy.links.deadline_days,
        tz=deps.policy.tz,
        student_first_name=entry.first_name,
        student_last_name=entry.last_name,
        by=event.account_id,
    )
    if await deps.links.add(link, [link_requested(link, guardian)]):
        deps.wake()
        log.info(
            "link.requested",
            link_id=link.link_id,
            account_id=event.account_id,
            school_id=link.school_id,
            status=str(link.status),
            method=str(link.method),
            via="registration",
        )


async def on_email_verified(deps: Deps, envelope: Envelope) -> None:
    """Mark the guardian verified and release approvals held for verification."""
    event = envelope.event
    assert isinstance(event, EmailVerified)
    guardian = await deps.guardians.record_verified(event)
    if guardian is None:
        return
    await release_held_approvals(deps, event.account_id)


async def on_profile_updated(deps: Deps, envelope: Envelope) -> None:
    """Keep the guardian's contact current and tell the SIS of a change (once per change,
    for each announced approved link)."""
    event = envelope.event
    assert isinstance(event, AccountProfileUpdated)
    await deps.guardians.record_profile(event)
    await announce_contact_change(deps, event.account_id)


async def on_sessions_ended(deps: Deps, envelope: Envelope) -> None:
    """Password changed or reset, or account disabled: identity ended the sessions, so
    linking refuses the guardian's tokens issued before then."""
    event = envelope.event
    if isinstance(event, PasswordChanged):
        at = event.changed_at
    elif isinstance(event, AccountDisabled):
        at = event.at
    else:
        raise TypeError(f"unexpected event {type(event).__name__}")
    await deps.guardians.end_sessions(event.account_id, at)
    log.info("guardian.sessions_ended", account_id=event.account_id, reason=envelope.type)


async def on_link_expired(deps: Deps, envelope: Envelope) -> None:
    """The in-person deadline passed: a pending request becomes ``expired``; a decided
    one is left alone."""
    event = envelope.event
    assert isinstance(event, LinkExpired)
    link = await deps.links.get(event.link_id)
    if link is None or link.account_id != event.account_id:
        log.info("link.expiry_ignored", link_id=event.link_id, reason="unknown link")
        return
    if link.status != LinkStatus.PENDING:
        log.info("link.expiry_ignored", link_id=event.link_id, status=str(link.status))
        return

    def expire(current: Link) -> list[Event]:
        current.expire(at=event.expired_at)
        return []

    try:
        await _apply(deps, link, expire)
    except LinkNotPending:
        log.info("link.expiry_ignored", link_id=event.link_id, reason="decided meanwhile")
        return
    log.info("link.expired", link_id=event.link_id, account_id=event.account_id)


async def on_account_deleted(deps: Deps, envelope: Envelope) -> None:
    """Revoke approved links (``LinkRevoked``), withdraw pending ones, then erase the
    guardian's personal data."""
    event = envelope.event
    assert isinstance(event, AccountDeleted)
    live = await deps.links.for_account(
        event.account_id, statuses=[LinkStatus.PENDING, LinkStatus.APPROVED]
    )
    for link in live:
        at = deps.clock()

        def end(current: Link, at: datetime = at) -> list[Event]:
            if current.status == LinkStatus.APPROVED:
                current.revoke(by=SYSTEM_ACCOUNT_DELETED, reason="account_deleted", at=at)
                return [link_revoked(current, None)]
            current.withdraw(by=SYSTEM_ACCOUNT_DELETED, reason="account_deleted", at=at)
            return [link_withdrawn(current, None)]

        try:
            await _apply(deps, link, end)
        except LinkNotPending:
            continue
    await deps.guardians.erase(event.account_id, event.at)
    log.info("account.erased", account_id=event.account_id, links_closed=len(live))
