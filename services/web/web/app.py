"""Composition root of the web front end: settings in, API clients and session store
built, routes, static files and security headers assembled; nothing connects before the
lifespan starts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware

from shared.runtime.body_limit import BodyLimitMiddleware
from shared.runtime.logs import configure_logging, get_logger
from shared.runtime.tracing import configure_tracing, redact_request_span
from web.adapters.http_apis import HttpIdentityApi, HttpLinkingApi, HttpStaffApi
from web.entrypoints.pages import Deps, build_router
from web.i18n import PACKAGE_DIR, TEMPLATE_DIR
from web.ports import IdentityApi, LinkingApi, StaffApi
from web.sessions import SessionStore
from web.settings import Settings
from web.staff.auth import AuthlibStaffProvider, StaffProvider
from web.staff.pages import StaffDeps, build_staff_router

__all__ = ["Settings", "create_app"]

log = get_logger(__name__)

#: Strict CSP: scripts, styles, fonts and images from this origin only; no inline script
#: or style, no framing, forms post only here.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
#: Largest request body accepted (the biggest form is a few KB).
MAX_BODY_BYTES = 64 * 1024


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def templates() -> Environment:
    """The page templates (autoescaped)."""
    return Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def create_app(
    settings: Settings | None = None,
    *,
    identity: IdentityApi | None = None,
    linking: LinkingApi | None = None,
    staff_api: StaffApi | None = None,
    staff_provider: StaffProvider | None = None,
) -> FastAPI:
    """The web front end; ``identity``/``linking``/``staff_api``/``staff_provider``
    replace the HTTP clients and the OpenID provider in tests."""
    settings = settings or Settings()
    configure_logging(settings.service_name, settings.log_level)
    tracer_provider = configure_tracing(
        settings.trace_service_name,
        otlp_endpoint=settings.otel_exporter_otlp_endpoint,
        traces_file=settings.otel_traces_file,
    )
    policy = settings.load_policy()
    timeout = httpx.Timeout(settings.web_api_timeout_seconds)
    clients = [
        httpx.AsyncClient(base_url=settings.web_identity_url, timeout=timeout),
        httpx.AsyncClient(base_url=settings.web_linking_url, timeout=timeout),
    ]  # built here, connected lazily on first use
    deps = Deps(
        identity=identity or HttpIdentityApi(clients[0]),
        linking=linking or HttpLinkingApi(clients[1]),
        policy=policy,
        sessions=SessionStore(
            draft_idle_seconds=settings.web_draft_idle_minutes * 60,
            signed_in_idle_seconds=policy.tokens.session_minutes * 60,
            max_sessions=settings.web_max_sessions,
        ),
        templates=templates(),
        cookie_secure=settings.cookie_secure,
        trusted_proxy_hops=settings.proxy_hops,
        schools_refresh_seconds=settings.web_schools_refresh_seconds,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        log.info("web.started", port=settings.http_port, identity=settings.web_identity_url)
        try:
            yield
        finally:
            for client in clients:
                await client.aclose()

    app = FastAPI(
        title="Guardian portal web", lifespan=lifespan, openapi_url=None, docs_url=None,
        redoc_url=None,
    )  # fmt: skip
    pages = build_router(deps)
    if settings.staff_console_enabled:
        issuer, client_id, secret = settings.staff_oidc()
        staff_deps = StaffDeps(
            staff_api=staff_api or HttpStaffApi(clients[1]),
            provider=staff_provider
            or AuthlibStaffProvider(
                issuer=issuer,
                client_id=client_id,
                client_secret=secret,
                scope=settings.staff_oidc_scope,
                policy=policy.staff,
                timeout=settings.web_api_timeout_seconds,
            ),
            policy=policy,
            sessions=deps.sessions,
            templates=deps.templates,
            cookie_secure=settings.cookie_secure,
            public_url=settings.web_staff_public_url,
            portal_url=settings.portal_public_url,
            csp=CSP.replace("form-action 'self'", f"form-action 'self' {origin_of(issuer)}"),
        )
        app.include_router(build_staff_router(staff_deps))
    app.include_router(pages.router)
    # Static files compressed (USWDS's CSS: 527 KB → ≈ 70 KB); pages are not, as they
    # carry the CSRF token next to reflected input (BREACH).
    app.mount(
        "/static",
        GZipMiddleware(StaticFiles(directory=PACKAGE_DIR / "static"), minimum_size=1024),
        name="static",
    )
    production = settings.environment == "production"
    # A body sent without Content-Length (chunked) is counted as it streams: cut off with
    # 413 once past the limit, before the form parser holds it.
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES)

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        length = request.headers.get("content-length")
        if length and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            response: Response = PlainTextResponse("Request too large", status_code=413)
        else:
            response = await call_next(request)
        headers = response.headers
        # the staff pages add their OpenID provider to form-action (sign-out ends its
        # session too); every other response gets the strict policy
        headers.setdefault("Content-Security-Policy", CSP)
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        # the email-link pages carry a token in their URL: never send it anywhere
        headers["Referrer-Policy"] = "no-referrer"
        headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        if production:
            headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        if request.url.path.startswith("/static/"):
            headers["Cache-Control"] = "public, max-age=86400"
        else:
            headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404 and not request.url.path.startswith("/static/"):
            return pages.not_found(request)
        return PlainTextResponse(str(exc.detail), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> Response:
        log.exception("web.error", path=request.url.path, error=type(exc).__name__)
        return PlainTextResponse(
            "Something went wrong on our side. Please try again.", status_code=500
        )

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        checks = {
            "identity": "ok" if await deps.identity.ready() else "unreachable",
            "linking": "ok" if await deps.linking.ready() else "unreachable",
        }
        status = 200 if all(v == "ok" for v in checks.values()) else 503
        return JSONResponse({"status": "ready" if status == 200 else "not-ready",
                             "checks": checks}, status_code=status)  # fmt: skip

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    # the email-link pages carry a token in their query: never in a span
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=tracer_provider,
        excluded_urls="healthz,readyz,metrics,static",
        server_request_hook=redact_request_span,
    )
    app.state.deps = deps
    return app
