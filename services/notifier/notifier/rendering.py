"""Renders a mail (subject, plain text, HTML) in the guardian's language.

Templates are Jinja2 files under ``templates/`` (one per kind, ``<kind>.j2``, rendered
twice: through ``layout.txt.j2`` and ``layout.html.j2``); texts are marked for
translation with ``{% trans %}`` and translated by the gettext catalogs under
``locales/<locale>/LC_MESSAGES/messages.po``. The catalogs are compiled in memory when a
renderer is built, so a fresh clone needs no build step and no ``.mo`` file can go stale.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date as babel_format_date
from babel.dates import format_time as babel_format_time
from babel.support import NullTranslations
from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound

from notifier.domain.catalog import FALLBACK_LOCALE, SUPPORTED_LOCALES
from notifier.domain.model import RenderedMail, Template
from shared.deadlines import link_deadline
from shared.locales import compiled_translations
from shared.runtime.policy import Branding, DistrictPolicy

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = PACKAGE_DIR / "templates"
LOCALE_DIR = PACKAGE_DIR / "locales"

# CLDR has no Haitian Creole calendar names (Babel falls back to French): Kreyòl here.
_HT_MONTHS = (
    "janvye", "fevriye", "mas", "avril", "me", "jen",
    "jiyè", "out", "septanm", "oktòb", "novanm", "desanm",
)  # fmt: skip


class UnknownTemplate(LookupError):
    """No template of that name."""


def translations(locale: str) -> NullTranslations:
    """The compiled gettext catalog of ``locale`` (English and unknown locales: none, the
    English source texts are used as they are)."""
    return compiled_translations(LOCALE_DIR, locale)


def _as_datetime(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, 12, tzinfo=UTC)
    raise TypeError(f"not a date: {type(value).__name__}")


class DateFormatter:
    """Dates and times for one locale, in the district's time zone."""

    def __init__(self, locale: str, tz: ZoneInfo) -> None:
        self.locale = locale
        self.tz = tz

    def date(self, value: Any) -> str:
        """A long date (``March 15, 2025``; ``15 de marzo de 2025``)."""
        moment = _as_datetime(value)
        if moment is None:
            return ""
        day = moment.astimezone(self.tz).date()
        if self.locale == "ht":
            return f"{day.day} {_HT_MONTHS[day.month - 1]} {day.year}"
        return babel_format_date(day, "long", locale=self.locale)

    def datetime(self, value: Any) -> str:
        """A long date and a short time with the zone (``March 15, 2025, 2:30 PM EDT``)."""
        moment = _as_datetime(value)
        if moment is None:
            return ""
        local = moment.astimezone(self.tz)
        zone = local.tzname() or ""
        if self.locale == "ht":
            return f"{self.date(local)} a {local:%H:%M} {zone}".strip()
        pattern = Locale.parse(self.locale).datetime_formats["long"]
        pattern = pattern.format if isinstance(pattern, str) else str(pattern).format
        when = pattern(
            babel_format_time(local, "short", locale=self.locale),
            babel_format_date(local.date(), "long", locale=self.locale),
        )
        return f"{when} {zone}".strip()


_BLANKS = re.compile(r"\n{3,}")
_TRAILING = re.compile(r"[ \t]+\n")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class _Envs:
    text: Environment
    html: Environment


class Renderer:
    """Renders the notifier's templates with the district's branding."""

    def __init__(
        self,
        policy: DistrictPolicy,
        *,
        portal_url: str = "http://localhost:8080",
    ) -> None:
        self.branding: Branding = policy.branding
        self.policy = policy
        self.tz = policy.tz
        self.portal_url = portal_url
        self._envs: dict[str, _Envs] = {}

    @staticmethod
    def template_names() -> list[str]:
        """Every template the notifier has."""
        return [str(t) for t in Template]

    def _environment(self, locale: str, *, html: bool) -> Environment:
        env = Environment(
            loader=FileSystemLoader(TEMPLATE_DIR),
            extensions=["jinja2.ext.i18n"],
            autoescape=html,  # noqa: S701 (the text/plain env must not HTML-escape)
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=StrictUndefined,
            auto_reload=False,
        )
        env.policies["ext.i18n.trimmed"] = True
        env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
        dates = DateFormatter(locale, self.tz)
        env.filters["date"] = dates.date
        env.filters["datetime"] = dates.datetime
        return env

    def _envs_for(self, locale: str) -> _Envs:
        if locale not in self._envs:
            self._envs[locale] = _Envs(
                self._environment(locale, html=False), self._environment(locale, html=True)
            )
        return self._envs[locale]

    def render(
        self,
        template: Template | str,
        locale: str,
        data: Mapping[str, Any],
        *,
        name: str | None = None,
    ) -> RenderedMail:
        """Render ``template`` for ``locale`` (English when there is no such catalog)."""
        try:
            kind = Template(template)
        except ValueError:
            raise UnknownTemplate(str(template)) from None
        if locale not in SUPPORTED_LOCALES:
            locale = FALLBACK_LOCALE
        envs = self._envs_for(locale)
        direction = Locale.parse(locale).text_direction
        context: dict[str, Any] = {
            **data,
            "name": name,
            "locale": locale,
            "dir": direction,
            "align": "right" if direction == "rtl" else "left",
            "brand": self.branding,
            "portal_url": self.portal_url,
        }
        try:
            text_tmpl = envs.text.get_template(f"{kind}.j2")
            html_tmpl = envs.html.get_template(f"{kind}.j2")
        except TemplateNotFound:  # pragma: no cover - every Template has a file (unit test)
            raise UnknownTemplate(str(kind)) from None
        subject_ctx = text_tmpl.new_context({**context, "fmt": "txt"})
        subject = _SPACES.sub(" ", "".join(text_tmpl.blocks["subject"](subject_ctx))).strip()
        text = text_tmpl.render(**context, fmt="txt")
        text = _BLANKS.sub("\n\n", _TRAILING.sub("\n", text)).strip() + "\n"
        html = html_tmpl.render(**context, fmt="html")
        html = _BLANKS.sub("\n\n", _TRAILING.sub("\n", html)).strip() + "\n"
        return RenderedMail(subject, text, html, locale, direction)

    def sample(self, template: Template | str, locale: str) -> RenderedMail:
        """``template`` rendered with made-up data (operator preview)."""
        try:
            kind = Template(template)
        except ValueError:
            raise UnknownTemplate(str(template)) from None
        return self.render(kind, locale, sample_data(kind, self), name="Jenny Denny")


def sample_data(template: Template, renderer: Renderer) -> dict[str, Any]:
    """Made-up but realistic data for ``template`` (no real token or person)."""
    now = datetime.now(UTC).replace(microsecond=0)
    url = renderer.portal_url.rstrip("/")
    policy = renderer.policy
    deadline = policy.links.deadline_days
    link = {"student_id": "90966666", "school_id": "0123", "action_url": f"{url}/"}
    samples: dict[Template, dict[str, Any]] = {
        Template.VERIFICATION: {
            "reason": "registration",
            "action_url": f"{url}/verify-email?token=SAMPLE-TOKEN",
            "expires_at": now + timedelta(hours=policy.tokens.verification_hours),
        },
        Template.DUPLICATE_REGISTRATION: {"at": now, "action_url": f"{url}/"},
        Template.WELCOME: {
            "reactivated": False,
            "deadline_days": deadline,
            "action_url": f"{url}/",
        },
        Template.PASSWORD_RESET: {
            "action_url": f"{url}/reset-password?token=SAMPLE-TOKEN",
            "expires_at": now + timedelta(minutes=policy.tokens.reset_minutes),
        },
        Template.PASSWORD_CHANGED: {"via": "change", "changed_at": now, "action_url": f"{url}/"},
        Template.LINK_PENDING: {
            **link,
            "expires_at": link_deadline(now, deadline, policy.tz),
            "days": deadline,
        },
        Template.LINK_APPROVED: {**link, "student": "Sam"},
        Template.LINK_DENIED: {**link, "reason": "The student record does not list you."},
        Template.LINK_EXPIRED: {**link, "days": deadline},
        Template.LINK_REVOKED: {**link, "reason": "Court order on file at the school."},
        Template.ACCOUNT_DISABLED: {
            "inactivity": True,
            "at": now,
            "disable_months": policy.inactivity.disable_after_months,
            "delete_months": policy.inactivity.delete_after_months,
            "action_url": f"{url}/",
        },
        Template.LINK_EXPIRY_REMINDER: {
            **link,
            "expires_at": link_deadline(now - timedelta(days=deadline - 7), deadline, policy.tz),
        },
        Template.INACTIVITY_REMINDER: {
            "last_activity_at": now - timedelta(days=170),
            "disable_at": now + timedelta(days=14),
            "action_url": f"{url}/",
        },
    }
    return samples[template]
