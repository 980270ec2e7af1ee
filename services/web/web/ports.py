"""What the front end needs of the outside world: identity's and linking's HTTP APIs.

The pages never see HTTP details beyond an :class:`ApiAnswer`; unit tests use fakes of
these ports (``services/web/tests/web_fakes.py``), the browser tests the real services.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ApiAnswer:
    """One API answer: status, JSON body (a problem for errors), ``Retry-After``."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)
    retry_after: int | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def code(self) -> str:
        """The problem's stable code (``code`` member, else the tail of ``type``)."""
        code = self.body.get("code")
        if isinstance(code, str):
            return code
        type_ = self.body.get("type")
        return type_.rsplit("/", 1)[-1] if isinstance(type_, str) else ""

    def field_errors(self) -> dict[str, str]:
        """``field → message`` of a validation problem (first message per field)."""
        found: dict[str, str] = {}
        for error in self.body.get("errors") or []:
            if isinstance(error, dict) and error.get("field"):
                found.setdefault(str(error["field"]), str(error.get("message") or ""))
        return found


class IdentityApi(Protocol):
    """identity's guardian-facing HTTP API (docs/services/identity.md). Every call answers
    an :class:`ApiAnswer`; an unreachable service is a 503 answer, never an exception."""

    async def register(self, body: dict[str, Any], *, client: str) -> ApiAnswer: ...
    async def verify_email(self, token: str, password: str, *, client: str) -> ApiAnswer: ...
    async def resend_verification(
        self, email: str, locale: str, *, client: str | None = None
    ) -> ApiAnswer: ...
    async def sign_in(
        self, email: str, password: str, *, client: str, locale: str
    ) -> ApiAnswer: ...
    async def me(self, token: str, locale: str) -> ApiAnswer: ...
    async def update_profile(self, token: str, body: dict[str, Any], locale: str) -> ApiAnswer: ...
    async def change_password(
        self, token: str, current: str, new: str, *, client: str, locale: str
    ) -> ApiAnswer: ...
    async def request_password_reset(
        self, email: str, locale: str, *, client: str | None = None
    ) -> ApiAnswer: ...
    async def confirm_password_reset(self, body: dict[str, Any], locale: str) -> ApiAnswer: ...
    async def security_questions(self, locale: str) -> ApiAnswer: ...
    async def ready(self) -> bool: ...


class LinkingApi(Protocol):
    """linking's guardian HTTP API (docs/services/linking.md), with the guardian's token."""

    async def links(self, token: str, locale: str) -> ApiAnswer: ...
    async def request_link(self, token: str, body: dict[str, Any], locale: str) -> ApiAnswer: ...
    async def withdraw_link(self, token: str, link_id: str, locale: str) -> ApiAnswer: ...
    async def schools(self) -> ApiAnswer: ...
    async def ready(self) -> bool: ...


class StaffApi(Protocol):
    """linking's staff HTTP API (docs/services/linking.md), with the staff member's access
    token from the district's OpenID provider. 403 answers a school the staff member
    does not act for, 409 a request decided already."""

    async def queue(
        self, token: str, school_id: str, *, status: str, cursor: str | None, limit: int,
        locale: str, filters: Mapping[str, str] | None = None,
    ) -> ApiAnswer: ...  # fmt: skip
    async def approve(
        self, token: str, link_id: str, id_document_type: str, note: str | None, locale: str
    ) -> ApiAnswer: ...
    async def deny(self, token: str, link_id: str, reason: str, locale: str) -> ApiAnswer: ...
    async def revoke(self, token: str, link_id: str, reason: str, locale: str) -> ApiAnswer: ...
    async def issue_code(
        self, token: str, school_id: str, student_id: str, note: str | None, locale: str
    ) -> ApiAnswer: ...
    async def student_links(
        self, token: str, school_id: str, student_id: str, locale: str
    ) -> ApiAnswer: ...
    async def find_guardian(
        self, token: str, school_id: str, email: str, locale: str
    ) -> ApiAnswer: ...
