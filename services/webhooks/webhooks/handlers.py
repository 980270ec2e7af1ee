"""Use cases of the webhooks service: queue a delivery per endpoint for each public event;
register and edit endpoints, rotate their secrets, read and replay the delivery log."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from shared.contracts.envelope import Envelope
from shared.contracts.topics import CONSUMERS
from webhooks.adapters.mongo_webhooks import MongoDeliveries, MongoEndpoints
from webhooks.domain.model import (
    Delivery,
    Endpoint,
    SigningSecret,
    Status,
    UrlRefused,
    check_url,
    structured_event,
)
from webhooks.domain.signing import new_secret

#: The event types an endpoint may receive: the public topics this service consumes.
DELIVERABLE: frozenset[str] = frozenset(str(t) for t in CONSUMERS["webhooks"])
#: Events that follow another event of their link published on another topic (a
#: revocation or a contact change follows the approval). Each topic is read on its own,
#: so such an event can be read first; its delivery waits ``order_window`` after the
#: event's time, so that the earlier event, read meanwhile, goes out first. A link's first
#: event (approved, denied, expired, withdrawn) is never held back.
FOLLOWERS: frozenset[str] = frozenset({"LinkRevoked", "GuardianContactUpdated"})

Resolver = Callable[[str, int], Iterable[str]]


@dataclass
class Dependencies:
    endpoints: MongoEndpoints
    deliveries: MongoDeliveries
    wake: Callable[[], None]
    require_https: bool
    allowed_networks: list[str]
    resolve: Resolver
    rotation_overlap: timedelta
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    order_window: timedelta = timedelta(seconds=5)


async def queue_deliveries(envelope: Envelope, deps: Dependencies) -> int:
    """One delivery per endpoint that receives this event type (idempotent)."""
    endpoints = await deps.endpoints.receiving(envelope.type)
    if not endpoints:
        return 0
    body = json.dumps(structured_event(envelope), ensure_ascii=False, separators=(",", ":"))
    now = deps.clock()
    due = now
    if envelope.type in FOLLOWERS:
        due = max(now, envelope.time + deps.order_window)
    queued = 0
    for endpoint in endpoints:
        delivery = Delivery(
            id=Delivery.delivery_id(endpoint.id, envelope.id),
            endpoint_id=endpoint.id,
            ce_id=envelope.id,
            event_type=envelope.type,
            key=envelope.event.key(),
            event_time=envelope.time,
            seq=await deps.deliveries.next_seq(),
            body=body,
            status=Status.PENDING,
            created_at=now,
            next_attempt_at=due,
        )
        queued += await deps.deliveries.add(delivery)
    if queued:
        deps.wake()
    return queued


def refuse_bad_url(url: str, deps: Dependencies) -> None:
    problems = check_url(
        url,
        require_https=deps.require_https,
        allowed_networks=deps.allowed_networks,
        resolve=deps.resolve,
    )
    if problems:
        raise UrlRefused("; ".join(problems))


def deliverable_types(event_types: Iterable[str]) -> frozenset[str]:
    """The event types an endpoint asks for (none: every deliverable one); ValueError
    names any that is not deliverable."""
    types = frozenset(event_types) or DELIVERABLE
    unknown = sorted(types - DELIVERABLE)
    if unknown:
        raise ValueError(
            f"not deliverable: {', '.join(unknown)} (choose from {', '.join(sorted(DELIVERABLE))})"
        )
    return types


async def register_endpoint(
    deps: Dependencies,
    *,
    sis: str,
    url: str,
    event_types: Iterable[str],
    description: str = "",
) -> tuple[Endpoint, str]:
    """Register an endpoint; returns it and its first secret (shown once)."""
    types = deliverable_types(event_types)
    refuse_bad_url(url, deps)
    now = deps.clock()
    secret = new_secret()
    endpoint = Endpoint(
        id="ep_" + uuid.uuid4().hex[:16],
        sis=sis,
        url=url,
        event_types=types,
        secrets=(SigningSecret(secret, now),),
        created_at=now,
        description=description,
    )
    await deps.endpoints.add(endpoint)
    return endpoint, secret


async def rotate_secret(
    deps: Dependencies, endpoint_id: str, overlap: timedelta | None = None
) -> tuple[Endpoint, str]:
    """A new signing secret; the previous one stays valid for the overlap (the
    service's default unless given)."""
    endpoint, secret = await update_endpoint(deps, endpoint_id, rotate_secret=True, overlap=overlap)
    assert secret is not None
    return endpoint, secret


async def update_endpoint(
    deps: Dependencies,
    endpoint_id: str,
    *,
    url: str | None = None,
    event_types: Iterable[str] | None = None,
    enabled: bool | None = None,
    description: str | None = None,
    rotate_secret: bool = False,
    overlap: timedelta | None = None,
    retire_previous_secrets: bool = False,
) -> tuple[Endpoint, str | None]:
    """Edit a registered endpoint; returns it and its new secret when one was made.

    A new URL passes the same checks as at registration. ``event_types`` replaces the
    list (empty: every deliverable type). A disabled endpoint gets no new deliveries;
    those already queued keep their retry schedule (they fail while it is disabled, and
    go out at their next attempt once it is enabled again). ``rotate_secret`` adds a new
    secret, both signing for ``overlap``; ``retire_previous_secrets`` ends that overlap
    now. Queued deliveries go to the endpoint as it is at each attempt (URL, secrets).
    KeyError: no such endpoint; ValueError (UrlRefused): a refused change, nothing saved.
    """
    endpoint = await deps.endpoints.get(endpoint_id)
    if endpoint is None:
        raise KeyError(endpoint_id)
    if rotate_secret and retire_previous_secrets:
        raise ValueError("rotate the secret or retire the previous ones, not both at once")
    if overlap is not None and not rotate_secret:
        raise ValueError("an overlap is given only with a secret rotation")
    changes: dict[str, object] = {}
    if url is not None and url != endpoint.url:
        refuse_bad_url(url, deps)
        changes["url"] = url
    if event_types is not None:
        changes["event_types"] = deliverable_types(event_types)
    if enabled is not None:
        changes["enabled"] = enabled
    if description is not None:
        changes["description"] = description
    if not changes and not rotate_secret and not retire_previous_secrets:
        raise ValueError("nothing to change")
    updated = replace(endpoint, **changes)  # type: ignore[arg-type]
    now = deps.clock()
    secret: str | None = None
    if rotate_secret:
        secret = new_secret()
        updated = updated.rotated(secret, now, overlap or deps.rotation_overlap)
    if retire_previous_secrets:
        updated = updated.previous_secrets_retired()
    await deps.endpoints.save(updated)
    return updated, secret


async def replay(deps: Dependencies, delivery_ids: Iterable[str]) -> int:
    """Send delivered or failed deliveries again (same webhook-id: receivers dedupe)."""
    now = deps.clock()
    replayed = 0
    for delivery_id in delivery_ids:
        replayed += await deps.deliveries.replay(delivery_id, now)
    if replayed:
        deps.wake()
    return replayed
