"""HTTP routes of the linking service: validate, call one use case, shape the answer.

Guardians authenticate with identity's access token, staff with the district IdP's
token (both ``Authorization: Bearer``). Errors are RFC 9457 problems; guardian-facing
ones are in the guardian's language (``Accept-Language``, else the token's ``locale``).
"""

# No `from __future__ import annotations`: FastAPI must resolve the route signatures,
# which use aliases local to build_router.

from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import (
    APIRouter,
    Body,
    Depends,
    FastAPI,
    Path,
    Query,
    Request,
    Security,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError
from starlette.datastructures import UploadFile as StarletteUploadFile

from linking import handlers, helpdesk
from linking.adapters.tokens import (
    GuardianTokenVerifier,
    InvalidToken,
    KeysUnavailable,
    StaffTokenRefused,
    StaffTokenVerifier,
)
from linking.domain.errors import LinkingError, RestrictionNotFound, TooManyAttempts
from linking.domain.guardians import Guardian, GuardianIdentity
from linking.domain.model import Link, LinkMethod, LinkStatus
from linking.domain.staff import StaffIdentity
from linking.handlers import Deps
from linking.ports import ActivationCode, StudentRestriction
from linking.settings import Settings
from shared.runtime.problems import ProblemError, message, negotiate_locale, problem

#: The roster upload's body as OpenAPI documents it (the route reads it itself, after
#: authentication, so FastAPI does not describe it).
ROSTER_UPLOAD_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "OneRoster 1.1 CSV bundle (zip)",
                    }
                },
            }
        }
    },
}


def _plain_text(value: str) -> str:
    """Refuse text that cannot be stored or published: lone surrogates (JSON ``\\ud800``)
    and NUL characters."""
    if "\x00" in value:
        raise PydanticCustomError("value_error", "NUL character", {"code": "invalid_format"})
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError(
            "value_error", "not valid Unicode text", {"code": "invalid_format"}
        ) from None
    return value


_Plain = AfterValidator(_plain_text)
Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), _Plain]
Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), _Plain
]
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), _Plain
]
Code = Id
Username = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128), _Plain
]
Password = Annotated[str, StringConstraints(min_length=1, max_length=256), _Plain]

# --- request bodies -------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LinkRequestBody(_Body):
    """A guardian's claim of a student, with optional credentials that approve at once."""

    school_id: Id
    student_id: Id
    student_last_name: Name
    student_first_name: Name | None = None
    student_birth_date: date | None = None
    activation_code: Code | None = None
    legacy_username: Username | None = None
    legacy_password: Password | None = None

    @model_validator(mode="after")
    def _one_method(self) -> "LinkRequestBody":
        if (self.legacy_username is None) != (self.legacy_password is None):
            raise PydanticCustomError(
                "value_error",
                "legacy credentials incomplete",
                {"code": "legacy-credentials-incomplete"},
            )
        if self.activation_code is not None and self.legacy_username is not None:
            raise PydanticCustomError(
                "value_error", "one link method at a time", {"code": "one-link-method"}
            )
        return self


class ApproveBody(_Body):
    """Staff checked the guardian's photo ID in person."""

    id_document_type: Id = Field(examples=["drivers_license", "passport", "state_id"])
    note: Text | None = None


class ReasonBody(_Body):
    reason: Text


class IssueCodeBody(_Body):
    expires_in_days: int | None = Field(default=None, ge=1, le=365)
    note: Text | None = None


# --- responses ------------------------------------------------------------------------


class LinkOut(BaseModel):
    """A link as the guardian sees it (the student's first name once approved)."""

    link_id: str
    school_id: str
    student_id: str
    status: str
    method: str
    requested_at: datetime
    expires_at: datetime | None = None
    decided_at: datetime | None = None
    #: The last local day the school may approve a pending request (the date in the
    #: guardian's email); ``days_left`` counts whole days to it (0 on that day).
    last_day: date | None = None
    days_left: int | None = None
    student_first_name: str | None = None
    reason: str | None = None


class LinkList(BaseModel):
    items: list[LinkOut]


class GuardianOut(BaseModel):
    account_id: str
    name: str | None = None
    email: str | None = None
    phones: list[dict[str, Any]] = Field(default_factory=list)
    verified: bool = False


class StudentOut(BaseModel):
    student_id: str
    school_id: str
    first_name: str | None = None
    last_name: str | None = None


class StaffLinkOut(BaseModel):
    """A link as school staff see it: guardian, student and the audit trail."""

    link_id: str
    account_id: str
    school_id: str
    student_id: str
    status: str
    method: str
    requested_at: datetime
    expires_at: datetime | None = None
    decided_at: datetime | None = None
    #: The last local day the school may approve a pending request (the date in the
    #: guardian's email); ``days_left`` counts whole days to it (0 on that day).
    last_day: date | None = None
    days_left: int | None = None
    decided_by: str | None = None
    reason: str | None = None
    approved_by: str | None = None
    id_document_type: str | None = None
    held_until_verified: bool = False
    #: The student is under restriction after a revoked custody: codes and legacy
    #: credentials no longer approve at once; every request waits for staff.
    student_restricted: bool = False
    restricted_since: datetime | None = None
    guardian: GuardianOut | None = None
    student: StudentOut
    audit: list[dict[str, Any]] = Field(default_factory=list)


class GuardianAtSchoolOut(BaseModel):
    """A guardian found by the help desk, with their links at the school."""

    guardian: GuardianOut
    links: list[StaffLinkOut]


class SchoolOut(BaseModel):
    school_id: str
    name: str


class SchoolList(BaseModel):
    """The schools of the roster, by name: what a family chooses from (no student data)."""

    items: list[SchoolOut]


class QueueOut(BaseModel):
    items: list[StaffLinkOut]
    next_cursor: str | None = None


class ActivationCodeOut(BaseModel):
    code_id: str
    school_id: str
    student_id: str
    status: str
    issued_by: str
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None
    note: str | None = None


class IssuedCodeOut(ActivationCodeOut):
    """The code itself is shown only in this answer."""

    code: str


class ActivationCodeList(BaseModel):
    items: list[ActivationCodeOut]


class RejectionOut(BaseModel):
    file: str
    row: int
    reason: str
    sourced_id: str | None = None


class RosterImportOut(BaseModel):
    import_id: str
    mode: str
    schools: int
    students_in_file: int
    created: int
    updated: int
    unchanged: int
    withdrawn: int
    rejected: int
    rejections: list[RejectionOut]
    started_at: datetime
    finished_at: datetime
    seconds: float


# --- shaping --------------------------------------------------------------------------


def guardian_view(link: Link, now: datetime, tz: ZoneInfo) -> LinkOut:
    """Never any student data before approval."""
    approved = link.status == LinkStatus.APPROVED
    return LinkOut(
        link_id=link.link_id,
        school_id=link.school_id,
        student_id=link.student_id,
        status=str(link.status),
        method=str(link.method),
        requested_at=link.requested_at,
        expires_at=link.expires_at,
        decided_at=link.decided_at,
        last_day=link.last_day(tz),
        days_left=link.days_left(now, tz),
        student_first_name=link.student_first_name if approved else None,
        reason=link.reason if link.status in (LinkStatus.DENIED, LinkStatus.EXPIRED) else None,
    )


def staff_view(
    link: Link,
    guardian: Guardian | None,
    now: datetime,
    tz: ZoneInfo,
    restriction: StudentRestriction | None = None,
) -> StaffLinkOut:
    audit = [
        {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in entry.items()}
        for entry in link.audit
    ]
    return StaffLinkOut(
        link_id=link.link_id,
        account_id=link.account_id,
        school_id=link.school_id,
        student_id=link.student_id,
        status=str(link.status),
        method=str(link.method),
        requested_at=link.requested_at,
        expires_at=link.expires_at,
        decided_at=link.decided_at,
        last_day=link.last_day(tz),
        days_left=link.days_left(now, tz),
        decided_by=link.decided_by,
        reason=link.reason,
        approved_by=link.approved_by,
        id_document_type=link.id_document_type,
        held_until_verified=link.held,
        student_restricted=restriction is not None,
        restricted_since=restriction.since if restriction else None,
        guardian=GuardianOut(
            account_id=guardian.account_id,
            name=guardian.name or None,
            email=guardian.email,
            phones=guardian.phones,
            verified=guardian.verified,
        )
        if guardian is not None and not guardian.deleted
        else None,
        student=StudentOut(
            student_id=link.student_id,
            school_id=link.school_id,
            first_name=link.student_first_name,
            last_name=link.student_last_name,
        ),
        audit=audit,
    )


def code_view(code: ActivationCode, now: datetime) -> ActivationCodeOut:
    return ActivationCodeOut(
        code_id=code.code_id,
        school_id=code.school_id,
        student_id=code.student_id,
        status=code.state(now),
        issued_by=code.issued_by,
        issued_at=code.issued_at,
        expires_at=code.expires_at,
        used_at=code.used_at,
        revoked_at=code.revoked_at,
        note=code.note,
    )


# --- errors ---------------------------------------------------------------------------


def locale_of(request: Request) -> str:
    """Accept-Language (or ``?locale=``) first, then the guardian token's locale."""
    explicit = request.query_params.get("locale") or request.headers.get("accept-language")
    fallback = getattr(request.state, "token_locale", None) or "en"
    return negotiate_locale(explicit, default=negotiate_locale(fallback))


def problem_for(exc: LinkingError, locale: str) -> ProblemError:
    """The RFC 9457 problem of a use-case error."""
    headers = None
    if isinstance(exc, TooManyAttempts):
        headers = {"Retry-After": str(exc.retry_after_seconds)}
    title = message(exc.code, locale)
    detail = exc.detail if exc.detail and exc.detail != exc.code else None
    problem = ProblemError(exc.status, exc.code, title, detail=detail, headers=headers)
    rejections = exc.extra.get("rejections")
    if rejections:
        problem.errors = [
            {"field": f"{r['file']}:{r['row']}", "code": "row_rejected", "message": r["reason"]}
            for r in rejections  # type: ignore[attr-defined]
        ]
    return problem


def install_linking_problems(app: FastAPI) -> None:
    """Answer use-case errors as problems in the guardian's language."""

    async def linking_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, LinkingError)
        p = problem_for(exc, locale_of(request))
        return problem(
            p.status,
            type_=p.type_,
            title=p.title,
            detail=p.detail,
            instance=request.url.path,
            errors=p.errors,
            headers=p.headers,
        )

    app.add_exception_handler(LinkingError, linking_error)


def unauthorized(code: str, locale: str) -> ProblemError:
    return ProblemError(401, code, message(code, locale), headers={"WWW-Authenticate": "Bearer"})


def staff_locale(request: Request) -> str:
    """Staff messages follow ``Accept-Language`` (the console sends the staff member's)."""
    return negotiate_locale(request.headers.get("accept-language"))


def staff_refusal(exc: StaffTokenRefused, locale: str) -> ProblemError:
    """The problem answering a refused staff token: 401 with ``WWW-Authenticate`` (RFC
    6750 error codes), 403 for a staff member without a school, 503 while the provider's
    keys cannot be fetched."""
    headers: dict[str, str] = {}
    if exc.status == 401:
        error = "invalid_request" if exc.code == "staff-sign-in-required" else "invalid_token"
        headers["WWW-Authenticate"] = f'Bearer error="{error}"'
    elif exc.status == 503:
        headers["Retry-After"] = "10"
    return ProblemError(
        exc.status, exc.code, message(exc.code, locale), detail=exc.detail, headers=headers
    )


# --- routes ---------------------------------------------------------------------------


def build_router(
    deps: Deps,
    settings: Settings,
    guardian_tokens: GuardianTokenVerifier,
    staff_tokens: StaffTokenVerifier,
) -> APIRouter:
    """The linking API, bound to its use cases and token verifiers."""
    router = APIRouter()
    guardian_bearer = HTTPBearer(
        auto_error=False,
        scheme_name="GuardianBearer",
        description="Access token from identity (POST /v1/sessions).",
    )
    staff_bearer = HTTPBearer(
        auto_error=False,
        scheme_name="StaffBearer",
        description="Token of the district identity provider (claims role, schools).",
    )

    async def current_guardian(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(guardian_bearer)],
    ) -> GuardianIdentity:
        if credentials is None:
            raise unauthorized("sign-in-required", locale_of(request))
        try:
            guardian = await guardian_tokens.verify(credentials.credentials)
        except InvalidToken:
            raise unauthorized("sign-in-required", locale_of(request)) from None
        except KeysUnavailable:
            raise ProblemError(
                503,
                "keys-unavailable",
                message("keys-unavailable", locale_of(request)),
                headers={"Retry-After": "10"},
            ) from None
        # Identity ended the account's sessions (password changed or reset, disabled,
        # deleted): its tokens are refused here too, not only when they expire.
        known = await deps.guardians.get(guardian.account_id)
        if known is not None and not known.accepts(guardian):
            raise unauthorized("sign-in-required", locale_of(request))
        request.state.token_locale = guardian.locale
        return guardian

    async def current_staff(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(staff_bearer)],
    ) -> StaffIdentity:
        if credentials is None:
            raise unauthorized("staff-sign-in-required", staff_locale(request))
        try:
            return await staff_tokens.verify(credentials.credentials)
        except StaffTokenRefused as exc:
            raise staff_refusal(exc, staff_locale(request)) from None

    GuardianDep = Annotated[GuardianIdentity, Depends(current_guardian)]
    StaffDep = Annotated[StaffIdentity, Depends(current_staff)]

    # --- public -------------------------------------------------------------------

    @router.get(
        "/v1/schools",
        response_model=SchoolList,
        tags=["public"],
        summary="The district's schools by name (from the roster), for choosing one",
    )
    async def get_schools(response: Response) -> SchoolList:
        # Public and the same for everyone: shared caches may keep it a few minutes.
        response.headers["Cache-Control"] = "public, max-age=300"
        schools = await handlers.list_schools(deps)
        return SchoolList(items=[SchoolOut(school_id=i, name=n) for i, n in schools])

    # --- guardians ----------------------------------------------------------------

    @router.post(
        "/v1/links",
        status_code=202,
        response_model=LinkOut,
        tags=["guardian"],
        summary="Claim a student (in person, activation code or legacy credentials)",
    )
    async def post_link(body: LinkRequestBody, guardian: GuardianDep) -> LinkOut:
        cmd = handlers.RequestLink(**body.model_dump())
        link = await handlers.request_link(deps, guardian, cmd)
        return guardian_view(link, deps.clock(), deps.policy.tz)

    @router.get(
        "/v1/links",
        response_model=LinkList,
        tags=["guardian"],
        summary="The guardian's own links and their status",
    )
    async def get_links(guardian: GuardianDep) -> LinkList:
        links = await handlers.list_links(deps, guardian)
        now = deps.clock()
        return LinkList(items=[guardian_view(link, now, deps.policy.tz) for link in links])

    @router.delete(
        "/v1/links/{link_id}",
        response_model=LinkOut,
        tags=["guardian"],
        summary="Withdraw a pending request",
    )
    async def delete_link(
        link_id: Annotated[str, Path(max_length=64)], guardian: GuardianDep
    ) -> LinkOut:
        link = await handlers.withdraw_link(deps, guardian, link_id)
        return guardian_view(link, deps.clock(), deps.policy.tz)

    # --- staff --------------------------------------------------------------------

    @router.get(
        "/v1/schools/{school_id}/link-requests",
        response_model=QueueOut,
        tags=["staff"],
        summary="The school's queue, oldest first, with days left",
    )
    async def get_queue(
        school_id: Annotated[str, Path(max_length=64)],
        staff: StaffDep,
        status: Literal[
            "pending",
            "pending_authorization",
            "approved",
            "denied",
            "expired",
            "revoked",
            "withdrawn",
        ] = "pending",
        cursor: Annotated[str | None, Query(max_length=512)] = None,
        limit: Annotated[int | None, Query(ge=1, le=settings.queue_max_page_size)] = None,
        method: Literal["in_person", "activation_code", "legacy_credentials"] | None = None,
        max_days_left: Annotated[
            int | None,
            Query(ge=0, le=366, description="pending requests with at most this many days left"),
        ] = None,
        q: Annotated[
            str | None,
            Query(
                max_length=254,
                description="a student ID, a guardian's email or a student's last name",
            ),
        ] = None,
    ) -> QueueOut:
        wanted = LinkStatus.PENDING if status == "pending" else LinkStatus(status)
        query = handlers.QueueQuery(
            method=LinkMethod(method) if method else None,
            max_days_left=max_days_left,
            search=q.strip() or None if q else None,
        )
        page = await handlers.school_queue(
            deps, staff, school_id, wanted, cursor, limit or settings.queue_page_size, query
        )
        now = deps.clock()
        return QueueOut(
            items=[
                staff_view(i.link, i.guardian, now, deps.policy.tz, i.restriction)
                for i in page.items
            ],
            next_cursor=page.next_cursor,
        )

    @router.get(
        "/v1/schools/{school_id}/students/{student_id}/links",
        response_model=QueueOut,
        tags=["staff"],
        summary="Every guardian of one student: links in any status, with their history",
    )
    async def get_student_links(
        school_id: Annotated[str, Path(max_length=64)],
        student_id: Annotated[str, Path(max_length=64)],
        staff: StaffDep,
    ) -> QueueOut:
        items = await handlers.student_links(deps, staff, school_id, student_id)
        now = deps.clock()
        return QueueOut(items=[staff_view(i.link, i.guardian, now, deps.policy.tz) for i in items])

    @router.get(
        "/v1/schools/{school_id}/guardians",
        response_model=GuardianAtSchoolOut,
        tags=["staff"],
        summary="Help desk: find a guardian of the school's students by email",
        description="For staff of the school (or a district admin): the guardian whose "
        "email is given, if linked to or asking for a student of this school, with those "
        "links. 404 otherwise, the same for an unknown email.",
    )
    async def find_guardian(
        school_id: Annotated[str, Path(max_length=64)],
        email: Annotated[str, Query(min_length=3, max_length=254)],
        staff: StaffDep,
    ) -> GuardianAtSchoolOut:
        found = await helpdesk.find_guardian(deps, staff, school_id, email)
        now = deps.clock()
        g = found.guardian
        return GuardianAtSchoolOut(
            guardian=GuardianOut(
                account_id=g.account_id,
                name=g.name or None,
                email=g.email,
                phones=g.phones,
                verified=g.verified,
            ),
            links=[staff_view(link, g, now, deps.policy.tz) for link in found.links],
        )

    def _staff_answer(decision: handlers.StaffDecision) -> StaffLinkOut:
        return staff_view(decision.link, decision.guardian, deps.clock(), deps.policy.tz)

    @router.post(
        "/v1/link-requests/{link_id}/approve",
        response_model=StaffLinkOut,
        tags=["staff"],
        summary="Approve after checking photo ID",
    )
    async def approve(
        link_id: Annotated[str, Path(max_length=64)], body: ApproveBody, staff: StaffDep
    ) -> StaffLinkOut:
        decision = await handlers.approve_link(
            deps, staff, link_id, id_document_type=body.id_document_type, note=body.note
        )
        return _staff_answer(decision)

    @router.post(
        "/v1/link-requests/{link_id}/deny",
        response_model=StaffLinkOut,
        tags=["staff"],
        summary="Deny with a reason",
    )
    async def deny(
        link_id: Annotated[str, Path(max_length=64)], body: ReasonBody, staff: StaffDep
    ) -> StaffLinkOut:
        return _staff_answer(await handlers.deny_link(deps, staff, link_id, reason=body.reason))

    @router.post(
        "/v1/links/{link_id}/revoke",
        response_model=StaffLinkOut,
        tags=["staff"],
        summary="Revoke an approved link (e.g. custody restriction)",
    )
    async def revoke(
        link_id: Annotated[str, Path(max_length=64)], body: ReasonBody, staff: StaffDep
    ) -> StaffLinkOut:
        return _staff_answer(await handlers.revoke_link(deps, staff, link_id, reason=body.reason))

    codes_path = "/v1/schools/{school_id}/students/{student_id}/activation-codes"

    @router.post(
        codes_path,
        status_code=201,
        response_model=IssuedCodeOut,
        tags=["staff"],
        summary="Issue a single-use activation code for one guardian",
    )
    async def issue_code(
        school_id: Annotated[str, Path(max_length=64)],
        student_id: Annotated[str, Path(max_length=64)],
        staff: StaffDep,
        body: Annotated[IssueCodeBody | None, Body()] = None,
    ) -> IssuedCodeOut:
        body = body or IssueCodeBody()
        code, record = await handlers.issue_activation_code(
            deps,
            staff,
            school_id,
            student_id,
            expires_in_days=body.expires_in_days,
            note=body.note,
        )
        view = code_view(record, deps.clock())
        return IssuedCodeOut(**view.model_dump(), code=code)

    @router.get(
        codes_path,
        response_model=ActivationCodeList,
        tags=["staff"],
        summary="Codes issued for a student (never the codes)",
    )
    async def list_codes(
        school_id: Annotated[str, Path(max_length=64)],
        student_id: Annotated[str, Path(max_length=64)],
        staff: StaffDep,
    ) -> ActivationCodeList:
        codes = await handlers.list_activation_codes(deps, staff, school_id, student_id)
        now = deps.clock()
        return ActivationCodeList(items=[code_view(c, now) for c in codes])

    @router.delete(
        codes_path + "/{code_id}",
        response_model=ActivationCodeOut,
        tags=["staff"],
        summary="Revoke an unused activation code",
    )
    async def revoke_code(
        school_id: Annotated[str, Path(max_length=64)],
        student_id: Annotated[str, Path(max_length=64)],
        code_id: Annotated[str, Path(max_length=64)],
        staff: StaffDep,
    ) -> ActivationCodeOut:
        code = await handlers.revoke_activation_code(deps, staff, school_id, student_id, code_id)
        return code_view(code, deps.clock())

    @router.delete(
        "/v1/schools/{school_id}/students/{student_id}/restriction",
        status_code=204,
        tags=["staff"],
        summary="Lift a student's restriction after a revoked custody",
        description="After a revocation, activation codes and legacy credentials for the "
        "student go to staff review instead of approving at once; school staff lift that "
        "here once the custody question is settled. 404 when there is no restriction.",
    )
    async def lift_restriction(
        school_id: Annotated[str, Path(max_length=64)],
        student_id: Annotated[str, Path(max_length=64)],
        staff: StaffDep,
    ) -> Response:
        if not await handlers.lift_restriction(deps, staff, school_id, student_id):
            raise RestrictionNotFound()
        return Response(status_code=204)

    @router.post(
        "/v1/roster/imports",
        response_model=RosterImportOut,
        tags=["district admin"],
        summary="Import a OneRoster 1.1 CSV bundle (zip, multipart field `file`)",
        openapi_extra={"requestBody": ROSTER_UPLOAD_BODY},
    )
    async def roster_import(request: Request, staff: StaffDep) -> dict[str, Any]:
        # The body is not a parameter, so the bearer token (and the role) are checked
        # before a byte of it is read; the body-limit middleware caps what is read then.
        handlers.require_district_admin(staff, "roster_import")
        limit = settings.roster_max_upload_bytes
        form = await request.form(max_files=1, max_fields=4)
        try:
            file = form.get("file")
            if not isinstance(file, StarletteUploadFile):
                raise RequestValidationError(
                    [{"type": "missing", "loc": ("body", "file"), "msg": "Field required"}]
                )
            data = await file.read(limit + 1)
        finally:
            await form.close()
        if len(data) > limit:
            raise ProblemError(
                413,
                "upload-too-large",
                message("upload-too-large", "en"),
                detail=f"the limit is {limit} bytes",
            )
        summary = await handlers.import_roster(deps, data, started_by=staff.staff_id)
        return summary.as_dict()

    return router
