"""Staff decisions: approve, deny and revoke a link, and a student's restriction after a
revocation."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from linking.domain.guardians import Guardian
from linking.domain.matching import id_key
from linking.domain.model import (
    Link,
)
from linking.domain.staff import StaffIdentity
from linking.handlers.deps import Deps
from linking.handlers.events import approval_events, link_denied, link_revoked
from linking.handlers.steps import (
    apply_transition,
    authorise,
    contact_since_approval,
    load_link,
    load_with_guardian,
    release_held_approvals,
)
from shared.contracts.events import (
    Event,
)
from shared.runtime.logs import get_logger

log = get_logger(__name__)


class StaffDecision(NamedTuple):
    """A decided link and its guardian (for the answer, without another read)."""

    link: Link
    guardian: Guardian | None


async def approve_link(
    deps: Deps,
    staff: StaffIdentity,
    link_id: str,
    *,
    id_document_type: str,
    note: str | None = None,
) -> StaffDecision:
    """Staff approve a pending request after checking the guardian's photo ID."""
    link, guardian = await load_with_guardian(deps, link_id)
    authorise(staff, link.school_id, "approve", link_id=link_id)
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
        return approval_events(current, guardian, now)

    link = await apply_transition(deps, link, approve)
    log.info(
        "link.approved",
        link_id=link_id,
        staff_id=staff.staff_id,
        school_id=link.school_id,
        held=link.held or None,
    )
    if link.held:
        await release_held_approvals(deps, link.account_id)
        return StaffDecision(await load_link(deps, link_id), guardian)
    await contact_since_approval(deps, link)
    return StaffDecision(link, guardian)


async def deny_link(
    deps: Deps, staff: StaffIdentity, link_id: str, *, reason: str
) -> StaffDecision:
    """Staff deny a pending request with a reason."""
    link, guardian = await load_with_guardian(deps, link_id)
    authorise(staff, link.school_id, "deny", link_id=link_id)
    now = deps.clock()

    def deny(current: Link) -> list[Event]:
        current.deny(by=staff.staff_id, reason=reason, at=now)
        return [link_denied(current, guardian)]

    link = await apply_transition(deps, link, deny)
    log.info("link.denied", link_id=link_id, staff_id=staff.staff_id, school_id=link.school_id)
    return StaffDecision(link, guardian)


async def revoke_link(
    deps: Deps, staff: StaffIdentity, link_id: str, *, reason: str
) -> StaffDecision:
    """Staff (or a district admin) revoke an approved link, e.g. a custody restriction."""
    link, guardian = await load_with_guardian(deps, link_id)
    authorise(staff, link.school_id, "revoke", link_id=link_id)
    now = deps.clock()

    def revoke(current: Link) -> list[Event]:
        current.revoke(by=staff.staff_id, reason=reason, at=now)
        return [link_revoked(current, guardian)]

    link = await apply_transition(deps, link, revoke)
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
    authorise(staff, school_id, "lift_restriction", student_id=student_id)
    lifted = await deps.restrictions.lift(id_key(school_id), id_key(student_id))
    log.info("restriction.lifted", school_id=school_id, staff_id=staff.staff_id, lifted=lifted)
    return lifted
