"""Roster (OneRoster) and legacy parent-portal credential imports."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from linking.domain import legacy as legacy_rules
from linking.domain.errors import (
    RosterFileInvalid,
)
from linking.domain.roster import (
    ImportPlan,
    RosterBundle,
    StoredStudent,
    batches,
    parse_bundle,
    plan_import,
)
from linking.handlers.deps import Deps
from shared.runtime.logs import get_logger

log = get_logger(__name__)

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
