"""A stopped broker (issue 21, item 5): the guardian APIs keep working while Kafka is down,
a service restarted during the outage starts anyway, and everything written meanwhile is
delivered once the broker is back.

The portal of this module talks to a broker of its own (``IsolatedKafka``: free ports,
its own data directory, the dev stack's jars), so stopping it leaves the shared broker on
127.0.0.1:9092 — and every other test — alone. MongoDB and the SMTP sink are the shared
ones, isolated as usual by database and topic prefixes and unique addresses.

What is asserted, in order:

1. broker stopped: identity and linking answer ``/healthz`` 200 and ``/readyz`` 200 with
   ``degraded: ["kafka"]``; the notifier (whose work is consuming) ``/readyz`` 503
   problem+json, ``/healthz`` 200;
2. a registration (identity) and a link request (linking) are accepted (202) during the
   outage: their events wait in the outbox;
3. identity and the notifier, restarted while the broker is still down, come up (the
   start-up does not wait for Kafka): identity ready-degraded, the notifier live; a second
   registration is accepted by the restarted identity;
4. broker started again: the readiness of all three turns plain ``ready``, and the mails
   of every event written during the outage arrive (both verification emails, the
   pending-link email).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.runtime.kafka import create_topics
from shared.runtime.settings import ServiceSettings
from tests.harness import Portal, new_portal, stop_portal, wait_until
from tests.oneroster import Student, bundle
from tests.portal_client import VERIFY_LINK, Guardian, Staff, mail_with
from tools.devstack.kafka import run_async
from tools.devstack.testing import IsolatedKafka, list_mail

SCHOOL = f"B{uuid.uuid4().hex[:6]}"
STUDENT = Student(SCHOOL, "70000001", "Kafka", "Outage")
SERVICES = ("identity", "linking", "notifier")


@pytest.fixture(scope="module")
def broker(stack: None) -> Iterator[IsolatedKafka]:
    run_dir = Path(__file__).resolve().parents[3] / "var" / "test-runs"
    kafka = IsolatedKafka(run_dir / f"kafka-{uuid.uuid4().hex[:8]}")
    kafka.start()
    try:
        yield kafka
    finally:
        kafka.stop()
        shutil.rmtree(kafka.workdir / "data", ignore_errors=True)  # the logs stay


@pytest.fixture(scope="module")
def outage_portal(broker: IsolatedKafka) -> Iterator[Portal]:
    portal = new_portal([], port_offset=300)
    for name in SERVICES:
        portal.add(name, {"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap})
    settings = ServiceSettings(
        kafka_bootstrap_servers=broker.bootstrap, kafka_topic_prefix=portal.topic_prefix
    )
    run_async(lambda: create_topics(settings), 60)
    for svc in portal.services.values():
        svc.start(wait=False)
    try:
        for svc in portal.services.values():
            svc.wait_ready()
        yield portal
    finally:
        stop_portal(portal)


def _ready(portal: Portal, service: str) -> httpx.Response:
    return httpx.get(f"{portal.url(service)}/readyz", timeout=5)


def _live(portal: Portal, service: str) -> bool:
    try:
        return httpx.get(f"{portal.url(service)}/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _degraded(portal: Portal, service: str) -> dict[str, object] | None:
    """The /readyz body once it says ready but degraded by Kafka."""
    try:
        response = _ready(portal, service)
    except httpx.HTTPError:
        return None
    body = response.json()
    if response.status_code == 200 and body.get("degraded") == ["kafka"]:
        return dict(body)
    return None


def _fully_ready(portal: Portal, service: str) -> bool:
    try:
        response = _ready(portal, service)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and "degraded" not in response.json()


@pytest.mark.timeout(600)
def test_guardian_apis_work_through_a_broker_outage_and_everything_is_delivered_after(
    outage_portal: Portal, broker: IsolatedKafka
) -> None:
    portal = outage_portal
    admin = Staff(portal, [SCHOOL], role="district_admin", subject="admin-outage")
    assert admin.import_roster(bundle([STUDENT])).status_code in (200, 201, 202)
    before = Guardian(portal).onboard()  # verified and signed in while the broker is up

    broker.stop()

    # 1. Liveness ok everywhere; the APIs ready but degraded; the consumer not ready.
    for name in ("identity", "linking"):
        body = wait_until(lambda n=name: _degraded(portal, n), timeout=60, what=f"{name} degraded")
        assert str(body["checks"]["kafka"]).startswith("unreachable")  # type: ignore[index]
    notifier = wait_until(
        lambda: _ready(portal, "notifier").status_code == 503, timeout=60, what="notifier 503"
    )
    assert notifier
    response = _ready(portal, "notifier")
    assert response.headers["content-type"].startswith("application/problem+json")
    assert all(_live(portal, n) for n in SERVICES)

    # 2. Writes during the outage are accepted; their events wait in the outbox.
    during = Guardian(portal)
    assert during.register().status_code == 202
    requested = before.request_link(STUDENT.school_id, STUDENT.student_id, STUDENT.family_name)
    assert requested.status_code == 202, requested.text

    # 3. Restarted during the outage: they start without Kafka.
    for name in ("identity", "notifier"):
        portal.services[name].stop()
        portal.services[name].start(wait=False)
    wait_until(lambda: _degraded(portal, "identity"), timeout=120, what="identity restarted")
    wait_until(lambda: _live(portal, "notifier"), timeout=120, what="notifier live")
    assert _ready(portal, "notifier").status_code == 503
    restarted = Guardian(portal)
    assert restarted.register().status_code == 202

    # 4. The broker is back: every service recovers, every event is delivered.
    broker.start()
    for name in SERVICES:
        wait_until(lambda n=name: _fully_ready(portal, n), timeout=120, what=f"{name} ready")
    for guardian in (during, restarted):
        mail_with(guardian.email, VERIFY_LINK, timeout=120)
    assert restarted.verify().status_code in (200, 204)
    wait_until(
        lambda: before.links() and before.links()[0]["status"] == "pending_authorization",
        timeout=30,
        what="pending link",
    )
    pending = wait_until(
        lambda: [m for m in _mails(before.email) if "photo ID" in m], timeout=120, what="mail"
    )
    assert pending


def _mails(address: str) -> list[str]:
    return [m.subject for m in list_mail(to=address)]
