"""Every template in every language: complete catalogs, real translations, the right
direction, dates and plurals for the locale, escaping, English fallback."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from notifier.catalogs import TRANSLATED_LOCALES, extract, problems
from notifier.domain.catalog import SUPPORTED_LOCALES, mail_requests
from notifier.domain.model import Template
from notifier.rendering import Renderer, UnknownTemplate, sample_data, translations

from shared.contracts import events as ev
from shared.deadlines import last_day, link_deadline
from shared.runtime.policy import load_policy

RTL = {"ar"}


def flat(text: str) -> str:
    """Text with every run of white space (wrapping, CLDR's narrow no-break spaces) as one
    space."""
    return re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(load_policy(), portal_url="https://portal.example.org")


@pytest.fixture(scope="module")
def english(renderer: Renderer) -> dict[str, object]:
    return {t: renderer.sample(t, "en") for t in Template}


def _variants(template: Template, renderer: Renderer) -> list[dict[str, object]]:
    """Sample data plus every branch the template has."""
    base = sample_data(template, renderer)
    extra: dict[Template, list[dict[str, object]]] = {
        Template.VERIFICATION: [{"reason": "resend"}, {"reason": "reactivation"}],
        Template.WELCOME: [{"reactivated": True}, {"deadline_days": 1}],
        Template.PASSWORD_CHANGED: [{"via": "reset"}],
        Template.ACCOUNT_DISABLED: [{"inactivity": False}],
        Template.LINK_EXPIRED: [{"student_id": None, "school_id": None}, {"days": 2}],
        Template.LINK_PENDING: [{"days": 1}, {"days": 11}, {"days": 3}],
    }
    return [base] + [{**base, **change} for change in extra.get(template, [])]


def test_every_template_has_a_file_and_renders_in_english(renderer: Renderer) -> None:
    for template in Template:
        for data in _variants(template, renderer):
            mail = renderer.render(template, "en", data, name="Jenny")
            assert mail.subject and "\n" not in mail.subject
            assert "Hello Jenny," in mail.text
            assert mail.html.startswith("<!DOCTYPE html>")
            assert '<html lang="en" dir="ltr">' in mail.html
            assert "{{" not in mail.text + mail.html and "%(" not in mail.text + mail.html


@pytest.mark.parametrize("locale", TRANSLATED_LOCALES)
def test_catalog_is_complete_and_really_translated(locale: str) -> None:
    """Fails on a message of the templates missing from the catalog, an empty or fuzzy
    translation, a translation equal to the English text, broken placeholders or the
    wrong number of plural forms."""
    found = problems(locale)
    assert not found, "\n".join(found)


def test_the_catalog_check_catches_untranslated_text(tmp_path) -> None:
    """The check itself works: an English msgstr and a missing entry are reported."""
    from dataclasses import replace

    from notifier.catalogs import TOOL

    source = TOOL.po_path("es").read_text(encoding="utf-8")
    broken = source.replace('msgstr "Ver mis solicitudes"', 'msgstr "See my requests"').replace(
        'msgid "Choose a new password"\nmsgstr "Elegir una nueva contraseña"\n', ""
    )
    assert broken != source
    target = tmp_path / "es" / "LC_MESSAGES" / "messages.po"
    target.parent.mkdir(parents=True)
    target.write_text(broken, encoding="utf-8")
    found = "\n".join(replace(TOOL, locale_dir=tmp_path).problems("es"))
    assert "'See my requests': untranslated (same as English)" in found
    assert "'Choose a new password': missing" in found


@pytest.mark.parametrize("locale", TRANSLATED_LOCALES)
def test_every_template_renders_translated(
    renderer: Renderer, english: dict[Template, object], locale: str
) -> None:
    template_msgids = [m.id for m in extract() if m.id]
    english_sentences = {
        (mid[1] if isinstance(mid, tuple) else mid).split("%(")[0].strip()
        for mid in template_msgids
    }
    english_sentences = {s for s in english_sentences if len(s) > 12}
    for template in Template:
        for data in _variants(template, renderer):
            mail = renderer.render(template, locale, data, name="Jenny")
            en = renderer.render(template, "en", data, name="Jenny")
            assert mail.locale == locale
            assert mail.subject != en.subject, f"{template} subject untranslated in {locale}"
            direction = "rtl" if locale in RTL else "ltr"
            assert f'<html lang="{locale}" dir="{direction}">' in mail.html
            assert mail.direction == direction
            for sentence in english_sentences:
                assert sentence not in mail.text, f"{template}/{locale}: English {sentence!r}"
                assert sentence not in mail.html, f"{template}/{locale}: English {sentence!r}"
            assert "{{" not in mail.text + mail.html and "%(" not in mail.text + mail.html


def test_unknown_locale_falls_back_to_english(renderer: Renderer) -> None:
    data = sample_data(Template.WELCOME, renderer)
    assert renderer.render(Template.WELCOME, "fr", data).subject == "Welcome to Parent Portal"
    assert translations("zz").gettext("Hello,") == "Hello,"


def test_unknown_template_is_refused(renderer: Renderer) -> None:
    with pytest.raises(UnknownTemplate):
        renderer.sample("no_such_template", "en")


def test_arabic_is_right_to_left_with_arabic_plurals(renderer: Renderer) -> None:
    data = sample_data(Template.LINK_PENDING, renderer)
    words = {1: "يوم واحد", 2: "يومين", 3: "3 أيام", 21: "21 يومًا"}
    for days, word in words.items():
        mail = renderer.render(Template.LINK_PENDING, "ar", {**data, "days": days})
        assert word in flat(mail.text), (days, mail.text)
    assert 'dir="rtl"' in mail.html and 'lang="ar"' in mail.html
    assert "text-align:right" in mail.html


def test_spanish_plural_and_dates(renderer: Renderer) -> None:
    data = sample_data(Template.LINK_PENDING, renderer)
    deadline = datetime(2025, 12, 15, 17, 0, tzinfo=UTC)
    one = renderer.render(Template.LINK_PENDING, "es", {**data, "days": 1, "expires_at": deadline})
    many = renderer.render(
        Template.LINK_PENDING, "es", {**data, "days": 21, "expires_at": deadline}
    )
    assert "1 día," in flat(one.text) and "21 días," in flat(many.text)
    assert "15 de diciembre de 2025" in many.subject


def test_dates_are_localised_in_the_district_time_zone(renderer: Renderer) -> None:
    # 02:00 UTC on Dec 16 is still Dec 15 in Jacksonville (America/New_York).
    late = datetime(2025, 12, 16, 2, 0, tzinfo=UTC)
    data = {**sample_data(Template.LINK_EXPIRY_REMINDER, renderer), "expires_at": late}
    expected = {
        "en": "December 15, 2025",
        "es": "15 de diciembre de 2025",
        "vi": "15 tháng 12, 2025",
        "ar": "15 ديسمبر 2025",
        "so": "Diseembar 15, 2025",
        "ht": "15 desanm 2025",  # Kreyòl month names, not Babel's French fallback
    }
    for locale, text in expected.items():
        mail = renderer.render(Template.LINK_EXPIRY_REMINDER, locale, data)
        assert text in mail.subject, (locale, mail.subject)


def test_times_carry_the_zone(renderer: Renderer) -> None:
    at = datetime(2025, 7, 1, 18, 30, tzinfo=UTC)
    data = {**sample_data(Template.PASSWORD_RESET, renderer), "expires_at": at}
    english = flat(renderer.render(Template.PASSWORD_RESET, "en", data).text)
    assert "July 1, 2025, 2:30 PM EDT" in english
    assert "1 jiyè 2025 a 14:30 EDT" in flat(
        renderer.render(Template.PASSWORD_RESET, "ht", data).text
    )


def test_links_and_branding(renderer: Renderer) -> None:
    data = {
        **sample_data(Template.VERIFICATION, renderer),
        "action_url": "https://portal.example.org/verify-email?token=abc%2Fdef",
    }
    mail = renderer.render(Template.VERIFICATION, "vi", data)
    assert "https://portal.example.org/verify-email?token=abc%2Fdef" in mail.text
    assert 'href="https://portal.example.org/verify-email?token=abc%2Fdef"' in mail.html
    policy = load_policy()
    assert policy.branding.district_name in mail.html
    assert policy.branding.support_email in mail.text
    assert policy.branding.primary_color in mail.html


def test_staff_text_is_escaped_in_html_only(renderer: Renderer) -> None:
    data = {**sample_data(Template.LINK_DENIED, renderer), "reason": "<b>No</b> & never"}
    mail = renderer.render(Template.LINK_DENIED, "en", data, name="<Jen>")
    assert "&lt;b&gt;No&lt;/b&gt; &amp; never" in mail.html and "<b>No</b>" not in mail.html
    assert "Hello &lt;Jen&gt;," in mail.html
    assert "<b>No</b> & never" in mail.text


def test_text_lines_are_wrapped_but_links_are_not_broken(renderer: Renderer) -> None:
    token = "x" * 120
    data = {
        **sample_data(Template.PASSWORD_RESET, renderer),
        "action_url": f"https://portal.example.org/reset-password?token={token}",
    }
    mail = renderer.render(Template.PASSWORD_RESET, "es", data)
    assert f"?token={token}\n" in mail.text
    body = mail.text.split("\n--\n")[0]
    long_lines = [ln for ln in body.splitlines() if len(ln) > 80 and "http" not in ln]
    assert not long_lines


def test_sample_has_no_real_token(renderer: Renderer) -> None:
    for locale in SUPPORTED_LOCALES:
        mail = renderer.sample(Template.PASSWORD_RESET, locale)
        assert re.search(r"reset-password\?token=SAMPLE-TOKEN", mail.text)


def test_deadline_days_from_policy_in_welcome(renderer: Renderer) -> None:
    mail = renderer.render(
        Template.WELCOME, "en", {**sample_data(Template.WELCOME, renderer), "deadline_days": 10}
    )
    assert "within 10 days" in flat(mail.text)
    expires = datetime.now(UTC) + timedelta(days=1)
    mail = renderer.render(
        Template.LINK_PENDING,
        "en",
        {**sample_data(Template.LINK_PENDING, renderer), "days": 1, "expires_at": expires},
    )
    assert "within 1 day," in flat(mail.text)


@pytest.mark.parametrize("hour_in_new_york", [0, 9, 22])
def test_a_deadline_is_printed_as_its_last_local_day(
    renderer: Renderer, hour_in_new_york: int
) -> None:
    """From the event to the text: a request made at any hour of 31 January in the
    district's zone (22:00 is already 1 February in UTC) names 21 February, the day the
    scheduler's timer ends, and 21 days."""
    tz = ZoneInfo("America/New_York")
    requested = datetime(2027, 1, 31, hour_in_new_york, 30, tzinfo=tz).astimezone(UTC)
    expires = link_deadline(requested, 21, tz)
    event = ev.LinkRequested(
        link_id="L1",
        account_id="A1",
        school_id="0123",
        student_id="90966666",
        method="in_person",
        requested_at=requested,
        expires_at=expires,
        guardian_email="jenny@example.net",
        guardian_name="Jenny",
        locale="en",
    )
    (request,) = mail_requests(event, portal_url="https://p.example.org", policy=renderer.policy)
    assert request.data["days"] == 21
    mail = renderer.render(request.template, "en", request.data)
    assert last_day(expires, tz).isoformat() == "2027-02-21"
    assert "February 21, 2027" in flat(mail.text)
    assert "within 21 days" in flat(mail.text)
