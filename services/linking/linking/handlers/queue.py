"""The school's queue of pending requests (filters, cursor paging) and a student's links."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from linking.domain.guardians import Guardian
from linking.domain.matching import id_key, name_key
from linking.domain.model import (
    Link,
    LinkMethod,
    LinkStatus,
)
from linking.domain.staff import StaffIdentity
from linking.handlers.deps import Deps, InvalidCursor
from linking.handlers.steps import (
    authorise,
)
from linking.ports import (
    QueueFilter,
    StudentRestriction,
)
from shared.deadlines import end_of_day, local_date
from shared.runtime.logs import get_logger

log = get_logger(__name__)


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
    authorise(staff, school_id, "list_link_requests")
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
    authorise(staff, school_id, "list_student_links", student_id=student_id)
    links = await deps.links.for_student(id_key(school_id), id_key(student_id))
    guardians = await deps.guardians.get_many({link.account_id for link in links})
    now = deps.clock()
    return [
        QueueItem(link, guardians.get(link.account_id), link.days_left(now, deps.policy.tz))
        for link in links
    ]
