"""The staff help desk's lookup on linking's side (issue 16, item 5): school staff find a
guardian by email among the families of their own school's students — linking knows who
is linked or asking for whom; identity does not. A district admin may look in any school.

The answer is the same 404 whether the email is unknown or belongs to another school's
family, and every lookup is logged (``staff.lookup``: staff id, school, found or not,
account id; never the email).
"""

from __future__ import annotations

from dataclasses import dataclass

from linking.domain.errors import Forbidden, GuardianNotFound
from linking.domain.guardians import Guardian
from linking.domain.matching import id_key
from linking.domain.model import Link
from linking.domain.staff import StaffIdentity
from linking.handlers import Deps
from shared.runtime.logs import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class GuardianAtSchool:
    """A guardian and their links (any status) at one school."""

    guardian: Guardian
    links: list[Link]


async def find_guardian(
    deps: Deps, staff: StaffIdentity, school_id: str, email: str
) -> GuardianAtSchool:
    """The guardian of ``email`` if linked to, or asking for, a student of ``school_id``."""
    if not staff.can_act_for(school_id):
        log.warning(
            "security.forbidden",
            staff_id=staff.staff_id,
            role=staff.role,
            school_id=school_id,
            action="find_guardian",
        )
        raise Forbidden("you do not act for this school")
    guardian = await deps.guardians.find_by_email(email.strip().lower())
    links: list[Link] = []
    if guardian is not None:
        school = id_key(school_id)
        links = [
            link
            for link in await deps.links.for_account(guardian.account_id)
            if id_key(link.school_id) == school
        ]
    found = guardian is not None and bool(links)
    log.info(
        "staff.lookup",
        staff_id=staff.staff_id,
        school_id=school_id,
        found=found,
        account_id=guardian.account_id if found and guardian else None,
    )
    if not found or guardian is None:
        raise GuardianNotFound()
    return GuardianAtSchool(guardian, links)
