"""httpx clients of identity's and linking's HTTP APIs (the only network I/O of the web
front end). The W3C trace context of the page request travels with every call, so a
wizard Finish is one trace from the browser request to the SMTP send."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from shared.runtime.logs import get_logger
from shared.runtime.tracing import current_trace_headers
from web.ports import ApiAnswer

log = get_logger(__name__)


class _Api:
    def __init__(self, client: httpx.AsyncClient, name: str) -> None:
        self._client = client
        self._name = name

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        token: str | None = None,
        locale: str | None = None,
        client: str | None = None,
        params: dict[str, str] | None = None,
    ) -> ApiAnswer:
        headers = current_trace_headers()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if locale:
            headers["Accept-Language"] = locale
        if client:
            # identity counts sign-in failures per address: the guardian's, not ours
            headers["X-Forwarded-For"] = client
        try:
            response = await self._client.request(
                method, path, json=json, headers=headers, params=params
            )
        except httpx.HTTPError as exc:
            log.warning("api.unreachable", api=self._name, path=path, error=type(exc).__name__)
            return ApiAnswer(503, {"code": "unavailable"})
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {"items": body} if isinstance(body, list) else {}
        retry = response.headers.get("Retry-After")
        return ApiAnswer(
            response.status_code, body, int(retry) if retry and retry.isdigit() else None
        )

    async def ready(self) -> bool:
        try:
            return (await self._client.get("/healthz")).status_code == 200
        except httpx.HTTPError:
            return False


class HttpIdentityApi(_Api):
    """identity's guardian API."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        super().__init__(client, "identity")

    async def register(self, body: dict[str, Any], *, client: str) -> ApiAnswer:
        return await self._call("POST", "/v1/accounts", json=body, client=client)

    async def verify_email(self, token: str, password: str, *, client: str) -> ApiAnswer:
        return await self._call(
            "POST", "/v1/email-verifications", json={"token": token, "password": password},
            client=client,
        )  # fmt: skip

    async def resend_verification(
        self, email: str, locale: str, *, client: str | None = None
    ) -> ApiAnswer:
        return await self._call(
            "POST", "/v1/email-verifications/resend", json={"email": email}, locale=locale,
            client=client,
        )  # fmt: skip

    async def sign_in(self, email: str, password: str, *, client: str, locale: str) -> ApiAnswer:
        return await self._call(
            "POST", "/v1/sessions", json={"email": email, "password": password},
            client=client, locale=locale,
        )  # fmt: skip

    async def me(self, token: str, locale: str) -> ApiAnswer:
        return await self._call("GET", "/v1/accounts/me", token=token, locale=locale)

    async def update_profile(self, token: str, body: dict[str, Any], locale: str) -> ApiAnswer:
        return await self._call("PATCH", "/v1/accounts/me", json=body, token=token, locale=locale)

    async def change_password(
        self, token: str, current: str, new: str, *, client: str, locale: str
    ) -> ApiAnswer:
        body = {"current_password": current, "new_password": new}
        return await self._call(
            "PUT", "/v1/accounts/me/password", json=body, token=token, locale=locale, client=client
        )

    async def request_password_reset(
        self, email: str, locale: str, *, client: str | None = None
    ) -> ApiAnswer:
        return await self._call(
            "POST", "/v1/password-resets", json={"email": email}, locale=locale, client=client
        )

    async def confirm_password_reset(self, body: dict[str, Any], locale: str) -> ApiAnswer:
        return await self._call("POST", "/v1/password-resets/confirm", json=body, locale=locale)

    async def security_questions(self, locale: str) -> ApiAnswer:
        return await self._call("GET", "/v1/security-questions", params={"locale": locale})


class HttpLinkingApi(_Api):
    """linking's guardian API."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        super().__init__(client, "linking")

    async def links(self, token: str, locale: str) -> ApiAnswer:
        return await self._call("GET", "/v1/links", token=token, locale=locale)

    async def request_link(self, token: str, body: dict[str, Any], locale: str) -> ApiAnswer:
        return await self._call("POST", "/v1/links", json=body, token=token, locale=locale)

    async def withdraw_link(self, token: str, link_id: str, locale: str) -> ApiAnswer:
        return await self._call(
            "DELETE", f"/v1/links/{quote(link_id, safe='')}", token=token, locale=locale
        )

    async def schools(self) -> ApiAnswer:
        return await self._call("GET", "/v1/schools")


def _segment(value: str) -> str:
    return quote(value, safe="")


class HttpStaffApi(_Api):
    """linking's staff API, called with the staff member's bearer token."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        super().__init__(client, "linking-staff")

    async def queue(
        self, token: str, school_id: str, *, status: str, cursor: str | None, limit: int,
        locale: str, filters: Mapping[str, str] | None = None,
    ) -> ApiAnswer:  # fmt: skip
        params = {**(filters or {}), "status": status, "limit": str(limit)}
        if cursor:
            params["cursor"] = cursor
        return await self._call(
            "GET", f"/v1/schools/{_segment(school_id)}/link-requests", token=token,
            locale=locale, params=params,
        )  # fmt: skip

    async def approve(
        self, token: str, link_id: str, id_document_type: str, note: str | None, locale: str
    ) -> ApiAnswer:
        body: dict[str, Any] = {"id_document_type": id_document_type}
        if note:
            body["note"] = note
        return await self._call(
            "POST", f"/v1/link-requests/{_segment(link_id)}/approve", json=body, token=token,
            locale=locale,
        )  # fmt: skip

    async def deny(self, token: str, link_id: str, reason: str, locale: str) -> ApiAnswer:
        return await self._call(
            "POST", f"/v1/link-requests/{_segment(link_id)}/deny", json={"reason": reason},
            token=token, locale=locale,
        )  # fmt: skip

    async def revoke(self, token: str, link_id: str, reason: str, locale: str) -> ApiAnswer:
        return await self._call(
            "POST", f"/v1/links/{_segment(link_id)}/revoke", json={"reason": reason},
            token=token, locale=locale,
        )  # fmt: skip

    async def issue_code(
        self, token: str, school_id: str, student_id: str, note: str | None, locale: str
    ) -> ApiAnswer:
        return await self._call(
            "POST",
            f"/v1/schools/{_segment(school_id)}/students/{_segment(student_id)}/activation-codes",
            json={"note": note} if note else {}, token=token, locale=locale,
        )  # fmt: skip

    async def student_links(
        self, token: str, school_id: str, student_id: str, locale: str
    ) -> ApiAnswer:
        return await self._call(
            "GET",
            f"/v1/schools/{_segment(school_id)}/students/{_segment(student_id)}/links",
            token=token,
            locale=locale,
        )

    async def find_guardian(self, token: str, school_id: str, email: str, locale: str) -> ApiAnswer:
        return await self._call(
            "GET", f"/v1/schools/{_segment(school_id)}/guardians", token=token,
            locale=locale, params={"email": email},
        )  # fmt: skip
