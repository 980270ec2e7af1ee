"""Staff sign-in with the real OpenID provider (issue 16): linking verifies Keycloak's
tokens through the realm's discovery document and JWKS, and the district policy maps
their claims to schools and the district-admin role.

Tokens come from the dev stack's Keycloak (``tools/devstack/keycloak/district-realm.json``)
through its login page, authorization code + PKCE, as the staff console will obtain them;
nothing in the token check is mocked. A linking process of its own trusts that realm.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import jwt
import pytest
from linking.devtools import BundleStudent, mint_guardian_token, mint_staff_token, oneroster_bundle

from tests.harness import Portal, async_wait_until, new_portal, start_portal, stop_portal
from tools.devstack import keycloak
from tools.devstack.keycloak import SCHOOL_A, SCHOOL_B, SHORT_LIVED_CLIENT_ID
from tools.devstack.paths import KEYCLOAK_ISSUER, KEYCLOAK_URL

STUDENT_A = BundleStudent(f"7{uuid.uuid4().int % 10**7:07d}", "Alvarez", "Ana", SCHOOL_A)
STUDENT_B = BundleStudent(f"8{uuid.uuid4().int % 10**7:07d}", "Baptiste", "Ben", SCHOOL_B)


@pytest.fixture(scope="module")
def provider(stack: None) -> str:
    """The dev stack's Keycloak answers (started by ``python -m tools.devstack up``)."""
    return keycloak.probe(timeout=10)


@pytest.fixture(scope="module")
def linking(provider: str) -> Iterator[Portal]:
    portal = new_portal([], port_offset=600)
    portal.add(
        "linking",
        {
            "STAFF_OIDC_ISSUER": KEYCLOAK_ISSUER,
            "STAFF_OIDC_AUDIENCE": keycloak.CONSOLE_CLIENT_ID,
            # exp is checked to the second (the short-lived client's tokens live 1 s) and
            # a rotated key is fetched at once (the spacing of refetches is a unit test)
            "JWT_LEEWAY_SECONDS": "0",
            "STAFF_KEYS_REFRESH_SECONDS": "0",
        },
    )
    start_portal(portal)
    try:
        yield portal
    finally:
        stop_portal(portal)


@pytest.fixture(scope="module")
async def api(linking: Portal) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=linking.url("linking"), timeout=60) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def signed_in(username: str, **kwargs: Any) -> dict[str, str]:
    return bearer(keycloak.sign_in(username, **kwargs)["access_token"])


@pytest.fixture(scope="module")
def admin() -> dict[str, str]:
    return signed_in("district.admin")


@pytest.fixture(scope="module")
async def pending(api: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, str]:
    """One pending request in each school; the roster imported by the district admin."""
    response = await api.post(
        "/v1/roster/imports",
        headers=admin,
        files={
            "file": ("r.zip", oneroster_bundle([STUDENT_A, STUDENT_B]), "application/zip")
        },
    )
    assert response.status_code == 200, response.text
    links = {}
    for child in (STUDENT_A, STUDENT_B):
        account = f"acc-{uuid.uuid4().hex[:12]}"
        token = mint_guardian_token(account, email=f"{account}@example.net")
        response = await api.post(
            "/v1/links",
            headers=bearer(token),
            json={
                "school_id": child.school_id,
                "student_id": child.student_id,
                "student_last_name": child.last_name,
            },
        )
        assert response.status_code == 202, response.text
        links[child.school_id] = response.json()["link_id"]
        links[f"email-{child.school_id}"] = f"{account}@example.net"
    return links


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"].endswith(f"/{code}") and body["title"], body
    return dict(body)


def queue_ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["link_id"] for item in response.json()["items"]]


async def test_a_secretary_works_her_school_and_is_refused_the_other(
    api: httpx.AsyncClient, pending: dict[str, str]
) -> None:
    secretary_a = signed_in("secretary.a")
    claims = jwt.decode(secretary_a["Authorization"][7:], options={"verify_signature": False})
    assert claims["iss"] == KEYCLOAK_ISSUER and claims["schools"] == [SCHOOL_A]

    mine = await api.get(f"/v1/schools/{SCHOOL_A}/link-requests", headers=secretary_a)
    assert pending[SCHOOL_A] in queue_ids(mine)
    problem(
        await api.get(f"/v1/schools/{SCHOOL_B}/link-requests", headers=secretary_a),
        403,
        "forbidden",
    )
    problem(
        await api.post(
            f"/v1/link-requests/{pending[SCHOOL_B]}/approve",
            headers=secretary_a,
            json={"id_document_type": "drivers_license"},
        ),
        403,
        "forbidden",
    )
    theirs = await api.get(
        f"/v1/schools/{SCHOOL_B}/link-requests", headers=signed_in("secretary.b")
    )
    assert queue_ids(theirs) == [pending[SCHOOL_B]]  # still pending: nothing was decided


async def test_a_secretary_finds_her_schools_guardian_by_email_only(
    api: httpx.AsyncClient, pending: dict[str, str]
) -> None:
    secretary_a = signed_in("secretary.a")
    found = await api.get(
        f"/v1/schools/{SCHOOL_A}/guardians",
        params={"email": pending[f"email-{SCHOOL_A}"]},
        headers=secretary_a,
    )
    assert found.status_code == 200, found.text
    assert [link["link_id"] for link in found.json()["links"]] == [pending[SCHOOL_A]]
    # school B's family is not hers: the same 404 as an unknown address
    problem(
        await api.get(
            f"/v1/schools/{SCHOOL_A}/guardians",
            params={"email": pending[f"email-{SCHOOL_B}"]},
            headers=secretary_a,
        ),
        404,
        "guardian-not-found",
    )


async def test_the_district_admin_acts_for_any_school(
    api: httpx.AsyncClient, admin: dict[str, str], pending: dict[str, str]
) -> None:
    for school in (SCHOOL_A, SCHOOL_B):
        assert pending[school] in queue_ids(
            await api.get(f"/v1/schools/{school}/link-requests", headers=admin)
        )
    decided = await api.post(
        f"/v1/link-requests/{pending[SCHOOL_B]}/deny",
        headers=admin,
        json={"reason": "No guardian record for this student."},
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "denied"
    admin_sub = jwt.decode(admin["Authorization"][7:], options={"verify_signature": False})
    assert decided.json()["decided_by"] == admin_sub["sub"]


async def test_a_token_of_another_issuer_is_refused(
    api: httpx.AsyncClient, pending: dict[str, str]
) -> None:
    # the same user name and school, signed in at another realm (another district)
    foreign = signed_in("secretary.a", realm="other-district")
    body = problem(
        await api.get(f"/v1/schools/{SCHOOL_A}/link-requests", headers=foreign),
        401,
        "staff-token-untrusted",
    )
    assert "other-district" in body["detail"]


async def test_an_expired_token_is_refused(api: httpx.AsyncClient) -> None:
    token = keycloak.sign_in(
        "secretary.a", client_id=SHORT_LIVED_CLIENT_ID, client_secret=None
    )["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 1  # the test client's lifetime

    async def refused() -> httpx.Response | None:
        r = await api.get(f"/v1/schools/{SCHOOL_A}/link-requests", headers=bearer(token))
        return r if r.status_code == 401 else None

    response = await async_wait_until(refused, timeout=30, interval=0.5, what="expiry")
    body = problem(response, 401, "staff-token-expired")
    assert "sign in again" in body["detail"]
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_a_staff_member_without_a_school_is_refused(api: httpx.AsyncClient) -> None:
    newcomer = signed_in("staff.noschool")
    body = problem(
        await api.get(f"/v1/schools/{SCHOOL_A}/link-requests", headers=newcomer),
        403,
        "staff-without-school",
    )
    assert "'schools'" in body["detail"]
    spanish = await api.get(
        f"/v1/schools/{SCHOOL_A}/link-requests",
        headers={**newcomer, "Accept-Language": "es"},
    )
    assert "escuela" in spanish.json()["title"]


async def test_portal_staff_token_keeps_working_for_local_scripts(
    api: httpx.AsyncClient, pending: dict[str, str]
) -> None:
    local = bearer(mint_staff_token([SCHOOL_A]))
    assert pending[SCHOOL_A] in queue_ids(
        await api.get(f"/v1/schools/{SCHOOL_A}/link-requests", headers=local)
    )


async def test_a_rotated_realm_key_is_accepted_without_a_restart(
    api: httpx.AsyncClient, pending: dict[str, str]
) -> None:
    """The realm gets a new active key of higher priority; tokens signed with it are
    accepted by the running linking, which fetches the realm's JWKS again."""
    before = signed_in("secretary.a")
    old_kid = jwt.get_unverified_header(before["Authorization"][7:])["kid"]
    assert (await api.get(f"/v1/schools/{SCHOOL_A}/link-requests", headers=before)).is_success
    admin_api = httpx.AsyncClient(
        base_url=f"{KEYCLOAK_URL}/admin/realms/district",
        headers={"Authorization": f"Bearer {keycloak.admin_token()}"},
        timeout=30,
    )
    async with admin_api:
        realm_id = (await admin_api.get("")).json()["id"]
        created = await admin_api.post(
            "/components",
            json={
                "name": f"rotation-test-{uuid.uuid4().hex[:6]}",
                "providerId": "rsa-generated",
                "providerType": "org.keycloak.keys.KeyProvider",
                "parentId": realm_id,
                "config": {"priority": ["1000"], "active": ["true"], "enabled": ["true"]},
            },
        )
        assert created.status_code == 201, created.text
        component = created.headers["location"].rsplit("/", 1)[-1]
        try:
            after = signed_in("secretary.a")
            new_kid = jwt.get_unverified_header(after["Authorization"][7:])["kid"]
            assert new_kid != old_kid
            response = await api.get(f"/v1/schools/{SCHOOL_A}/link-requests", headers=after)
            assert pending[SCHOOL_A] in queue_ids(response)
        finally:
            assert (await admin_api.delete(f"/components/{component}")).status_code == 204
