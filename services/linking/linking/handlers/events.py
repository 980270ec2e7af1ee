"""The contract events a link's transitions cause, built from the link and its guardian."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from linking.domain.guardians import Guardian
from linking.domain.model import (
    Link,
    LinkStatus,
)
from shared.contracts.events import (
    Event,
    GuardianContactUpdated,
    LinkApproved,
    LinkDenied,
    LinkRequested,
    LinkRevoked,
    LinkWithdrawn,
    StudentRef,
)


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


def approval_events(link: Link, guardian: Guardian | None, now: datetime) -> list[Event]:
    """``LinkApproved`` now if the guardian is verified; nothing while the approval is
    held."""
    if link.status != LinkStatus.APPROVED or link.held or guardian is None:
        return []
    link.mark_announced(now)
    link.contact_digest = guardian.contact_digest()
    return [link_approved(link, guardian)]
