"""portal backup's index specifications survive the metadata.json round trip with their
BSON types (the restore recreates them from that file)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bson import SON, Int64, json_util

from shared.runtime.backup import _index_model, portal_databases


def test_index_options_keep_their_types() -> None:
    listed = SON(
        [
            ("v", 2),
            ("key", SON([("status", 1), ("created_at", -1)])),
            ("name", "unverified_by_age"),
            ("expireAfterSeconds", Int64(86400)),
            (
                "partialFilterExpression",
                {"created_at": {"$gt": datetime(2026, 1, 1, tzinfo=UTC)}},
            ),
            ("unique", True),
        ]
    )
    stored = json.loads(json.dumps(json.loads(json_util.dumps(dict(listed)))))
    keys, options = _index_model(stored)
    assert keys == [("status", 1), ("created_at", -1)]  # order kept: it is the index
    assert options["name"] == "unverified_by_age" and options["unique"] is True
    assert options["expireAfterSeconds"] == 86400
    moment = options["partialFilterExpression"]["created_at"]["$gt"]
    assert moment.replace(tzinfo=UTC) == datetime(2026, 1, 1, tzinfo=UTC)
    assert "v" not in options and "key" not in options


def test_portal_databases_under_a_prefix() -> None:
    assert portal_databases("t1_") == [
        "t1_identity",
        "t1_linking",
        "t1_notifier",
        "t1_scheduler",
        "t1_webhooks",
    ]
