"""Activation codes: issued by staff for a guardian relationship, revoked, listed."""

from __future__ import annotations

import uuid
from datetime import timedelta

from linking.domain import codes as code_rules
from linking.domain.errors import (
    ActivationCodeNotFound,
    ActivationCodeUsed,
    MethodDisabled,
    StudentNotFound,
)
from linking.domain.model import (
    LinkMethod,
)
from linking.domain.staff import StaffIdentity
from linking.handlers.deps import Deps
from linking.handlers.steps import (
    authorise,
)
from linking.ports import (
    ActivationCode,
)
from shared.runtime.logs import get_logger

log = get_logger(__name__)


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
    authorise(staff, school_id, "issue_activation_code", student_id=student_id)
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
    authorise(staff, school_id, "revoke_activation_code", code_id=code_id)
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
    authorise(staff, school_id, "list_activation_codes", student_id=student_id)
    entry = await deps.roster.get(school_id, student_id)
    if entry is None:
        raise StudentNotFound()
    return await deps.codes.for_student(entry.school_id, entry.student_id)
