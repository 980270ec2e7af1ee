"""The link between a guardian account and a student, and its state machine.

::

    pending_authorization ──approve──▶ approved ──revoke──▶ revoked
            │  ├──deny──▶ denied
            │  ├──expire─▶ expired      (LinkExpired from the scheduler)
            │  └──withdraw▶ withdrawn   (the guardian, or the account was deleted)
    (activation code / legacy credentials: created approved at once)

An approval for a guardian whose email is not verified yet is *held*: the link is
approved, but ``LinkApproved`` is published only when ``EmailVerified`` arrives.

Every transition appends an entry to the link's audit trail and bumps its version (the
repository writes a transition only if the version it loaded is still current).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from linking.domain.errors import LinkNotPending
from shared import deadlines
from shared.deadlines import link_deadline


class LinkStatus(StrEnum):
    PENDING = "pending_authorization"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    REVOKED = "revoked"
    WITHDRAWN = "withdrawn"


class LinkMethod(StrEnum):
    IN_PERSON = "in_person"
    ACTIVATION_CODE = "activation_code"
    LEGACY_CREDENTIALS = "legacy_credentials"


#: Statuses that block a new request for the same guardian and student. A revoked link
#: stays blocking: a guardian whose rights were restricted cannot re-link online.
LIVE_STATUSES = frozenset({LinkStatus.PENDING, LinkStatus.APPROVED, LinkStatus.REVOKED})

#: Who acts when no person does.
SYSTEM_SCHEDULER = "system:scheduler"
SYSTEM_ACCOUNT_DELETED = "system:account-deleted"
SYSTEM_LEGACY_CREDENTIALS = "system:legacy-credentials"


def new_link_id() -> str:
    """A fresh link id."""
    return str(uuid.uuid4())


def claim_link_id(event_id: str, index: int) -> str:
    """Deterministic id of the link created from claim ``index`` of one ``AccountCreated``
    event, so that a redelivered event creates nothing twice."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:guardian-portal:claim:{event_id}:{index}"))


def live_key(account_id: str, school_id: str, student_id: str) -> str:
    """The key of the one live link a guardian may have with a student."""
    return f"{account_id}|{school_id}|{student_id}"


@dataclass
class Link:
    """A guardian ↔ student link (the aggregate; events are built by the use cases)."""

    link_id: str
    account_id: str
    school_id: str
    student_id: str
    method: LinkMethod
    status: LinkStatus
    requested_at: datetime
    expires_at: datetime | None = None
    decided_at: datetime | None = None
    student_first_name: str | None = None
    student_last_name: str | None = None
    approved_by: str | None = None
    approved_at: datetime | None = None
    id_document_type: str | None = None
    decided_by: str | None = None
    reason: str | None = None
    #: Approved but not yet announced (guardian email not verified).
    held: bool = False
    released_at: datetime | None = None
    #: Digests of the guardian's contact block as this link last announced it
    #: (``LinkApproved``, then ``GuardianContactUpdated``); see ``Guardian.contact_digest``.
    contact_digest: dict[str, str] = field(default_factory=dict)
    version: int = 0
    audit: list[dict[str, Any]] = field(default_factory=list)

    # --- creation -------------------------------------------------------------------

    @classmethod
    def request(
        cls,
        *,
        link_id: str,
        account_id: str,
        school_id: str,
        student_id: str,
        requested_at: datetime,
        deadline_days: int,
        tz: ZoneInfo,
        student_first_name: str | None = None,
        student_last_name: str | None = None,
        by: str,
        attempted_method: LinkMethod | None = None,
    ) -> Link:
        """A new in-person request waiting for the school (``pending_authorization``),
        which expires at the end of the local day ``deadline_days`` days after the day
        it was made (``shared/deadlines.py``)."""
        link = cls(
            link_id=link_id,
            account_id=account_id,
            school_id=school_id,
            student_id=student_id,
            method=LinkMethod.IN_PERSON,
            status=LinkStatus.PENDING,
            requested_at=requested_at,
            expires_at=link_deadline(requested_at, deadline_days, tz),
            student_first_name=student_first_name,
            student_last_name=student_last_name,
        )
        entry: dict[str, Any] = {"method": str(LinkMethod.IN_PERSON)}
        if attempted_method and attempted_method != LinkMethod.IN_PERSON:
            entry["attempted_method"] = str(attempted_method)
            entry["note"] = "credentials not accepted; waiting for in-person authorization"
        link._record("requested", by, requested_at, **entry)
        link.version = 0  # a new document: nothing was loaded
        return link

    @classmethod
    def approved_at_once(
        cls,
        *,
        link_id: str,
        account_id: str,
        school_id: str,
        student_id: str,
        method: LinkMethod,
        at: datetime,
        by: str,
        guardian_verified: bool,
        student_first_name: str | None = None,
        student_last_name: str | None = None,
    ) -> Link:
        """A request authorised by an activation code or legacy credentials."""
        link = cls(
            link_id=link_id,
            account_id=account_id,
            school_id=school_id,
            student_id=student_id,
            method=method,
            status=LinkStatus.PENDING,
            requested_at=at,
            student_first_name=student_first_name,
            student_last_name=student_last_name,
        )
        link._record("requested", by, at, method=str(method))
        link.approve(by=by, at=at, guardian_verified=guardian_verified, method=method)
        link.version = 0  # a new document: nothing was loaded
        return link

    # --- transitions ----------------------------------------------------------------

    def _require(self, *allowed: LinkStatus) -> None:
        if self.status not in allowed:
            raise LinkNotPending(f"the link is {self.status}", status=str(self.status))

    def _record(self, action: str, by: str, at: datetime, **details: Any) -> None:
        entry = {"action": action, "by": by, "at": at}
        entry.update({k: v for k, v in details.items() if v is not None})
        self.audit.append(entry)
        self.version += 1

    def approve(
        self,
        *,
        by: str,
        at: datetime,
        guardian_verified: bool,
        id_document_type: str | None = None,
        note: str | None = None,
        method: LinkMethod | None = None,
    ) -> None:
        """Approve a pending request; held until the guardian's email is verified."""
        self._require(LinkStatus.PENDING)
        if method is not None:
            self.method = method
        self.status = LinkStatus.APPROVED
        self.decided_at = at
        self.decided_by = by
        self.approved_by = by
        self.approved_at = at
        self.id_document_type = id_document_type
        self.expires_at = None
        self.held = not guardian_verified
        self._record(
            "approved",
            by,
            at,
            method=str(self.method),
            id_document_type=id_document_type,
            note=note,
            held=self.held or None,
        )

    def release(self, at: datetime) -> bool:
        """Announce a held approval (the guardian is now verified). False if not held."""
        if self.status != LinkStatus.APPROVED or not self.held:
            return False
        self.held = False
        self.released_at = at
        self._record("released", "system:email-verified", at)
        return True

    def mark_announced(self, at: datetime) -> None:
        """The approval is announced together with the decision (guardian verified)."""
        self.released_at = at

    @property
    def announced(self) -> bool:
        """Approved and announced to the SIS (``LinkApproved`` published)."""
        return self.status == LinkStatus.APPROVED and not self.held and self.released_at is not None

    def update_contact(self, digest: dict[str, str], at: datetime) -> list[str]:
        """The guardian's contact block is now ``digest``: the parts that differ from what
        this link last announced, recorded as announced now. Empty (and nothing changes)
        when they are the same, or the link is not an announced approval: a pending,
        held or ended link has nothing to tell the SIS, and ``LinkApproved`` will carry
        the contact current at its release."""
        if not self.announced:
            return []
        order = {part: i for i, part in enumerate(digest)}
        changed = sorted(
            (p for p in digest.keys() | self.contact_digest.keys()
             if digest.get(p) != self.contact_digest.get(p)),
            key=lambda p: (order.get(p, len(order)), p),
        )
        if not changed:
            return []
        self.contact_digest = dict(digest)
        self._record("contact_updated", "system:identity", at, changed=changed)
        return changed

    def deny(self, *, by: str, reason: str, at: datetime) -> None:
        """Deny a pending request with a reason."""
        self._require(LinkStatus.PENDING)
        self._decide(LinkStatus.DENIED, "denied", by, reason, at)

    def revoke(self, *, by: str, reason: str, at: datetime) -> None:
        """Revoke an approved link (e.g. a custody restriction)."""
        self._require(LinkStatus.APPROVED)
        self.held = False
        self._decide(LinkStatus.REVOKED, "revoked", by, reason, at)

    def expire(self, *, at: datetime, by: str = SYSTEM_SCHEDULER) -> None:
        """The in-person deadline passed: an automatic denial."""
        self._require(LinkStatus.PENDING)
        self._decide(LinkStatus.EXPIRED, "expired", by, "deadline_passed", at)

    def withdraw(self, *, by: str, reason: str, at: datetime) -> None:
        """The guardian withdrew a pending request (or the account was deleted)."""
        self._require(LinkStatus.PENDING)
        self._decide(LinkStatus.WITHDRAWN, "withdrawn", by, reason, at)

    def _decide(self, status: LinkStatus, action: str, by: str, reason: str, at: datetime) -> None:
        self.status = status
        self.decided_at = at
        self.decided_by = by
        self.reason = reason
        self._record(action, by, at, reason=reason)

    # --- views ----------------------------------------------------------------------

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES

    @property
    def live_key(self) -> str:
        return live_key(self.account_id, self.school_id, self.student_id)

    def days_left(self, now: datetime, tz: ZoneInfo) -> int | None:
        """Whole calendar days from today to the last day of a pending request (0 on
        the last day); None for any other status."""
        if self.status != LinkStatus.PENDING or self.expires_at is None:
            return None
        return deadlines.days_left(self.expires_at, now, tz)

    def last_day(self, tz: ZoneInfo) -> date | None:
        """The last local day a pending request may be approved; None otherwise."""
        if self.status != LinkStatus.PENDING or self.expires_at is None:
            return None
        return deadlines.last_day(self.expires_at, tz)
