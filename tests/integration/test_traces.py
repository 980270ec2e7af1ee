"""One guardian action is one trace across the services (issue 8): the services export
their spans (OTEL_TRACES_FILE, the same spans OTLP would carry) and the test follows the
trace of an HTTP request through Kafka to the consumers and the SIS."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.harness import Portal, async_wait_until
from tests.kafka_tools import TopicWatcher
from tests.oneroster import Student, bundle
from tests.portal_client import VERIFY_LINK, Guardian, Staff, mail_with

SCHOOL = f"R{uuid.uuid4().hex[:6]}"
CHILD = Student(SCHOOL, "40000001", "Tracy", "Tracer")


def _service(span: dict[str, Any]) -> str:
    return str(span.get("resource", {}).get("attributes", {}).get("service.name", ""))


def _trace_of(portal: Portal, name: str, service: str) -> str | None:
    for span in reversed(portal.spans()):
        if span["name"] == name and _service(span) == service:
            return str(span["context"]["trace_id"])
    return None


def _services_in(portal: Portal, trace_id: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for span in portal.spans():
        if span["context"]["trace_id"] == trace_id:
            out.setdefault(_service(span), set()).add(span["name"])
    return out


@pytest.fixture(scope="module")
async def sis(portal: Portal) -> AsyncIterator[TopicWatcher]:
    async with TopicWatcher([portal.topic("LinkApproved")], group_prefix="sis-trace") as watcher:
        yield watcher


async def test_registration_to_verification_email_is_one_trace(portal: Portal) -> None:
    guardian = Guardian(portal)
    assert guardian.register().status_code == 202
    mail_with(guardian.email, VERIFY_LINK)
    trace_id = await async_wait_until(
        lambda: _trace_of(portal, "POST /v1/accounts", "identity"), timeout=10, what="request span"
    )
    services = await async_wait_until(
        lambda: (s := _services_in(portal, trace_id)) and {"identity", "notifier"} <= set(s) and s,
        timeout=20,
        what="identity and notifier spans in the registration's trace",
    )
    assert any("EmailVerificationRequested" in n for n in services["notifier"]), services


async def test_approval_to_sis_event_is_one_trace(portal: Portal, sis: TopicWatcher) -> None:
    admin = Staff(portal, [SCHOOL], role="district_admin", subject="admin-r")
    assert admin.import_roster(bundle([CHILD])).status_code in (200, 201, 202)
    guardian = Guardian(portal).onboard()
    link_id = guardian.request_link(CHILD.school_id, CHILD.student_id, CHILD.family_name).json()[
        "link_id"
    ]
    staff = Staff(portal, [SCHOOL], subject="staff-r")
    assert staff.approve(link_id).status_code == 200
    event = await sis.wait_for(lambda e: e.event.link_id == link_id, timeout=30)
    sis_trace = "0x" + event.trace_headers["traceparent"].split("-")[1]
    services = await async_wait_until(
        lambda: (s := _services_in(portal, sis_trace)) and {"linking", "notifier"} <= set(s) and s,
        timeout=20,
        what="linking and notifier spans in the approval's trace",
    )
    assert any(n.startswith("POST /v1/link-requests") for n in services["linking"]), services
    assert "LinkApproved publish" in services["linking"]
