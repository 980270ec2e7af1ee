"""The ``portal`` console command for operators and local runs (contract §7).

portal serve SERVICE                 run one service (identity|linking|notifier|scheduler|webhooks|web)
portal topics create                 create every topic of the catalog and its .DLQ
portal schemas export                regenerate shared/contracts/schemas/*.json
portal asyncapi export               regenerate shared/contracts/asyncapi/<service>.json and sis.json
portal openapi export                regenerate shared/contracts/openapi/<service>.json
portal backup dump --out DIR         dump the databases (mongodump's layout; restore --from DIR)
portal vectors export                regenerate shared/contracts/vectors/ (sample SIS records)
portal staff-token --school ID       mint a local staff bearer token   (linking)
portal roster import FILE.zip        load a OneRoster 1.1 CSV bundle   (linking)
portal legacy import FILE.csv        load previous-portal credential hashes (linking)
portal webhooks endpoint add ...     register an SIS webhook endpoint       (webhooks)
portal webhooks endpoint update ID   edit it: URL, events, on/off, secret   (webhooks)
portal webhooks deliveries|replay    read and replay the delivery log       (webhooks)
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
from pathlib import Path
from typing import Any

SERVICES = ("identity", "linking", "notifier", "scheduler", "webhooks")
#: Deployables that are HTTP clients of the services: no topics, no AsyncAPI document.
FRONT_ENDS = ("web",)
ASYNCAPI_DIR = Path(__file__).resolve().parents[1] / "contracts" / "asyncapi"
OPENAPI_DIR = Path(__file__).resolve().parents[1] / "contracts" / "openapi"


def service_module(name: str) -> Any:
    """The composition-root module (``<name>.app``) of a service."""
    if name not in SERVICES + FRONT_ENDS:
        choices = ", ".join(SERVICES + FRONT_ENDS)
        raise SystemExit(f"unknown service {name!r}; choose one of {choices}")
    return importlib.import_module(f"{name}.app")


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    module = service_module(args.service)
    settings = module.Settings()
    if args.port:
        settings.http_port = args.port
    app = module.create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        lifespan="on",
        timeout_graceful_shutdown=20,
        access_log=False,
    )
    server = uvicorn.Server(config)
    if settings.metrics_port and args.service in SERVICES:
        # One server on two sockets: the APIs on HTTP_PORT, /metrics alone on
        # METRICS_PORT (shared/runtime/metrics_port.py keeps them apart).
        metrics = uvicorn.Config(app, host=settings.http_host, port=settings.metrics_port)
        server.run(sockets=[config.bind_socket(), metrics.bind_socket()])
    else:
        server.run()
    return 0


def _topics_create(args: argparse.Namespace) -> int:
    from shared.runtime.kafka import create_topics
    from shared.runtime.settings import ServiceSettings

    settings = ServiceSettings()
    created, existing = asyncio.run(
        create_topics(
            settings, partitions=args.partitions, replication_factor=args.replication_factor
        )
    )
    print(f"topics: {len(created)} created, {len(existing)} already present")
    for name in created:
        print(f"  + {name}")
    return 0


def _schemas_export(_: argparse.Namespace) -> int:
    from shared.contracts.schemas import export_schemas

    for path in export_schemas():
        print(f"wrote {path}")
    return 0


def asyncapi_document(service: str) -> dict[str, Any]:
    """The AsyncAPI document of a service, generated from its FastStream app."""
    module = service_module(service)
    settings = module.Settings(otel_traces_file=None)
    app = module.create_app(settings)
    return app.state.runtime.asyncapi()  # type: ignore[no-any-return]


def render_asyncapi(doc: dict[str, Any]) -> str:
    """Stable text form of an AsyncAPI document."""
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _asyncapi_export(_: argparse.Namespace) -> int:
    from shared.contracts.asyncapi_documents import sis_document

    ASYNCAPI_DIR.mkdir(parents=True, exist_ok=True)
    docs = {service: asyncapi_document(service) for service in SERVICES}
    docs["sis"] = sis_document()
    for name, doc in docs.items():
        path = ASYNCAPI_DIR / f"{name}.json"
        path.write_text(render_asyncapi(doc), encoding="utf-8")
        print(f"wrote {path}")
    return 0


def openapi_documents() -> dict[str, dict[str, Any]]:
    """The OpenAPI document of every deployable that serves one (``GET /openapi.json``),
    generated from its FastAPI app (no lifespan: nothing connects)."""
    docs: dict[str, dict[str, Any]] = {}
    for name in SERVICES + FRONT_ENDS:
        module = service_module(name)
        app = module.create_app(module.Settings(otel_traces_file=None))
        if app.openapi_url:
            docs[name] = app.openapi()
    return docs


def _openapi_export(_: argparse.Namespace) -> int:
    OPENAPI_DIR.mkdir(parents=True, exist_ok=True)
    for name, doc in openapi_documents().items():
        path = OPENAPI_DIR / f"{name}.json"
        path.write_text(render_asyncapi(doc), encoding="utf-8")
        print(f"wrote {path}")
    return 0


def _backup(args: argparse.Namespace) -> int:
    from pymongo import MongoClient

    from shared.runtime import backup
    from shared.runtime.settings import ServiceSettings

    settings = ServiceSettings()
    options: dict[str, Any] = {"tz_aware": True, "serverSelectionTimeoutMS": 10000}
    if settings.mongodb_tls_ca_file is not None:
        options["tlsCAFile"] = str(settings.mongodb_tls_ca_file)
    client: Any = MongoClient(settings.mongodb_uri.get_secret_value(), **options)
    try:
        if args.backup_command == "dump":
            names = args.db or backup.portal_databases(settings.mongodb_database_prefix)
            counts = backup.dump(client, names, Path(args.out))
        else:
            rename = dict(pair.split("=", 1) for pair in args.rename)
            counts = backup.restore(client, Path(args.source), rename=rename, only=args.db)
    finally:
        client.close()
    for name, n in counts.items():
        print(f"{args.backup_command} {name}: {n} documents")
    return 0


def _vectors_export(_: argparse.Namespace) -> int:
    from shared.contracts.vectors import export_vectors

    for path in export_vectors():
        print(f"wrote {path}")
    return 0


def _delegate(module: str, func: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        return int(getattr(importlib.import_module(module), func)(args) or 0)

    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="portal", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run one service")
    serve.add_argument("service", choices=SERVICES + FRONT_ENDS)
    serve.add_argument("--port", type=int, default=0)
    serve.set_defaults(func=_serve)

    topics = sub.add_parser("topics", help="Kafka topics").add_subparsers(
        dest="action", required=True
    )
    create = topics.add_parser("create", help="create every topic and its .DLQ")
    create.add_argument("--partitions", type=int, default=3)
    create.add_argument("--replication-factor", type=int, default=1)
    create.set_defaults(func=_topics_create)

    schemas = sub.add_parser("schemas", help="event JSON Schemas").add_subparsers(
        dest="action", required=True
    )
    schemas.add_parser("export", help="regenerate the checked-in schemas").set_defaults(
        func=_schemas_export
    )

    asyncapi = sub.add_parser("asyncapi", help="AsyncAPI documents").add_subparsers(
        dest="action", required=True
    )
    asyncapi.add_parser("export", help="regenerate the checked-in documents").set_defaults(
        func=_asyncapi_export
    )

    openapi = sub.add_parser("openapi", help="OpenAPI documents").add_subparsers(
        dest="openapi_command", required=True
    )
    openapi.add_parser("export", help="regenerate the checked-in documents").set_defaults(
        func=_openapi_export
    )

    backups = sub.add_parser(
        "backup", help="logical dump/restore of the databases (mongodump's layout; MONGODB_URI)"
    ).add_subparsers(dest="backup_command", required=True)
    bdump = backups.add_parser("dump", help="dump the portal's databases into a folder")
    bdump.add_argument("--out", required=True, help="folder to write <db>/<collection>.bson")
    bdump.add_argument("--db", action="append", help="a database (default: the portal's)")
    bdump.set_defaults(func=_backup)
    brestore = backups.add_parser("restore", help="replace collections from a dump folder")
    brestore.add_argument("--from", dest="source", required=True, help="the dump folder")
    brestore.add_argument("--db", action="append", help="restore only this dumped database")
    brestore.add_argument(
        "--rename",
        action="append",
        default=[],
        metavar="DUMPED=TARGET",
        help="restore a dumped database under another name (a rehearsal)",
    )
    brestore.set_defaults(func=_backup)

    vectors = sub.add_parser("vectors", help="sample SIS records").add_subparsers(
        dest="action", required=True
    )
    vectors.add_parser("export", help="regenerate the checked-in test vectors").set_defaults(
        func=_vectors_export
    )

    staff = sub.add_parser("staff-token", help="mint a staff bearer token the local stack accepts")
    staff.add_argument("--school", action="append", default=[], help="school id (repeatable)")
    staff.add_argument("--role", choices=["school_staff", "district_admin"], default="school_staff")
    staff.add_argument("--subject", default="local-staff")
    staff.add_argument("--ttl-minutes", type=int, default=480)
    staff.set_defaults(func=_delegate("linking.cli", "staff_token"))

    roster = sub.add_parser("roster", help="student roster").add_subparsers(
        dest="action", required=True
    )
    rimport = roster.add_parser("import", help="load a OneRoster 1.1 CSV bundle (zip)")
    rimport.add_argument("file", type=Path)
    rimport.set_defaults(func=_delegate("linking.cli", "roster_import"))

    legacy = sub.add_parser("legacy", help="previous parent portal credentials").add_subparsers(
        dest="action", required=True
    )
    limport = legacy.add_parser("import", help="load previous-portal credential hashes (CSV)")
    limport.add_argument("file", type=Path)
    limport.set_defaults(func=_delegate("linking.cli", "legacy_import"))

    hooks = sub.add_parser("webhooks", help="SIS webhooks").add_subparsers(
        dest="action", required=True
    )
    endpoint = hooks.add_parser("endpoint", help="webhook endpoints").add_subparsers(
        dest="endpoint_action", required=True
    )
    add = endpoint.add_parser("add", help="register an HTTPS endpoint (prints its secret once)")
    add.add_argument("--sis", required=True, help="which SIS (e.g. focus)")
    add.add_argument("--url", required=True)
    add.add_argument("--events", default="", help="comma-separated event types (default: all)")
    add.add_argument("--description", default="")
    add.set_defaults(func=_delegate("webhooks.cli", "endpoint_add"))
    endpoint.add_parser("list", help="registered endpoints").set_defaults(
        func=_delegate("webhooks.cli", "endpoint_list")
    )
    rotate = endpoint.add_parser("rotate-secret", help="new secret; the old one stays valid 24 h")
    rotate.add_argument("endpoint")
    rotate.add_argument("--overlap-hours", type=_positive_hours, help="instead of 24 h")
    rotate.set_defaults(func=_delegate("webhooks.cli", "rotate_secret"))
    update = endpoint.add_parser(
        "update", help="edit an endpoint (prints it, and its new secret once when rotated)"
    )
    update.add_argument("endpoint")
    update.add_argument("--url", help="a new URL (checked as at registration)")
    update.add_argument("--events", help="comma-separated event types replacing the list, or 'all'")
    onoff = update.add_mutually_exclusive_group()
    onoff.add_argument("--enable", dest="enabled", action="store_const", const=True)
    onoff.add_argument(
        "--disable",
        dest="enabled",
        action="store_const",
        const=False,
        help="no new deliveries until enabled again",
    )
    update.add_argument("--description")
    secret = update.add_mutually_exclusive_group()
    secret.add_argument(
        "--rotate-secret",
        action="store_true",
        help="a new secret; both sign during the overlap (24 h unless --overlap-hours)",
    )
    secret.add_argument(
        "--retire-previous-secrets",
        action="store_true",
        help="end a rotation's overlap now: only the newest secret signs",
    )
    update.add_argument("--overlap-hours", type=_positive_hours)
    update.set_defaults(func=_delegate("webhooks.cli", "endpoint_update"))
    log = hooks.add_parser("deliveries", help="the delivery log (JSON lines)")
    log.add_argument("--endpoint")
    log.add_argument("--status", choices=["pending", "delivered", "failed"])
    log.add_argument("--key", help="a link_id")
    log.add_argument("--limit", type=int, default=100)
    log.set_defaults(func=_delegate("webhooks.cli", "deliveries"))
    replay = hooks.add_parser("replay", help="send deliveries again")
    replay.add_argument("delivery", nargs="*", help="delivery ids")
    replay.add_argument("--failed", action="store_true", help="every failed delivery")
    replay.add_argument("--endpoint", help="with --failed: only this endpoint's")
    replay.set_defaults(func=_delegate("webhooks.cli", "replay"))
    return parser


def _positive_hours(text: str) -> float:
    hours = float(text)
    if not 0 < hours <= 24 * 30:
        raise argparse.ArgumentTypeError("between 0 and 720 hours")
    return hours


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``portal`` command."""
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
