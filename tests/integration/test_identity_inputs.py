"""Bad input of every field gets a clear field-level problem in the guardian's language,
never a 500; the OpenAPI document lists every endpoint with examples."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.harness import Portal
from tests.integration.identity_support import registration, unique_email

ENDPOINTS = [
    ("POST", "/v1/accounts"),
    ("POST", "/v1/email-verifications"),
    ("POST", "/v1/email-verifications/resend"),
    ("POST", "/v1/sessions"),
    ("GET", "/v1/accounts/me"),
    ("PATCH", "/v1/accounts/me"),
    ("PUT", "/v1/accounts/me/password"),
    ("PUT", "/v1/accounts/me/security-questions"),
    ("GET", "/v1/security-questions"),
    ("POST", "/v1/password-resets"),
    ("POST", "/v1/password-resets/confirm"),
]


@pytest.fixture
async def client(portal: Portal) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=portal.url("identity"), timeout=60) as c:
        yield c


def _with(path: str, value: Any, locale: str = "es") -> dict[str, Any]:
    """A valid registration with the field at dotted ``path`` replaced by ``value``."""
    body = registration(unique_email("bad"), locale=locale)
    node: Any = body
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    last = parts[-1]
    if last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return body


# (field path, bad value, field named in the error, code)
BAD_FIELDS = [
    ("email", "not-an-email", "email", "invalid_email"),
    ("email", "staff@duvalschools.org", "email", "email_forbidden_domain"),
    ("email", 42, "email", "invalid_type"),
    ("password", "short", "password", "password_too_short"),
    ("password", "nouppercase1!", "password", "password_missing_upper"),
    ("password", "NoSpecial12", "password", "password_missing_special"),
    ("password", "NoDigits!!ab", "password", "password_missing_digit"),
    ("password", "x" * 2000, "password", "too_long"),
    ("first_name", "", "first_name", "missing"),
    ("first_name", "12345", "first_name", "name_invalid"),
    ("last_name", None, "last_name", "invalid_type"),
    ("locale", "fr", "locale", "locale_unsupported"),
    ("phones.mobile.number", "12ab", "phones.mobile.number", "phone_number_invalid"),
    ("phones.mobile.number", "123456", "phones.mobile.number", "phone_number_invalid"),
    ("phones.mobile.sms", "yes", "phones.mobile.sms", "invalid_type"),
    ("phones.home", {"number": None}, "phones.home.number", "home_number_required"),
    (
        "phones.work",
        {"number": "9045550111", "extension": "ext 9"},
        "phones.work.extension",
        "phone_extension_invalid",
    ),
    ("phones.emergency", "work", "phones.emergency", "emergency_not_given"),
    ("phones.emergency", "pager", "phones.emergency", "invalid_choice"),
    ("phones.emergency", None, "phones.emergency", "emergency_required"),
    ("secondary_email", "nope@", "secondary_email", "invalid_email"),
    ("address.state", "XX", "address.state", "state_invalid"),
    ("address.zip", "3220", "address.zip", "zip_invalid"),
    ("address.street", "", "address.street", "too_short"),
    ("address", None, "address", "invalid_type"),
    ("security_answers.0.answer", "abc", "security_answers.0.answer", "security_answer_too_short"),
    (
        "security_answers.1.question_id",
        "first_pet",
        "security_answers.1.question_id",
        "security_question_duplicate",
    ),
    (
        "security_answers.2.question_id",
        "shoe_size",
        "security_answers.2.question_id",
        "security_question_unknown",
    ),
    ("accepted_usage_policy", False, "accepted_usage_policy", "usage_policy_required"),
    ("accepted_usage_policy", "true", "accepted_usage_policy", "invalid_type"),
    ("student_claims.0.school_id", "a b", "student_claims.0.school_id", "invalid_format"),
    ("student_claims", "0123", "student_claims", "invalid_type"),
]


@pytest.mark.parametrize(
    ("path", "value", "field", "code"),
    BAD_FIELDS,
    ids=[f"{p}={v!r}"[:40] for p, v, _, _ in BAD_FIELDS],
)
async def test_each_bad_registration_field_gets_a_translated_field_error(
    client: httpx.AsyncClient, path: str, value: Any, field: str, code: str
) -> None:
    r = await client.post("/v1/accounts", json=_with(path, value))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    # An unsupported language falls back to English; otherwise the body's Spanish.
    expected = (
        "Some fields need your attention."
        if path == "locale"
        else ("Algunos campos necesitan su atención.")
    )
    assert body["title"] == expected
    matching = [e for e in body["errors"] if e["field"] == field]
    assert matching, body["errors"]
    assert code in {e["code"] for e in matching}, matching
    assert all(e["message"] for e in matching)


@pytest.mark.parametrize("locale", ["en", "es", "vi", "ar", "so", "ht"])
async def test_messages_exist_in_all_six_languages(client: httpx.AsyncClient, locale: str) -> None:
    r = await client.post("/v1/accounts", json=_with("phones.emergency", "work", locale=locale))
    assert r.status_code == 422
    texts = {e["code"]: e["message"] for e in r.json()["errors"]}
    english = "The emergency number must be one of the phones you entered."
    assert (texts["emergency_not_given"] == english) == (locale == "en")
    r = await client.get("/v1/security-questions", params={"locale": locale})
    assert r.status_code == 200
    questions = r.json()["questions"]
    assert r.json()["locale"] == locale and r.json()["required"] == 3
    assert {"first_pet", "birth_city"} <= {q["question_id"] for q in questions}
    assert all(q["text"] for q in questions)


GARBAGE: list[tuple[str, str, Any]] = [
    ("POST", "/v1/accounts", b"{not json"),
    ("POST", "/v1/accounts", b"[]"),
    ("POST", "/v1/accounts", b"null"),
    ("POST", "/v1/accounts", b'"\\u0000"'),
    ("POST", "/v1/accounts", {"email": {"$ne": 1}}),
    ("POST", "/v1/accounts", {"unexpected": True}),
    ("POST", "/v1/email-verifications", {"token": "", "password": ""}),
    ("POST", "/v1/email-verifications", {"token": "x" * 10_000, "password": "a"}),
    ("POST", "/v1/email-verifications", b'{"token": "\\udcff", "password": "a"}'),
    ("POST", "/v1/email-verifications", {"token": "not-a-token", "password": "Secr3t!pw"}),
    ("POST", "/v1/email-verifications/resend", {"email": ["a"]}),
    ("POST", "/v1/sessions", {"email": None, "password": None}),
    ("POST", "/v1/sessions", {"email": "a@b.c", "password": 7}),
    ("POST", "/v1/sessions", b"\xff\xfe"),
    ("POST", "/v1/password-resets", {}),
    (
        "POST",
        "/v1/password-resets/confirm",
        {"token": "nope", "new_password": "N3w!passw", "security_answers": "x"},
    ),
    ("POST", "/v1/password-resets/confirm", {"token": "nope", "new_password": "N3w!passw"}),
    ("GET", "/v1/accounts/me", None),
    ("PATCH", "/v1/accounts/me", {"first_name": "x"}),
    ("PUT", "/v1/accounts/me/password", {"current_password": "a", "new_password": "b"}),
    ("PUT", "/v1/accounts/me/security-questions", {}),
    ("GET", "/v1/security-questions?locale=" + "x" * 100, None),
]


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    GARBAGE,
    ids=[f"{m} {p[:30]} {str(b)[:25]}" for m, p, b in GARBAGE],
)
async def test_garbage_is_a_problem_never_a_500(
    client: httpx.AsyncClient, method: str, path: str, payload: Any
) -> None:
    kwargs: dict[str, Any] = {}
    if isinstance(payload, bytes):
        kwargs = {"content": payload, "headers": {"content-type": "application/json"}}
    elif payload is not None:
        kwargs = {"json": payload}
    if path.startswith("/v1/accounts/me"):
        kwargs.setdefault("headers", {})["Authorization"] = "Bearer eyJhbGciOiJub25lIn0.e30."
    r = await client.request(method, path, **kwargs)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == r.status_code and r.json()["title"]


async def test_openapi_lists_every_endpoint_with_examples(client: httpx.AsyncClient) -> None:
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    text = r.text
    for method, path in ENDPOINTS:
        operation = doc["paths"][path][method.lower()]
        assert operation.get("summary"), (method, path)
        if method != "GET":
            assert "requestBody" in operation, (method, path)
    # Every request body model carries an example.
    for name in (
        "Register",
        "VerifyEmail",
        "EmailOnly",
        "SignIn",
        "UpdateProfile",
        "ChangePassword",
        "ReplaceSecurityAnswers",
        "ConfirmReset",
    ):
        assert doc["components"]["schemas"][name].get("examples"), name
    assert "jenny.denny@example.net" in text
    for name in ("AccountAccepted", "Session", "Questions", "Verified"):
        assert "examples" in str(doc["components"]["schemas"][name]), name
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
