"""Signed webhooks on the real stack: the webhooks service consumes the public topics and
delivers to a local HTTPS receiver (self-signed certificate) that checks Standard
Webhooks signatures, while the receiver fails, is slow, is down, and while the service is
killed mid-way. Bad configuration is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from webhooks.domain.signing import verify

from shared.contracts.envelope import encode
from shared.contracts.events import GuardianContactUpdated, LinkApproved, LinkRevoked
from shared.contracts.vectors import SAMPLES
from tests.harness import ROOT, Portal, new_portal, start_portal, stop_portal, wait_until
from tests.integration.webhook_receiver import Receiver, self_signed_certificate
from tests.kafka_tools import produce_raw

RETRIES = [0.5, 1, 2, 4, 8]


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receiver]:
    cert, key = self_signed_certificate(tmp_path_factory.mktemp("tls"))
    r = Receiver(cert, key)
    r.start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def hooks(stack: None, receiver: Receiver) -> Iterator[Portal]:
    portal = new_portal([])
    portal.add(
        "webhooks",
        {
            "WEBHOOKS_RETRY_SCHEDULE_SECONDS": json.dumps(RETRIES),
            "WEBHOOKS_ALLOWED_NETWORKS": json.dumps(["127.0.0.0/8", "::1/128"]),
            "WEBHOOKS_CA_FILE": str(receiver.cert),
            "WEBHOOKS_TIMEOUT_SECONDS": "1.5",
            "WEBHOOKS_POLL_SECONDS": "0.2",
            "WEBHOOKS_LEASE_SECONDS": "4",
        },
    )
    start_portal(portal)
    try:
        yield portal
    finally:
        stop_portal(portal)


def cli(
    portal: Portal, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shared.runtime.cli", "webhooks", *args],
        cwd=ROOT,
        env={**portal.services["webhooks"].env, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def endpoint(hooks: Portal, receiver: Receiver) -> dict[str, Any]:
    """The receiver registered (through the operator's command) for every event type."""
    done = cli(hooks, "endpoint", "add", "--sis", "focus", "--url", receiver.url)
    assert done.returncode == 0, done.stderr
    registered = json.loads(done.stdout)
    assert registered["event_types"] == sorted(
        [
            "LinkApproved",
            "LinkDenied",
            "LinkExpired",
            "LinkRevoked",
            "LinkWithdrawn",
            "GuardianContactUpdated",
        ]
    )
    receiver.secrets.append(registered["secret"])
    return dict(registered)


def deliveries(portal: Portal, *args: str) -> list[dict[str, Any]]:
    done = cli(portal, "deliveries", *args)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


async def publish(portal: Portal, event: Any, *, event_id: str | None = None) -> str:
    record = encode(
        event,
        source="linking",
        event_id=event_id,
        trace_headers={"traceparent": "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"},
    )
    await produce_raw(portal.topic(event.event_type()), record.value, record.headers, record.key)
    return dict(record.headers)["ce_id"].decode()


def approved(link_id: str) -> LinkApproved:
    base = SAMPLES[0].event
    assert isinstance(base, LinkApproved)
    return base.model_copy(update={"link_id": link_id, "approved_at": datetime.now(UTC)})


def revoked(link_id: str) -> LinkRevoked:
    base = next(s.event for s in SAMPLES if s.name == "revoked")
    assert isinstance(base, LinkRevoked)
    return base.model_copy(update={"link_id": link_id, "revoked_at": datetime.now(UTC)})


def wait_accepted(receiver: Receiver, ids: set[str], timeout: float = 60) -> None:
    wait_until(
        lambda: ids <= set(receiver.accepted_ids()),
        timeout=timeout,
        what=f"{len(ids)} webhooks accepted",
    )


async def test_signed_ordered_retried_and_deduplicable(
    hooks: Portal, receiver: Receiver, endpoint: dict[str, Any]
) -> None:
    receiver.fail_next = 3  # the first three requests get 500
    link_a, link_b = str(uuid.uuid4()), str(uuid.uuid4())
    a1 = await publish(hooks, approved(link_a))
    a2 = await publish(hooks, revoked(link_a))
    b1 = await publish(hooks, approved(link_b))
    await publish(hooks, approved(link_a), event_id=a1)  # a redelivered record
    wait_accepted(receiver, {a1, a2, b1})

    accepted = [r for r in receiver.accepted() if r.headers["webhook-id"] in {a1, a2, b1}]
    assert all(r.valid_signature for r in accepted)
    # One delivery per event (the redelivered record made none), at least once.
    assert sorted({r.headers["webhook-id"] for r in accepted}) == sorted({a1, a2, b1})
    # In order per link: the revocation was accepted after the approval.
    ids = [r.headers["webhook-id"] for r in accepted]
    assert ids.index(a1) < ids.index(a2)
    # The body is the CloudEvent in structured mode.
    first = next(r for r in accepted if r.headers["webhook-id"] == a1)
    assert first.headers["content-type"].startswith("application/cloudevents+json")
    assert first.event["specversion"] == "1.0"
    assert first.event["id"] == a1 and first.event["type"] == "LinkApproved"
    assert first.event["data"]["link_id"] == link_a
    assert first.event["subject"] == link_a
    # The delivery log shows the failed attempts and the success.
    log = {d["webhook_id"]: d for d in deliveries(hooks)}
    assert {log[i]["status"] for i in (a1, a2, b1)} == {"delivered"}
    assert sum(log[i]["attempts"] for i in (a1, a2, b1)) >= 3 + 3
    failed_first = [r for r in receiver.requests if r.answered == 500]
    assert len(failed_first) >= 3


async def test_receiver_down_and_service_killed_lose_nothing(
    hooks: Portal, receiver: Receiver, endpoint: dict[str, Any]
) -> None:
    receiver.stop()  # down: connection refused
    link = str(uuid.uuid4())
    ids = [await publish(hooks, approved(link)), await publish(hooks, revoked(link))]
    wait_until(
        lambda: any(d["attempts"] >= 1 for d in deliveries(hooks, "--key", link)),
        timeout=30,
        what="a failed attempt while the receiver is down",
    )
    down = deliveries(hooks, "--key", link)
    assert all(d["status"] == "pending" for d in down)
    assert down[0]["last_attempt"]["status_code"] is None  # refused, no answer
    hooks.services["webhooks"].kill()  # SIGKILL mid-way
    receiver.start()
    hooks.services["webhooks"].start()
    wait_accepted(receiver, set(ids))
    accepted_ids = [i for i in receiver.accepted_ids() if i in ids]
    assert accepted_ids.index(ids[0]) < accepted_ids.index(ids[1])


async def test_slow_receiver_is_retried_and_stays_deduplicable(
    hooks: Portal, receiver: Receiver, endpoint: dict[str, Any]
) -> None:
    event_id = str(uuid.uuid4())
    receiver.slow_ids, receiver.slow_seconds = {event_id}, 3.0  # longer than the time-out
    await publish(hooks, approved(str(uuid.uuid4())), event_id=event_id)
    wait_accepted(receiver, {event_id})
    seen = [r for r in receiver.requests if r.headers["webhook-id"] == event_id]
    # The slow attempt counted as failed and was retried with the same webhook-id; the
    # receiver may have processed both: it deduplicates on that id.
    assert len(seen) >= 2
    (row,) = [d for d in deliveries(hooks) if d["webhook_id"] == event_id]
    assert row["status"] == "delivered" and row["attempts"] >= 2


async def test_failed_delivery_is_logged_and_replayed(
    hooks: Portal, receiver: Receiver, endpoint: dict[str, Any]
) -> None:
    receiver.fail_always = True
    try:
        event_id = await publish(hooks, revoked(str(uuid.uuid4())))
        wait_until(
            lambda: any(
                d["webhook_id"] == event_id for d in deliveries(hooks, "--status", "failed")
            ),
            timeout=60,
            what="the delivery to give up after its retries",
        )
    finally:
        receiver.fail_always = False
    (row,) = [d for d in deliveries(hooks, "--status", "failed") if d["webhook_id"] == event_id]
    assert row["attempts"] == len(RETRIES) + 1
    assert row["last_attempt"]["status_code"] == 500
    done = cli(hooks, "replay", row["id"])
    assert done.returncode == 0 and json.loads(done.stdout) == {"replayed": 1}
    wait_accepted(receiver, {event_id})


async def test_rotated_secret_signs_with_both_during_the_overlap(
    hooks: Portal, receiver: Receiver, endpoint: dict[str, Any]
) -> None:
    done = cli(hooks, "endpoint", "rotate-secret", endpoint["id"])
    assert done.returncode == 0, done.stderr
    new_secret = json.loads(done.stdout)["secret"]
    old_secrets = list(receiver.secrets)
    receiver.secrets[:] = [new_secret]  # a receiver that already switched
    try:
        event_id = await publish(hooks, approved(str(uuid.uuid4())))
        wait_accepted(receiver, {event_id})
    finally:
        receiver.secrets[:] = [*old_secrets, new_secret]
    (request,) = [r for r in receiver.accepted() if r.headers["webhook-id"] == event_id]
    assert len(request.headers["webhook-signature"].split(" ")) == 2


def test_bad_configuration_is_refused(hooks: Portal) -> None:
    production = {
        "ENVIRONMENT": "production",
        "WEBHOOKS_ALLOW_HTTP": "true",
        "MONGODB_URI": os.environ.get("MONGODB_URI", "mongodb://127.0.0.1:27017"),
    }
    http = cli(
        hooks,
        "endpoint",
        "add",
        "--sis",
        "focus",
        "--url",
        "http://sis.example.org/hooks",
        env=production,
    )
    assert http.returncode == 2
    assert "http:// is refused" in http.stderr
    private = cli(
        hooks,
        "endpoint",
        "add",
        "--sis",
        "focus",
        "--url",
        "https://10.20.30.40/hooks",
        env={"WEBHOOKS_ALLOWED_NETWORKS": "[]"},
    )
    assert private.returncode == 2
    assert "10.20.30.40" in private.stderr and "did not allow" in private.stderr
    metadata = cli(
        hooks,
        "endpoint",
        "add",
        "--sis",
        "focus",
        "--url",
        "https://169.254.169.254/latest",
        env={"WEBHOOKS_ALLOWED_NETWORKS": "[]"},
    )
    assert metadata.returncode == 2
    unknown = cli(
        hooks,
        "endpoint",
        "add",
        "--sis",
        "focus",
        "--url",
        "https://localhost/x",
        "--events",
        "PasswordResetRequested",
    )
    assert unknown.returncode == 2 and "not deliverable" in unknown.stderr
    # Nothing was registered by the refused commands.
    listed = cli(hooks, "endpoint", "list").stdout
    assert "sis.example.org" not in listed and "10.20.30.40" not in listed


async def test_contact_change_is_delivered_in_order_after_the_approval(
    hooks: Portal, receiver: Receiver, endpoint: dict[str, Any]
) -> None:
    """Issue 20: GuardianContactUpdated is delivered like the link events, after its
    link's approval, with the whole contact block as data."""
    link = str(uuid.uuid4())
    base = next(s.event for s in SAMPLES if s.name == "phone-and-sms-consent")
    assert isinstance(base, GuardianContactUpdated)
    update = base.model_copy(update={"link_id": link, "updated_at": datetime.now(UTC)})
    ids = [await publish(hooks, approved(link)), await publish(hooks, update)]
    wait_accepted(receiver, set(ids))
    accepted = [r for r in receiver.accepted() if r.headers["webhook-id"] in ids]
    assert all(r.valid_signature for r in accepted)
    order = [r.headers["webhook-id"] for r in accepted]
    assert order.index(ids[0]) < order.index(ids[1])
    body = next(r.event for r in accepted if r.headers["webhook-id"] == ids[1])
    assert body["type"] == "GuardianContactUpdated" and body["subject"] == link
    assert body["dataschema"] == "urn:guardian-portal:schema:GuardianContactUpdated:v1"
    mobile = body["data"]["guardian"]["phones"][0]
    assert mobile["e164"] == "+19045550142" and mobile["sms"] is True
    assert body["data"]["guardian"]["address"]["zip"] == "32207"


async def test_endpoint_edited_moved_filtered_disabled_and_rotated(
    hooks: Portal, receiver: Receiver, endpoint: dict[str, Any]
) -> None:
    """``portal webhooks endpoint update`` on a second endpoint; the module's endpoint
    (every event type) is the witness that an event was consumed, since both endpoints'
    deliveries of an event are queued together."""
    done = cli(hooks, "endpoint", "add", "--sis", "powerschool", "--url", receiver.url)
    assert done.returncode == 0, done.stderr
    second = json.loads(done.stdout)
    receiver.secrets.append(second["secret"])
    moved_url = receiver.url + "-v2"

    def update(*args: str) -> dict[str, Any]:
        updated = cli(hooks, "endpoint", "update", second["id"], *args)
        assert updated.returncode == 0, updated.stderr
        return dict(json.loads(updated.stdout))

    def rows(endpoint_id: str, event_id: str) -> list[dict[str, Any]]:
        return [
            d for d in deliveries(hooks, "--endpoint", endpoint_id) if d["webhook_id"] == event_id
        ]

    async def consumed(event: Any) -> str:
        """Publish; wait until the witness delivered it (so it was consumed)."""
        event_id = await publish(hooks, event)
        wait_accepted(receiver, {event_id})
        wait_until(
            lambda: any(r["status"] == "delivered" for r in rows(endpoint["id"], event_id)),
            timeout=30,
            what="the witness's delivery",
        )
        return event_id

    def at_second(event_id: str) -> list[Any]:
        return [
            r
            for r in receiver.accepted()
            if r.headers["webhook-id"] == event_id and r.path.endswith("/sis/hooks-v2")
        ]

    try:
        # Moved and filtered: the secret stays, the list is replaced.
        row = update("--url", moved_url, "--events", "LinkRevoked", "--description", "moved")
        assert row["url"] == moved_url and row["event_types"] == ["LinkRevoked"]
        assert row["description"] == "moved" and "secret" not in row
        assert len(row["secrets"]) == 1 and row["secrets"][0]["expires_at"] is None
        filtered = await consumed(approved(str(uuid.uuid4())))
        assert rows(second["id"], filtered) == []
        kept = await consumed(revoked(str(uuid.uuid4())))
        wait_until(lambda: at_second(kept), timeout=30, what="delivery to the new URL")
        assert all(r.valid_signature for r in at_second(kept))

        # Disabled: nothing queued for it; enabled again: delivered.
        assert update("--disable")["enabled"] is False
        listed = [json.loads(line) for line in cli(hooks, "endpoint", "list").stdout.splitlines()]
        assert next(e for e in listed if e["id"] == second["id"])["enabled"] is False
        paused = await consumed(revoked(str(uuid.uuid4())))
        assert rows(second["id"], paused) == []
        assert update("--enable", "--events", "all")["enabled"] is True
        resumed = await consumed(approved(str(uuid.uuid4())))
        wait_until(lambda: at_second(resumed), timeout=30, what="delivery once enabled")

        # Rotated with a one-hour overlap: both sign; the overlap ended: the new one only.
        row = update("--rotate-secret", "--overlap-hours", "1")
        new_secret, old_secret = row["secret"], second["secret"]
        assert len(row["secrets"]) == 2
        expires = datetime.fromisoformat(row["secrets"][1]["expires_at"])
        assert 0 < (expires - datetime.now(UTC)).total_seconds() <= 3600
        receiver.secrets.append(new_secret)
        both = await consumed(approved(str(uuid.uuid4())))
        wait_until(lambda: at_second(both), timeout=30, what="delivery during the overlap")
        request = at_second(both)[0]
        assert len(request.headers["webhook-signature"].split(" ")) == 2
        for secret in (old_secret, new_secret):
            assert verify(secret, request.headers, request.body, now=time.time())
        row = update("--retire-previous-secrets")
        assert len(row["secrets"]) == 1 and "secret" not in row
        single = await consumed(approved(str(uuid.uuid4())))
        wait_until(lambda: at_second(single), timeout=30, what="delivery after the overlap")
        request = at_second(single)[0]
        assert len(request.headers["webhook-signature"].split(" ")) == 1
        assert verify(new_secret, request.headers, request.body, now=time.time())
        assert not verify(old_secret, request.headers, request.body, now=time.time())

        # A refused change leaves the endpoint as it was.
        refused = cli(hooks, "endpoint", "update", second["id"], "--url", "https://10.20.30.40/h")
        assert refused.returncode == 2 and "did not allow" in refused.stderr
        missing = cli(hooks, "endpoint", "update", "ep_missing", "--disable")
        assert missing.returncode == 2 and "no endpoint" in missing.stderr
    finally:
        cli(hooks, "endpoint", "update", second["id"], "--disable")
