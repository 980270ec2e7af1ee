"""Delete what earlier test and benchmark runs left in the running stack.

Every test portal, foundation test and benchmark works under its own random prefix
(``t1a2b3c4d.LinkApproved``, database ``t1a2b3c4d_linking``) so that runs never see each
other's data. Left in place, thousands of those topics make the broker start slowly and
every run slower than the last. ``make test`` prunes them before the suite; the
unprefixed topics and databases of ``make run`` are never touched.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import time

from tools.devstack.paths import KAFKA_BOOTSTRAP, MONGO_URI, VAR

#: A run prefix: one letter and 6-12 hex digits, then ``.`` (topics) or ``_`` (databases).
RUN_PREFIX = re.compile(r"^[a-z][0-9a-f]{6,12}[._]")
_BATCH = 200
#: Logs and spans of the most recent test runs are kept (``var/test-runs/<run>/``).
KEEP_RUN_LOGS = 20


def is_run_data(name: str) -> bool:
    """True for a topic or database name made by a test or benchmark run."""
    return bool(RUN_PREFIX.match(name))


async def _prune_topics() -> int:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA_BOOTSTRAP, request_timeout_ms=120_000)
    await admin.start()
    try:
        doomed = sorted(t for t in await admin.list_topics() if is_run_data(t))
        for start in range(0, len(doomed), _BATCH):
            await admin.delete_topics(doomed[start : start + _BATCH], timeout_ms=120_000)
        return len(doomed)
    finally:
        await admin.close()


def _prune_databases() -> int:
    from pymongo import MongoClient

    client: MongoClient[dict[str, object]] = MongoClient(
        MONGO_URI, directConnection=True, serverSelectionTimeoutMS=5000
    )
    try:
        doomed = [n for n in client.list_database_names() if is_run_data(n)]
        for name in doomed:
            client.drop_database(name)
        return len(doomed)
    finally:
        client.close()


def _prune_run_logs(keep: int = KEEP_RUN_LOGS) -> int:
    runs = VAR / "test-runs"
    if not runs.is_dir():
        return 0
    dirs = sorted((d for d in runs.iterdir() if d.is_dir()), key=lambda d: d.stat().st_mtime)
    doomed = dirs[:-keep] if keep else dirs
    for d in doomed:
        shutil.rmtree(d, ignore_errors=True)
    return len(doomed)


def prune() -> tuple[int, int]:
    """Delete run-prefixed topics and databases (and all but the latest run logs);
    return how many topics and databases."""
    started = time.monotonic()
    topics = asyncio.run(_prune_topics())
    databases = _prune_databases()
    logs = _prune_run_logs()
    print(
        f"[devstack] pruned {topics} topics, {databases} databases and {logs} run logs "
        f"of earlier runs in {time.monotonic() - started:.1f}s"
    )
    return topics, databases
