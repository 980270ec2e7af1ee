"""Identity's staff help desk (issue 16, item 5) with real tokens of the dev stack's
Keycloak: a district admin finds a guardian's account, sends a new verification email and
lifts a lockout, closes an account; school staff are refused; everything is recorded
on the account."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.harness import Portal, new_portal, start_portal, stop_portal, wait_until
from tests.kafka_tools import TopicWatcher
from tests.portal_client import registration_body, unique_email
from tools.devstack import keycloak


@pytest.fixture(scope="module")
def identity(stack: None) -> Iterator[Portal]:
    keycloak.probe(timeout=10)
    portal = new_portal(["identity"], port_offset=800)  # trusts the local realm (not prod)
    start_portal(portal)
    try:
        yield portal
    finally:
        stop_portal(portal)


def bearer(username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {keycloak.sign_in(username)['access_token']}"}


def test_a_district_admin_helps_a_locked_out_unverified_guardian(identity: Portal) -> None:
    api = httpx.Client(base_url=identity.url("identity"), timeout=30)
    email = unique_email("helpdesk")
    registered = api.post("/v1/accounts", json=registration_body(email, "Secr3t!pw"))
    assert registered.status_code == 202, registered.text
    account_id = registered.json()["account_id"]
    for _ in range(5):  # the policy's max_failures_per_account
        api.post(
            "/v1/sessions",
            json={"email": email, "password": "Wr0ng!pw"},
            headers={"X-Forwarded-For": "203.0.113.77"},
        )
    admin = bearer("district.admin")

    found = wait_until(
        lambda: (r := api.get("/v1/staff/accounts", params={"email": email}, headers=admin))
        .status_code == 200 and r.json(),
        timeout=15,
        what="account found",
    )
    assert found["account_id"] == account_id and found["state"] == "unverified"
    assert found["locked_until"] is not None and found["failed_signins"] >= 5
    assert "password_hash" not in found

    resent = api.post(f"/v1/staff/accounts/{account_id}/verification-email", headers=admin)
    assert resent.status_code == 202, resent.text
    unlocked = api.post(f"/v1/staff/accounts/{account_id}/unlock", headers=admin)
    assert unlocked.status_code == 200, unlocked.text
    after = unlocked.json()
    assert after["locked_until"] is None and after["failed_signins"] == 0
    actions = [e["action"] for e in after["staff_audit"]]
    assert actions[-3:] == ["looked_up", "verification_email_sent", "lockout_lifted"]
    assert {e["by"] for e in after["staff_audit"]} == {found["staff_audit"][-1]["by"]}


def test_school_staff_and_strangers_are_refused(identity: Portal) -> None:
    api = httpx.Client(base_url=identity.url("identity"), timeout=30)
    secretary = api.get(
        "/v1/staff/accounts", params={"email": "x@example.net"}, headers=bearer("secretary.a")
    )
    assert secretary.status_code == 403
    assert secretary.json()["type"].endswith("/district-admin-only")
    anonymous = api.post("/v1/staff/accounts/acc-x/unlock")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"].startswith("application/problem+json")
    foreign = api.post(
        "/v1/staff/accounts/acc-x/unlock",
        headers={
            "Authorization": "Bearer "
            + keycloak.sign_in("secretary.a", realm="other-district")["access_token"]
        },
    )
    assert foreign.status_code == 401 and foreign.json()["type"].endswith("/staff-token-untrusted")
    missing = api.get(
        "/v1/staff/accounts", params={"email": "nobody@example.net"}, headers=bearer("district.admin")
    )
    assert missing.status_code == 404


async def test_a_district_admin_closes_an_account_at_the_guardians_request(
    identity: Portal,
) -> None:
    async with httpx.AsyncClient(base_url=identity.url("identity"), timeout=30) as api:
        email = unique_email("cancel")
        registered = await api.post("/v1/accounts", json=registration_body(email, "Secr3t!pw"))
        assert registered.status_code == 202, registered.text
        account_id = registered.json()["account_id"]
        admin = bearer("district.admin")
        async with TopicWatcher([identity.topic("AccountDeleted")]) as deleted:
            closed = await api.post(f"/v1/staff/accounts/{account_id}/cancel", headers=admin)
            assert closed.status_code == 200, closed.text
            assert closed.json()["state"] == "deleted"
            event = await deleted.wait_for(lambda e: e.event.account_id == account_id)
        assert event.event.reason == "guardian_request"
        gone = await api.get("/v1/staff/accounts", params={"email": email}, headers=admin)
        assert gone.status_code == 404
        # the address is free again: the guardian may register anew later
        again = await api.post("/v1/accounts", json=registration_body(email, "Secr3t!pw"))
        assert again.status_code == 202 and again.json()["account_id"] != account_id
