"""The staff console's pages on fakes of the OpenID provider and linking's staff API."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from staff_fakes import FakeProvider, FakeStaffApi, staff_link
from web.app import create_app
from web.settings import Settings
from web_fakes import FakeIdentity, FakeLinking


@pytest.fixture
def provider() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def api() -> FakeStaffApi:
    api = FakeStaffApi()
    for n, school in (("1", "0123"), ("2", "0123"), ("3", "0456")):
        api.links[n] = staff_link(n, school, requested_at=f"2026-03-0{n}T15:00:00Z")
    api.links["2"]["days_left"] = 1
    return api


def make_client(provider: FakeProvider, api: FakeStaffApi, **settings: Any) -> TestClient:
    identity = FakeIdentity()
    app = create_app(
        Settings(otel_traces_file=None, **settings), identity=identity,
        linking=FakeLinking(identity), staff_api=api, staff_provider=provider,
    )  # fmt: skip
    return TestClient(app, base_url="http://127.0.0.1:8080")


@pytest.fixture
def client(provider: FakeProvider, api: FakeStaffApi) -> TestClient:
    return make_client(provider, api)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


def start_sign_in(client: TestClient, provider: FakeProvider, user: str) -> dict[str, str]:
    """Press "Sign in" and return the provider's redirect's state and code."""
    provider.next_user = user
    assert 'href="/staff/auth/start"' in client.get("/staff/sign-in").text
    answer = client.get("/staff/auth/start", follow_redirects=False)
    assert answer.status_code == 303
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    return {"state": query["state"][0], "code": query["code_for_tests"][0]}


def sign_in(client: TestClient, provider: FakeProvider, user: str = "secretary.a") -> Any:
    params = start_sign_in(client, provider, user)
    return client.get("/staff/auth/callback", params=params, follow_redirects=False)


def test_console_off_is_not_served(provider: FakeProvider, api: FakeStaffApi) -> None:
    client = make_client(provider, api, web_staff_console=False)
    assert client.get("/staff/sign-in").status_code == 404
    assert client.get("/sign-in").status_code == 200


def test_console_is_off_by_default_in_production() -> None:
    assert Settings(environment="production", otel_traces_file=None).staff_console_enabled is False
    with pytest.raises(ValueError, match="STAFF_OIDC_ISSUER"):
        Settings(environment="production", web_staff_console=True)
    with pytest.raises(ValueError, match="https"):
        Settings(staff_oidc_issuer="http://idp.example/realms/x", staff_oidc_client_id="c")


def test_sign_in_renews_the_session_and_opens_the_school_queue(
    client: TestClient, provider: FakeProvider
) -> None:
    client.get("/staff/sign-in")
    before = client.cookies.get("portal_session")
    answer = sign_in(client, provider)
    assert answer.status_code == 303 and answer.headers["location"] == "/staff"
    assert client.cookies.get("portal_session") != before
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    assert "token-" not in cookie
    home = client.get("/staff", follow_redirects=False)
    assert home.headers["location"] == "/staff/schools/0123/queue"


def test_secure_cookie_when_https(provider: FakeProvider, api: FakeStaffApi) -> None:
    client = make_client(provider, api, web_cookie_secure=True)
    client.base_url = "https://127.0.0.1:8080"  # type: ignore[assignment]
    answer = client.get("/staff/sign-in")
    assert "Secure" in answer.headers["set-cookie"]


def test_tampered_state_and_replayed_code_are_refused_with_a_page(
    client: TestClient, provider: FakeProvider
) -> None:
    params = start_sign_in(client, provider, "secretary.a")
    tampered = client.get("/staff/auth/callback", params={**params, "state": "forged"})
    assert tampered.status_code == 400
    assert "Sign-in did not complete" in tampered.text
    assert client.get("/staff", follow_redirects=False).headers["location"] == "/staff/sign-in"
    # the real state still works once, then never again
    first = client.get("/staff/auth/callback", params=params, follow_redirects=False)
    assert first.status_code == 303
    client.cookies.clear()
    replay = client.get("/staff/auth/callback", params=params)
    assert replay.status_code == 400 and "Sign-in did not complete" in replay.text


def test_staff_without_school_is_refused_clearly(
    client: TestClient, provider: FakeProvider
) -> None:
    answer = sign_in(client, provider, "staff.noschool")
    assert answer.status_code == 403
    assert "Your account has no school yet" in answer.text
    assert client.get("/staff", follow_redirects=False).headers["location"] == "/staff/sign-in"


def test_queue_oldest_first_with_the_last_days_highlighted(
    client: TestClient, provider: FakeProvider
) -> None:
    sign_in(client, provider)
    page = client.get("/staff/schools/0123/queue").text
    assert page.index('data-link-id="1"') < page.index('data-link-id="2"')
    assert 'data-link-id="3"' not in page
    assert re.search(r'<tr data-link-id="2" class="staff-urgent">', page)
    assert "g1@example.net" in page and "Student1" in page


def test_another_schools_queue_and_request_are_refused(
    client: TestClient, provider: FakeProvider, api: FakeStaffApi
) -> None:
    sign_in(client, provider)
    answer = client.get("/staff/schools/0456/queue")
    assert answer.status_code == 403 and "Not one of your schools" in answer.text
    # a request of school B by URL: no confirmation page, and a forged POST is refused
    assert client.get("/staff/requests/3/approve", follow_redirects=False).status_code == 303
    token = csrf_of(client.get("/staff/schools/0123/queue").text)
    forged = client.post(
        "/staff/requests/3/approve",
        data={"csrf_token": token, "id_document_type": "passport"},
    )
    assert forged.status_code == 403
    assert api.links["3"]["status"] == "pending_authorization"


def test_approve_needs_an_id_type_and_decides_once(
    client: TestClient, provider: FakeProvider, api: FakeStaffApi
) -> None:
    sign_in(client, provider)
    client.get("/staff/schools/0123/queue")
    confirm = client.get("/staff/requests/1/approve")
    assert "Guardian 1" in confirm.text and "Passport" in confirm.text
    token = csrf_of(confirm.text)
    missing = client.post("/staff/requests/1/approve", data={"csrf_token": token})
    assert missing.status_code == 400 and "Choose the photo ID" in missing.text
    done = client.post(
        "/staff/requests/1/approve",
        data={"csrf_token": token, "id_document_type": "passport", "note": "seen"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert api.links["1"]["status"] == "approved"
    assert api.links["1"]["id_document_type"] == "passport"
    assert "Approved. The guardian gets an email" in client.get(done.headers["location"]).text
    again = client.post(
        "/staff/requests/1/approve", data={"csrf_token": token, "id_document_type": "passport"}
    )
    assert again.status_code == 409 and "Already decided" in again.text


def test_an_unknown_id_type_is_refused(client: TestClient, provider: FakeProvider) -> None:
    sign_in(client, provider)
    token = csrf_of(client.get("/staff/schools/0123/queue").text)
    answer = client.post(
        "/staff/requests/1/approve", data={"csrf_token": token, "id_document_type": "library_card"}
    )
    assert answer.status_code == 400


def test_deny_needs_a_reason_and_revoke_ends_access(
    client: TestClient, provider: FakeProvider, api: FakeStaffApi
) -> None:
    sign_in(client, provider)
    token = csrf_of(client.get("/staff/schools/0123/queue").text)
    assert client.post("/staff/requests/2/deny", data={"csrf_token": token}).status_code == 400
    client.post("/staff/requests/2/deny", data={"csrf_token": token, "reason": "Not on file"})
    assert api.links["2"]["status"] == "denied" and api.links["2"]["reason"] == "Not on file"
    api.links["1"]["status"] = "approved"
    approved = client.get("/staff/schools/0123/queue?status=approved").text
    assert "/staff/requests/1/revoke" in approved
    revoke = client.post(
        "/staff/requests/1/revoke", data={"csrf_token": token, "reason": "Court order"},
        follow_redirects=False,
    )  # fmt: skip
    assert revoke.headers["location"] == "/staff/schools/0123/queue?status=approved"
    assert api.links["1"]["status"] == "revoked"


def test_forms_need_the_csrf_token(client: TestClient, provider: FakeProvider) -> None:
    sign_in(client, provider)
    client.get("/staff/schools/0123/queue")
    answer = client.post("/staff/requests/1/approve", data={"id_document_type": "passport"})
    assert answer.status_code == 403 and "This form has expired" in answer.text
    assert client.post("/staff/sign-out", data={"csrf_token": "x"}).status_code == 403


def test_paging_follows_the_cursor(
    client: TestClient, provider: FakeProvider, api: FakeStaffApi
) -> None:
    for n in range(30):
        api.links[f"p{n:02}"] = staff_link(
            f"p{n:02}", "0123", requested_at=f"2026-02-01T10:{n:02}:00Z"
        )
    sign_in(client, provider)
    first = client.get("/staff/schools/0123/queue").text
    assert 'data-link-id="p00"' in first and 'data-link-id="p25"' not in first
    next_url = re.search(
        r'href="(/staff/schools/0123/queue\?status=pending&amp;cursor=[^"]+)"', first
    )
    assert next_url
    second = client.get(next_url.group(1).replace("&amp;", "&")).text
    assert 'data-link-id="p25"' in second and 'data-link-id="p00"' not in second


def test_filters_and_search_go_to_linking_and_stay_on_the_next_page(
    client: TestClient, provider: FakeProvider, api: FakeStaffApi
) -> None:
    sign_in(client, provider)
    page = client.get("/staff/schools/0123/queue", params={"q": " g2@example.net "}).text
    assert 'data-link-id="2"' in page and 'data-link-id="1"' not in page
    assert api.calls[-1] == ("queue", ("0123", "pending", None, {"q": "g2@example.net"}))
    page = client.get("/staff/schools/0123/queue", params={"method": "activation_code"}).text
    assert "No requests to show." in page
    page = client.get("/staff/schools/0123/queue", params={"days": "3"}).text
    assert 'data-link-id="2"' in page and 'data-link-id="1"' not in page
    # unknown values are dropped, not sent
    client.get("/staff/schools/0123/queue", params={"days": "99", "method": "x"})
    assert api.calls[-1][1][3] == {}
    for n in range(30):
        api.links[f"p{n:02}"] = staff_link(f"p{n:02}", "0123", days_left=2)
    first = client.get("/staff/schools/0123/queue", params={"days": "3"}).text
    found = re.search(r'href="(/staff/schools/0123/queue\?[^"]*cursor=[^"]+)"', first)
    assert found and "days=3" in found.group(1)
    client.get(found.group(1).replace("&amp;", "&"))
    assert api.calls[-1][1][3] == {"max_days_left": "3"} and api.calls[-1][1][2]


def test_spanish_pages(client: TestClient, provider: FakeProvider) -> None:
    client.get("/staff/language?lang=es&next=/staff/sign-in")
    assert "Iniciar sesión con su cuenta del distrito" in client.get("/staff/sign-in").text
    sign_in(client, provider)
    page = client.get("/staff/schools/0123/queue").text
    assert '<html lang="es"' in page and "Solicitudes de la escuela 0123" in page


def test_activation_code_letter_in_the_guardians_language(
    client: TestClient, provider: FakeProvider, api: FakeStaffApi
) -> None:
    sign_in(client, provider)
    token = csrf_of(client.get("/staff/schools/0123/codes").text)
    bad = client.post("/staff/schools/0123/codes", data={"csrf_token": token})
    assert bad.status_code == 400
    letter = client.post(
        "/staff/schools/0123/codes",
        data={"csrf_token": token, "student_id": "S1", "guardian_name": "Jenny Denny",
              "language": "es"},
    )  # fmt: skip
    assert letter.status_code == 200
    assert "ABCD-EFGH-JKLM" in letter.text
    assert 'lang="es"' in letter.text and "Estimado/a Jenny Denny:" in letter.text
    assert api.calls[-1] == ("code", ("0123", "S1", "For Jenny Denny, ID checked"))
    unknown = client.post(
        "/staff/schools/0123/codes",
        data={"csrf_token": token, "student_id": "UNKNOWN", "guardian_name": "J", "language": "en"},
    )  # fmt: skip
    assert unknown.status_code == 404 and "No student with this ID" in unknown.text


def test_an_expiring_token_is_refreshed(client: TestClient, provider: FakeProvider) -> None:
    sign_in(client, provider)
    app = client.app
    sessions = app.state.deps.sessions  # type: ignore[attr-defined]
    session = sessions.get(client.cookies.get("portal_session"))
    session.staff.expires_at = 0
    assert client.get("/staff/schools/0123/queue").status_code == 200
    assert provider.refreshed == 1


def test_sign_out_ends_the_staff_session(client: TestClient, provider: FakeProvider) -> None:
    sign_in(client, provider)
    token = csrf_of(client.get("/staff/schools/0123/queue").text)
    answer = client.post("/staff/sign-out", data={"csrf_token": token}, follow_redirects=False)
    # the provider's session ends too, then back to the console's sign-in page
    assert answer.headers["location"] == (
        "https://idp.example/logout?post_logout_redirect_uri=http://127.0.0.1:8080/staff/sign-in"
    )
    assert provider.logged_out == ["secretary.a"]
    assert "form-action 'self' http://127.0.0.1:8380" in answer.headers["content-security-policy"]
    assert "You are signed out" in client.get("/staff/sign-in").text
    assert client.get("/staff/schools/0123/queue", follow_redirects=False).status_code == 303


def test_student_view_shows_every_guardian_with_history(
    client: TestClient, provider: FakeProvider, api: FakeStaffApi
) -> None:
    api.links["9"] = staff_link("9", "0123", student_id="S1", status="approved",
                                id_document_type="passport")  # fmt: skip
    api.links["9"]["student"]["student_id"] = "S1"
    api.links["9"]["audit"] = [
        {"action": "requested", "by": "acc-9", "at": "2026-03-01T15:00:00Z", "method": "in_person"},
        {"action": "approved", "by": "secretary.a", "at": "2026-03-02T15:00:00Z",
         "id_document_type": "passport"},
    ]  # fmt: skip
    sign_in(client, provider)
    queue = client.get("/staff/schools/0123/queue").text
    assert 'href="/staff/schools/0123/students/S1"' in queue
    page = client.get("/staff/schools/0123/students/S1").text
    assert "Guardian 1" in page and "Guardian 9" in page
    assert "by secretary.a" in page and "Passport" in page
    assert "/staff/requests/9/revoke" in page and "/staff/requests/1/approve" in page
    # a revoke from the student view is confirmed with the row it showed
    assert "Guardian 9" in client.get("/staff/requests/9/revoke").text
    assert client.get("/staff/schools/0456/students/S3").status_code == 403


def test_the_console_catalog_is_complete_and_apart_from_the_guardian_pages() -> None:
    from web import catalogs as guardian_catalogs
    from web.staff import catalog

    texts = catalog.extract()
    assert "Sign in with your district account" in texts and "Dear %(name)s," in texts
    assert [p for loc in catalog.TRANSLATED for p in catalog.problems(loc, texts)] == []
    # the guardian pages' catalogs (every language of the district) hold none of them
    assert "Sign in with your district account" not in guardian_catalogs.extract()
