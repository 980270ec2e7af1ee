"""RFC 9457 problem details, with field-level errors in the guardian's language.

Every error answer of every service is ``application/problem+json``::

    {"type": "https://guardian-portal.dev/problems/validation", "title": "...",
     "status": 422, "detail": "...", "instance": "/v1/accounts",
     "errors": [{"field": "phones.mobile.number", "code": "too_short", "message": "..."}]}

Generic validation messages are translated here for every supported locale; services
add their own codes through :func:`register_messages`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.locales import SUPPORTED_LOCALES

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://guardian-portal.dev/problems/"
#: Retry-After of a 503 while a dependency (Kafka, a MongoDB primary) is unreachable.
RETRY_AFTER_SECONDS = 5

_MESSAGES: dict[str, dict[str, str]] = {
    "missing": {
        "en": "This field is required.",
        "es": "Este campo es obligatorio.",
        "vi": "Trường này là bắt buộc.",
        "ar": "هذا الحقل مطلوب.",
        "so": "Goobtan waa qasab.",
        "ht": "Chan sa a obligatwa.",
    },
    "invalid_type": {
        "en": "This value has the wrong type.",
        "es": "Este valor tiene un tipo incorrecto.",
        "vi": "Giá trị này có kiểu không đúng.",
        "ar": "هذه القيمة من نوع غير صحيح.",
        "so": "Qiimahan nooca uu yahay waa khalad.",
        "ht": "Valè sa a pa bon kalite.",
    },
    "too_short": {
        "en": "This value is too short.",
        "es": "Este valor es demasiado corto.",
        "vi": "Giá trị này quá ngắn.",
        "ar": "هذه القيمة قصيرة جدًا.",
        "so": "Qiimahan aad ayuu u gaaban yahay.",
        "ht": "Valè sa a twò kout.",
    },
    "too_long": {
        "en": "This value is too long.",
        "es": "Este valor es demasiado largo.",
        "vi": "Giá trị này quá dài.",
        "ar": "هذه القيمة طويلة جدًا.",
        "so": "Qiimahan aad ayuu u dheer yahay.",
        "ht": "Valè sa a twò long.",
    },
    "invalid_format": {
        "en": "This value is not in the expected format.",
        "es": "Este valor no tiene el formato esperado.",
        "vi": "Giá trị này không đúng định dạng.",
        "ar": "هذه القيمة ليست بالتنسيق المتوقع.",
        "so": "Qiimahan qaabkii la filayay ma aha.",
        "ht": "Valè sa a pa nan fòma ki te espere a.",
    },
    "invalid_email": {
        "en": "Enter a valid email address.",
        "es": "Introduzca una dirección de correo electrónico válida.",
        "vi": "Hãy nhập một địa chỉ email hợp lệ.",
        "ar": "أدخل عنوان بريد إلكتروني صالحًا.",
        "so": "Geli cinwaan iimayl oo sax ah.",
        "ht": "Antre yon adrès imèl ki valab.",
    },
    "invalid_choice": {
        "en": "This value is not one of the allowed choices.",
        "es": "Este valor no es una de las opciones permitidas.",
        "vi": "Giá trị này không nằm trong các lựa chọn cho phép.",
        "ar": "هذه القيمة ليست من الخيارات المسموح بها.",
        "so": "Qiimahan kama mid aha doorashooyinka la oggol yahay.",
        "ht": "Valè sa a pa youn nan chwa ki pèmèt yo.",
    },
    "unknown_field": {
        "en": "This field is not allowed.",
        "es": "Este campo no está permitido.",
        "vi": "Trường này không được phép.",
        "ar": "هذا الحقل غير مسموح به.",
        "so": "Goobtan lama oggola.",
        "ht": "Chan sa a pa pèmèt.",
    },
    "malformed_body": {
        "en": "The request body is not valid JSON.",
        "es": "El cuerpo de la solicitud no es JSON válido.",
        "vi": "Nội dung yêu cầu không phải JSON hợp lệ.",
        "ar": "نص الطلب ليس JSON صالحًا.",
        "so": "Qoraalka codsiga ma aha JSON sax ah.",
        "ht": "Kò demann lan pa yon JSON ki valab.",
    },
    "validation_title": {
        "en": "Some fields need your attention.",
        "es": "Algunos campos necesitan su atención.",
        "vi": "Một số trường cần bạn kiểm tra lại.",
        "ar": "بعض الحقول تحتاج إلى انتباهك.",
        "so": "Goobo qaar ayaa u baahan fiiro gaar ah.",
        "ht": "Gen kèk chan ki bezwen atansyon ou.",
    },
}

_PYDANTIC_CODES = {
    "missing": "missing",
    "string_too_short": "too_short",
    "too_short": "too_short",
    "string_too_long": "too_long",
    "too_long": "too_long",
    "value_error": "invalid_format",
    "string_pattern_mismatch": "invalid_format",
    "literal_error": "invalid_choice",
    "enum": "invalid_choice",
    "extra_forbidden": "unknown_field",
    "json_invalid": "malformed_body",
}


def register_messages(messages: Mapping[str, Mapping[str, str]]) -> None:
    """Add or override translated messages by code (``{"code": {"en": ..., "es": ...}}``)."""
    for code, by_locale in messages.items():
        _MESSAGES.setdefault(code, {}).update(by_locale)


def negotiate_locale(value: str | None, default: str = "en") -> str:
    """Pick a supported locale from a locale tag or an ``Accept-Language`` header."""
    if not value:
        return default
    for part in value.split(","):
        tag = part.split(";")[0].strip().lower().replace("_", "-")
        base = tag.split("-")[0]
        if base in SUPPORTED_LOCALES:
            return base
    return default


def message(code: str, locale: str, **params: Any) -> str:
    """The translated message for ``code`` (English when the locale lacks it)."""
    by_locale = _MESSAGES.get(code) or _MESSAGES["invalid_format"]
    text = by_locale.get(locale) or by_locale["en"]
    return text.format(**params) if params else text


def field_error(field: str, code: str, locale: str, **params: Any) -> dict[str, str]:
    """One entry of a problem's ``errors``."""
    return {"field": field, "code": code, "message": message(code, locale, **params)}


def problem(
    status: int,
    *,
    type_: str = "about:blank",
    title: str,
    detail: str | None = None,
    instance: str | None = None,
    errors: list[dict[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response."""
    body: dict[str, Any] = {
        "type": type_ if ":" in type_ else PROBLEM_BASE + type_,
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    body.update(extra)
    return JSONResponse(
        body, status_code=status, media_type=PROBLEM_JSON, headers=dict(headers or {})
    )


class ProblemError(Exception):
    """Raise from a handler or route to answer with a problem."""

    def __init__(
        self,
        status: int,
        type_: str,
        title: str,
        detail: str | None = None,
        errors: list[dict[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(title)
        self.status, self.type_, self.title, self.detail = status, type_, title, detail
        self.errors, self.headers = errors, headers


def request_locale(request: Request, body: Any = None) -> str:
    """The guardian's locale: body ``locale``, then ``?locale=``, then Accept-Language."""
    if isinstance(body, dict) and isinstance(body.get("locale"), str):
        return negotiate_locale(body["locale"])
    return negotiate_locale(
        request.query_params.get("locale") or request.headers.get("accept-language")
    )


def _pydantic_field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _code_for(error: Mapping[str, Any]) -> str:
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    if (
        kind == "value_error"
        and "email" in str(ctx.get("reason", "") + str(error.get("msg", ""))).lower()
    ):
        return "invalid_email"
    if isinstance(ctx, Mapping) and isinstance(ctx.get("code"), str):
        return ctx["code"]
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return "invalid_type"
    return _PYDANTIC_CODES.get(kind, "invalid_format")


def install_problem_handlers(app: FastAPI) -> None:
    """Answer validation errors, HTTP errors and crashes as problem+json."""

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        body = getattr(exc, "body", None)
        locale = request_locale(request, body)
        errors = []
        for err in exc.errors():
            code = _code_for(err)
            errors.append(field_error(_pydantic_field(tuple(err.get("loc", ()))), code, locale))
        return problem(
            422,
            type_="validation",
            title=message("validation_title", locale),
            instance=request.url.path,
            errors=errors,
        )

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem(
            exc.status,
            type_=exc.type_,
            title=exc.title,
            detail=exc.detail,
            instance=request.url.path,
            errors=exc.errors,
            headers=exc.headers,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {
            401: "Unauthorized",
            403: "Forbidden",
            404: "Not Found",
            405: "Method Not Allowed",
            409: "Conflict",
            413: "Content Too Large",
            415: "Unsupported Media Type",
            429: "Too Many Requests",
        }
        return problem(
            exc.status_code,
            title=titles.get(exc.status_code, "Error"),
            detail=str(exc.detail) if exc.detail else None,
            instance=request.url.path,
            headers=getattr(exc, "headers", None),
        )

    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        # A dependency that may answer again soon: the client should retry, not report a
        # bug. (No HTTP write of the portal waits for Kafka — events queue in the outbox —
        # so this is a safety net, and MongoDB's answer while a member is elected.)
        from shared.runtime.logs import get_logger

        get_logger(__name__).warning(
            "dependency unavailable", path=request.url.path, error=type(exc).__name__
        )
        return problem(
            503,
            type_="dependency-unavailable",
            title="Service Unavailable",
            detail="a dependency of this service is unreachable; try again shortly",
            instance=request.url.path,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    from aiokafka.errors import KafkaError

    from shared.runtime.mongo import TRANSIENT_ERRORS

    for error in (KafkaError, *TRANSIENT_ERRORS):
        app.add_exception_handler(error, _unavailable)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        from shared.runtime.logs import get_logger

        get_logger(__name__).exception("unhandled error", path=request.url.path)
        return problem(
            500, type_="internal", title="Internal Server Error", instance=request.url.path
        )


#: The OpenAPI schema of every error answer (RFC 9457, with the portal's ``errors``).
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details (application/problem+json). Extra members "
    "may follow (e.g. `checks` of /readyz).",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "description": f"A URI, {PROBLEM_BASE}<code>"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string", "description": "The request path"},
        "errors": {
            "type": "array",
            "description": "One entry per invalid field, in the request's language",
            "items": {"$ref": "#/components/schemas/ProblemFieldError"},
        },
    },
    "additionalProperties": True,
}
PROBLEM_FIELD_ERROR_SCHEMA: dict[str, Any] = {
    "title": "ProblemFieldError",
    "type": "object",
    "required": ["field", "code", "message"],
    "properties": {
        "field": {"type": "string", "description": "Dotted path, e.g. phones.mobile.number"},
        "code": {"type": "string"},
        "message": {"type": "string"},
    },
}
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Make an OpenAPI document say what the services answer on errors: every 4xx/5xx
    response is ``application/problem+json`` with the Problem schema (FastAPI documents
    its 422 as plain JSON ``HTTPValidationError``, which the portal never sends). Examples
    are kept. Changes ``schema`` in place and returns it."""
    for operations in (schema.get("paths") or {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for code, response in (operation.get("responses") or {}).items():
                if not str(code).startswith(("4", "5")):
                    continue
                content = response.get("content") or {}
                media = content.get(PROBLEM_JSON) or content.get("application/json") or {}
                media = {k: v for k, v in media.items() if k != "schema"}
                response["content"] = {PROBLEM_JSON: {"schema": _PROBLEM_REF, **media}}
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    components["ProblemFieldError"] = PROBLEM_FIELD_ERROR_SCHEMA
    text = json.dumps(schema)
    for unused in ("HTTPValidationError", "ValidationError"):
        if f'"#/components/schemas/{unused}"' not in text:
            components.pop(unused, None)
    return schema
