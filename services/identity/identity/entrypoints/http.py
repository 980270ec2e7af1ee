"""HTTP routes of the identity service (contract §4): validate, call one use case, answer.

Errors are RFC 9457 problems in the guardian's language: field-level for validation
(``errors[]``), one translated title otherwise.
"""


from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from identity.domain.commands import (
    ChangePassword,
    ConfirmReset,
    EmailOnly,
    Register,
    ReplaceSecurityAnswers,
    SignIn,
    UpdateProfile,
    VerifyEmail,
)
from identity.domain.questions import questions_in
from identity.domain.validation import ValidationFailed
from identity.handlers import IdentityService, Refusal, profile_view
from shared.runtime.client_address import forwarded_client
from shared.runtime.problems import (
    field_error,
    message,
    negotiate_locale,
    problem,
    request_locale,
)

# --- response documents ---------------------------------------------------------------


class AccountAccepted(BaseModel):
    """The same answer for a new and an already-registered email."""

    account_id: str = Field(examples=["5f0c2c8e-2b1e-4c7a-9f55-0d6c1f3a9b10"])
    status: str = Field(examples=["unverified"])


class Accepted(BaseModel):
    status: str = Field(examples=["accepted"])


class Verified(BaseModel):
    account_id: str = Field(examples=["5f0c2c8e-2b1e-4c7a-9f55-0d6c1f3a9b10"])
    status: str = Field(examples=["active"])


class Session(BaseModel):
    access_token: str = Field(examples=["eyJhbGciOiJFUzI1NiIsImtpZCI6ImxvY2FsLTEifQ..."])
    token_type: str = Field("Bearer", examples=["Bearer"])
    expires_at: str = Field(examples=["2025-05-01T12:15:00Z"])


class Profile(BaseModel):
    account_id: str
    email: str
    status: str
    first_name: str | None
    last_name: str | None
    locale: str | None
    phones: dict[str, Any] | None
    secondary_email: str | None
    address: dict[str, Any] | None
    notification_preferences: dict[str, Any]
    security_question_ids: list[str]
    created_at: str | None
    verified_at: str | None
    updated_at: str | None


class Question(BaseModel):
    question_id: str = Field(examples=["first_pet"])
    text: str = Field(examples=["¿Cómo se llamaba su primera mascota?"])


class Questions(BaseModel):
    locale: str = Field(examples=["es"])
    required: int = Field(description="How many questions a guardian answers", examples=[3])
    min_answer_length: int = Field(examples=[4])
    questions: list[Question]


class AnswersSaved(BaseModel):
    security_question_ids: list[str] = Field(examples=[["birth_city", "favorite_food", "first_pet"]])


class PasswordReset(BaseModel):
    status: str = Field(examples=["password_changed"])


def _problem_example(status: int, type_: str, title: str, **extra: Any) -> dict[str, Any]:
    body = {"type": f"https://guardian-portal.dev/problems/{type_}", "title": title,
            "status": status, **extra}
    return {"content": {"application/problem+json": {"example": body}}}


VALIDATION_422 = _problem_example(
    422, "validation", "Some fields need your attention.", instance="/v1/accounts",
    errors=[
        {"field": "password", "code": "password_missing_special",
         "message": "Include at least one of these special characters: !\"#$%&'()*+,-./:;<=>?[\\]^@"},
        {"field": "phones.emergency", "code": "emergency_not_given",
         "message": "The emergency number must be one of the phones you entered."},
    ],
)
TOKEN_400 = _problem_example(
    400, "token-invalid", "This link is invalid or has expired. Please request a new one.",
    code="token_invalid",
)
SESSION_401 = _problem_example(
    401, "session-invalid", "Your session has ended. Please sign in again.", code="session_invalid"
)
TOO_MANY_429 = _problem_example(
    429, "too-many-attempts", "Too many attempts. Please try again in 15 minute(s).",
    code="too_many_attempts",
)

_TYPES = {
    "token_invalid": "token-invalid",
    "invalid_credentials": "invalid-credentials",
    "too_many_attempts": "too-many-attempts",
    "captcha_required": "captcha-required",
    "email_not_verified": "email-not-verified",
    "account_disabled": "account-disabled",
    "session_invalid": "session-invalid",
    "captcha_unavailable": "captcha-unavailable",
}

bearer_scheme = HTTPBearer(auto_error=False, description="Access token from POST /v1/sessions")


def _explicit_locale(request: Request) -> str | None:
    raw = request.query_params.get("locale") or request.headers.get("accept-language")
    return negotiate_locale(raw) if raw else None


def install_error_handlers(app: FastAPI) -> None:
    """Answer the use cases' refusals and rule violations as problem+json."""

    @app.exception_handler(ValidationFailed)
    async def _invalid(request: Request, exc: ValidationFailed) -> JSONResponse:
        locale = getattr(request.state, "locale", None) or request_locale(request)
        errors = [field_error(e.field, e.code, locale, **e.params) for e in exc.errors]
        return problem(422, type_="validation", title=message("validation_title", locale),
                       instance=request.url.path, errors=errors)

    @app.exception_handler(Refusal)
    async def _refused(request: Request, exc: Refusal) -> JSONResponse:
        locale = (
            _explicit_locale(request) or getattr(request.state, "locale", None) or exc.locale
            or "en"
        )
        return problem(
            exc.status, type_=_TYPES.get(exc.code, exc.code.replace("_", "-")),
            title=message(exc.code, locale, **exc.params), instance=request.url.path,
            headers=exc.headers, code=exc.code,
        )


def client_address(request: Request, trusted_proxy_hops: int) -> str:
    """The caller's address: counted from the right of ``X-Forwarded-For`` past the
    trusted proxies, or the peer address when none is trusted."""
    return forwarded_client(
        request.headers.get("x-forwarded-for"),
        request.client.host if request.client else None,
        trusted_proxy_hops,
    )


def build_router(service: IdentityService, *, trusted_proxy_hops: int = 0) -> APIRouter:
    """The identity routes bound to ``service``."""
    router = APIRouter(prefix="/v1")

    async def current(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    ) -> tuple[dict[str, Any], Any]:
        acc, claims = await service.authenticate(credentials.credentials if credentials else None)
        request.state.locale = _explicit_locale(request) or acc.get("locale")
        return acc, claims

    Me = Annotated[tuple[dict[str, Any], Any], Depends(current)]

    @router.post(
        "/accounts", status_code=202, response_model=AccountAccepted, tags=["registration"],
        summary="Register a guardian account",
        description="Creates an unverified account and sends a verification email. An email "
        "that is already registered gets exactly the same answer (its owner is emailed "
        "instead): no account enumeration.",
        responses={422: VALIDATION_422, 503: _problem_example(
            503, "captcha-unavailable", "The human check is unavailable right now. Please try "
            "again in a few minutes.", code="captcha_unavailable")},
    )
    async def register(cmd: Register, request: Request) -> dict[str, str]:
        request.state.locale = negotiate_locale(cmd.locale) if cmd.locale else None
        return await service.register(cmd, client_address(request, trusted_proxy_hops))

    @router.get(
        "/captcha/challenge", tags=["registration"],
        summary="A signed ALTCHA proof-of-work challenge (CAPTCHA_PROVIDER=altcha)",
        description="The registration form's widget solves it and sends the payload as "
        "`captcha_token`. 404 when another provider (or none) is configured.",
        responses={404: _problem_example(404, "not-found", "Not Found", code="not_found")},
    )
    async def captcha_challenge() -> JSONResponse:
        issue = getattr(service.captcha, "challenge", None)
        if issue is None:
            raise StarletteHTTPException(404)
        return JSONResponse(issue(), headers={"Cache-Control": "no-store"})

    @router.post(
        "/email-verifications", response_model=Verified, tags=["registration"],
        summary="Verify the email with the emailed token and the password",
        responses={400: TOKEN_400, 422: VALIDATION_422, 429: TOO_MANY_429},
    )
    async def verify_email(cmd: VerifyEmail) -> dict[str, str]:
        return await service.verify_email(cmd)

    @router.post(
        "/email-verifications/resend", status_code=202, response_model=Accepted,
        tags=["registration"], summary="Send a new verification email (always 202)",
        description="Answered before the account is looked up. Limited per client address "
        "and per email (429 with Retry-After, the same for unknown emails); a repeat within "
        "minutes sends no new email.",
        responses={422: VALIDATION_422, 429: TOO_MANY_429},
    )
    async def resend(cmd: EmailOnly, request: Request) -> dict[str, str]:
        return await service.resend_verification(
            cmd.email, client_address(request, trusted_proxy_hops)
        )

    @router.post(
        "/sessions", response_model=Session, tags=["sessions"], summary="Sign in",
        description="Returns a short-lived ES256 access token. Repeated failures lock the "
        "account (with growing back-off) and limit the client address (429 with "
        "Retry-After). An unverified account is told to verify first (403); a disabled "
        "one is sent a new verification email (403).",
        responses={
            401: _problem_example(401, "invalid-credentials", "The email or password is not "
                                  "correct.", code="invalid_credentials"),
            403: _problem_example(403, "email-not-verified", "Please verify your email address "
                                  "first: open the link in the email we sent you.",
                                  code="email_not_verified"),
            422: VALIDATION_422, 429: TOO_MANY_429,
        },
    )
    async def sign_in(cmd: SignIn, request: Request) -> dict[str, str]:
        return await service.sign_in(cmd, client_address(request, trusted_proxy_hops))

    @router.get(
        "/accounts/me", response_model=Profile, tags=["profile"], summary="The guardian's profile",
        responses={401: SESSION_401},
    )
    async def get_me(me: Me) -> dict[str, Any]:
        return profile_view(me[0])

    @router.patch(
        "/accounts/me", response_model=Profile, tags=["profile"],
        summary="Update phones, address, secondary email, names, language or notification "
        "preferences (the email cannot change)",
        responses={401: SESSION_401, 422: VALIDATION_422},
    )
    async def patch_me(cmd: UpdateProfile, me: Me) -> dict[str, Any]:
        return await service.update_profile(me[0], cmd)

    @router.put(
        "/accounts/me/password", response_model=Session, tags=["profile"],
        summary="Change the password (current + new); other sessions end and a new token "
        "is returned",
        responses={401: SESSION_401, 422: VALIDATION_422, 429: TOO_MANY_429},
    )
    async def change_password(cmd: ChangePassword, me: Me) -> dict[str, str]:
        return await service.change_password(me[0], cmd)

    @router.put(
        "/accounts/me/security-questions", response_model=AnswersSaved, tags=["profile"],
        summary="Replace the security answers (confirmed with the current password)",
        responses={401: SESSION_401, 422: VALIDATION_422, 429: TOO_MANY_429},
    )
    async def replace_answers(cmd: ReplaceSecurityAnswers, me: Me) -> dict[str, Any]:
        return await service.replace_security_answers(me[0], cmd)

    @router.get(
        "/security-questions", response_model=Questions, tags=["registration"],
        summary="The security questions, with their text in the requested language",
    )
    async def security_questions(
        request: Request,
        locale: Annotated[str | None, Query(max_length=35, examples=["es"])] = None,
    ) -> dict[str, Any]:
        chosen = negotiate_locale(locale or request.headers.get("accept-language"))
        policy = service.policy.security_questions
        return {"locale": chosen, "required": policy.count,
                "min_answer_length": policy.min_answer_length,
                "questions": questions_in(chosen) if policy.count else []}

    @router.post(
        "/password-resets", status_code=202, response_model=Accepted, tags=["passwords"],
        summary="Email a password-reset link (always 202)",
        description="Answered before the account is looked up. Limited per client address "
        "and per email (429 with Retry-After, the same for unknown emails); a repeat within "
        "minutes sends no new email, so earlier links stay valid.",
        responses={422: VALIDATION_422, 429: TOO_MANY_429},
    )
    async def request_reset(cmd: EmailOnly, request: Request) -> dict[str, str]:
        return await service.request_reset(cmd.email, client_address(request, trusted_proxy_hops))

    @router.post(
        "/password-resets/confirm", response_model=PasswordReset, tags=["passwords"],
        summary="Set a new password with the emailed token; every session ends",
        responses={400: TOKEN_400, 422: VALIDATION_422, 429: TOO_MANY_429},
    )
    async def confirm_reset(cmd: ConfirmReset) -> dict[str, str]:
        return await service.confirm_reset(cmd)

    return router
