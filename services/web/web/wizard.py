"""The registration wizard as data: its steps, which form fields each step owns, how a
draft becomes identity's registration body, and which step an API error belongs to.

Form fields are named by the API's dotted paths (``phones.mobile.number``,
``security_answers.0.answer``), so a problem's ``errors[].field`` names the input it
concerns without a mapping table. Pure functions: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from babel.support import NullTranslations


def N_(message: str) -> str:
    """Marks ``message`` for the catalogs; translated where it is shown."""
    return message


#: ``(slug, title)`` in order.
STEPS: tuple[tuple[str, str], ...] = (
    ("welcome", N_("Welcome")),
    ("usage-policy", N_("Usage Policy")),
    ("account", N_("Account Information")),
    ("personal", N_("Personal Information")),
    ("security", N_("Security Questions")),
    ("students", N_("Student Information")),
    ("review", N_("Confirmation")),
    ("done", N_("Completion")),
)
SLUGS = tuple(slug for slug, _ in STEPS)
#: The most children one registration may name (identity's limit).
MAX_CLAIMS = 10
#: Longest value kept for any one field (identity's largest field limit is 1024).
MAX_FIELD = 1024

ACCOUNT_FIELDS = ("email", "first_name", "last_name", "password", "password_confirm")
PERSONAL_FIELDS = (
    "phones.mobile.number", "phones.mobile.unlisted", "phones.mobile.sms",
    "phones.home.choice", "phones.home.number", "phones.home.unlisted",
    "phones.work.number", "phones.work.extension", "phones.work.unlisted",
    "phones.emergency", "secondary_email",
    "address.street", "address.apt", "address.city", "address.state", "address.zip",
)  # fmt: skip
CHECKBOXES = frozenset(
    {"accepted_usage_policy", "phones.mobile.unlisted", "phones.mobile.sms",
     "phones.home.unlisted", "phones.work.unlisted"}
)  # fmt: skip
REQUIRED = {
    "account": ("email", "first_name", "last_name", "password", "password_confirm"),
    "personal": ("address.street", "address.city", "address.state", "address.zip"),
}
CLAIM_FIELDS = ("school_id", "student_id", "student_last_name")


def step_fields(slug: str, question_count: int) -> tuple[str, ...]:
    """The form fields a step owns (what its POST may change in the draft)."""
    if slug == "usage-policy":
        return ("accepted_usage_policy",)
    if slug == "account":
        return ACCOUNT_FIELDS
    if slug == "personal":
        return PERSONAL_FIELDS
    if slug == "security":
        return tuple(
            f"security_answers.{i}.{part}"
            for i in range(question_count)
            for part in ("question_id", "answer")
        )
    if slug == "students":
        return ("student_choice",)
    return ()


def step_of_field(field: str) -> str:
    """The wizard step where the guardian can correct ``field`` (an API error path)."""
    head = field.split(".", 1)[0]
    if head == "accepted_usage_policy":
        return "usage-policy"
    if head in ("email", "first_name", "last_name", "password", "locale"):
        return "account"
    if head in ("phones", "secondary_email", "address"):
        return "personal"
    if head == "security_answers":
        return "security"
    if head == "student_claims":
        return "students"
    return "review"


def clean(value: str) -> str:
    """A form value as kept: no NUL, at most :data:`MAX_FIELD` characters."""
    return value.replace("\x00", "")[:MAX_FIELD]


def take(form: Mapping[str, str], slug: str, question_count: int) -> dict[str, Any]:
    """The step's values from a submitted form (unchecked boxes are ``False``)."""
    values: dict[str, Any] = {}
    for name in step_fields(slug, question_count):
        if name in CHECKBOXES:
            values[name] = name in form
        elif name in ("password", "password_confirm"):
            values[name] = clean(form.get(name, ""))  # passwords as typed
        else:
            values[name] = clean(form.get(name, "")).strip()
    return values


def local_errors(slug: str, draft: Mapping[str, Any], gettext: NullTranslations) -> dict[str, str]:
    """What the page can say before asking the API: required fields, the policy box,
    the password confirmation. Everything else is identity's to judge, at Finish."""
    _ = gettext.gettext
    errors: dict[str, str] = {}
    for name in REQUIRED.get(slug, ()):
        if not draft.get(name):
            errors[name] = _("This field is required.")
    if slug == "usage-policy" and not draft.get("accepted_usage_policy"):
        errors["accepted_usage_policy"] = _("Accept the usage policy to continue.")
    if (
        slug == "account"
        and draft.get("password")
        and draft.get("password_confirm")
        and draft.get("password") != draft.get("password_confirm")
    ):
        errors["password_confirm"] = _("The two passwords are not the same.")
    if (
        slug == "personal"
        and draft.get("phones.home.choice") == "number"
        and not draft.get("phones.home.number")
    ):
        errors["phones.home.number"] = _("This field is required.")
    if (
        slug == "students"
        and draft.get("student_choice") == "claim"
        and not draft.get("student_claims")
    ):
        errors["new_claim.school_id"] = _("Add at least one student, or choose no student now.")
    return errors


def claim_errors(form: Mapping[str, str], gettext: NullTranslations) -> dict[str, str]:
    """Missing fields of a child being added (``new_claim.*``)."""
    _ = gettext.gettext
    return {
        f"new_claim.{name}": _("This field is required.")
        for name in CLAIM_FIELDS
        if not clean(form.get(f"new_claim.{name}", "")).strip()
    }


def _none_if_empty(value: Any) -> Any:
    return value if value else None


def registration_body(
    draft: Mapping[str, Any], *, locale: str, question_count: int
) -> dict[str, Any]:
    """identity's registration body (contract §4, exactly these names) from a draft."""
    get = draft.get
    mobile = (
        {"number": get("phones.mobile.number"), "unlisted": bool(get("phones.mobile.unlisted")),
         "sms": bool(get("phones.mobile.sms"))}
        if get("phones.mobile.number") else None
    )  # fmt: skip
    choice = get("phones.home.choice") or "na"
    home: dict[str, Any] | None
    if choice == "same":
        home = {"same_as_mobile": True}
    elif choice == "number":
        home = {"number": get("phones.home.number") or "",
                "unlisted": bool(get("phones.home.unlisted"))}  # fmt: skip
    else:
        home = None
    work = (
        {"number": get("phones.work.number"), "extension": _none_if_empty(get("phones.work.extension")),
         "unlisted": bool(get("phones.work.unlisted"))}
        if get("phones.work.number") else None
    )  # fmt: skip
    claims = list(get("student_claims") or []) if get("student_choice") == "claim" else []
    return {
        "email": get("email") or "",
        "password": get("password") or "",
        "first_name": get("first_name") or "",
        "last_name": get("last_name") or "",
        "locale": locale,
        "phones": {
            "mobile": mobile,
            "home": home,
            "work": work,
            "emergency": _none_if_empty(get("phones.emergency")),
        },
        "secondary_email": _none_if_empty(get("secondary_email")),
        "address": {
            "street": get("address.street") or "",
            "apt": _none_if_empty(get("address.apt")),
            "city": get("address.city") or "",
            "state": (get("address.state") or "").upper(),
            "zip": get("address.zip") or "",
        },
        "security_answers": [
            {
                "question_id": get(f"security_answers.{i}.question_id") or "",
                "answer": get(f"security_answers.{i}.answer") or "",
            }
            for i in range(question_count)
        ],
        "accepted_usage_policy": bool(get("accepted_usage_policy")),
        "captcha_token": None,
        "student_claims": [
            {name: claim.get(name, "") for name in CLAIM_FIELDS} for claim in claims
        ],
    }


def first_step_with_errors(errors: Mapping[str, str]) -> str:
    """The earliest wizard step that owns one of ``errors``' fields."""
    steps = {step_of_field(field) for field in errors}
    for slug in SLUGS:
        if slug in steps:
            return slug
    return "review"
