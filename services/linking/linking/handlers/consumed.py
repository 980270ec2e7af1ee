"""Consumed events: idempotent reactions to identity's and the scheduler's events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from linking.domain.errors import (
    LinkNotPending,
)
from linking.domain.guardians import Guardian
from linking.domain.matching import ClaimDetails, details_match
from linking.domain.model import (
    SYSTEM_ACCOUNT_DELETED,
    Link,
    LinkMethod,
    LinkStatus,
    claim_link_id,
)
from linking.handlers.deps import Deps
from linking.handlers.events import link_requested, link_revoked, link_withdrawn
from linking.handlers.steps import (
    announce_contact_change,
    apply_transition,
    record_failure,
    release_held_approvals,
)
from shared.contracts.envelope import Envelope
from shared.contracts.events import (
    AccountCreated,
    AccountDeleted,
    AccountDisabled,
    AccountProfileUpdated,
    EmailVerified,
    Event,
    LinkExpired,
    PasswordChanged,
)
from shared.runtime.logs import get_logger

log = get_logger(__name__)


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
        await record_failure(deps, event.account_id, deps.clock(), key=f"claim:{event_id}:{index}")
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
        await apply_transition(deps, link, expire)
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
            await apply_transition(deps, link, end)
        except LinkNotPending:
            continue
    await deps.guardians.erase(event.account_id, event.at)
    log.info("account.erased", account_id=event.account_id, links_closed=len(live))
