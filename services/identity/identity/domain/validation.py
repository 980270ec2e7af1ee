"""District rules on the commands: every broken rule becomes a field-level error (a
message code with parameters, translated at the edge), all reported at once."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from identity.domain.commands import (
    Address,
    Phones,
    Register,
    SecurityAnswer,
    UpdateProfile,
)
from identity.domain.normalise import (
    domain_is_forbidden,
    has_control_characters,
    is_valid_email,
    is_valid_name,
    normalise_answer,
    normalise_email,
    normalise_name,
    phone_digits,
)
from identity.domain.passwords import check_password
from identity.domain.questions import QUESTIONS
from shared.contracts.events import Phone, PostalAddress
from shared.contracts.phones import e164
from shared.runtime.policy import DistrictPolicy, SecurityQuestionPolicy

US_STATES = frozenset(
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH "
    "NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR VI GU AS MP AA AE AP".split()
)
_ZIP = re.compile(r"^\d{5}(-\d{4})?$")
_EXTENSION = re.compile(r"^\d{1,10}$")


@dataclass(frozen=True)
class FieldError:
    """A broken rule on one field (dotted path), as a message code and parameters."""

    field: str
    code: str
    params: dict[str, Any] = dc_field(default_factory=dict)


class ValidationFailed(Exception):
    """One or more field errors; the edge answers 422 with all of them."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(", ".join(f"{e.field}:{e.code}" for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class Registration:
    """A registration that passed every rule, normalised for storage."""

    email: str
    password: str
    first_name: str
    last_name: str
    locale: str
    phones: dict[str, Any]
    secondary_email: str | None
    address: dict[str, Any]
    answers: list[tuple[str, str]]
    student_claims: list[dict[str, str]]
    captcha_token: str | None


def check_locale(raw: str | None, policy: DistrictPolicy, errors: list[FieldError]) -> str:
    """The locale as stored (a language the district offers)."""
    if raw is None:
        return policy.default_locale
    base = raw.strip().lower().replace("_", "-").split("-")[0]
    if base not in policy.locales:
        errors.append(FieldError("locale", "locale_unsupported"))
        return policy.default_locale
    return base


def check_primary_email(raw: str, policy: DistrictPolicy, errors: list[FieldError]) -> str:
    """The normalised username email; forbidden domains are refused."""
    email = normalise_email(raw)
    if not is_valid_email(email):
        errors.append(FieldError("email", "invalid_email"))
    elif (domain := domain_is_forbidden(email, policy.forbidden_email_domains)) is not None:
        errors.append(FieldError("email", "email_forbidden_domain", {"domain": domain}))
    return email


def check_secondary_email(
    raw: str | None, primary: str, errors: list[FieldError]
) -> str | None:
    """The normalised secondary email (optional; must differ from the primary)."""
    if raw is None or not raw.strip():
        return None
    email = normalise_email(raw)
    if not is_valid_email(email):
        errors.append(FieldError("secondary_email", "invalid_email"))
    elif email == primary:
        errors.append(FieldError("secondary_email", "secondary_email_same"))
    return email


def check_name(raw: str, name: str, errors: list[FieldError]) -> str:
    """A trimmed person name with at least one letter."""
    value = normalise_name(raw)
    if not value:
        errors.append(FieldError(name, "missing"))
    elif not is_valid_name(value):
        errors.append(FieldError(name, "name_invalid"))
    return value


def _number(raw: str, path: str, errors: list[FieldError]) -> str:
    digits = phone_digits(raw)
    if digits is None or not 7 <= len(digits) <= 15:
        errors.append(FieldError(path, "phone_number_invalid"))
        return raw
    return digits


def check_phones(phones: Phones, errors: list[FieldError], prefix: str = "phones") -> dict[str, Any]:
    """Phones as stored: digits only, ``None`` for N/A, home possibly "same as mobile"."""
    out: dict[str, Any] = {"mobile": None, "home": None, "work": None, "emergency": None}
    given: set[str] = set()
    if phones.mobile is not None:
        out["mobile"] = {
            "number": _number(phones.mobile.number, f"{prefix}.mobile.number", errors),
            "unlisted": phones.mobile.unlisted,
            "sms": phones.mobile.sms,
        }
        given.add("mobile")
    if phones.home is not None:
        home = phones.home
        if home.same_as_mobile:
            if phones.mobile is None:
                errors.append(FieldError(f"{prefix}.home.same_as_mobile", "home_needs_mobile"))
            out["home"] = {"same_as_mobile": True, "number": None, "unlisted": home.unlisted}
        elif home.number is None or not home.number.strip():
            errors.append(FieldError(f"{prefix}.home.number", "home_number_required"))
        else:
            out["home"] = {
                "same_as_mobile": False,
                "number": _number(home.number, f"{prefix}.home.number", errors),
                "unlisted": home.unlisted,
            }
        given.add("home")
    if phones.work is not None:
        ext = phones.work.extension
        if ext is not None:
            ext = ext.strip() or None
            if ext is not None and not _EXTENSION.match(ext):
                errors.append(FieldError(f"{prefix}.work.extension", "phone_extension_invalid"))
        out["work"] = {
            "number": _number(phones.work.number, f"{prefix}.work.number", errors),
            "extension": ext,
            "unlisted": phones.work.unlisted,
        }
        given.add("work")
    if phones.emergency is not None:
        if phones.emergency not in given:
            errors.append(FieldError(f"{prefix}.emergency", "emergency_not_given"))
        out["emergency"] = phones.emergency
    elif given:
        errors.append(FieldError(f"{prefix}.emergency", "emergency_required"))
    return out


def phones_for_event(stored: dict[str, Any] | None) -> list[Phone]:
    """The stored phones as the events' ``Phone`` list (home "same as mobile" resolved),
    each with its E.164 form and SMS consent (only the mobile can consent to texts)."""
    if not stored:
        return []
    out: list[Phone] = []
    mobile = stored.get("mobile")
    if mobile:
        out.append(
            Phone(kind="mobile", number=mobile["number"], unlisted=mobile["unlisted"],
                  e164=e164(mobile["number"]), sms=bool(mobile.get("sms")))
        )
    home = stored.get("home")
    if home:
        number = mobile["number"] if home.get("same_as_mobile") and mobile else home.get("number")
        if number:
            out.append(Phone(kind="home", number=number, unlisted=home["unlisted"],
                             e164=e164(number), sms=False))
    work = stored.get("work")
    if work:
        out.append(
            Phone(kind="work", number=work["number"], extension=work.get("extension"),
                  unlisted=work["unlisted"], e164=e164(work["number"]), sms=False)
        )
    return out


def contact_for_event(account: Mapping[str, Any]) -> dict[str, Any]:
    """The rest of the contact block the account events carry for the SIS (issue 20):
    emergency phone, secondary email and postal address, as stored."""
    address = account.get("address")
    return {
        "emergency_phone": (account.get("phones") or {}).get("emergency"),
        "secondary_email": account.get("secondary_email"),
        "address": PostalAddress.model_validate(address) if address else None,
    }


def check_address(address: Address, errors: list[FieldError], prefix: str = "address") -> dict[str, Any]:
    """A US postal address as stored (state upper-cased)."""
    out: dict[str, Any] = {}
    for name in ("street", "apt", "city"):
        raw = getattr(address, name)
        value = normalise_name(raw) if raw is not None else None
        if name != "apt" and not value:
            errors.append(FieldError(f"{prefix}.{name}", "missing"))
        elif value and has_control_characters(value):
            errors.append(FieldError(f"{prefix}.{name}", "text_invalid"))
        out[name] = value or None
    state = address.state.strip().upper()
    if state not in US_STATES:
        errors.append(FieldError(f"{prefix}.state", "state_invalid"))
    out["state"] = state
    zip_code = address.zip.strip()
    if not _ZIP.match(zip_code):
        errors.append(FieldError(f"{prefix}.zip", "zip_invalid"))
    out["zip"] = zip_code
    return out


def check_answers(
    answers: list[SecurityAnswer],
    policy: SecurityQuestionPolicy,
    errors: list[FieldError],
    name: str = "security_answers",
) -> list[tuple[str, str]]:
    """``(question_id, normalised answer)`` pairs sorted by question id."""
    if policy.count == 0:
        if answers:
            errors.append(FieldError(name, "security_questions_disabled"))
        return []
    if len(answers) != policy.count:
        errors.append(FieldError(name, "security_answers_count", {"count": policy.count}))
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    for i, item in enumerate(answers):
        if item.question_id not in QUESTIONS:
            errors.append(FieldError(f"{name}.{i}.question_id", "security_question_unknown"))
        elif item.question_id in seen:
            errors.append(FieldError(f"{name}.{i}.question_id", "security_question_duplicate"))
        seen.add(item.question_id)
        answer = normalise_answer(item.answer)
        if len(answer) < policy.min_answer_length:
            errors.append(
                FieldError(f"{name}.{i}.answer", "security_answer_too_short",
                           {"min": policy.min_answer_length})
            )
        out.append((item.question_id, answer))
    return sorted(out)


def answers_secret(pairs: list[tuple[str, str]]) -> str:
    """The one string hashed for a set of answers: every answer must be right together
    (an attacker cannot confirm them one at a time)."""
    return "\x1f".join(f"{qid}\x1e{answer}" for qid, answer in sorted(pairs))


def password_errors(
    password: str, policy: DistrictPolicy, user_inputs: list[str], name: str = "password"
) -> list[FieldError]:
    """Field errors for every password rule broken."""
    return [FieldError(name, v.code, v.params) for v in check_password(password, policy.password, user_inputs)]


def user_inputs_for(email: str, first_name: str, last_name: str) -> list[str]:
    """Words a password must not lean on (zxcvbn penalises them)."""
    return [email, email.partition("@")[0], first_name, last_name]


def validate_registration(cmd: Register, policy: DistrictPolicy) -> Registration:
    """Apply every district rule to a registration; :class:`ValidationFailed` lists all
    broken ones."""
    errors: list[FieldError] = []
    email = check_primary_email(cmd.email, policy, errors)
    first = check_name(cmd.first_name, "first_name", errors)
    last = check_name(cmd.last_name, "last_name", errors)
    errors += password_errors(cmd.password, policy, user_inputs_for(email, first, last))
    locale = check_locale(cmd.locale, policy, errors)
    phones = check_phones(cmd.phones, errors)
    secondary = check_secondary_email(cmd.secondary_email, email, errors)
    address = check_address(cmd.address, errors)
    answers = check_answers(cmd.security_answers, policy.security_questions, errors)
    if not cmd.accepted_usage_policy:
        errors.append(FieldError("accepted_usage_policy", "usage_policy_required"))
    claims: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for i, claim in enumerate(cmd.student_claims):
        key = (claim.school_id, claim.student_id)
        if key in seen:
            errors.append(FieldError(f"student_claims.{i}", "student_claim_duplicate"))
        seen.add(key)
        last_name = normalise_name(claim.student_last_name)
        if not is_valid_name(last_name):
            errors.append(FieldError(f"student_claims.{i}.student_last_name", "name_invalid"))
        claims.append({"school_id": claim.school_id, "student_id": claim.student_id,
                       "student_last_name": last_name})
    if errors:
        raise ValidationFailed(errors)
    return Registration(
        email=email, password=cmd.password, first_name=first, last_name=last, locale=locale,
        phones=phones, secondary_email=secondary, address=address, answers=answers,
        student_claims=claims, captcha_token=cmd.captcha_token,
    )


NOTIFICATION_KINDS = frozenset({"link_updates", "reminders", "account"})


def validate_profile_update(
    cmd: UpdateProfile,
    policy: DistrictPolicy,
    primary_email: str,
    current_phones: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The fields a profile update sets (only those given); the email is immutable."""
    errors: list[FieldError] = []
    given = cmd.model_fields_set
    out: dict[str, Any] = {}
    if "email" in given and cmd.email is not None and normalise_email(cmd.email) != primary_email:
        errors.append(FieldError("email", "email_immutable"))
    for name in ("first_name", "last_name"):
        if name in given:
            value = getattr(cmd, name)
            if value is None:
                errors.append(FieldError(name, "missing"))
            else:
                out[name] = check_name(value, name, errors)
    if "locale" in given:
        if cmd.locale is None:
            errors.append(FieldError("locale", "missing"))
        else:
            out["locale"] = check_locale(cmd.locale, policy, errors)
    if "phones" in given:
        out["phones"] = check_phones(cmd.phones or Phones(), errors)
    if "secondary_email" in given:
        out["secondary_email"] = check_secondary_email(cmd.secondary_email, primary_email, errors)
    if "address" in given:
        if cmd.address is None:
            errors.append(FieldError("address", "missing"))
        else:
            out["address"] = check_address(cmd.address, errors)
    if "notification_preferences" in given:
        prefs = cmd.notification_preferences
        if prefs is None:
            errors.append(FieldError("notification_preferences", "missing"))
        else:
            phones = out.get("phones", current_phones) or {}
            if "sms" in prefs.channels and not (phones.get("mobile") or {}).get("sms"):
                errors.append(FieldError("notification_preferences.channels", "sms_needs_mobile"))
            if any(kind not in NOTIFICATION_KINDS for kind in prefs.kinds):
                errors.append(FieldError("notification_preferences.kinds", "invalid_choice"))
            out["notification_preferences"] = prefs.model_dump()
    if errors:
        raise ValidationFailed(errors)
    return out
