"""The web front end's pages on fakes of identity's and linking's APIs."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from web.app import create_app
from web.settings import Settings
from web_fakes import FakeIdentity, FakeLinking

PASSWORD = "Secr3t!pw"


@pytest.fixture
def identity() -> FakeIdentity:
    return FakeIdentity()


@pytest.fixture
def linking(identity: FakeIdentity) -> FakeLinking:
    return FakeLinking(identity)


def make_client(identity: FakeIdentity, linking: FakeLinking, **settings: Any) -> TestClient:
    app = create_app(
        Settings(otel_traces_file=None, **settings), identity=identity, linking=linking
    )
    return TestClient(app, base_url="http://127.0.0.1:8080")


@pytest.fixture
def client(identity: FakeIdentity, linking: FakeLinking) -> TestClient:
    return make_client(identity, linking)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


def post(client: TestClient, page: str, data: dict[str, str], url: str | None = None) -> Any:
    token = csrf_of(client.get(page).text)
    return client.post(url or page.split("?")[0], data={"csrf_token": token, **data},
                       follow_redirects=False)  # fmt: skip


def fill_wizard(client: TestClient, *, email: str = "jenny@example.net", claim: bool = True,
                password: str = PASSWORD) -> None:  # fmt: skip
    assert post(client, "/register/welcome", {"action": "next"}).status_code == 303
    post(client, "/register/usage-policy", {"accepted_usage_policy": "yes"})
    post(client, "/register/account", {
        "email": email, "first_name": "Jenny", "last_name": "Denny",
        "password": password, "password_confirm": password,
    })  # fmt: skip
    post(client, "/register/personal", {
        "phones.mobile.number": "904-555-0100", "phones.mobile.sms": "yes",
        "phones.home.choice": "same", "phones.emergency": "mobile",
        "address.street": "111 Street Dr.", "address.city": "Jacksonville",
        "address.state": "fl", "address.zip": "32207",
    })  # fmt: skip
    post(client, "/register/security", {
        "security_answers.0.question_id": "first_pet", "security_answers.0.answer": "Rover",
        "security_answers.1.question_id": "birth_city", "security_answers.1.answer": "Miami",
        "security_answers.2.question_id": "favorite_food", "security_answers.2.answer": "Rice",
    })  # fmt: skip
    if claim:
        post(client, "/register/students", {
            "action": "add", "student_choice": "claim", "new_claim.school_id": "0123",
            "new_claim.student_id": "90966666", "new_claim.student_last_name": "Student",
        })  # fmt: skip
        post(client, "/register/students", {"student_choice": "claim"})
    else:
        post(client, "/register/students", {"student_choice": "none"})


def test_sign_in_page_has_the_ways_forward_and_the_language_bar(client: TestClient) -> None:
    html = client.get("/sign-in").text
    for text in ("I don&#39;t have an account", "I forgot my password", 'lang="ar"', 'lang="ht"'):
        assert text in html
    assert '<html lang="en" dir="ltr">' in html


def test_language_cookie_switches_every_page_and_arabic_is_right_to_left(
    client: TestClient,
) -> None:
    answer = client.get("/language?lang=ar&next=/register/welcome", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/register/welcome"
    assert "portal_lang=ar" in answer.headers["set-cookie"]
    html = client.get("/register/welcome").text
    assert '<html lang="ar" dir="rtl">' in html and "مرحبًا" in html
    assert '<html lang="ar" dir="rtl">' in client.get("/sign-in").text


def test_language_redirect_stays_on_this_site(client: TestClient) -> None:
    for target in ("https://evil.example/", "//evil.example/", "/\\evil"):
        answer = client.get(f"/language?lang=es&next={target}", follow_redirects=False)
        assert answer.headers["location"] == "/"


def test_browser_language_is_used_when_no_cookie(client: TestClient) -> None:
    html = client.get("/sign-in", headers={"Accept-Language": "vi-VN,vi;q=0.9"}).text
    assert '<html lang="vi"' in html and "Đăng nhập" in html


def test_cookies_and_security_headers(identity: FakeIdentity, linking: FakeLinking) -> None:
    local = make_client(identity, linking).get("/sign-in")
    cookie = local.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    csp = local.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert local.headers["x-frame-options"] == "DENY"
    assert local.headers["referrer-policy"] == "no-referrer"
    assert local.headers["cache-control"] == "no-store"
    production = make_client(identity, linking, environment="production").get("/sign-in")
    assert "secure" in production.headers["set-cookie"].lower()
    assert "max-age" in production.headers["strict-transport-security"]


def test_forms_refuse_a_missing_or_forged_csrf_token(client: TestClient) -> None:
    client.get("/sign-in")
    for data in ({}, {"csrf_token": "forged"}):
        answer = client.post("/sign-in", data={"email": "a@b.c", "password": "x", **data})
        assert answer.status_code == 403 and "This form has expired" in answer.text
    other = TestClient(client.app, base_url="http://127.0.0.1:8080")
    stolen = csrf_of(other.get("/sign-in").text)  # another browser's token
    answer = client.post("/sign-in", data={"email": "a@b.c", "password": "x", "csrf_token": stolen})
    assert answer.status_code == 403


def test_bad_input_is_a_clear_answer_never_a_500(client: TestClient) -> None:
    client.get("/sign-in")
    assert (
        client.post(
            "/sign-in", content=b"{}", headers={"content-type": "application/json"}
        ).status_code
        == 403
    )
    assert client.post("/sign-in", content=b"x" * 70_000,
                       headers={"content-type": "application/x-www-form-urlencoded"}).status_code == 413  # fmt: skip

    def chunks() -> Any:
        yield from (b"x" * 1000 for _ in range(100))

    streamed = client.post("/sign-in", content=chunks(),
                           headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert streamed.status_code == 413 and streamed.headers["x-frame-options"] == "DENY"
    assert client.get("/register/nope").status_code == 404
    assert client.get("/verify-email?token=" + "x" * 500).status_code == 400


def test_wizard_keeps_values_on_previous_and_next(client: TestClient) -> None:
    post(client, "/register/usage-policy", {"accepted_usage_policy": "yes"})
    answer = post(client, "/register/account", {"action": "previous", "email": "kept@example.net",
                                                "first_name": "Kept"})  # fmt: skip
    assert answer.headers["location"] == "/register/usage-policy"
    html = client.get("/register/account").text
    assert 'value="kept@example.net"' in html and 'value="Kept"' in html


def test_wizard_steps_after_the_policy_need_the_box_ticked(client: TestClient) -> None:
    answer = client.get("/register/personal", follow_redirects=False)
    assert answer.headers["location"] == "/register/usage-policy"
    answer = post(client, "/register/usage-policy", {})
    assert answer.status_code == 422 and "Accept the usage policy to continue." in answer.text


def test_wizard_local_errors_next_to_the_field(client: TestClient) -> None:
    post(client, "/register/usage-policy", {"accepted_usage_policy": "yes"})
    answer = post(client, "/register/account", {"email": "a@example.net", "first_name": "A",
                  "last_name": "B", "password": PASSWORD, "password_confirm": "other"})  # fmt: skip
    assert answer.status_code == 422
    assert "<title>Error: Account Information" in answer.text
    assert 'id="f-password-confirm-error"' in answer.text and 'aria-invalid="true"' in answer.text
    assert 'href="#f-password-confirm"' in answer.text  # the error summary links to it


def test_wizard_finish_sends_the_contract_body_with_the_page_language(
    client: TestClient, identity: FakeIdentity
) -> None:
    client.get("/language?lang=es&next=/")
    fill_wizard(client)
    review = client.get("/register/review").text
    assert "90966666" in review and "Cambiar" in review and PASSWORD not in review
    answer = post(client, "/register/review", {"action": "finish"})
    assert answer.headers["location"] == "/register/done"
    done = client.get("/register/done").text
    assert "jenny@example.net" in done and "Revise su correo" in done
    body = identity.registrations[-1]
    assert body["locale"] == "es" and body["email"] == "jenny@example.net"
    assert body["phones"] == {"mobile": {"number": "904-555-0100", "unlisted": False, "sms": True},
                              "home": {"same_as_mobile": True}, "work": None,
                              "emergency": "mobile"}  # fmt: skip
    assert body["address"] == {"street": "111 Street Dr.", "apt": None, "city": "Jacksonville",
                               "state": "FL", "zip": "32207"}  # fmt: skip
    assert body["student_claims"] == [
        {"school_id": "0123", "student_id": "90966666", "student_last_name": "Student"}
    ]
    assert body["accepted_usage_policy"] is True and len(body["security_answers"]) == 3
    # the draft is gone: a replayed Finish registers nothing twice
    post(client, "/register/review", {"action": "finish"})
    assert len(identity.registrations) == 1


def test_api_field_errors_come_back_on_their_step_in_the_page_language(
    client: TestClient, identity: FakeIdentity
) -> None:
    client.get("/language?lang=es&next=/")
    fill_wizard(client, password="Ab1!")
    answer = post(client, "/register/review", {"action": "finish"})
    assert answer.headers["location"] == "/register/account"
    html = client.get("/register/account").text
    assert "La contraseña es demasiado corta." in html and 'id="f-password-error"' in html
    assert 'value="jenny@example.net"' in html  # nothing typed was lost


def test_no_password_travels_in_a_cookie(client: TestClient) -> None:
    fill_wizard(client)
    assert all(PASSWORD not in value for value in client.cookies.values())


def test_verify_email_page_activates_the_account(
    client: TestClient, identity: FakeIdentity
) -> None:
    fill_wizard(client)
    post(client, "/register/review", {"action": "finish"})
    token = next(iter(identity.tokens))
    page = client.get(f"/verify-email?token={token}")
    assert page.status_code == 200 and f'value="{token}"' in page.text
    wrong = post(client, f"/verify-email?token={token}", {"token": token, "password": "nope"})
    assert wrong.status_code == 422 and "The password is not correct." in wrong.text
    ok = post(client, f"/verify-email?token={token}", {"token": token, "password": PASSWORD})
    assert ok.status_code == 200 and "Your account is active" in ok.text
    used = post(client, f"/verify-email?token={token}", {"token": token, "password": PASSWORD})
    assert used.status_code == 400 and "/resend-verification" in used.text


def test_verify_email_without_token_offers_a_way_forward(client: TestClient) -> None:
    answer = client.get("/verify-email")
    assert answer.status_code == 400 and "This link no longer works" in answer.text


def test_reset_password_through_the_emailed_token(
    client: TestClient, identity: FakeIdentity
) -> None:
    identity.accounts["jenny@example.net"] = {"password": "Old1!pass", "status": "active",
                                              "first_name": "J", "last_name": "D",
                                              "created_at": "2030-01-02T10:00:00Z"}  # fmt: skip
    assert (
        "Check your email" in post(client, "/forgot-password", {"email": "jenny@example.net"}).text
    )
    token = next(iter(identity.reset_tokens))
    mismatch = post(
        client,
        f"/reset-password?token={token}",
        {"token": token, "new_password": "New1!pass", "new_password_confirm": "x"},
    )
    assert mismatch.status_code == 422
    ok = post(
        client,
        f"/reset-password?token={token}",
        {"token": token, "new_password": "New1!pass", "new_password_confirm": "New1!pass"},
    )
    assert "Your password is changed" in ok.text
    assert identity.accounts["jenny@example.net"]["password"] == "New1!pass"


def test_sign_in_answers(client: TestClient, identity: FakeIdentity) -> None:
    fill_wizard(client)
    post(client, "/register/review", {"action": "finish"})
    unverified = post(client, "/sign-in", {"email": "jenny@example.net", "password": PASSWORD})
    assert unverified.status_code == 403 and "Verify your email first" in unverified.text
    wrong = post(client, "/sign-in", {"email": "jenny@example.net", "password": "bad"})
    assert wrong.status_code == 401 and "The email or password is not correct." in wrong.text
    identity.accounts["jenny@example.net"]["status"] = "disabled"
    disabled = post(client, "/sign-in", {"email": "jenny@example.net", "password": PASSWORD})
    assert "Your account is inactive" in disabled.text


def signed_in(client: TestClient, identity: FakeIdentity) -> None:
    identity.accounts["jenny@example.net"] = {"password": PASSWORD, "status": "active",
                                              "first_name": "Jenny", "last_name": "Denny",
                                              "created_at": "2030-01-02T10:00:00Z"}  # fmt: skip
    before = client.cookies.get("portal_session")
    answer = post(client, "/sign-in", {"email": "jenny@example.net", "password": PASSWORD})
    assert answer.headers["location"] == "/account"
    assert client.cookies.get("portal_session") != before  # a new session id on sign-in


def test_account_page_links_request_and_withdraw(
    client: TestClient, identity: FakeIdentity
) -> None:
    signed_in(client, identity)
    html = client.get("/account").text
    assert "Jenny Denny" in html and "cannot be changed" in html and "January 2, 2030" in html
    post(client, "/account", {"school_id": "0123", "student_id": "90966666",
                              "student_last_name": "Student"}, url="/account/links")  # fmt: skip
    html = client.get("/account").text
    assert "Pending authorization" in html and "January 23, 2030" in html and "21 days left" in html
    missing = post(client, "/account", {"school_id": "0123"}, url="/account/links")
    assert missing.status_code == 422 and 'id="f-student-id-error"' in missing.text
    unmatched = post(client, "/account", {"school_id": "0123", "student_id": "0000",
                                          "student_last_name": "X"}, url="/account/links")  # fmt: skip
    assert unmatched.status_code == 422 and "No student matches." in unmatched.text
    post(client, "/account", {}, url="/account/links/l-1/withdraw")
    assert "Withdrawn" in client.get("/account").text


def test_sign_out_ends_the_session(client: TestClient, identity: FakeIdentity) -> None:
    signed_in(client, identity)
    answer = post(client, "/account", {}, url="/sign-out")
    assert answer.headers["location"] == "/sign-in"
    assert "You are signed out." in client.get("/sign-in").text
    assert client.get("/account", follow_redirects=False).headers["location"] == "/sign-in"


def test_an_expired_identity_token_signs_out(client: TestClient, identity: FakeIdentity) -> None:
    signed_in(client, identity)
    identity.sessions.clear()  # identity no longer accepts the token
    answer = client.get("/account", follow_redirects=False)
    assert answer.headers["location"] == "/sign-in"
    assert "inactive for a while" in client.get("/sign-in").text


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["checks"] == {"identity": "ok", "linking": "ok"}


def test_the_forwarded_address_is_passed_on_only_when_trusted(
    identity: FakeIdentity, linking: FakeLinking
) -> None:
    seen: list[str] = []
    original = identity.sign_in

    async def spy(email: str, password: str, *, client: str, locale: str) -> Any:
        seen.append(client)
        return await original(email, password, client=client, locale=locale)

    identity.sign_in = spy  # type: ignore[method-assign]
    for hops in (0, 1, 2):
        c = make_client(identity, linking, web_trusted_proxy_hops=hops)
        token = csrf_of(c.get("/sign-in").text)
        c.post("/sign-in", data={"csrf_token": token, "email": "a@b.c", "password": "x"},
               headers={"X-Forwarded-For": "6.6.6.6, 203.0.113.7, 10.0.0.1"})  # fmt: skip
    # counted from the right: the forged left entry is never taken
    assert seen == ["testclient", "10.0.0.1", "203.0.113.7"]


def test_password_change_keeps_this_session_with_the_new_token(
    client: TestClient, identity: FakeIdentity
) -> None:
    signed_in(client, identity)
    wrong = post(client, "/account", {"current_password": "nope", "new_password": "New1!pass",
                                      "new_password_confirm": "New1!pass"}, url="/account/password")  # fmt: skip
    assert wrong.status_code == 422 and "The current password is wrong." in wrong.text
    assert 'id="f-current-password-error"' in wrong.text
    mismatch = post(client, "/account", {"current_password": PASSWORD, "new_password": "New1!pass",
                                         "new_password_confirm": "x"}, url="/account/password")  # fmt: skip
    assert mismatch.status_code == 422 and "The two passwords are not the same." in mismatch.text
    ok = post(client, "/account", {"current_password": PASSWORD, "new_password": "New1!pass",
                                   "new_password_confirm": "New1!pass"}, url="/account/password")  # fmt: skip
    assert ok.headers["location"] == "/account#password"
    page = client.get("/account")
    assert page.status_code == 200 and "Your password is changed." in page.text
    assert identity.accounts["jenny@example.net"]["password"] == "New1!pass"


def test_contact_details_and_notifications_are_saved(
    client: TestClient, identity: FakeIdentity
) -> None:
    signed_in(client, identity)
    html = client.get("/account").text
    assert "You have not chosen how to receive notifications" in html  # no channel yet
    address = {"address.street": "2 New Rd", "address.city": "Jacksonville",
               "address.state": "fl", "address.zip": "32207"}  # fmt: skip
    bad = post(client, "/account", {**address, "address.zip": "x"}, url="/account/profile")
    assert (
        bad.status_code == 422
        and "Enter a ZIP code." in bad.text
        and 'value="2 New Rd"' in bad.text
    )
    post(client, "/account", {**address, "secondary_email": "other@example.net"},
         url="/account/profile")  # fmt: skip
    account = identity.accounts["jenny@example.net"]
    assert account["address"]["street"] == "2 New Rd" and account["address"]["state"] == "FL"
    assert account["address"]["apt"] is None and account["secondary_email"] == "other@example.net"
    post(client, "/account", {"channel.email": "yes", "kind.link_updates": "yes"},
         url="/account/notifications")  # fmt: skip
    assert account["notification_preferences"] == {"channels": ["email"], "kinds": ["link_updates"]}
    html = client.get("/account").text
    assert "You have not chosen how to receive notifications" not in html
    assert (
        'value="2 New Rd"' in html
        and 'id="f-channel-email" type="checkbox" name="channel.email" value="yes" checked' in html
    )


def test_choosing_a_language_signed_in_changes_the_account_language(
    client: TestClient, identity: FakeIdentity
) -> None:
    signed_in(client, identity)
    client.get("/language?lang=so&next=/account")
    assert identity.accounts["jenny@example.net"]["locale"] == "so"


def test_email_link_tokens_stay_out_of_the_spans(
    identity: FakeIdentity, linking: FakeLinking, tmp_path: Any
) -> None:
    spans = tmp_path / "spans.jsonl"
    app = create_app(Settings(otel_traces_file=spans), identity=identity, linking=linking)
    client = TestClient(app, base_url="http://127.0.0.1:8080")
    client.get("/verify-email?token=SECRETtoken123")
    client.get("/reset-password?token=SECRETtoken456")
    text = spans.read_text()
    assert "/verify-email" in text and "SECRETtoken" not in text


def test_static_files_are_compressed_and_cached_pages_are_not(client: TestClient) -> None:
    css = client.get("/static/uswds/css/uswds.min.css", headers={"Accept-Encoding": "gzip"})
    assert css.status_code == 200 and css.headers["content-encoding"] == "gzip"
    assert css.num_bytes_downloaded < 100_000 < len(css.content)
    assert "max-age" in css.headers["cache-control"]
    page = client.get("/sign-in", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in page.headers


def test_the_school_is_chosen_by_its_name_when_the_roster_has_schools(
    client: TestClient, identity: FakeIdentity, linking: FakeLinking
) -> None:
    # Without schools from linking, the wizard asks for the school's ID.
    fill_wizard(client, claim=False)
    html = client.get("/register/students").text
    assert 'name="new_claim.school_id"' in html and "<select" not in html.split("Add a student")[1]
    linking.school_items = [
        {"school_id": "0123", "name": "Adams Elementary"},
        {"school_id": "0777", "name": "Zion Middle"},
    ]
    linking.school_calls = 0
    client.app.state.deps.school_cache.clear()  # type: ignore[attr-defined]
    html = client.get("/register/students").text
    options = re.findall(r'<option value="(\d+)"[^>]*>([^<]+)</option>', html)
    assert options == [("0123", "Adams Elementary"), ("0777", "Zion Middle")]
    post(client, "/register/students", {
        "action": "add", "student_choice": "claim", "new_claim.school_id": "0777",
        "new_claim.student_id": "90966666", "new_claim.student_last_name": "Student",
    })  # fmt: skip
    # The list shows the name, never the internal id alone, here and on the review page.
    assert "<td>Zion Middle</td>" in client.get("/register/students").text
    post(client, "/register/students", {"student_choice": "claim"})
    assert "Zion Middle" in client.get("/register/review").text
    # Fetched once, then reused for a few minutes.
    assert linking.school_calls == 1
