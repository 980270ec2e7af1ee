"""The school staff console's pages (``/staff``): sign-in through the district's OpenID
provider, the school's queue, approve / deny / revoke with a confirmation step, and
activation codes with a printable letter.

The console holds the staff member's access token from the provider and calls linking's
staff API with it; linking decides what the staff member may do (the school in the
token's claims), the console only shows it. Like the guardian pages: server-rendered,
working without JavaScript, every form with the session's CSRF token, every POST answered
with a redirect or the same page with its errors, never a 500 for bad input.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from babel.support import NullTranslations
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment
from starlette.datastructures import FormData

from shared.runtime.logs import get_logger
from shared.runtime.policy import DistrictPolicy
from web.entrypoints.pages import format_day, safe_next
from web.i18n import LANGUAGE_NAMES, best_locale
from web.ports import ApiAnswer, StaffApi
from web.sessions import COOKIE, Session, SessionStore
from web.staff.auth import REFRESH_MARGIN_SECONDS, SignInFailed, StaffProvider, StaffUser
from web.staff.catalog import S_, STAFF_LOCALES, translations
from web.wizard import clean

log = get_logger(__name__)

PREFIX = "/staff"
LANG_COOKIE = "staff_lang"
#: Rows of the queue per page.
PAGE_SIZE = 25
#: A pending request with this many days left or fewer is highlighted.
LAST_DAYS = 3
MAX_FORM_FIELDS = 20
STATUSES = {
    "pending": S_("Pending"),
    "approved": S_("Approved"),
    "denied": S_("Denied"),
    "expired": S_("Expired"),
    "revoked": S_("Revoked"),
    "withdrawn": S_("Withdrawn"),
}
METHODS = {
    "in_person": S_("In person"),
    "activation_code": S_("Activation code"),
    "legacy_credentials": S_("Previous portal login"),
}
#: The "days left" filter of the pending queue.
DAYS_LEFT = {"3": S_("3 days or fewer"), "7": S_("7 days or fewer")}
ID_DOCUMENTS = {
    "drivers_license": S_("Driver's license"),
    "state_id": S_("State ID card"),
    "passport": S_("Passport"),
    "military_id": S_("Military ID"),
    "consular_id": S_("Consular ID card"),
    "other_government_id": S_("Other government photo ID"),
}
#: The letter's texts in every language of the district (the guardian's language).
LETTER_LOCALES = ("en", "es")


@dataclass
class StaffDeps:
    """What the console uses (built in ``web.app.create_app``)."""

    staff_api: StaffApi
    provider: StaffProvider
    policy: DistrictPolicy
    sessions: SessionStore
    templates: Environment
    cookie_secure: bool
    public_url: str | None = None
    #: The guardian portal's address, printed on activation code letters.
    portal_url: str = "http://localhost:8080"
    #: Content-Security-Policy of the console's pages (None: the app's strict one).
    csp: str | None = None


@dataclass
class StaffPage:
    """One request's state: language, session, signed-in staff member."""

    request: Request
    deps: StaffDeps
    locale: str
    session: Session | None
    new_session: bool = False
    set_lang: str | None = None

    @property
    def trans(self) -> NullTranslations:
        return translations(self.locale)

    def t(self, message: str, **values: Any) -> str:
        text = self.trans.gettext(message)
        return text % values if values else text

    @property
    def user(self) -> StaffUser | None:
        return self.session.staff if self.session is not None else None

    def ensure_session(self) -> Session:
        if self.session is None:
            self.session = self.deps.sessions.new()
            self.new_session = True
        return self.session

    def finish(self, response: Response) -> Response:
        """The session cookie (only an opaque id; HttpOnly, SameSite=Lax, Secure on https)."""
        if self.session is not None and (
            self.new_session or self.request.cookies.get(COOKIE) != self.session.id
        ):
            response.set_cookie(
                COOKIE, self.session.id, httponly=True, secure=self.deps.cookie_secure,
                samesite="lax", path="/",
            )  # fmt: skip
        if self.deps.csp:
            response.headers["Content-Security-Policy"] = self.deps.csp
        if self.set_lang:
            response.set_cookie(
                LANG_COOKIE, self.set_lang, max_age=365 * 24 * 3600, httponly=True,
                secure=self.deps.cookie_secure, samesite="lax", path=PREFIX,
            )  # fmt: skip
        return response

    def render(
        self,
        template: str,
        *,
        status: int = 200,
        title: str = "",
        errors: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        **context: Any,
    ) -> Response:
        errors = dict(errors or {})
        session = self.ensure_session()
        url = self.request.url
        here = url.path + (f"?{url.query}" if url.query and self.request.method == "GET" else "")
        html = self.deps.templates.get_template(template).render(
            t=self.t,
            locale=self.locale,
            dir="ltr",
            languages=[(code, LANGUAGE_NAMES[code]) for code in STAFF_LOCALES],
            here=quote(here, safe=""),
            csrf=session.csrf,
            user=session.staff,
            branding=self.deps.policy.branding,
            errors=errors,
            values=values or {},
            field_id=field_id,
            title=(self.t("Error: %(title)s", title=title) if errors else title),
            page_title=title,
            status_label=lambda s: self.t(STATUSES[s]) if s in STATUSES else s,
            method_label=lambda m: self.t(METHODS[m]) if m in METHODS else m,
            document_label=lambda d: self.t(ID_DOCUMENTS[d]) if d in ID_DOCUMENTS else d,
            day=lambda v: format_day(v, self.locale),
            last_days=LAST_DAYS,
            **context,
        )
        return self.finish(HTMLResponse(html, status_code=status))

    def redirect(self, url: str) -> Response:
        return self.finish(RedirectResponse(url, status_code=303))


def field_id(name: str) -> str:
    return "f-" + name.replace(".", "-").replace("_", "-")


def _status_param(value: str | None) -> str:
    return value if value in STATUSES else "pending"


def _row(item: Mapping[str, Any]) -> dict[str, Any]:
    """What the console keeps of a queue row to name it on a confirmation page."""
    guardian = item.get("guardian") or {}
    student = item.get("student") or {}
    return {
        "link_id": item.get("link_id"),
        "school_id": item.get("school_id"),
        "status": item.get("status"),
        "method": item.get("method"),
        "requested_at": item.get("requested_at"),
        "last_day": item.get("last_day"),
        "days_left": item.get("days_left"),
        "guardian_name": guardian.get("name") or "",
        "guardian_email": guardian.get("email") or "",
        "student_id": student.get("student_id") or item.get("student_id"),
        "student_name": " ".join(
            p for p in (student.get("first_name"), student.get("last_name")) if p
        ),
        "student_grade": student.get("grade") or "",
    }


def build_staff_router(deps: StaffDeps) -> APIRouter:
    """The console's routes under ``/staff``."""
    router = APIRouter(prefix=PREFIX, include_in_schema=False)
    policy = deps.policy
    id_documents = list(policy.staff.id_document_types)

    def page(request: Request) -> StaffPage:
        locale = best_locale(
            list(STAFF_LOCALES),
            request.cookies.get(LANG_COOKIE),
            request.headers.get("accept-language"),
        )
        return StaffPage(request, deps, locale, deps.sessions.get(request.cookies.get(COOKIE)))

    async def read_form(p: StaffPage) -> FormData | None:
        """The submitted form when its CSRF token is this session's, else None."""
        if p.session is None:
            return None
        try:
            form = await p.request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
        except Exception:  # not a form, too many fields, broken encoding
            return None
        sent = form.get("csrf_token")
        if not isinstance(sent, str) or not hmac.compare_digest(
            sent.encode(), p.session.csrf.encode()
        ):
            return None
        return form

    def text(form: FormData, name: str, limit: int = 500) -> str:
        value = form.get(name)
        return clean(value).strip()[:limit] if isinstance(value, str) else ""

    def message(
        p: StaffPage, status: int, title: str, body: str, *, action_url: str = PREFIX,
        action_text: str | None = None, success: bool = False,
    ) -> Response:  # fmt: skip
        return p.render(
            "staff/message.html", status=status, title=title, message=body,
            action_url=action_url, action_text=action_text or p.t("Back to the console"),
            success=success,
        )  # fmt: skip

    def expired_form(p: StaffPage) -> Response:
        return message(
            p, 403, p.t("This form has expired"),
            p.t("Forms work only for a while and only once. Go back, reload the page and "
                "try again."),
        )  # fmt: skip

    def sign_in_needed(p: StaffPage) -> Response:
        return p.redirect(f"{PREFIX}/sign-in")

    def not_your_school(p: StaffPage) -> Response:
        return message(
            p, 403, p.t("Not one of your schools"),
            p.t("Your district account does not let you act for this school. If you "
                "should, ask the district office to add the school to your account."),
        )  # fmt: skip

    def unavailable(p: StaffPage) -> Response:
        return message(
            p, 503, p.t("The console is busy"),
            p.t("We could not complete your request. Please try again in a few minutes."),
            action_url=p.request.url.path,
            action_text=p.t("Try again"),
        )  # fmt: skip

    async def token_of(p: StaffPage) -> str | None:
        """The staff member's access token, refreshed when it is about to expire; None
        (signed out) when it cannot be."""
        user = p.user
        if user is None:
            return None
        if user.expires_at - time.time() < REFRESH_MARGIN_SECONDS:
            try:
                await deps.provider.refresh(user)
            except SignInFailed as exc:
                log.info("staff.refresh_failed", reason=exc.reason)
                assert p.session is not None
                p.session.staff = None
                p.session.flash["staff_notice"] = "expired"
                return None
        return user.access_token

    def api_refusal(p: StaffPage, answer: ApiAnswer) -> Response:
        """The page for an API answer that is not a success nor a field error."""
        if answer.status == 401:
            assert p.session is not None
            p.session.staff = None
            p.session.flash["staff_notice"] = "expired"
            return sign_in_needed(p)
        if answer.status == 403:
            return not_your_school(p)
        if answer.status == 404:
            return message(
                p, 404, p.t("Request not found"),
                p.t("There is no request or student at this address for your schools."),
            )  # fmt: skip
        if answer.status == 409:
            return message(
                p, 409, p.t("Already decided"),
                p.t("Someone already decided this request, or it expired or was withdrawn. "
                    "Nothing was changed. The queue shows where it stands."),
            )  # fmt: skip
        return unavailable(p)

    def redirect_uri(p: StaffPage) -> str:
        base = deps.public_url or str(p.request.base_url)
        return base.rstrip("/") + f"{PREFIX}/auth/callback"

    # --- language, home, sign-in ----------------------------------------------------------

    @router.get("/language")
    async def language(request: Request, lang: str = "", next: str = PREFIX) -> Response:
        p = page(request)
        if lang in STAFF_LOCALES:
            p.set_lang = lang
        target = safe_next(next)
        return p.redirect(target if target.startswith(PREFIX) else PREFIX)

    @router.get("")
    async def home(request: Request) -> Response:
        p = page(request)
        user = p.user
        if user is None:
            return sign_in_needed(p)
        if len(user.schools) == 1 and not user.district_admin:
            return p.redirect(f"{PREFIX}/schools/{quote(user.schools[0], safe='')}/queue")
        return p.render("staff/schools.html", title=p.t("Your schools"))

    @router.get("/schools")
    async def choose_school(request: Request, school_id: str = "") -> Response:
        p = page(request)
        if p.user is None:
            return sign_in_needed(p)
        school = clean(school_id).strip()[:64]
        if not school:
            return p.render(
                "staff/schools.html", status=400, title=p.t("Your schools"),
                errors={"school_id": p.t("Enter a school number.")},
            )  # fmt: skip
        return p.redirect(f"{PREFIX}/schools/{quote(school, safe='')}/queue")

    @router.get("/sign-in")
    async def sign_in_page(request: Request) -> Response:
        p = page(request)
        if p.user is not None:
            return p.redirect(PREFIX)
        notice = p.session.flash.pop("staff_notice", None) if p.session else None
        return p.render("staff/sign_in.html", title=p.t("Staff sign-in"), notice=notice)

    # A link, not a form: a form's redirect to the provider would break the pages' CSP
    # (form-action 'self'). Nothing to forge here: the state it creates is this
    # session's, and only this session's callback can use it.
    @router.get("/auth/start")
    async def sign_in(request: Request) -> Response:
        p = page(request)
        if p.user is not None:
            return p.redirect(PREFIX)
        session = p.ensure_session()
        try:
            location = await deps.provider.authorize_redirect(
                request, session.oidc, redirect_uri(p), p.locale
            )
        except SignInFailed as exc:
            log.warning("staff.sign_in_unavailable", reason=exc.reason)
            return message(
                p, 503, p.t("Sign-in is not available"),
                p.t("The district's sign-in service did not answer. Please try again in "
                    "a few minutes."),
                action_url=f"{PREFIX}/sign-in", action_text=p.t("Try again"),
            )  # fmt: skip
        return p.finish(RedirectResponse(location, status_code=303))

    @router.get("/auth/callback")
    async def callback(request: Request) -> Response:
        p = page(request)
        if p.session is None:
            log.info("staff.sign_in_refused", reason="no session")
            return sign_in_failed(p)
        try:
            user = await deps.provider.complete(request, p.session.oidc)
        except SignInFailed as exc:
            log.info("staff.sign_in_refused", reason=exc.reason)
            return sign_in_failed(p)
        if not user.allowed:
            log.info("staff.without_school", staff_id=user.staff_id, missing=user.missing)
            return message(
                p, 403, p.t("Your account has no school yet"),
                p.t("You signed in, but your district account does not name a school you "
                    "work for, so the console has nothing to show you. Ask the district "
                    "office to add your school to your account, then sign in again."),
                action_url=f"{PREFIX}/sign-in", action_text=p.t("Back to sign-in"),
            )  # fmt: skip
        session = deps.sessions.renew(p.session)  # a new id: no session fixation
        session.staff = user
        session.oidc.clear()
        session.staff_rows.clear()
        log.info("staff.signed_in", staff_id=user.staff_id, schools=len(user.schools),
                 district_admin=user.district_admin)  # fmt: skip
        return p.redirect(PREFIX)

    def sign_in_failed(p: StaffPage) -> Response:
        return message(
            p, 400, p.t("Sign-in did not complete"),
            p.t("The answer from the district's sign-in service could not be checked: it "
                "was used already, changed on the way or too old. Nothing was signed in. "
                "Please sign in again."),
            action_url=f"{PREFIX}/sign-in", action_text=p.t("Sign in again"),
        )  # fmt: skip

    @router.post("/sign-out")
    async def sign_out(request: Request) -> Response:
        p = page(request)
        if await read_form(p) is None:
            return expired_form(p)
        assert p.session is not None
        user = p.session.staff
        deps.sessions.drop(p.session)
        p.session = None
        fresh = p.ensure_session()
        fresh.flash["staff_notice"] = "signed_out"
        if user is None:
            return p.redirect(f"{PREFIX}/sign-in")
        log.info("staff.signed_out", staff_id=user.staff_id)
        # the provider's session ends too: on a shared office computer the next person
        # must not be signed in as this one without a password
        back = (deps.public_url or str(p.request.base_url)).rstrip("/") + f"{PREFIX}/sign-in"
        location = await deps.provider.logout_url(user, back)
        if location is None:
            return p.redirect(f"{PREFIX}/sign-in")
        return p.finish(RedirectResponse(location, status_code=303))

    # --- the queue --------------------------------------------------------------------

    @router.get("/schools/{school_id}/queue")
    async def queue(
        request: Request, school_id: str, status: str = "pending", cursor: str = "",
        method: str = "", q: str = "", days: str = "",
    ) -> Response:  # fmt: skip
        p = page(request)
        token = await token_of(p)
        if token is None:
            return sign_in_needed(p)
        assert p.user is not None and p.session is not None
        wanted = _status_param(status)
        filters = {
            "method": method if method in METHODS else "",
            "max_days_left": days if days in DAYS_LEFT and wanted == "pending" else "",
            "q": clean(q).strip()[:100],
        }
        filters = {k: v for k, v in filters.items() if v}
        answer = await deps.staff_api.queue(
            token, school_id, status=wanted, cursor=cursor[:512] or None, limit=PAGE_SIZE,
            locale=p.locale, filters=filters,
        )  # fmt: skip
        if answer.status == 422 and cursor:
            return p.redirect(f"{PREFIX}/schools/{quote(school_id, safe='')}/queue")
        if not answer.ok:
            return api_refusal(p, answer)
        rows = [_row(i) for i in answer.body.get("items") or [] if isinstance(i, dict)]
        for row in rows:
            p.session.staff_rows[str(row["link_id"])] = row
        while len(p.session.staff_rows) > 500:  # bounded: the oldest shown go first
            p.session.staff_rows.pop(next(iter(p.session.staff_rows)))
        notice = p.session.flash.pop("staff_done", None)
        next_cursor = answer.body.get("next_cursor")
        # this page's own parameters (the console's names), kept on every page link
        here = {"status": wanted}
        here.update({name: filters[key] for name, key in
                     (("method", "method"), ("days", "max_days_left"), ("q", "q"))
                     if key in filters})  # fmt: skip
        return p.render(
            "staff/queue.html",
            title=p.t("Requests at school %(school)s", school=school_id),
            school_id=school_id,
            current_status=wanted,
            statuses=[(k, p.t(v)) for k, v in STATUSES.items()],
            methods=[(k, p.t(v)) for k, v in METHODS.items()],
            day_choices=[(k, p.t(v)) for k, v in DAYS_LEFT.items()],
            method=filters.get("method", ""),
            days=filters.get("max_days_left", ""),
            q=filters.get("q", ""),
            rows=rows,
            first_url=f"{PREFIX}/schools/{quote(school_id, safe='')}/queue?" + urlencode(here),
            first_page=not cursor,
            next_url=(
                f"{PREFIX}/schools/{quote(school_id, safe='')}/queue?"
                + urlencode({**here, "cursor": str(next_cursor)})
                if next_cursor
                else None
            ),
            notice=notice,
        )

    # --- the student view ---------------------------------------------------------------

    @router.get("/schools/{school_id}/students/{student_id}")
    async def student(request: Request, school_id: str, student_id: str) -> Response:
        p = page(request)
        token = await token_of(p)
        if token is None:
            return sign_in_needed(p)
        assert p.session is not None
        answer = await deps.staff_api.student_links(token, school_id, student_id, p.locale)
        if not answer.ok:
            return api_refusal(p, answer)
        items = [i for i in answer.body.get("items") or [] if isinstance(i, dict)]
        rows = [_row(i) for i in items]
        for item, shown in zip(items, rows, strict=True):
            p.session.staff_rows[str(shown["link_id"])] = dict(shown)
            shown["audit"] = [e for e in item.get("audit") or [] if isinstance(e, dict)]
            shown["id_document_type"] = item.get("id_document_type")
            shown["reason"] = item.get("reason")
        name = next((r["student_name"] for r in rows if r["student_name"]), "")
        return p.render(
            "staff/student.html",
            title=p.t("Student %(id)s", id=student_id),
            school_id=school_id,
            student_id=student_id,
            student_name=name,
            rows=rows,
            actions={
                "requested": p.t("Asked"),
                "approved": p.t("Approved"),
                "denied": p.t("Denied"),
                "expired": p.t("Expired"),
                "revoked": p.t("Revoked"),
                "withdrawn": p.t("Withdrawn"),
                "released": p.t("Approval sent once the email was verified"),
                "contact_updated": p.t("Contact details changed"),
            },
        )

    # --- decisions --------------------------------------------------------------------

    DECISIONS = {
        "approve": S_("Approve request"),
        "deny": S_("Deny request"),
        "revoke": S_("Revoke access"),
    }

    def decision_page(
        p: StaffPage, action: str, row: Mapping[str, Any], *, status: int = 200,
        errors: Mapping[str, str] | None = None, values: Mapping[str, Any] | None = None,
    ) -> Response:  # fmt: skip
        return p.render(
            "staff/decide.html", status=status, title=p.t(DECISIONS[action]), action=action,
            row=row, errors=errors, values=values,
            documents=[(d, p.t(ID_DOCUMENTS[d]) if d in ID_DOCUMENTS else d)
                       for d in id_documents],
        )  # fmt: skip

    def known_row(p: StaffPage, link_id: str) -> dict[str, Any] | None:
        assert p.session is not None
        return p.session.staff_rows.get(link_id)

    @router.get("/requests/{link_id}/{action}")
    async def decide_page(request: Request, link_id: str, action: str) -> Response:
        p = page(request)
        if await token_of(p) is None:
            return sign_in_needed(p)
        if action not in DECISIONS:
            return message(p, 404, p.t("Page not found"), p.t("There is no page at this address."))
        row = known_row(p, link_id)
        if row is None:
            # only rows of a queue this staff member was shown (linking checks the school)
            return p.redirect(PREFIX)
        return decision_page(p, action, row)

    @router.post("/requests/{link_id}/{action}")
    async def decide(request: Request, link_id: str, action: str) -> Response:
        p = page(request)
        form = await read_form(p)
        if form is None:
            return expired_form(p)
        token = await token_of(p)
        if token is None:
            return sign_in_needed(p)
        if action not in DECISIONS:
            return message(p, 404, p.t("Page not found"), p.t("There is no page at this address."))
        row = known_row(p, link_id) or {
            "link_id": link_id,
            "school_id": text(form, "school_id", 64),
        }
        values = {"id_document_type": text(form, "id_document_type", 64),
                  "note": text(form, "note"), "reason": text(form, "reason")}  # fmt: skip
        errors: dict[str, str] = {}
        if action == "approve":
            if values["id_document_type"] not in id_documents:
                errors["id_document_type"] = p.t("Choose the photo ID the guardian showed.")
        elif not values["reason"]:
            errors["reason"] = (
                p.t("Enter the reason the guardian will read.") if action == "deny"
                else p.t("Enter the reason for revoking access.")
            )  # fmt: skip
        if errors:
            return decision_page(p, action, row, status=400, errors=errors, values=values)
        if action == "approve":
            answer = await deps.staff_api.approve(
                token, link_id, values["id_document_type"], values["note"] or None, p.locale
            )
        elif action == "deny":
            answer = await deps.staff_api.deny(token, link_id, values["reason"], p.locale)
        else:
            answer = await deps.staff_api.revoke(token, link_id, values["reason"], p.locale)
        if answer.status == 422:
            found = answer.field_errors()
            errors = {k: v for k, v in found.items() if k in ("note", "reason")} or {
                "reason" if action != "approve" else "note": p.t("Check this field.")
            }
            return decision_page(p, action, row, status=422, errors=errors, values=values)
        if not answer.ok:
            return api_refusal(p, answer)
        assert p.session is not None
        p.session.staff_rows.pop(link_id, None)
        p.session.flash["staff_done"] = {"action": action, "name": row.get("guardian_name"),
                                         "student": row.get("student_id")}  # fmt: skip
        school = str(answer.body.get("school_id") or row.get("school_id") or "")
        if not school:
            return p.redirect(PREFIX)
        back = "approved" if action == "revoke" else "pending"
        return p.redirect(f"{PREFIX}/schools/{quote(school, safe='')}/queue?status={back}")

    # --- activation codes ---------------------------------------------------------------

    def code_form(
        p: StaffPage, school_id: str, *, status: int = 200,
        errors: Mapping[str, str] | None = None, values: Mapping[str, Any] | None = None,
    ) -> Response:  # fmt: skip
        return p.render(
            "staff/code_form.html", status=status, title=p.t("Issue an activation code"),
            school_id=school_id, errors=errors, values=values or {"language": p.locale},
            letter_languages=[(c, LANGUAGE_NAMES[c]) for c in LETTER_LOCALES],
        )  # fmt: skip

    @router.get("/schools/{school_id}/codes")
    async def code_page(request: Request, school_id: str) -> Response:
        p = page(request)
        if await token_of(p) is None:
            return sign_in_needed(p)
        return code_form(p, school_id)

    @router.post("/schools/{school_id}/codes")
    async def issue_code(request: Request, school_id: str) -> Response:
        p = page(request)
        form = await read_form(p)
        if form is None:
            return expired_form(p)
        token = await token_of(p)
        if token is None:
            return sign_in_needed(p)
        values = {
            "student_id": text(form, "student_id", 64),
            "guardian_name": text(form, "guardian_name", 100),
            "language": text(form, "language", 8),
        }
        errors: dict[str, str] = {}
        if not values["student_id"]:
            errors["student_id"] = p.t("Enter the student ID.")
        if not values["guardian_name"]:
            errors["guardian_name"] = p.t("Enter the name of the guardian who showed ID.")
        if values["language"] not in LETTER_LOCALES:
            errors["language"] = p.t("Choose the language of the letter.")
        if errors:
            return code_form(p, school_id, status=400, errors=errors, values=values)
        note = p.t("For %(name)s, ID checked", name=values["guardian_name"])
        answer = await deps.staff_api.issue_code(
            token, school_id, values["student_id"], note, p.locale
        )
        if answer.status == 404:
            return code_form(
                p, school_id, status=404, values=values,
                errors={"student_id": p.t("No student with this ID at this school.")},
            )  # fmt: skip
        if not answer.ok:
            return api_refusal(p, answer)
        letter = translations(values["language"])
        return p.render(
            "staff/letter.html",
            title=p.t("Activation code letter"),
            school_id=school_id,
            code=answer.body.get("code"),
            student_id=values["student_id"],
            guardian_name=values["guardian_name"],
            expires=format_day(str(answer.body.get("expires_at") or ""), values["language"]),
            letter_locale=values["language"],
            L=lambda m, **v: (letter.gettext(m) % v) if v else letter.gettext(m),
            portal_url=deps.portal_url.rstrip("/"),
        )

    return router
