"""HTTP routes of the notifier: template previews for operators."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from notifier.domain.catalog import SUPPORTED_LOCALES
from notifier.rendering import Renderer, UnknownTemplate
from shared.runtime.problems import ProblemError, field_error, message, request_locale


class TemplatePreview(BaseModel):
    """A template rendered with sample data."""

    name: str
    locale: str
    direction: str
    subject: str
    text: str
    html: str


class TemplateList(BaseModel):
    """Template names and the locales they are translated into."""

    items: list[str]
    locales: list[str]


def templates_router(renderer: Renderer) -> APIRouter:
    """``GET /v1/templates`` and ``GET /v1/templates/{name}?locale=``."""
    router = APIRouter(prefix="/v1/templates", tags=["templates"])

    @router.get("", summary="List the mail templates", response_model=TemplateList)
    async def list_templates() -> TemplateList:
        return TemplateList(items=renderer.template_names(), locales=list(SUPPORTED_LOCALES))

    @router.get(
        "/{name}",
        summary="Preview a mail template rendered with sample data",
        response_model=TemplatePreview,
        responses={404: {"description": "Unknown template"}, 422: {"description": "Bad locale"}},
    )
    async def preview_template(
        name: str,
        request: Request,
        locale: Annotated[str, Query(description="en, es, vi, ar, so or ht")] = "en",
    ) -> TemplatePreview:
        if locale not in SUPPORTED_LOCALES:
            ui_locale = request_locale(request)
            raise ProblemError(
                422,
                "validation",
                message("validation_title", ui_locale),
                detail=f"locale must be one of {', '.join(SUPPORTED_LOCALES)}",
                errors=[field_error("locale", "invalid_choice", ui_locale)],
            )
        try:
            mail = renderer.sample(name, locale)
        except UnknownTemplate:
            raise ProblemError(
                404,
                "template-not-found",
                "Not Found",
                detail=f"no template named {name!r}; see GET /v1/templates",
            ) from None
        return TemplatePreview(
            name=name,
            locale=mail.locale,
            direction=mail.direction,
            subject=mail.subject,
            text=mail.text,
            html=mail.html,
        )

    return router
