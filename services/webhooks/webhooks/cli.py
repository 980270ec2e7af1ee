"""``portal webhooks ...``: register and edit endpoints, rotate secrets, read and replay
the delivery log (the ``portal`` command delegates here; arguments in shared/runtime/cli.py).
Every command works on the service's database (``MONGODB_URI``)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.runtime.mongo import create_client, service_database
from webhooks import handlers
from webhooks.domain.model import Delivery, Endpoint, Status, UrlRefused


async def _run(work: Any) -> Any:
    from webhooks.app import build_dependencies
    from webhooks.settings import Settings

    settings = Settings()
    client = create_client(settings)
    try:
        deps = build_dependencies(settings, service_database(client, settings), lambda: None)
        return await work(deps)
    finally:
        await client.close()


def _delivery_row(d: Delivery) -> dict[str, Any]:
    last = d.log[-1] if d.log else None
    return {
        "id": d.id,
        "endpoint_id": d.endpoint_id,
        "event_type": d.event_type,
        "webhook_id": d.ce_id,
        "key": d.key,
        "event_time": d.event_time.isoformat(),
        "status": str(d.status),
        "attempts": d.attempts,
        "next_attempt_at": d.next_attempt_at.isoformat() if d.status == Status.PENDING else None,
        "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None,
        "last_attempt": None
        if last is None
        else {
            "at": last.at.isoformat(),
            "status_code": last.status_code,
            "error": last.error,
            "duration_ms": last.duration_ms,
        },
    }


def endpoint_add(args: argparse.Namespace) -> int:
    async def work(deps: handlers.Dependencies) -> int:
        try:
            endpoint, secret = await handlers.register_endpoint(
                deps,
                sis=args.sis,
                url=args.url,
                event_types=[t for t in (args.events or "").split(",") if t],
                description=args.description,
            )
        except (UrlRefused, ValueError) as exc:
            print(f"webhooks: refused: {exc}", file=sys.stderr)
            return 2
        print(
            json.dumps(
                {
                    "id": endpoint.id,
                    "url": endpoint.url,
                    "event_types": sorted(endpoint.event_types),
                    "secret": secret,
                }
            )
        )
        return 0

    return int(asyncio.run(_run(work)))


def endpoint_list(_: argparse.Namespace) -> int:
    async def work(deps: handlers.Dependencies) -> int:
        for e in await deps.endpoints.all():
            print(
                json.dumps(
                    {
                        "id": e.id,
                        "sis": e.sis,
                        "url": e.url,
                        "enabled": e.enabled,
                        "event_types": sorted(e.event_types),
                        "secrets": len(e.secrets),
                    }
                )
            )
        return 0

    return int(asyncio.run(_run(work)))


def _overlap(args: argparse.Namespace) -> timedelta | None:
    hours = getattr(args, "overlap_hours", None)
    return None if hours is None else timedelta(hours=hours)


def rotate_secret(args: argparse.Namespace) -> int:
    async def work(deps: handlers.Dependencies) -> int:
        try:
            endpoint, secret = await handlers.rotate_secret(deps, args.endpoint, _overlap(args))
        except KeyError:
            print(f"webhooks: no endpoint {args.endpoint}", file=sys.stderr)
            return 2
        print(json.dumps({"id": endpoint.id, "secret": secret}))
        return 0

    return int(asyncio.run(_run(work)))


def _endpoint_row(e: Endpoint, now: datetime) -> dict[str, Any]:
    """An endpoint as the operator sees it: never its secrets, only when each was made
    and until when it signs."""
    return {
        "id": e.id,
        "sis": e.sis,
        "url": e.url,
        "enabled": e.enabled,
        "event_types": sorted(e.event_types),
        "description": e.description,
        "secrets": [
            {
                "created_at": s.created_at.isoformat(),
                "expires_at": s.expires_at.isoformat() if s.expires_at else None,
            }
            for s in e.secrets
            if s.active(now)
        ],
    }


def endpoint_update(args: argparse.Namespace) -> int:
    """Edit an endpoint: URL, event types, enabled, description, secret rotation."""

    async def work(deps: handlers.Dependencies) -> int:
        events = None
        if args.events is not None:
            events = [] if args.events == "all" else [t for t in args.events.split(",") if t]
        try:
            endpoint, secret = await handlers.update_endpoint(
                deps,
                args.endpoint,
                url=args.url,
                event_types=events,
                enabled=args.enabled,
                description=args.description,
                rotate_secret=args.rotate_secret,
                overlap=_overlap(args),
                retire_previous_secrets=args.retire_previous_secrets,
            )
        except KeyError:
            print(f"webhooks: no endpoint {args.endpoint}", file=sys.stderr)
            return 2
        except (UrlRefused, ValueError) as exc:
            print(f"webhooks: refused: {exc}", file=sys.stderr)
            return 2
        row = _endpoint_row(endpoint, datetime.now(UTC))
        if secret is not None:
            row["secret"] = secret  # shown once
        print(json.dumps(row))
        return 0

    return int(asyncio.run(_run(work)))


def deliveries(args: argparse.Namespace) -> int:
    async def work(deps: handlers.Dependencies) -> int:
        rows = await deps.deliveries.list(
            endpoint_id=args.endpoint,
            status=Status(args.status) if args.status else None,
            key=args.key,
            limit=args.limit,
        )
        for d in rows:
            print(json.dumps(_delivery_row(d)))
        return 0

    return int(asyncio.run(_run(work)))


def replay(args: argparse.Namespace) -> int:
    async def work(deps: handlers.Dependencies) -> int:
        ids = list(args.delivery)
        if args.failed:
            ids += [
                d.id
                for d in await deps.deliveries.list(
                    endpoint_id=args.endpoint, status=Status.FAILED, limit=100_000
                )
            ]
        count = await handlers.replay(deps, ids)
        print(json.dumps({"replayed": count}))
        return 0

    return int(asyncio.run(_run(work)))
