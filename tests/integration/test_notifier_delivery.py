"""Delivery guarantees of the notifier against an SMTP server that goes down, defers,
refuses, and a notifier that restarts or is killed mid-send.

A notifier of its own (HTTP 18503, its own topic and database prefixes) sends to a
private SMTP server (the devstack sink's code on a free port), so stopping that server
or switching it to refuse mail never disturbs the other suites.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.contracts import events as ev
from tests.harness import Portal, ServiceProcess, async_wait_until, create_topics, new_portal
from tests.integration.notifier_support import (
    NotificationsDb,
    PrivateRelay,
    metric,
    publish,
    unique_email,
)

NOW = datetime.now(UTC).replace(microsecond=0)
TEMPLATE = "password_changed"


@dataclass
class Rig:
    portal: Portal
    notifier: ServiceProcess
    relay: PrivateRelay
    db: NotificationsDb


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRelay]:
    server = PrivateRelay(Path(tmp_path_factory.mktemp("private-mail")))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def notifier_portal(stack: None, relay: PrivateRelay) -> Iterator[tuple[Portal, ServiceProcess]]:
    portal = new_portal([], port_offset=500)
    proc = portal.add(
        "notifier",
        {
            "SMTP_PORT": str(relay.port),
            "NOTIFIER_RETRY_BASE_SECONDS": "0.5",
            "NOTIFIER_RETRY_MAX_SECONDS": "2",
            "NOTIFIER_LEASE_SECONDS": "5",
            "NOTIFIER_POLL_SECONDS": "0.2",
            # Slow enough that a restart lands in the middle of a batch.
            "NOTIFIER_MAX_SENDS_PER_SECOND": "4",
        },
    )
    create_topics(portal.topic_prefix)
    proc.start()
    try:
        yield portal, proc
    finally:
        proc.stop()


@pytest.fixture
async def rig(
    notifier_portal: tuple[Portal, ServiceProcess], relay: PrivateRelay
) -> AsyncIterator[Rig]:
    portal, proc = notifier_portal
    if relay.sink is None:
        relay.start()
    relay.set_mode("accept")
    db = NotificationsDb(portal)
    try:
        yield Rig(portal, proc, relay, db)
    finally:
        await db.close()
        if relay.sink is None:
            relay.start()
        relay.set_mode("accept")


def changed(email: str) -> ev.PasswordChanged:
    return ev.PasswordChanged(
        account_id=f"acc-{uuid.uuid4().hex[:12]}",
        email=email,
        locale="en",
        changed_at=NOW,
        via="change",
    )


def message_ids(relay: PrivateRelay, emails: list[str]) -> Counter[str]:
    wanted = {e.lower() for e in emails}
    return Counter(
        str(m["Message-ID"])
        for m in relay.mails()
        if str(m.get("X-Devstack-Envelope-To", "")).lower() in wanted
    )


async def test_relay_down_then_deferring_then_back_none_lost_none_doubled(rig: Rig) -> None:
    emails = [unique_email("down") for _ in range(6)]
    rig.relay.stop()  # connection refused
    ids = await publish(rig.portal, [changed(e) for e in emails])
    keys = [f"{i}:{TEMPLATE}" for i in ids]

    async def all_tried_and_waiting() -> bool:
        docs = [d async for d in rig.db.notifications.find({"_id": {"$in": keys}})]
        return (
            len(docs) == 6
            and all(d["status"] == "queued" for d in docs)
            and any(d.get("attempts", 0) >= 1 for d in docs)
        )

    await async_wait_until(all_tried_and_waiting, timeout=45)
    # Back, but answering 451 to every recipient for a while.
    rig.relay.start(mode="tempfail")

    async def deferred_by_451() -> bool:
        doc = await rig.db.notifications.find_one(
            {"_id": {"$in": keys}, "last_error": {"$regex": "451"}}
        )
        return doc is not None

    await async_wait_until(deferred_by_451, timeout=30)
    assert message_ids(rig.relay, emails) == Counter()
    rig.relay.set_mode("accept")

    async def all_sent() -> bool:
        return len(await rig.db.with_status(keys, "sent")) == 6

    await async_wait_until(all_sent, timeout=60)
    received = message_ids(rig.relay, emails)
    assert len(received) == 6, received
    assert set(received.values()) == {1}, f"doubled: {received}"
    docs = [d async for d in rig.db.notifications.find({"_id": {"$in": keys}})]
    assert all("text" not in d and "html" not in d for d in docs)
    # One refused connection and at least one 451 were counted besides the 6 deliveries.
    assert sum(d["attempts"] for d in docs) >= 6 + 2


async def test_permanent_rejection_is_recorded_and_not_retried(rig: Rig) -> None:
    base = rig.notifier.url
    failed_before = metric(
        base, "notifier_notifications_total", template=TEMPLATE, outcome="failed"
    )
    refused_before = metric(base, "notifier_smtp_errors_total", kind="permanent")
    rejected, accepted = unique_email("rejected"), unique_email("accepted")
    rig.relay.set_mode("reject")
    (rejected_id,) = await publish(rig.portal, [changed(rejected)])
    key = f"{rejected_id}:{TEMPLATE}"

    async def failed() -> dict | None:
        doc = await rig.db.notifications.find_one({"_id": key})
        return doc if doc and doc["status"] == "failed" else None

    doc = await async_wait_until(failed, timeout=45)
    assert doc["attempts"] == 1 and "550" in doc["last_error"] and "text" not in doc
    assert metric(base, "notifier_notifications_total", template=TEMPLATE, outcome="failed") == (
        failed_before + 1
    )
    assert metric(base, "notifier_smtp_errors_total", kind="permanent") == refused_before + 1
    # The relay accepts again: new mail goes out, the refused one is not tried again.
    rig.relay.set_mode("accept")
    (accepted_id,) = await publish(rig.portal, [changed(accepted)])

    async def delivered() -> bool:
        return bool(await rig.db.with_status([f"{accepted_id}:{TEMPLATE}"], "sent"))

    await async_wait_until(delivered, timeout=45)
    doc = await rig.db.notifications.find_one({"_id": key})
    assert doc is not None and doc["status"] == "failed" and doc["attempts"] == 1
    assert message_ids(rig.relay, [rejected]) == Counter()
    assert sum(message_ids(rig.relay, [accepted]).values()) == 1


async def _deliver_across_a_restart(rig: Rig, *, kill: bool) -> tuple[list[str], Counter[str]]:
    emails = [unique_email("restart") for _ in range(12)]
    ids = await publish(rig.portal, [changed(e) for e in emails])
    keys = [f"{i}:{TEMPLATE}" for i in ids]
    await async_wait_until(lambda: sum(message_ids(rig.relay, emails).values()) >= 3, timeout=45)
    if kill:
        rig.notifier.kill()
    else:
        rig.notifier.stop()
    assert sum(message_ids(rig.relay, emails).values()) < 12, "the batch was not interrupted"
    rig.notifier.start()

    async def all_sent() -> bool:
        return len(await rig.db.with_status(keys, "sent")) == 12

    await async_wait_until(all_sent, timeout=60)
    return keys, message_ids(rig.relay, emails)


async def test_graceful_restart_mid_batch_sends_each_mail_once(rig: Rig) -> None:
    _, received = await _deliver_across_a_restart(rig, kill=False)
    assert len(received) == 12, received
    assert set(received.values()) == {1}, f"doubled: {received}"


async def test_killed_mid_batch_loses_nothing_and_sends_each_mail_once(rig: Rig) -> None:
    """SIGKILL mid-batch: the mail handed to the relay before the kill is not sent again
    by the restarted notifier (its handover mark says so), and nothing is lost."""
    keys, received = await _deliver_across_a_restart(rig, kill=True)
    assert len(received) == 12, received  # every notification arrived
    assert set(received.values()) == {1}, f"doubled: {received}"
    docs = [d async for d in rig.db.notifications.find({"_id": {"$in": keys}})]
    assert all(d["status"] == "sent" and "text" not in d for d in docs)


async def test_killed_while_the_relay_accepts_does_not_send_the_mail_again(rig: Rig) -> None:
    """The relay has stored the mail but its 250 is late; the notifier is killed while
    waiting for it. The restarted notifier finds the handover mark (written before the
    end of the message) and marks the mail sent instead of sending it a second time."""
    email = unique_email("handover")
    rig.relay.set_mode("slow-ack")
    (event_id,) = await publish(rig.portal, [changed(email)])
    key = f"{event_id}:{TEMPLATE}"
    await async_wait_until(lambda: len(rig.relay.mails(to=email)) == 1, timeout=45)
    rig.notifier.kill()
    doc = await rig.db.notifications.find_one({"_id": key})
    assert doc is not None and doc["status"] == "sending" and "handed_over_at" in doc
    rig.relay.set_mode("accept")
    rig.notifier.start()

    async def sent() -> list[dict]:
        return await rig.db.with_status([key], "sent")

    (doc,) = await async_wait_until(sent, timeout=45)  # once the 5-s lease has run out
    assert "handed_over_at" not in doc and "text" not in doc
    assert len(rig.relay.mails(to=email)) == 1
    assert (
        metric(
            rig.notifier.url,
            "notifier_notifications_total",
            template=TEMPLATE,
            outcome="presumed_sent",
        )
        == 1
    )
