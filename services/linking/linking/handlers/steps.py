"""Steps the use cases share: guarded transitions with retry, one link attempt in flight per
account, staff authorisation, loading, and releasing or announcing on account changes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from linking.domain.errors import (
    ActivationCodeInvalid,
    AttemptInProgress,
    ConcurrentUpdate,
    Forbidden,
    LinkNotFound,
    LinkNotPending,
    StudentNotMatched,
    TooManyAttempts,
)
from linking.domain.guardians import Guardian
from linking.domain.model import (
    Link,
    LinkStatus,
)
from linking.domain.staff import StaffIdentity
from linking.handlers.deps import MAX_TRANSITION_ATTEMPTS, Deps
from linking.handlers.events import guardian_contact_updated, link_approved
from shared.contracts.events import (
    Event,
)
from shared.runtime.logs import get_logger

log = get_logger(__name__)


async def apply_transition(
    deps: Deps, link: Link, mutate: Callable[[Link], Sequence[Event]]
) -> Link:
    """Apply ``mutate`` (a guarded transition returning its events) and write it; reload
    and retry if the link changed meanwhile. ``LinkNotPending`` propagates."""
    for _ in range(MAX_TRANSITION_ATTEMPTS):
        version = link.version
        events = list(mutate(link))
        if link.version == version:
            return link  # nothing changed (e.g. nothing held any more)
        if await deps.links.save(link, version, events):
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
class Attempt:
    """A reserved link attempt: ``failed`` keeps its reservation as a failure."""

    failed: bool = False


@asynccontextmanager
async def reserved_attempt(deps: Deps, account_id: str, now: datetime) -> AsyncIterator[Attempt]:
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
        attempt = Attempt()
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


async def record_failure(
    deps: Deps, account_id: str, now: datetime, key: str | None = None
) -> None:
    await deps.attempts.record(
        account_id,
        _day(now),
        key or uuid.uuid4().hex,
        expire_at=_next_midnight(now) + timedelta(days=1),
    )


def authorise(staff: StaffIdentity, school_id: str, action: str, **context: Any) -> None:
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


async def load_link(deps: Deps, link_id: str) -> Link:
    link = await deps.links.get(link_id)
    if link is None:
        raise LinkNotFound()
    return link


async def load_with_guardian(deps: Deps, link_id: str) -> tuple[Link, Guardian | None]:
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

        await apply_transition(deps, link, release)
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
            saved = await apply_transition(deps, link, update)
        except LinkNotPending:
            continue
        if saved.version != before:
            published += 1
    if published:
        log.info("guardian.contact_announced", account_id=account_id, links=published)
    return published


async def contact_since_approval(deps: Deps, link: Link) -> None:
    """After announcing an approval: if the guardian's contact changed while it was being
    decided (read before, written after the profile consumer looked for approved links),
    tell the SIS now rather than at the next change."""
    if link.announced:
        await announce_contact_change(deps, link.account_id)
