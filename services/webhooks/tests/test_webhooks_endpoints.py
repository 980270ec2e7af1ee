"""Editing a registered endpoint (``portal webhooks endpoint update``): URL, event types,
enabled, description and secret rotation, on an in-memory endpoint store."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from webhooks import handlers
from webhooks.domain.model import Endpoint, UrlRefused

from shared.contracts.envelope import decode
from shared.contracts.vectors import load_vectors

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
DNS = {"sis.example.org": ["93.184.215.14"], "new.example.org": ["93.184.215.15"]}
DNS |= {"intranet.district.k12": ["10.20.30.40"]}


class InMemoryEndpoints:
    """The part of MongoEndpoints the endpoint use cases call."""

    def __init__(self) -> None:
        self.saved: dict[str, Endpoint] = {}

    async def add(self, endpoint: Endpoint) -> None:
        self.saved[endpoint.id] = endpoint

    async def save(self, endpoint: Endpoint) -> None:
        self.saved[endpoint.id] = endpoint

    async def get(self, endpoint_id: str) -> Endpoint | None:
        return self.saved.get(endpoint_id)

    async def receiving(self, event_type: str) -> list[Endpoint]:
        return [e for e in self.saved.values() if e.receives(event_type)]


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def resolve(host: str, _port: int) -> list[str]:
    if host not in DNS:
        raise OSError(host)
    return DNS[host]


@pytest.fixture
def deps() -> handlers.Dependencies:
    return handlers.Dependencies(
        endpoints=InMemoryEndpoints(),  # type: ignore[arg-type]
        deliveries=None,  # type: ignore[arg-type]
        wake=lambda: None,
        require_https=True,
        allowed_networks=[],
        resolve=resolve,
        rotation_overlap=timedelta(hours=24),
        clock=Clock(),
    )


async def _registered(deps: handlers.Dependencies) -> tuple[Endpoint, str]:
    return await handlers.register_endpoint(
        deps, sis="focus", url="https://sis.example.org/hook", event_types=["LinkApproved"]
    )


async def test_url_events_enabled_and_description_are_edited(
    deps: handlers.Dependencies,
) -> None:
    endpoint, secret = await _registered(deps)
    updated, new = await handlers.update_endpoint(
        deps,
        endpoint.id,
        url="https://new.example.org/v2/hook",
        event_types=["LinkApproved", "GuardianContactUpdated"],
        description="Focus, moved",
    )
    assert new is None
    stored = await deps.endpoints.get(endpoint.id)
    assert stored == updated
    assert updated.url == "https://new.example.org/v2/hook"
    assert updated.event_types == {"LinkApproved", "GuardianContactUpdated"}
    assert updated.description == "Focus, moved"
    # The secret did not change: the receiver keeps verifying with it.
    assert updated.signing_secrets(NOW) == [secret]
    assert [e.id for e in await deps.endpoints.receiving("GuardianContactUpdated")] == [endpoint.id]

    disabled, _ = await handlers.update_endpoint(deps, endpoint.id, enabled=False)
    assert not disabled.enabled
    assert await deps.endpoints.receiving("LinkApproved") == []
    enabled, _ = await handlers.update_endpoint(deps, endpoint.id, enabled=True)
    assert [e.id for e in await deps.endpoints.receiving("LinkApproved")] == [endpoint.id]
    # An empty list means every deliverable event type, as at registration.
    every, _ = await handlers.update_endpoint(deps, endpoint.id, event_types=[])
    assert every.event_types == handlers.DELIVERABLE
    assert enabled.url == every.url == "https://new.example.org/v2/hook"


async def test_rotation_signs_with_both_for_the_overlap_then_the_new_one(
    deps: handlers.Dependencies,
) -> None:
    endpoint, old = await _registered(deps)
    rotated, new = await handlers.update_endpoint(
        deps, endpoint.id, rotate_secret=True, overlap=timedelta(hours=2)
    )
    assert new is not None and new != old
    stored = await deps.endpoints.get(endpoint.id)
    assert stored == rotated
    assert stored.signing_secrets(NOW + timedelta(hours=1)) == [new, old]
    assert stored.signing_secrets(NOW + timedelta(hours=2, seconds=1)) == [new]
    # The default overlap is the service's.
    _, newer = await handlers.rotate_secret(deps, endpoint.id)
    stored = await deps.endpoints.get(endpoint.id)
    assert stored is not None
    assert stored.signing_secrets(NOW + timedelta(hours=1)) == [newer, new, old]
    assert stored.signing_secrets(NOW + timedelta(hours=23)) == [newer, new]
    # The receiver switched: the overlap ends now, only the newest secret signs.
    retired, none = await handlers.update_endpoint(deps, endpoint.id, retire_previous_secrets=True)
    assert none is None
    assert retired.signing_secrets(NOW) == [newer]
    assert (await deps.endpoints.get(endpoint.id)) == retired


@pytest.mark.parametrize(
    ("changes", "error", "fragment"),
    [
        ({"url": "http://sis.example.org/hook"}, UrlRefused, "http:// is refused"),
        ({"url": "https://intranet.district.k12/hook"}, UrlRefused, "did not allow"),
        ({"event_types": ["PasswordResetRequested"]}, ValueError, "not deliverable"),
        ({}, ValueError, "nothing to change"),
        ({"rotate_secret": True, "retire_previous_secrets": True}, ValueError, "not both"),
        ({"overlap": timedelta(hours=1)}, ValueError, "only with a secret rotation"),
    ],
)
async def test_refused_changes_save_nothing(
    deps: handlers.Dependencies, changes: dict[str, object], error: type, fragment: str
) -> None:
    endpoint, _ = await _registered(deps)
    with pytest.raises(error, match=fragment):
        await handlers.update_endpoint(deps, endpoint.id, **changes)  # type: ignore[arg-type]
    assert await deps.endpoints.get(endpoint.id) == endpoint


async def test_unknown_endpoint(deps: handlers.Dependencies) -> None:
    with pytest.raises(KeyError):
        await handlers.update_endpoint(deps, "ep_missing", enabled=False)


class QueuedDeliveries:
    """The part of MongoDeliveries that queuing calls."""

    def __init__(self) -> None:
        self.added: list[Any] = []

    async def next_seq(self) -> int:
        return len(self.added)

    async def add(self, delivery: Any) -> int:
        self.added.append(delivery)
        return 1


@pytest.mark.parametrize(
    ("event_type", "held"),
    [
        ("LinkApproved", False),
        ("LinkDenied", False),
        ("GuardianContactUpdated", True),
        ("LinkRevoked", True),
    ],
)
async def test_events_that_follow_an_approval_wait_for_it(
    deps: handlers.Dependencies, event_type: str, held: bool
) -> None:
    """A revocation or contact change may be read before its link's approval (another
    topic): it is due only ``order_window`` after its event's time; a link's first event
    is due at once."""
    await handlers.register_endpoint(
        deps, sis="focus", url="https://sis.example.org/hooks", event_types=[]
    )
    record = next(r for _, _, r in load_vectors() if dict(r["headers"])["ce_type"] == event_type)
    envelope = decode([(k, v.encode()) for k, v in record["headers"]], record["value"].encode())
    envelope = replace(envelope, time=NOW - timedelta(seconds=1))
    queued = QueuedDeliveries()
    deps = replace(deps, deliveries=queued, order_window=timedelta(seconds=5))  # type: ignore[arg-type]
    assert await handlers.queue_deliveries(envelope, deps) == 1
    due = queued.added[0].next_attempt_at
    assert due == (NOW + timedelta(seconds=4) if held else NOW)
