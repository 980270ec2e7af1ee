"""The httpx adapters of identity's and linking's APIs, on httpx's mock transport."""

from __future__ import annotations

import json

import httpx
from web.adapters.http_apis import HttpIdentityApi, HttpLinkingApi


def recording(answer: httpx.Response, seen: list[httpx.Request]) -> httpx.AsyncClient:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer

    return httpx.AsyncClient(base_url="http://identity", transport=httpx.MockTransport(handle))


async def test_sign_in_passes_the_guardian_address_and_language() -> None:
    seen: list[httpx.Request] = []
    api = HttpIdentityApi(recording(httpx.Response(200, json={"access_token": "t"}), seen))
    answer = await api.sign_in("a@example.net", "pw", client="203.0.113.9", locale="es")
    assert answer.ok and answer.body["access_token"] == "t"
    request = seen[0]
    assert request.url.path == "/v1/sessions"
    assert json.loads(request.content) == {"email": "a@example.net", "password": "pw"}
    assert request.headers["x-forwarded-for"] == "203.0.113.9"
    assert request.headers["accept-language"] == "es"


async def test_resend_and_reset_pass_the_guardian_address() -> None:
    seen: list[httpx.Request] = []
    api = HttpIdentityApi(recording(httpx.Response(202, json={"status": "accepted"}), seen))
    await api.resend_verification("a@example.net", "en", client="203.0.113.9")
    await api.request_password_reset("a@example.net", "en", client="2001:db8::1")
    assert [r.url.path for r in seen] == ["/v1/email-verifications/resend", "/v1/password-resets"]
    assert [r.headers["x-forwarded-for"] for r in seen] == ["203.0.113.9", "2001:db8::1"]


async def test_problem_details_are_read_field_by_field() -> None:
    problem = {
        "type": "https://guardian-portal.dev/problems/validation",
        "status": 422,
        "errors": [
            {"field": "password", "code": "too_short", "message": "Demasiado corta."},
            {"field": "password", "code": "missing_digit", "message": "Falta un número."},
            {"field": "address.zip", "code": "invalid_format", "message": "Código no válido."},
        ],
    }
    seen: list[httpx.Request] = []
    response = httpx.Response(
        422, json=problem, headers={"content-type": "application/problem+json"}
    )
    answer = await HttpIdentityApi(recording(response, seen)).register({}, client="1.2.3.4")
    assert answer.code == "validation"
    assert answer.field_errors() == {
        "password": "Demasiado corta.",
        "address.zip": "Código no válido.",
    }


async def test_retry_after_and_bearer_token() -> None:
    seen: list[httpx.Request] = []
    response = httpx.Response(
        429, json={"code": "too-many-attempts"}, headers={"Retry-After": "120"}
    )
    answer = await HttpLinkingApi(recording(response, seen)).request_link("tok", {}, "vi")
    assert answer.status == 429 and answer.retry_after == 120 and answer.code == "too-many-attempts"
    assert seen[0].headers["authorization"] == "Bearer tok"


async def test_link_ids_are_escaped_in_the_path() -> None:
    seen: list[httpx.Request] = []
    api = HttpLinkingApi(recording(httpx.Response(200, json={}), seen))
    await api.withdraw_link("tok", "../v1/x", "en")
    assert seen[0].url.raw_path == b"/v1/links/..%2Fv1%2Fx"


async def test_an_unreachable_api_is_a_503_answer_not_an_exception() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = httpx.AsyncClient(base_url="http://identity", transport=httpx.MockTransport(refuse))
    answer = await HttpIdentityApi(client).me("tok", "en")
    assert answer.status == 503 and not await HttpIdentityApi(client).ready()


async def test_a_non_json_answer_is_an_empty_body() -> None:
    seen: list[httpx.Request] = []
    api = HttpIdentityApi(recording(httpx.Response(502, text="<html>bad gateway</html>"), seen))
    answer = await api.security_questions("so")
    assert answer.status == 502 and answer.body == {}
    assert seen[0].url.params["locale"] == "so"
