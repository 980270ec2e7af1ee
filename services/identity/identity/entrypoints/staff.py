"""Staff help-desk routes (``/v1/staff/...``): bearer tokens of the district's identity
provider, checked like linking checks them (:mod:`shared.runtime.staff_tokens`)."""

# No `from __future__ import annotations`: FastAPI resolves the route signatures.

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from identity.helpdesk import HelpDesk, HelpDeskRefusal
from shared.runtime.policy import StaffAccess
from shared.runtime.problems import ProblemError, message, negotiate_locale
from shared.runtime.staff_tokens import StaffTokenRefused, StaffTokenVerifier


class AuditEntry(BaseModel):
    action: str
    by: str
    at: datetime


class StaffAccountOut(BaseModel):
    """A guardian account as the help desk sees it."""

    account_id: str
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    locale: str = "en"
    state: str = Field(description="unverified | active | locked | disabled")
    created_at: datetime | None = None
    verified_at: datetime | None = None
    last_activity_at: datetime | None = None
    locked_until: datetime | None = None
    failed_signins: int = 0
    staff_audit: list[AuditEntry] = Field(default_factory=list)


class CancelledOut(BaseModel):
    account_id: str
    state: str
    staff_audit: list[AuditEntry] = Field(default_factory=list)


def _locale(request: Request) -> str:
    return negotiate_locale(request.headers.get("accept-language"))


def _problem(status: int, code: str, locale: str, detail: str | None = None) -> ProblemError:
    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if status == 401 else None
    return ProblemError(
        status, code.replace("_", "-"), message(code, locale), detail=detail, headers=headers
    )


def build_staff_router(helpdesk: HelpDesk, verifier: StaffTokenVerifier) -> APIRouter:
    """The help-desk routes bound to ``helpdesk``."""
    router = APIRouter(prefix="/v1/staff", tags=["staff help desk"])
    bearer = HTTPBearer(
        auto_error=False,
        scheme_name="StaffBearer",
        description="Token of the district identity provider (a district admin's).",
    )

    async def current_staff(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> StaffAccess:
        if credentials is None:
            raise _problem(401, "staff-sign-in-required", _locale(request))
        try:
            access, _claims = await verifier.verify(credentials.credentials)
        except StaffTokenRefused as exc:
            raise _problem(exc.status, exc.code, _locale(request), exc.detail) from None
        return access

    Staff = Annotated[StaffAccess, Depends(current_staff)]
    AccountId = Annotated[str, Path(min_length=1, max_length=64)]

    async def run(request: Request, work: Any) -> dict[str, Any]:
        try:
            return dict(await work)
        except HelpDeskRefusal as exc:
            raise _problem(exc.status, exc.code, _locale(request)) from None

    @router.get("/accounts", response_model=StaffAccountOut, summary="Find an account by email")
    async def look_up(
        request: Request, staff: Staff, email: Annotated[str, Query(min_length=3, max_length=254)]
    ) -> dict[str, Any]:
        return await run(request, helpdesk.look_up(staff, email))

    @router.get(
        "/accounts/{account_id}", response_model=StaffAccountOut, summary="One account"
    )
    async def get_account(request: Request, staff: Staff, account_id: AccountId) -> dict[str, Any]:
        return await run(request, helpdesk.account(staff, account_id))

    @router.post(
        "/accounts/{account_id}/verification-email",
        status_code=202,
        response_model=StaffAccountOut,
        summary="Send a new verification email",
    )
    async def resend(request: Request, staff: Staff, account_id: AccountId) -> dict[str, Any]:
        return await run(request, helpdesk.resend_verification(staff, account_id))

    @router.post(
        "/accounts/{account_id}/unlock",
        response_model=StaffAccountOut,
        summary="Lift a sign-in lockout",
    )
    async def unlock(request: Request, staff: Staff, account_id: AccountId) -> dict[str, Any]:
        return await run(request, helpdesk.lift_lockout(staff, account_id))

    @router.post(
        "/accounts/{account_id}/cancel",
        response_model=CancelledOut,
        summary="Close the account at the guardian's request (personal data erased)",
    )
    async def cancel(request: Request, staff: Staff, account_id: AccountId) -> dict[str, Any]:
        return await run(request, helpdesk.cancel_account(staff, account_id))

    return router
