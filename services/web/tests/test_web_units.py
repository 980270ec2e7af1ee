"""Pure parts of the web front end: the wizard, sessions, languages, catalogs."""

from __future__ import annotations

from web import wizard
from web.catalogs import TRANSLATED_LOCALES, extract, problems
from web.i18n import best_locale, text_direction
from web.sessions import SessionStore


def test_every_language_is_complete() -> None:
    template = extract()
    assert len(template) > 100
    found = [p for locale in TRANSLATED_LOCALES for p in problems(locale, template)]
    assert found == []


def test_api_fields_map_to_their_step() -> None:
    assert wizard.step_of_field("phones.mobile.number") == "personal"
    assert wizard.step_of_field("security_answers.1.answer") == "security"
    assert wizard.step_of_field("student_claims.0.school_id") == "students"
    assert wizard.step_of_field("password") == "account"
    assert wizard.step_of_field("captcha_token") == "review"
    assert wizard.first_step_with_errors({"address.zip": "x", "email": "y"}) == "account"


def test_phones_na_and_home_number() -> None:
    body = wizard.registration_body(
        {"phones.home.choice": "number", "phones.home.number": "9045550101",
         "phones.work.number": "9045550102", "phones.work.extension": "12",
         "phones.emergency": "work", "student_choice": "none",
         "student_claims": [{"school_id": "1", "student_id": "2", "student_last_name": "x"}]},
        locale="en", question_count=0,
    )  # fmt: skip
    assert body["phones"] == {
        "mobile": None,
        "home": {"number": "9045550101", "unlisted": False},
        "work": {"number": "9045550102", "extension": "12", "unlisted": False},
        "emergency": "work",
    }
    assert body["student_claims"] == [] and body["security_answers"] == []


def test_form_values_are_bounded() -> None:
    values = wizard.take({"email": " a\x00b@example.net " + "x" * 5000}, "account", 3)
    assert "\x00" not in values["email"] and len(values["email"]) <= wizard.MAX_FIELD


def test_languages() -> None:
    offered = ["en", "es", "vi", "ar", "so", "ht"]
    assert best_locale(offered, "ht", "es") == "ht"
    assert best_locale(offered, "xx", "fr-FR, so;q=0.5") == "so"
    assert best_locale(offered, None, None) == "en"
    assert text_direction("ar") == "rtl" and text_direction("so") == "ltr"


def test_sessions_expire_when_idle_and_are_bounded() -> None:
    store = SessionStore(draft_idle_seconds=100, signed_in_idle_seconds=10, max_sessions=100)
    session = store.new(now=0)
    session.access_token = "t"
    assert store.get(session.id, now=5) is session and session.signed_in
    assert store.get(session.id, now=50) is session and not session.signed_in  # idle sign-out
    assert store.get(session.id, now=200) is None  # the draft is gone too
    for _ in range(150):
        store.new(now=0)
    assert len(store) == 100
