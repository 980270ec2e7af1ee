"""A logical dump and restore of the portal's databases over the MongoDB wire protocol, in
mongodump's directory layout, for rehearsing a restore and for clusters without the
MongoDB Database Tools.

    portal backup dump --out DIR [--db identity --db linking ...]
    portal backup restore --from DIR [--rename identity=identity_rehearsal ...]

Layout (what ``mongodump --out DIR`` writes, so ``mongorestore DIR`` reads it too)::

    DIR/<database>/<collection>.bson            the documents, BSON back to back
    DIR/<database>/<collection>.metadata.json   {"indexes": [...], "collectionName": ...}

Documents travel as raw BSON (never decoded to Python and back), so every type —
dates, Decimal128, binary, int64 — and every field order is restored exactly. Indexes are
recreated from their specifications (unique, sparse, partial, TTL). The restore drops
each collection before loading it: restoring is replacing (runbook.md, Restore from
backup: all databases from the same backup, the services stopped).

The nightly CronJob (components/mongodb-backup) uses ``mongodump --oplog``, which also
gives one point in time across databases; this dump reads each collection in turn, so
take it with the services stopped (or accept a few seconds of skew between collections).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from bson import CodecOptions, decode_file_iter, json_util
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient
from pymongo.database import Database

#: Databases of the portal (contract §2, plus webhooks'); a prefix applies to all of them.
PORTAL_DATABASES = ("identity", "linking", "notifier", "scheduler", "webhooks")
_RAW = CodecOptions(document_class=RawBSONDocument)
#: Index options copied from listIndexes into createIndexes (``v`` and ``ns`` are not).
_INDEX_KEYS_SKIPPED = {"v", "ns", "key"}
_BATCH = 500


def dump(client: MongoClient[Any], databases: Iterable[str], out: Path) -> dict[str, int]:
    """Write every collection of ``databases`` under ``out``; return documents per
    ``database.collection``."""
    counts: dict[str, int] = {}
    for name in databases:
        db: Database[RawBSONDocument] = client.get_database(name, codec_options=_RAW)
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        for coll_name in sorted(db.list_collection_names()):
            if coll_name.startswith("system."):
                continue
            coll = db[coll_name]
            n = 0
            with (folder / f"{coll_name}.bson").open("wb") as f:
                for doc in coll.find({}, sort=[("_id", 1)]):
                    f.write(doc.raw)
                    n += 1
            indexes = [json.loads(json_util.dumps(dict(ix))) for ix in coll.list_indexes()]
            metadata = {"collectionName": coll_name, "type": "collection", "indexes": indexes}
            # Not sorted: the order of an index's keys is the index.
            (folder / f"{coll_name}.metadata.json").write_text(
                json.dumps(metadata, indent=2) + "\n", encoding="utf-8"
            )
            counts[f"{name}.{coll_name}"] = n
    return counts


def _batches(path: Path) -> Iterator[list[RawBSONDocument]]:
    batch: list[RawBSONDocument] = []
    with path.open("rb") as f:
        for doc in decode_file_iter(f, codec_options=_RAW):
            batch.append(doc)
            if len(batch) >= _BATCH:
                yield batch
                batch = []
    if batch:
        yield batch


def _index_model(spec: Mapping[str, Any]) -> tuple[list[tuple[str, Any]], dict[str, Any]]:
    keys = list(json_util.loads(json.dumps(spec["key"])).items())
    options = {k: v for k, v in spec.items() if k not in _INDEX_KEYS_SKIPPED}
    return keys, json_util.loads(json.dumps(options))


def restore(
    client: MongoClient[Any],
    source: Path,
    *,
    rename: Mapping[str, str] | None = None,
    only: Iterable[str] | None = None,
) -> dict[str, int]:
    """Load every ``<database>/<collection>.bson`` under ``source`` (each collection
    dropped first, then its documents and indexes); ``rename`` maps a dumped database to
    the one to restore into (a rehearsal next to the live data). Returns documents per
    restored ``database.collection``."""
    rename = dict(rename or {})
    wanted = set(only) if only is not None else None
    counts: dict[str, int] = {}
    for folder in sorted(p for p in source.iterdir() if p.is_dir()):
        if wanted is not None and folder.name not in wanted:
            continue
        target = rename.get(folder.name, folder.name)
        db: Database[RawBSONDocument] = client.get_database(target, codec_options=_RAW)
        for data in sorted(folder.glob("*.bson")):
            coll_name = data.name.removesuffix(".bson")
            coll = db[coll_name]
            coll.drop()
            n = 0
            for batch in _batches(data):
                coll.insert_many(batch, ordered=True)
                n += len(batch)
            if n == 0:
                db.create_collection(coll_name)  # an empty collection is restored too
            meta_path = folder / f"{coll_name}.metadata.json"
            if meta_path.exists():
                meta = json.loads(meta_path.read_text(encoding="utf-8"))
                for spec in meta.get("indexes", []):
                    if spec.get("name") == "_id_":
                        continue
                    keys, options = _index_model(spec)
                    coll.create_index(keys, **options)
            counts[f"{target}.{coll_name}"] = n
    return counts


def portal_databases(prefix: str = "") -> list[str]:
    """The portal's database names under MONGODB_DATABASE_PREFIX."""
    return [f"{prefix}{name}" for name in PORTAL_DATABASES]
