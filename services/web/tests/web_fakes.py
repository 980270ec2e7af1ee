"""Fakes of identity's and linking's APIs for the web front end's unit tests: they keep
what they were asked and answer like the real services (docs/services/*.md)."""

from __future__ import annotations

import secrets
from typing import Any

from web.ports import ApiAnswer

QUESTIONS = [
    {"question_id": "first_pet", "text": "What was the name of your first pet?"},
    {"question_id": "birth_city", "text": "In which city were you born?"},
    {"question_id": "favorite_food", "text": "What is your favorite food?"},
    {"question_id": "first_school", "text": "What was your first school?"},
]


def problem(status: int, code: str, **extra: Any) -> ApiAnswer:
    return ApiAnswer(status, {"type": f"https://guardian-portal.dev/problems/{code}",
                              "code": code, "status": status, **extra})  # fmt: skip


class FakeIdentity:
    def __init__(self) -> None:
        self.registrations: list[dict[str, Any]] = []
        self.accounts: dict[str, dict[str, Any]] = {}  # email -> account
        self.tokens: dict[str, str] = {}  # verification token -> email
        self.reset_tokens: dict[str, str] = {}
        self.sessions: dict[str, str] = {}  # access token -> email
        self.resends: list[str] = []
        self.resets: list[str] = []
        self.register_answer: ApiAnswer | None = None

    async def register(self, body: dict[str, Any], *, client: str) -> ApiAnswer:
        self.registrations.append(body)
        if self.register_answer is not None:
            return self.register_answer
        errors = []
        if len(body["password"]) < 8:
            messages = {
                "es": "La contraseña es demasiado corta.",
                "en": "The password is too short.",
            }
            errors.append({"field": "password", "code": "password_too_short",
                           "message": messages.get(body["locale"], messages["en"])})  # fmt: skip
        if not body["address"]["street"]:
            errors.append({"field": "address.street", "code": "missing", "message": "Required."})
        if errors:
            return ApiAnswer(422, {"status": 422, "errors": errors})
        if body["email"] not in self.accounts:
            self.accounts[body["email"]] = {**body, "status": "unverified",
                                            "created_at": "2030-01-02T10:00:00Z"}  # fmt: skip
            token = secrets.token_urlsafe(8)
            self.tokens[token] = body["email"]
        return ApiAnswer(202, {"account_id": "a-1", "status": "unverified"})

    async def verify_email(self, token: str, password: str, *, client: str) -> ApiAnswer:
        email = self.tokens.get(token)
        if email is None:
            return problem(400, "token_invalid")
        if self.accounts[email]["password"] != password:
            return problem(422, "invalid_credentials")
        del self.tokens[token]
        self.accounts[email]["status"] = "active"
        return ApiAnswer(200, {"account_id": "a-1", "status": "active"})

    async def resend_verification(
        self, email: str, locale: str, *, client: str | None = None
    ) -> ApiAnswer:
        self.resends.append(email)
        return ApiAnswer(202, {"status": "accepted"})

    async def sign_in(self, email: str, password: str, *, client: str, locale: str) -> ApiAnswer:
        account = self.accounts.get(email)
        if account is None or account["password"] != password:
            return problem(401, "invalid_credentials")
        if account["status"] == "unverified":
            return problem(403, "email_not_verified")
        if account["status"] == "disabled":
            return problem(403, "account_disabled")
        token = secrets.token_urlsafe(8)
        self.sessions[token] = email
        return ApiAnswer(200, {"access_token": token, "expires_at": "2030-01-02T10:15:00Z"})

    async def me(self, token: str, locale: str) -> ApiAnswer:
        email = self.sessions.get(token)
        if email is None:
            return problem(401, "session_invalid")
        account = self.accounts[email]
        keys = ("first_name", "last_name", "created_at", "secondary_email", "address",
                "notification_preferences", "locale")  # fmt: skip
        return ApiAnswer(200, {"email": email, **{k: account.get(k) for k in keys}})

    async def update_profile(self, token: str, body: dict[str, Any], locale: str) -> ApiAnswer:
        email = self.sessions.get(token)
        if email is None:
            return problem(401, "session_invalid")
        address = body.get("address") or {}
        if "address" in body and not address.get("zip", "").isdigit():
            return ApiAnswer(422, {"errors": [{"field": "address.zip", "code": "invalid_format",
                                               "message": "Enter a ZIP code."}]})  # fmt: skip
        self.accounts[email].update(body)
        return await self.me(token, locale)

    async def change_password(
        self, token: str, current: str, new: str, *, client: str, locale: str
    ) -> ApiAnswer:
        email = self.sessions.get(token)
        if email is None:
            return problem(401, "session_invalid")
        if self.accounts[email]["password"] != current:
            return ApiAnswer(422, {"errors": [{"field": "current_password", "code": "invalid",
                                               "message": "The current password is wrong."}]})  # fmt: skip
        self.accounts[email]["password"] = new
        self.sessions = {t: e for t, e in self.sessions.items() if e != email}
        fresh = secrets.token_urlsafe(8)
        self.sessions[fresh] = email
        return ApiAnswer(200, {"access_token": fresh, "expires_at": "2030-01-02T10:15:00Z"})

    async def request_password_reset(
        self, email: str, locale: str, *, client: str | None = None
    ) -> ApiAnswer:
        self.resets.append(email)
        if email in self.accounts:
            self.reset_tokens[secrets.token_urlsafe(8)] = email
        return ApiAnswer(202, {"status": "accepted"})

    async def confirm_password_reset(self, body: dict[str, Any], locale: str) -> ApiAnswer:
        email = self.reset_tokens.pop(body["token"], None)
        if email is None:
            return problem(400, "token_invalid")
        self.accounts[email]["password"] = body["new_password"]
        return ApiAnswer(200, {"status": "password_changed"})

    async def security_questions(self, locale: str) -> ApiAnswer:
        return ApiAnswer(200, {"locale": locale, "required": 3, "min_answer_length": 4,
                               "questions": QUESTIONS})  # fmt: skip

    async def schools(self) -> ApiAnswer:
        self.school_calls += 1
        return ApiAnswer(200, {"items": self.school_items})

    async def ready(self) -> bool:
        return True


class FakeLinking:
    def __init__(self, identity: FakeIdentity) -> None:
        self.identity = identity
        self.by_email: dict[str, list[dict[str, Any]]] = {}
        self.requests: list[dict[str, Any]] = []
        #: the roster's schools (none: the pages ask for the school ID)
        self.school_items: list[dict[str, str]] = []
        self.school_calls = 0

    async def links_of(self, token: str) -> list[dict[str, Any]] | None:
        email = self.identity.sessions.get(token)
        return None if email is None else self.by_email.setdefault(email, [])

    async def links(self, token: str, locale: str) -> ApiAnswer:
        items = await self.links_of(token)
        if items is None:
            return problem(401, "sign-in-required")
        return ApiAnswer(200, {"items": items})

    async def request_link(self, token: str, body: dict[str, Any], locale: str) -> ApiAnswer:
        items = await self.links_of(token)
        if items is None:
            return problem(401, "sign-in-required")
        self.requests.append(body)
        if body["student_id"] == "0000":
            return problem(422, "student-not-matched", detail="No student matches.")
        approved = body.get("activation_code") == "GOOD"
        link = {"link_id": f"l-{len(items) + 1}", "school_id": body["school_id"],
                "student_id": body["student_id"],
                "status": "approved" if approved else "pending_authorization",
                "method": "activation_code" if approved else "in_person",
                "requested_at": "2030-01-02T10:00:00Z", "expires_at": "2030-01-23T10:00:00Z",
                "days_left": 21, "decided_at": None,
                "student_first_name": "Ana" if approved else None}  # fmt: skip
        items.insert(0, link)
        return ApiAnswer(202, link)

    async def withdraw_link(self, token: str, link_id: str, locale: str) -> ApiAnswer:
        items = await self.links_of(token)
        if items is None:
            return problem(401, "sign-in-required")
        for link in items:
            if link["link_id"] == link_id:
                if link["status"] != "pending_authorization":
                    return problem(409, "not-pending")
                link["status"] = "withdrawn"
                return ApiAnswer(200, link)
        return problem(404, "link-not-found")

    async def schools(self) -> ApiAnswer:
        self.school_calls += 1
        return ApiAnswer(200, {"items": self.school_items})

    async def ready(self) -> bool:
        return True
