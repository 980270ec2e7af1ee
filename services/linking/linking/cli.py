"""``portal staff-token``, ``portal roster import`` and ``portal legacy import`` (the
``portal`` command delegates here; arguments in ``shared/runtime/cli.py``)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from typing import Any

from linking import handlers
from linking.domain.errors import LegacyFileInvalid, RosterFileInvalid
from shared.runtime.logs import configure_logging
from shared.runtime.mongo import create_client, service_database


def staff_token(args: argparse.Namespace) -> int:
    """Print a staff bearer token signed with the local staff key."""
    from linking.devtools import mint_staff_token
    from linking.settings import Settings

    settings = Settings()
    if settings.environment == "production":
        print("staff-token: refused in production (use the district IdP)", file=sys.stderr)
        return 2
    if args.role == "school_staff" and not args.school:
        print("staff-token: --school is required for the school_staff role", file=sys.stderr)
        return 2
    print(
        mint_staff_token(
            args.school,
            role=args.role,
            subject=args.subject,
            ttl_minutes=args.ttl_minutes,
            issuer=settings.staff_jwt_issuer,
            audience=settings.staff_jwt_audience,
        )
    )
    return 0


class _ProgressLine:
    """One line on stderr, rewritten in place."""

    def __init__(self) -> None:
        self.shown = False

    def __call__(self, stage: str, done: int, total: int) -> None:
        text = f"{stage} {done}/{total} students" if total else f"{stage}..."
        print(f"\r{text:<60}", end="", file=sys.stderr, flush=True)
        self.shown = True

    def end(self) -> None:
        if self.shown:
            print(file=sys.stderr)


async def _with_deps(work: Any) -> Any:
    from linking.adapters.mongo_store import MongoStore
    from linking.app import build_deps
    from linking.settings import Settings

    settings = Settings()
    client = create_client(settings)
    try:
        store = MongoStore.on(service_database(client, settings))
        await store.create_indexes()
        return await work(build_deps(store, settings))
    finally:
        await client.close()


def roster_import(args: argparse.Namespace) -> int:
    """Load a OneRoster 1.1 CSV bundle (the same code path as POST /v1/roster/imports)."""
    configure_logging("linking", "WARNING", stream=sys.stderr)
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        print(f"roster import: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 1
    progress = _ProgressLine()

    async def work(deps: handlers.Deps) -> handlers.ImportSummary:
        return await handlers.import_roster(
            deps, data, started_by=f"cli:{getpass.getuser()}", progress=progress
        )

    try:
        summary = asyncio.run(_with_deps(work))
    except RosterFileInvalid as exc:
        progress.end()
        print(f"roster import failed: {exc.detail}; nothing was imported", file=sys.stderr)
        for r in exc.extra.get("rejections") or []:  # type: ignore[attr-defined]
            print(f"  {r['file']} row {r['row']}: {r['reason']}", file=sys.stderr)
        return 1
    progress.end()
    print(
        f"roster import {summary.import_id} ({summary.mode}): {summary.students_in_file} "
        f"students in {summary.schools} schools; created {summary.created}, updated "
        f"{summary.updated}, unchanged {summary.unchanged}, withdrawn {summary.withdrawn}, "
        f"rejected {summary.rejected} rows"
    )
    for r in summary.rejections:
        sourced = f" (sourcedId {r['sourced_id']})" if r.get("sourced_id") else ""
        print(f"  rejected {r['file']} row {r['row']}: {r['reason']}{sourced}")
    return 0


def legacy_import(args: argparse.Namespace) -> int:
    """Load ``username,password_hash,school_id,student_id`` rows of the previous portal."""
    configure_logging("linking", "WARNING", stream=sys.stderr)
    try:
        text = args.file.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        print(f"legacy import: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 1
    except UnicodeDecodeError:
        print(
            "legacy import failed: the file is not UTF-8 text; nothing was imported",
            file=sys.stderr,
        )
        return 1

    async def work(deps: handlers.Deps) -> handlers.LegacyImportSummary:
        return await handlers.import_legacy_credentials(deps, text)

    try:
        summary = asyncio.run(_with_deps(work))
    except LegacyFileInvalid as exc:
        print(f"legacy import failed: {exc.detail}; nothing was imported", file=sys.stderr)
        return 1
    print(
        f"legacy import: {summary.usernames} usernames for {summary.students} students "
        f"from {summary.rows_read} rows; rejected {summary.rejected} rows"
    )
    for r in summary.rejections:
        print(f"  rejected row {r['row']}: {r['reason']}")
    return 0
