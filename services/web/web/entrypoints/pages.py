"""The guardian's pages: thin routes that read a form, call one API, render a template.

Every page is server-rendered and works without JavaScript. Every form carries the
session's CSRF token; every POST answers with a redirect (post/redirect/get) or with the
same page and its field errors, never a 500 for bad input.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

from babel.dates import format_date
from babel.support import NullTranslations
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment
from starlette.datastructures import FormData

from shared.runtime.client_address import forwarded_client
from shared.runtime.policy import DistrictPolicy
from web import wizard
from web.i18n import LANGUAGE_NAMES, best_locale, text_direction, translations
from web.ports import ApiAnswer, IdentityApi, LinkingApi
from web.sessions import COOKIE, Session, SessionStore
from web.wizard import N_

LANG_COOKIE = "portal_lang"
ADDRESS_FIELDS = ("street", "apt", "city", "state", "zip")
#: Notification channels and the kinds of non-security mail a guardian may turn off.
CHANNELS = ("email", "sms")
KINDS = ("link_updates", "reminders", "account")
#: Most form fields one page accepts (the wizard's largest step has ~20).
MAX_FORM_FIELDS = 100


@dataclass
class Deps:
    """What the pages use (built in ``web.app.create_app``)."""

    identity: IdentityApi
    linking: LinkingApi
    policy: DistrictPolicy
    sessions: SessionStore
    templates: Environment
    cookie_secure: bool
    trusted_proxy_hops: int = 0
    #: How long the list of schools is reused before asking linking again.
    schools_refresh_seconds: float = 300.0
    #: The roster's schools as linking last gave them: (fetched at, [(id, name)]).
    school_cache: list[tuple[float, list[tuple[str, str]]]] = field(default_factory=list)


@dataclass
class Page:
    """One request's page state: language, session and what to render."""

    request: Request
    deps: Deps
    locale: str
    session: Session | None
    new_session: bool = False
    set_lang: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def trans(self) -> NullTranslations:
        return translations(self.locale)

    def _(self, message: str, **values: Any) -> str:
        text = self.trans.gettext(message)
        return text % values if values else text

    def ensure_session(self) -> Session:
        if self.session is None:
            self.session = self.deps.sessions.new()
            self.new_session = True
        return self.session

    def client(self) -> str:
        """The guardian's address, as identity's per-address limits must see it."""
        peer = self.request.client.host if self.request.client else "0.0.0.0"  # noqa: S104
        forwarded = self.request.headers.get("x-forwarded-for")
        return forwarded_client(forwarded, peer, self.deps.trusted_proxy_hops)[:64]

    def finish(self, response: Response) -> Response:
        """Cookies: the session id (HttpOnly, SameSite=Lax, Secure outside local runs)."""
        if self.session is not None and (
            self.new_session or self.request.cookies.get(COOKIE) != self.session.id
        ):
            response.set_cookie(
                COOKIE,
                self.session.id,
                httponly=True,
                secure=self.deps.cookie_secure,
                samesite="lax",
                path="/",
            )
        if self.set_lang:
            response.set_cookie(
                LANG_COOKIE,
                self.set_lang,
                max_age=365 * 24 * 3600,
                httponly=True,
                secure=self.deps.cookie_secure,
                samesite="lax",
                path="/",
            )
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
        policy = self.deps.policy
        url = self.request.url
        here = url.path + (f"?{url.query}" if url.query and self.request.method == "GET" else "")
        html = self.deps.templates.get_template(template).render(
            _=self._,
            locale=self.locale,
            dir=text_direction(self.locale),
            languages=[(code, LANGUAGE_NAMES[code]) for code in policy.locales],
            here=quote(here, safe=""),
            csrf=session.csrf,
            signed_in=session.signed_in,
            branding=policy.branding,
            policy=policy,
            errors=errors,
            values=values or {},
            field_id=field_id,
            question_options=[
                (q.get("question_id"), q.get("text")) for q in context.get("questions") or []
            ],
            title=(self._("Error: %(title)s", title=title) if errors else title),
            page_title=title,
            **self.extra,
            **context,
        )
        return self.finish(HTMLResponse(html, status_code=status))

    def redirect(self, url: str) -> Response:
        return self.finish(RedirectResponse(url, status_code=303))


def field_id(name: str) -> str:
    """The HTML id of a form field named by an API path (``phones.mobile.number``)."""
    return "f-" + name.replace(".", "-").replace("_", "-")


def safe_next(value: str | None) -> str:
    """A same-site path to go back to (never another host)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def format_day(value: str | None, locale: str) -> str:
    """A date in the page's language (ISO for languages CLDR lacks)."""
    if not value:
        return ""
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    day: date = when.astimezone(UTC).date()
    try:
        return format_date(day, format="long", locale=locale)
    except Exception:  # unknown CLDR locale (Haitian Creole)
        return day.isoformat()


@dataclass(frozen=True)
class Pages:
    """The page routes, and the "page not found" page for the app's 404s."""

    router: APIRouter
    not_found: Callable[[Request], Response]


def build_router(deps: Deps) -> Pages:
    """The page routes."""
    router = APIRouter(include_in_schema=False)
    policy = deps.policy
    question_count = policy.security_questions.count

    def page(request: Request) -> Page:
        locale = best_locale(
            list(policy.locales),
            request.cookies.get(LANG_COOKIE),
            request.headers.get("accept-language"),
        )
        session = deps.sessions.get(request.cookies.get(COOKIE))
        return Page(request, deps, locale, session)

    async def read_form(p: Page) -> FormData | None:
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

    def text(form: FormData, name: str) -> str:
        value = form.get(name)
        return wizard.clean(value) if isinstance(value, str) else ""

    def expired_form(p: Page) -> Response:
        return p.render(
            "message.html",
            status=403,
            title=p._("This form has expired"),
            message=p._(
                "For your security, forms work only for a while and only once. "
                "Go back, reload the page and try again."
            ),
            action_url="/",
            action_text=p._("Start again"),
        )

    def unavailable(p: Page) -> Response:
        return p.render(
            "message.html",
            status=503,
            title=p._("The portal is busy"),
            message=p._("We could not complete your request. Please try again in a few minutes."),
            action_url=p.request.url.path,
            action_text=p._("Try again"),
        )

    def too_many(p: Page, answer: ApiAnswer) -> Response:
        minutes = max(1, round((answer.retry_after or 60) / 60))
        return p.render(
            "message.html",
            status=429,
            title=p._("Too many attempts"),
            message=p._(
                "For your security, please wait %(minutes)s minutes before trying again.",
                minutes=minutes,
            ),
            action_url="/",
            action_text=p._("Back to sign in"),
        )

    # --- language, home ----------------------------------------------------------------

    @router.get("/")
    async def home(request: Request) -> Response:
        p = page(request)
        return p.redirect("/account" if p.session and p.session.signed_in else "/sign-in")

    @router.get("/language")
    async def language(request: Request, lang: str = "", next: str = "/") -> Response:
        p = page(request)
        if lang in policy.locales:
            p.set_lang = lang
            if p.session is not None and p.session.access_token:
                # the account's language too: the emails follow it
                await deps.identity.update_profile(p.session.access_token, {"locale": lang}, lang)
        return p.redirect(safe_next(next))

    # --- sign-in and sign-out ------------------------------------------------------------

    @router.get("/sign-in")
    async def sign_in_page(request: Request) -> Response:
        p = page(request)
        if p.session and p.session.signed_in:
            return p.redirect("/account")
        notice = p.session.flash.pop("notice", None) if p.session else None
        return p.render("sign_in.html", title=p._("Sign in"), notice=notice)

    @router.post("/sign-in")
    async def sign_in(request: Request) -> Response:
        p = page(request)
        form = await read_form(p)
        if form is None:
            return expired_form(p)
        email, password = text(form, "email").strip(), text(form, "password")
        values = {"email": email}
        errors = {}
        if not email:
            errors["email"] = p._("Enter your email address.")
        if not password:
            errors["password"] = p._("Enter your password.")
        if errors:
            return p.render(
                "sign_in.html", status=400, title=p._("Sign in"), errors=errors, values=values
            )
        answer = await deps.identity.sign_in(email, password, client=p.client(), locale=p.locale)
        if answer.ok:
            session = deps.sessions.renew(p.ensure_session())
            session.access_token = str(answer.body.get("access_token"))
            session.token_expires_at = str(answer.body.get("expires_at"))
            return p.redirect("/account")
        if answer.status == 429:
            return too_many(p, answer)
        if answer.status == 403 and answer.code == "email_not_verified":
            return p.render(
                "message.html",
                status=403,
                title=p._("Verify your email first"),
                message=p._(
                    "Open the link in the email we sent you to activate your account. "
                    "If it did not come, check your junk folder or send it again."
                ),
                action_url="/resend-verification",
                action_text=p._("Send the verification email again"),
            )
        if answer.status == 403 and answer.code == "account_disabled":
            return p.render(
                "message.html",
                status=403,
                title=p._("Your account is inactive"),
                message=p._(
                    "Your account was not used for a long time, so it was disabled. "
                    "We sent you an email: open its link to confirm your email address "
                    "and use your account again."
                ),
                action_url="/resend-verification",
                action_text=p._("Send the email again"),
            )
        if answer.status in (400, 401, 422):
            return p.render(
                "sign_in.html",
                status=401,
                title=p._("Sign in"),
                errors={"password": p._("The email or password is not correct.")},
                values=values,
            )
        return unavailable(p)

    @router.post("/sign-out")
    async def sign_out(request: Request) -> Response:
        p = page(request)
        form = await read_form(p)
        if form is None:
            return expired_form(p)
        assert p.session is not None
        deps.sessions.drop(p.session)
        p.session = None
        fresh = p.ensure_session()
        fresh.flash["notice"] = "signed_out"
        return p.redirect("/sign-in")

    # --- forgot password, resend verification -----------------------------------------

    async def email_form(
        request: Request,
        *,
        template: str,
        title: str,
        send: Any,
        done_title: str,
        done_message: str,
    ) -> Response:
        p = page(request)
        form = await read_form(p)
        if form is None:
            return expired_form(p)
        email = text(form, "email").strip()
        if not email:
            return p.render(
                template,
                status=400,
                title=p._(title),
                errors={"email": p._("Enter your email address.")},
            )
        answer: ApiAnswer = await send(email, p.locale, client=p.client())
        if answer.status == 422:
            return p.render(
                template,
                status=422,
                title=p._(title),
                errors={
                    "email": answer.field_errors().get("email") or p._("Check this email address.")
                },
                values={"email": email},
            )
        if answer.status == 429:
            return too_many(p, answer)
        if not answer.ok:
            return unavailable(p)
        return p.render(
            "message.html",
            title=p._(done_title),
            message=p._(done_message, email=email),
            action_url="/sign-in",
            action_text=p._("Back to sign in"),
        )

    @router.get("/forgot-password")
    async def forgot_page(request: Request) -> Response:
        p = page(request)
        return p.render("forgot_password.html", title=p._("Forgot your password?"))

    @router.post("/forgot-password")
    async def forgot(request: Request) -> Response:
        return await email_form(
            request,
            template="forgot_password.html",
            title=N_("Forgot your password?"),
            send=deps.identity.request_password_reset,
            done_title=N_("Check your email"),
            done_message=N_(
                "If %(email)s belongs to an account, we sent it a link to choose a new "
                "password. The link works for one hour. Check your junk folder too."
            ),
        )

    @router.get("/resend-verification")
    async def resend_page(request: Request) -> Response:
        p = page(request)
        return p.render("resend_verification.html", title=p._("Send the verification email again"))

    @router.post("/resend-verification")
    async def resend(request: Request) -> Response:
        return await email_form(
            request,
            template="resend_verification.html",
            title=N_("Send the verification email again"),
            send=deps.identity.resend_verification,
            done_title=N_("Check your email"),
            done_message=N_(
                "If %(email)s belongs to an account that still needs it, we sent it a new "
                "verification link. Check your junk folder too."
            ),
        )

    # --- email links ---------------------------------------------------------------------

    def bad_token(p: Page, *, reset: bool) -> Response:
        if reset:
            return p.render(
                "message.html",
                status=400,
                title=p._("This link no longer works"),
                message=p._(
                    "Password links work once and for one hour. Ask for a new one and use "
                    "the newest email."
                ),
                action_url="/forgot-password",
                action_text=p._("Ask for a new link"),
            )
        return p.render(
            "message.html",
            status=400,
            title=p._("This link no longer works"),
            message=p._(
                "Verification links work once and for a limited time. If your account is "
                "already active, sign in. Otherwise ask for a new link."
            ),
            action_url="/resend-verification",
            action_text=p._("Send the verification email again"),
            second_url="/sign-in",
            second_text=p._("Sign in"),
        )

    def token_of(value: str | None) -> str | None:
        if not value or len(value) > 200 or not value.isascii() or not value.isprintable():
            return None
        return value

    @router.get("/verify-email")
    async def verify_page(request: Request, token: str | None = None) -> Response:
        p = page(request)
        if token_of(token) is None:
            return bad_token(p, reset=False)
        return p.render("verify_email.html", title=p._("Activate your account"), token=token)

    @router.post("/verify-email")
    async def verify(request: Request) -> Response:
        p = page(request)
        form = await read_form(p)
        if form is None:
            return expired_form(p)
        token = token_of(text(form, "token"))
        if token is None:
            return bad_token(p, reset=False)
        password = text(form, "password")
        if not password:
            return p.render(
                "verify_email.html",
                status=400,
                title=p._("Activate your account"),
                token=token,
                errors={"password": p._("Enter your password.")},
            )
        answer = await deps.identity.verify_email(token, password, client=p.client())
        if answer.ok:
            return p.render(
                "message.html",
                title=p._("Your account is active"),
                message=p._("Thank you. Your email address is confirmed. You can sign in now."),
                action_url="/sign-in",
                action_text=p._("Sign in"),
                success=True,
            )
        if answer.status == 400:
            return bad_token(p, reset=False)
        if answer.status == 429:
            return too_many(p, answer)
        if answer.status in (401, 422):
            return p.render(
                "verify_email.html",
                status=422,
                title=p._("Activate your account"),
                token=token,
                errors={"password": p._("The password is not correct.")},
            )
        return unavailable(p)

    @router.get("/reset-password")
    async def reset_page(request: Request, token: str | None = None) -> Response:
        p = page(request)
        if token_of(token) is None:
            return bad_token(p, reset=True)
        questions = await questions_for(p) if policy.security_questions.required_for_reset else []
        return p.render(
            "reset_password.html", title=p._("Choose a new password"), token=token,
            questions=questions,
        )  # fmt: skip

    @router.post("/reset-password")
    async def reset(request: Request) -> Response:
        p = page(request)
        form = await read_form(p)
        if form is None:
            return expired_form(p)
        token = token_of(text(form, "token"))
        if token is None:
            return bad_token(p, reset=True)
        new, again = text(form, "new_password"), text(form, "new_password_confirm")
        needs_answers = policy.security_questions.required_for_reset
        questions = await questions_for(p) if needs_answers else []
        errors: dict[str, str] = {}
        if not new:
            errors["new_password"] = p._("This field is required.")
        elif new != again:
            errors["new_password_confirm"] = p._("The two passwords are not the same.")
        body: dict[str, Any] = {"token": token, "new_password": new}
        values: dict[str, Any] = {}
        if needs_answers:
            body["security_answers"] = []
            for i in range(question_count):
                qid = text(form, f"security_answers.{i}.question_id")
                ans = text(form, f"security_answers.{i}.answer")
                values[f"security_answers.{i}.question_id"] = qid
                body["security_answers"].append({"question_id": qid, "answer": ans})
        if not errors:
            answer = await deps.identity.confirm_password_reset(body, p.locale)
            if answer.ok:
                return p.render(
                    "message.html",
                    title=p._("Your password is changed"),
                    message=p._("You can sign in with your new password now."),
                    action_url="/sign-in",
                    action_text=p._("Sign in"),
                    success=True,
                )
            if answer.status == 400:
                return bad_token(p, reset=True)
            if answer.status == 429:
                return too_many(p, answer)
            if answer.status != 422:
                return unavailable(p)
            errors = answer.field_errors() or {"new_password": p._("Check this field.")}
            if "token" in errors:
                return bad_token(p, reset=True)
        return p.render(
            "reset_password.html", status=422, title=p._("Choose a new password"), token=token,
            questions=questions, errors=errors, values=values,
        )  # fmt: skip

    async def school_list() -> list[tuple[str, str]]:
        """The schools families choose from, by name; refreshed every few minutes. Empty
        when linking has none or cannot be reached: the pages then ask for the school ID."""
        now = time.monotonic()
        if deps.school_cache and now - deps.school_cache[0][0] < deps.schools_refresh_seconds:
            return deps.school_cache[0][1]
        answer = await deps.linking.schools()
        items = answer.body.get("items") if answer.ok else None
        if not isinstance(items, list):
            return deps.school_cache[0][1] if deps.school_cache else []
        schools = [
            (str(i["school_id"]), str(i["name"]))
            for i in items
            if isinstance(i, dict) and i.get("school_id") and i.get("name")
        ]
        if schools:  # an empty roster is asked again: an import shows up at once
            deps.school_cache[:] = [(now, schools)]
        return schools

    async def questions_for(p: Page) -> list[dict[str, str]]:
        answer = await deps.identity.security_questions(p.locale)
        items = answer.body.get("questions") if answer.ok else None
        return [q for q in items or [] if isinstance(q, dict)]

    # --- registration wizard -------------------------------------------------------------

    def step_url(slug: str) -> str:
        return f"/register/{slug}"

    def reachable(draft: Mapping[str, Any], slug: str) -> bool:
        """A step after the policy box opens only once the box was ticked (direct URLs)."""
        index = wizard.SLUGS.index(slug)
        if slug == "done":
            return bool(draft.get("finished"))
        return index <= wizard.SLUGS.index("usage-policy") or bool(
            draft.get("accepted_usage_policy")
        )

    async def render_step(
        p: Page, slug: str, *, errors: Mapping[str, str] | None = None, status: int = 200
    ) -> Response:
        session = p.ensure_session()
        draft = session.draft
        titles = dict(wizard.STEPS)
        context: dict[str, Any] = {
            "steps": [(s, p._(t)) for s, t in wizard.STEPS],
            "current": slug,
            "current_index": wizard.SLUGS.index(slug),
            "draft": draft,
            "question_count": question_count,
            "max_claims": wizard.MAX_CLAIMS,
        }
        if slug in ("students", "review"):
            context["schools"] = await school_list()
            context["school_names"] = dict(context["schools"])
        if slug in ("security", "review"):
            questions = await questions_for(p)
            context["questions"] = questions
            context["question_text"] = {q["question_id"]: q["text"] for q in questions}
        if errors is None:
            errors = session.flash.pop("errors", None) or {}
        return p.render(
            f"wizard/{slug.replace('-', '_')}.html",
            status=status,
            title=p._(titles[slug]),
            errors=errors,
            values=draft,
            **context,
        )

    @router.get("/register")
    async def register_start(request: Request) -> Response:
        return page(request).redirect(step_url("welcome"))

    @router.get("/register/{slug}")
    async def register_step(request: Request, slug: str) -> Response:
        p = page(request)
        if slug not in wizard.SLUGS:
            return not_found(p)
        draft = p.ensure_session().draft
        if not reachable(draft, slug):
            return p.redirect(step_url("usage-policy" if slug != "done" else "welcome"))
        p.extra["returning"] = request.query_params.get("return") == "review"
        return await render_step(p, slug)

    @router.post("/register/{slug}")
    async def register_submit(request: Request, slug: str) -> Response:
        p = page(request)
        if slug not in wizard.SLUGS or slug == "done":
            return not_found(p)
        form = await read_form(p)
        if form is None:
            return expired_form(p)
        assert p.session is not None
        draft = p.session.draft
        if draft.get("finished"):
            # a replayed or back-button form after Finish: start a new registration
            draft.clear()
        action = text(form, "action") or "next"
        values = wizard.take(
            {k: v for k, v in form.items() if isinstance(v, str)}, slug, question_count
        )
        if slug != "review":
            draft.update(values)
        index = wizard.SLUGS.index(slug)
        if action == "previous":
            return p.redirect(step_url(wizard.SLUGS[max(0, index - 1)]))
        if slug == "students" and action == "add":
            errors = wizard.claim_errors(
                {k: v for k, v in form.items() if isinstance(v, str)}, p.trans
            )
            claims = list(draft.get("student_claims") or [])
            if len(claims) >= wizard.MAX_CLAIMS:
                errors = {
                    "new_claim.school_id": p._(
                        "You can add up to %(count)s students.", count=wizard.MAX_CLAIMS
                    )
                }
            draft["student_choice"] = "claim"
            if errors:
                draft["new_claim"] = {n: text(form, f"new_claim.{n}") for n in wizard.CLAIM_FIELDS}
                return await render_step(p, slug, errors=errors, status=422)
            claim = {n: text(form, f"new_claim.{n}").strip() for n in wizard.CLAIM_FIELDS}
            if claim not in claims:
                claims.append(claim)
            draft["student_claims"] = claims
            draft.pop("new_claim", None)
            return p.redirect(step_url(slug) + "#students-added")
        if slug == "students" and action.startswith("remove-"):
            claims = list(draft.get("student_claims") or [])
            try:
                claims.pop(int(action.removeprefix("remove-")))
            except (ValueError, IndexError):
                pass
            draft["student_claims"] = claims
            return p.redirect(step_url(slug))
        if slug == "review":
            return await finish(p)
        if slug == "students" and action == "next" and draft.get("student_choice") == "claim":
            claim = {n: text(form, f"new_claim.{n}").strip() for n in wizard.CLAIM_FIELDS}
            claims = list(draft.get("student_claims") or [])
            if all(claim.values()) and claim not in claims and len(claims) < wizard.MAX_CLAIMS:
                draft["student_claims"] = [*claims, claim]
        errors = wizard.local_errors(slug, draft, p.trans)
        if errors:
            return await render_step(p, slug, errors=errors, status=422)
        if not reachable(draft, wizard.SLUGS[index + 1]):
            return p.redirect(step_url("usage-policy"))
        if text(form, "return_to") == "review":
            return p.redirect(step_url("review"))
        return p.redirect(step_url(wizard.SLUGS[index + 1]))

    async def finish(p: Page) -> Response:
        assert p.session is not None
        draft = p.session.draft
        for slug in wizard.SLUGS[:-2]:
            errors = wizard.local_errors(slug, draft, p.trans)
            if errors:
                p.session.flash["errors"] = errors
                return p.redirect(step_url(slug))
        body = wizard.registration_body(draft, locale=p.locale, question_count=question_count)
        answer = await deps.identity.register(body, client=p.client())
        if answer.ok:
            email = draft.get("email")
            draft.clear()
            draft.update({"finished": True, "email": email})
            return p.redirect(step_url("done"))
        if answer.status == 429:
            return too_many(p, answer)
        if answer.status == 422:
            errors = answer.field_errors()
            if not errors:
                errors = {"captcha_token": answer.body.get("detail") or p._("Check your answers.")}
            p.session.flash["errors"] = errors
            return p.redirect(step_url(wizard.first_step_with_errors(errors)))
        return unavailable(p)

    # --- account -------------------------------------------------------------------------

    def signed_out(p: Page) -> Response:
        session = p.ensure_session()
        session.sign_out()
        session.flash["notice"] = "idle"
        return p.redirect("/sign-in")

    async def render_account(
        p: Page, *, errors: Mapping[str, str] | None = None, values: Mapping[str, Any] | None = None,
        status: int = 200, notice: str | None = None,
    ) -> Response:  # fmt: skip
        assert p.session is not None and p.session.access_token
        token = p.session.access_token
        me = await deps.identity.me(token, p.locale)
        if me.status == 401:
            return signed_out(p)
        links = await deps.linking.links(token, p.locale)
        if links.status == 401:
            return signed_out(p)
        if not me.ok:
            return unavailable(p)
        profile = me.body
        address = profile.get("address") or {}
        prefs = profile.get("notification_preferences") or {}
        shown: dict[str, Any] = {
            "secondary_email": profile.get("secondary_email") or "",
            **{f"address.{k}": address.get(k) or "" for k in ADDRESS_FIELDS},
            **{f"channel.{c}": c in (prefs.get("channels") or []) for c in CHANNELS},
            **{f"kind.{k}": k in (prefs.get("kinds") or []) for k in KINDS},
        }
        shown.update(values or {})
        items = links.body.get("items") if links.ok else None
        schools = await school_list()
        rows = [
            {
                **link,
                "requested_day": format_day(link.get("requested_at"), p.locale),
                "deadline_day": format_day(link.get("expires_at"), p.locale),
                "decided_day": format_day(link.get("decided_at"), p.locale),
            }
            for link in items or []
            if isinstance(link, dict)
        ]
        return p.render(
            "account.html",
            status=status,
            title=p._("My account"),
            errors=errors,
            values=shown,
            profile=profile,
            no_channel=not (prefs.get("channels") or []),
            created_day=format_day(me.body.get("created_at"), p.locale),
            links=rows,
            links_unavailable=not links.ok,
            notice=notice or p.session.flash.pop("notice", None),
            schools=schools,
            school_names=dict(schools),
        )

    @router.get("/account")
    async def account(request: Request) -> Response:
        p = page(request)
        if p.session is None or not p.session.signed_in:
            return p.redirect("/sign-in")
        return await render_account(p)

    @router.post("/account/links")
    async def request_link(request: Request) -> Response:
        p = page(request)
        form = await read_form(p)
        if form is None:
            return expired_form(p)
        assert p.session is not None
        if not p.session.access_token:
            return p.redirect("/sign-in")
        values = {f: text(form, f).strip() for f in (*wizard.CLAIM_FIELDS, "activation_code",
                                                    "legacy_username")}  # fmt: skip
        errors = {f: p._("This field is required.") for f in wizard.CLAIM_FIELDS if not values[f]}
        if errors:
            return await render_account(p, errors=errors, values=values, status=422)
        body: dict[str, Any] = {f: values[f] for f in wizard.CLAIM_FIELDS}
        if values["activation_code"]:
            body["activation_code"] = values["activation_code"]
        legacy_password = text(form, "legacy_password")
        if values["legacy_username"] or legacy_password:
            body["legacy_username"] = values["legacy_username"]
            body["legacy_password"] = legacy_password
        answer = await deps.linking.request_link(p.session.access_token, body, p.locale)
        if answer.status == 401:
            return signed_out(p)
        if answer.ok:
            p.session.flash["notice"] = (
                "link_approved" if answer.body.get("status") == "approved" else "link_requested"
            )
            return p.redirect("/account#students")
        if answer.status == 429:
            return too_many(p, answer)
        if answer.status in (409, 422):
            errors = answer.field_errors()
            if not errors:
                errors = {
                    "student_id": str(answer.body.get("detail") or answer.body.get("title") or "")
                }
            return await render_account(p, errors=errors, values=values, status=422)
        return unavailable(p)

    @router.post("/account/links/{link_id}/withdraw")
    async def withdraw(request: Request, link_id: str) -> Response:
        p = page(request)
        form = await read_form(p)
        if form is None:
            return expired_form(p)
        assert p.session is not None
        if not p.session.access_token:
            return p.redirect("/sign-in")
        answer = await deps.linking.withdraw_link(p.session.access_token, link_id[:100], p.locale)
        if answer.status == 401:
            return signed_out(p)
        if answer.ok or answer.status in (404, 409):
            p.session.flash["notice"] = "link_withdrawn" if answer.ok else "link_unchanged"
            return p.redirect("/account#students")
        return unavailable(p)

    def signed_in_form(p: Page) -> Response | None:
        """A redirect when the session has no access token, else None."""
        assert p.session is not None
        return None if p.session.access_token else p.redirect("/sign-in")

    @router.post("/account/password")
    async def change_password(request: Request) -> Response:
        p = page(request)
        form = await read_form(p)
        if form is None:
            return expired_form(p)
        if (away := signed_in_form(p)) is not None:
            return away
        assert p.session is not None and p.session.access_token
        current, new = text(form, "current_password"), text(form, "new_password")
        errors: dict[str, str] = {}
        for name, value in (("current_password", current), ("new_password", new)):
            if not value:
                errors[name] = p._("This field is required.")
        if new and new != text(form, "new_password_confirm"):
            errors["new_password_confirm"] = p._("The two passwords are not the same.")
        if not errors:
            answer = await deps.identity.change_password(
                p.session.access_token, current, new, client=p.client(), locale=p.locale
            )
            if answer.ok:
                # identity ended every other session and gave this one a new token
                p.session.access_token = str(answer.body.get("access_token"))
                p.session.flash["notice"] = "password_changed"
                return p.redirect("/account#password")
            if answer.status == 401:
                return signed_out(p)
            if answer.status == 429:
                return too_many(p, answer)
            if answer.status != 422:
                return unavailable(p)
            errors = answer.field_errors() or {"current_password": p._("Check this field.")}
        return await render_account(p, errors=errors, status=422)

    @router.post("/account/profile")
    async def update_profile(request: Request) -> Response:
        p = page(request)
        form = await read_form(p)
        if form is None:
            return expired_form(p)
        if (away := signed_in_form(p)) is not None:
            return away
        assert p.session is not None and p.session.access_token
        values = {"secondary_email": text(form, "secondary_email").strip()}
        values.update({f"address.{k}": text(form, f"address.{k}").strip() for k in ADDRESS_FIELDS})
        body = {
            "secondary_email": values["secondary_email"] or None,
            "address": {
                k: (values[f"address.{k}"].upper() if k == "state" else values[f"address.{k}"])
                or (None if k == "apt" else "")
                for k in ADDRESS_FIELDS
            },
        }
        answer = await deps.identity.update_profile(p.session.access_token, body, p.locale)
        if answer.ok:
            p.session.flash["notice"] = "profile_saved"
            return p.redirect("/account#contact")
        if answer.status == 401:
            return signed_out(p)
        if answer.status == 422:
            errors = answer.field_errors() or {"secondary_email": p._("Check this field.")}
            return await render_account(p, errors=errors, values=values, status=422)
        return unavailable(p)

    @router.post("/account/notifications")
    async def update_notifications(request: Request) -> Response:
        p = page(request)
        form = await read_form(p)
        if form is None:
            return expired_form(p)
        if (away := signed_in_form(p)) is not None:
            return away
        assert p.session is not None and p.session.access_token
        prefs = {
            "channels": [c for c in CHANNELS if f"channel.{c}" in form],
            "kinds": [k for k in KINDS if f"kind.{k}" in form],
        }
        answer = await deps.identity.update_profile(
            p.session.access_token, {"notification_preferences": prefs}, p.locale
        )
        if answer.status == 401:
            return signed_out(p)
        if not answer.ok:
            return unavailable(p)
        p.session.flash["notice"] = "notifications_saved"
        return p.redirect("/account#notifications")

    def not_found(p: Page) -> Response:
        return p.render(
            "message.html",
            status=404,
            title=p._("Page not found"),
            message=p._("There is no page at this address."),
            action_url="/",
            action_text=p._("Go to the portal's first page"),
        )

    return Pages(router, lambda request: not_found(page(request)))
