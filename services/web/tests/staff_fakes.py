"""Fakes of the staff console's outside world: the district's OpenID provider (as the
console's :class:`web.staff.auth.StaffProvider` port sees it) and linking's staff API."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, MutableMapping
from typing import Any

from starlette.requests import Request
from web.ports import ApiAnswer
from web.staff.auth import SignInFailed, StaffUser
from web_fakes import problem

#: username -> (schools, district admin)
STAFF = {
    "secretary.a": (("0123",), False),
    "secretary.b": (("0456",), False),
    "district.admin": ((), True),
    "staff.noschool": ((), False),
}


class FakeProvider:
    """Keeps pending sign-ins as Authlib does (in the session's dictionary, by state) and
    answers a callback once per code."""

    def __init__(self) -> None:
        self.next_user = "secretary.a"
        self.codes: dict[str, str] = {}  # code -> username, until used
        self.refreshed = 0
        self.logged_out: list[str] = []

    async def authorize_redirect(
        self, request: Request, state_store: MutableMapping[str, Any], redirect_uri: str,
        locale: str,
    ) -> str:  # fmt: skip
        state = secrets.token_urlsafe(8)
        code = secrets.token_urlsafe(8)
        state_store[f"_state_district_{state}"] = {"redirect_uri": redirect_uri}
        self.codes[code] = self.next_user
        return f"https://idp.example/auth?state={state}&code_for_tests={code}&ui={locale}"

    async def complete(self, request: Request, state_store: MutableMapping[str, Any]) -> StaffUser:
        state = request.query_params.get("state", "")
        if state_store.pop(f"_state_district_{state}", None) is None:
            raise SignInFailed("mismatching_state")
        username = self.codes.pop(request.query_params.get("code", ""), None)
        if username is None:
            raise SignInFailed("invalid_grant")
        schools, admin = STAFF[username]
        return StaffUser(
            staff_id=username, name=username.title(), schools=schools, district_admin=admin,
            access_token=f"token-{username}", expires_at=time.time() + 300,
            refresh_token="refresh",
        )  # fmt: skip

    async def logout_url(self, user: StaffUser, post_logout_redirect_uri: str) -> str | None:
        self.logged_out.append(user.staff_id)
        return f"https://idp.example/logout?post_logout_redirect_uri={post_logout_redirect_uri}"

    async def refresh(self, user: StaffUser) -> StaffUser:
        self.refreshed += 1
        user.expires_at = time.time() + 300
        return user


def staff_link(link_id: str, school_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "link_id": link_id, "account_id": f"acc-{link_id}", "school_id": school_id,
        "student_id": f"S{link_id}", "status": "pending_authorization", "method": "in_person",
        "requested_at": "2026-03-02T15:00:00Z", "expires_at": "2026-03-24T04:00:00Z",
        "last_day": "2026-03-23", "days_left": 10,
        "guardian": {"account_id": f"acc-{link_id}", "name": f"Guardian {link_id}",
                     "email": f"g{link_id}@example.net", "verified": True},
        "student": {"student_id": f"S{link_id}", "school_id": school_id,
                    "first_name": "Ana", "last_name": f"Student{link_id}"},
        "audit": [], **extra,
    }  # fmt: skip


class FakeStaffApi:
    """linking's staff API: the school's queue, decisions once, 403 for another school."""

    def __init__(self) -> None:
        self.links: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, Any]] = []

    @staticmethod
    def schools_of(token: str) -> tuple[tuple[str, ...], bool]:
        return STAFF[token.removeprefix("token-")]

    def _may(self, token: str, school_id: str) -> bool:
        schools, admin = self.schools_of(token)
        return admin or school_id in schools

    async def queue(
        self, token: str, school_id: str, *, status: str, cursor: str | None, limit: int,
        locale: str, filters: Mapping[str, str] | None = None,
    ) -> ApiAnswer:  # fmt: skip
        self.calls.append(("queue", (school_id, status, cursor, dict(filters or {}))))
        narrow = dict(filters or {})
        if not self._may(token, school_id):
            return problem(403, "forbidden")
        wanted = "pending_authorization" if status == "pending" else status
        rows = sorted(
            (x for x in self.links.values() if x["school_id"] == school_id and x["status"] == wanted
             and narrow.get("method", x["method"]) == x["method"]
             and int(narrow.get("max_days_left", 999)) >= (x.get("days_left") or 0)
             and narrow.get("q", x["student_id"]) in (x["student_id"], x["guardian"]["email"])),
            key=lambda x: (x["requested_at"], x["link_id"]),
        )  # fmt: skip
        start = int(cursor) if cursor else 0
        page = rows[start : start + limit]
        more = start + limit < len(rows)
        return ApiAnswer(200, {"items": page, "next_cursor": str(start + limit) if more else None})

    async def _decide(self, token: str, link_id: str, status: str, **fields: Any) -> ApiAnswer:
        self.calls.append((status, (link_id, fields)))
        link = self.links.get(link_id)
        if link is None:
            return problem(404, "link-not-found")
        if not self._may(token, link["school_id"]):
            return problem(403, "forbidden")
        wanted = "approved" if status == "revoked" else "pending_authorization"
        if link["status"] != wanted:
            return problem(409, "invalid-transition")
        link.update(status=status, **fields)
        return ApiAnswer(200, link)

    async def approve(
        self, token: str, link_id: str, id_document_type: str, note: str | None, locale: str
    ) -> ApiAnswer:
        return await self._decide(token, link_id, "approved", id_document_type=id_document_type)

    async def deny(self, token: str, link_id: str, reason: str, locale: str) -> ApiAnswer:
        return await self._decide(token, link_id, "denied", reason=reason)

    async def revoke(self, token: str, link_id: str, reason: str, locale: str) -> ApiAnswer:
        return await self._decide(token, link_id, "revoked", reason=reason)

    async def issue_code(
        self, token: str, school_id: str, student_id: str, note: str | None, locale: str
    ) -> ApiAnswer:
        self.calls.append(("code", (school_id, student_id, note)))
        if not self._may(token, school_id):
            return problem(403, "forbidden")
        if student_id == "UNKNOWN":
            return problem(404, "student-not-found")
        return ApiAnswer(201, {"code": "ABCD-EFGH-JKLM", "school_id": school_id,
                               "student_id": student_id, "expires_at": "2026-04-01T04:00:00Z"})  # fmt: skip

    async def student_links(
        self, token: str, school_id: str, student_id: str, locale: str
    ) -> ApiAnswer:
        self.calls.append(("student", (school_id, student_id)))
        if not self._may(token, school_id):
            return problem(403, "forbidden")
        rows = [
            x for x in self.links.values()
            if x["school_id"] == school_id and x["student_id"] == student_id
        ]  # fmt: skip
        return ApiAnswer(200, {"items": rows, "next_cursor": None})

    async def find_guardian(self, token: str, school_id: str, email: str, locale: str) -> ApiAnswer:
        return problem(404, "guardian-not-found")
