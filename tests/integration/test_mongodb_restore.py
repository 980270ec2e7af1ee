"""The backup restores (issue 21, item 4): ``portal backup dump`` and ``portal backup
restore`` over the MongoDB wire protocol, against the local MongoDB-protocol server, on
databases of this run's own prefix. Every document comes back byte for byte (dates,
Decimal128, binary, int64, field order, pending outbox entries), every index with its
options, a write made after the dump is gone (restoring is replacing), and a rehearsal
restores next to the live data under another name."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from bson import CodecOptions, Decimal128, Int64, ObjectId
from bson.binary import Binary
from bson.raw_bson import RawBSONDocument
from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.errors import DuplicateKeyError

from tools.devstack.paths import MONGO_URI

ROOT = Path(__file__).resolve().parents[2]
RAW = CodecOptions(document_class=RawBSONDocument)


@pytest.fixture
def prefix(stack: None) -> Iterator[str]:
    value = f"t{uuid.uuid4().hex[:8]}_"
    yield value
    client: MongoClient[dict[str, Any]] = MongoClient(MONGO_URI, directConnection=True)
    for name in client.list_database_names():
        if name.startswith(value):
            client.drop_database(name)
    client.close()


def _portal(prefix: str, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "shared.runtime.cli", "backup", *args],
        cwd=ROOT,
        env={**os.environ, "MONGODB_URI": MONGO_URI, "MONGODB_DATABASE_PREFIX": prefix},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _seed(client: MongoClient[dict[str, Any]], prefix: str) -> None:
    now = datetime(2026, 9, 1, 8, 30, 15, 123000, tzinfo=UTC)
    accounts = client[f"{prefix}identity"]["accounts"]
    accounts.insert_many(
        [
            {
                "_id": f"acc-{i}",
                "email": f"guardian{i}@example.net",
                "status": "active" if i % 2 else "unverified",
                "created_at": now + timedelta(minutes=i),
                "version": Int64(2**40 + i),
                "score": Decimal128(Decimal("12.50")),
                "key": Binary(uuid.uuid4().bytes, 4),
                "phones": [{"kind": "mobile", "e164": "+19045550100"}, None],
                "outbox": [{"id": uuid.uuid4().hex, "topic": "AccountCreated", "value": "{}"}]
                if i % 3 == 0
                else [],
                "outbox_since": now if i % 3 == 0 else None,
                "token_expires_at": now + timedelta(hours=24),
            }
            for i in range(1200)  # more than one insert batch
        ]
    )
    accounts.create_index("email", unique=True, name="email_unique")
    accounts.create_index([("outbox_since", ASCENDING)], sparse=True, name="outbox_pending")
    accounts.create_index("token_expires_at", expireAfterSeconds=0, name="token_ttl")
    accounts.create_index(
        [("status", ASCENDING), ("created_at", DESCENDING)],
        partialFilterExpression={"status": "unverified"},
        name="unverified_by_age",
    )
    links = client[f"{prefix}linking"]["links"]
    links.insert_one({"_id": ObjectId(), "school_id": "0123", "status": "pending_authorization"})
    links.create_index([("school_id", ASCENDING), ("status", ASCENDING)], name="queue")
    client[f"{prefix}linking"].create_collection("roster")  # empty, still restored


def _snapshot(client: MongoClient[dict[str, Any]], database: str) -> dict[str, Any]:
    """Raw bytes of every document and the options of every index, per collection."""
    db = client.get_database(database, codec_options=RAW)
    out: dict[str, Any] = {}
    for name in sorted(db.list_collection_names()):
        docs = [d.raw for d in db[name].find({}, sort=[("_id", 1)])]
        indexes = sorted(
            (
                {k: v for k, v in dict(ix).items() if k not in ("v", "ns")}
                for ix in db[name].with_options(codec_options=CodecOptions()).list_indexes()
            ),
            key=lambda ix: str(ix["name"]),
        )
        out[name] = {"docs": docs, "indexes": indexes}
    return out


def test_dump_then_restore_gives_back_every_document_and_index(prefix: str, tmp_path: Path) -> None:
    client: MongoClient[dict[str, Any]] = MongoClient(
        MONGO_URI, directConnection=True, uuidRepresentation="standard"
    )
    try:
        _seed(client, prefix)
        before = {db: _snapshot(client, f"{prefix}{db}") for db in ("identity", "linking")}
        assert len(before["identity"]["accounts"]["docs"]) == 1200

        out = _portal(prefix, "dump", "--out", str(tmp_path / "dump"))
        assert f"dump {prefix}identity.accounts: 1200 documents" in out
        assert (tmp_path / "dump" / f"{prefix}identity" / "accounts.bson").stat().st_size > 0

        # After the backup: a new account, a lost database. The restore replaces both.
        client[f"{prefix}identity"]["accounts"].insert_one({"_id": "after", "email": "x@y.z"})
        client.drop_database(f"{prefix}linking")

        out = _portal(prefix, "restore", "--from", str(tmp_path / "dump"))
        assert f"restore {prefix}linking.links: 1 documents" in out
        after = {db: _snapshot(client, f"{prefix}{db}") for db in ("identity", "linking")}
        assert after == before

        # A rehearsal next to the live data: the same content under another name.
        _portal(
            prefix,
            "restore",
            "--from",
            str(tmp_path / "dump"),
            "--db",
            f"{prefix}identity",
            "--rename",
            f"{prefix}identity={prefix}rehearsal",
        )
        assert _snapshot(client, f"{prefix}rehearsal") == before["identity"]
        assert _snapshot(client, f"{prefix}identity") == before["identity"]
    finally:
        client.close()


def test_a_unique_index_still_holds_after_restore(prefix: str, tmp_path: Path) -> None:
    client: MongoClient[dict[str, Any]] = MongoClient(MONGO_URI, directConnection=True)
    try:
        _seed(client, prefix)
        _portal(prefix, "dump", "--out", str(tmp_path / "dump"))
        _portal(prefix, "restore", "--from", str(tmp_path / "dump"))
        with pytest.raises(DuplicateKeyError):
            client[f"{prefix}identity"]["accounts"].insert_one(
                {"_id": "dup", "email": "guardian1@example.net"}
            )
    finally:
        client.close()
