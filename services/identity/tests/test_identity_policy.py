"""Every password and policy rule, on both presets (Duval's and NIST SP 800-63B-4)."""

from __future__ import annotations

from pathlib import Path

import pytest
from identity.domain.passwords import check_password, common_passwords, strength_score

from shared.runtime.policy import (
    DEFAULT_POLICY,
    NIST_POLICY,
    DistrictPolicy,
    PasswordPolicy,
    PolicyError,
    load_policy,
)

DUVAL = load_policy(DEFAULT_POLICY)
NIST = load_policy(NIST_POLICY)


def codes(password: str, policy: DistrictPolicy, inputs: list[str] | None = None) -> set[str]:
    return {v.code for v in check_password(password, policy.password, inputs)}


# --- Duval: 8–16 characters, digit, letter, lower, upper, special from the set ---------

@pytest.mark.parametrize(("password", "expected"), [
    ("Secr3t!pw", set()),
    ("Aa1!aaaa", set()),  # exactly 8
    ("Aa1!aaaaaaaaaaaa", set()),  # exactly 16
    ("Aa1!aaa", {"password_too_short"}),
    ("Aa1!aaaaaaaaaaaaa", {"password_too_long"}),
    ("Secret!pw", {"password_missing_digit"}),
    ("12345678!", {"password_missing_letter", "password_missing_lower", "password_missing_upper"}),
    ("SECR3T!PW", {"password_missing_lower"}),
    ("secr3t!pw", {"password_missing_upper"}),
    ("Secr3tpw9", {"password_missing_special"}),
    ("Secr3t~pw", {"password_missing_special"}),  # ~ is not in Duval's set
    ("Secr3t@pw", set()),
    ("Secr3t\\pw", set()),
    ("Secr3t^pw", set()),
    ("", {"password_too_short", "password_missing_digit", "password_missing_letter",
          "password_missing_lower", "password_missing_upper", "password_missing_special"}),
])
def test_duval_rules(password: str, expected: set[str]) -> None:
    assert codes(password, DUVAL) == expected


def test_duval_has_no_blocklist_and_reports_the_special_set() -> None:
    assert codes("Password1!", DUVAL) == set()  # common, but Duval's rules do not check
    violation = check_password("Secr3tpw9", DUVAL.password)[0]
    assert violation.params == {"chars": DUVAL.password.special_characters}
    assert check_password("Aa1!", DUVAL.password)[0].params == {"min": 8}


def test_duval_policy_values() -> None:
    assert DUVAL.forbidden_email_domains == ["duvalschools.org"]
    assert (DUVAL.security_questions.count, DUVAL.security_questions.min_answer_length) == (3, 4)
    assert DUVAL.tokens.verification_hours == 24 and DUVAL.tokens.reset_minutes == 60
    assert DUVAL.locales == ["en", "es", "vi", "ar", "so", "ht"]


# --- NIST SP 800-63B-4 / OWASP ASVS 5.0: 15–128, no composition, blocklist -------------

@pytest.mark.parametrize(("password", "expected"), [
    ("correct horse battery staple", set()),
    ("glacier umbrella saxophone", set()),
    ("all lower case words here ok", set()),  # no composition rules
    ("tangerine-pivot", set()),  # exactly 15
    ("short pass 14c", {"password_too_short"}),
    ("x7#" * 43, {"password_too_long"}),  # 129
    ("passwordpassword", {"password_too_weak"}),
    ("123456789012345", {"password_too_weak"}),
    ("111222333444555", {"password_common"}),  # in zxcvbn's dictionary
    ("1qazxsw23edcvfr4", {"password_common"}),
    ("aaaaaaaaaaaaaaaa", {"password_too_weak"}),
])
def test_nist_rules(password: str, expected: set[str]) -> None:
    assert codes(password, NIST) == expected


def test_nist_accepts_64_characters_and_unicode() -> None:
    assert codes("ñandú " * 10 + "tigre", NIST) == set()
    assert len("a" * 64) == 64 and "password_too_long" not in codes("q7Zr" * 16, NIST)


def test_nist_blocklist_comes_from_zxcvbn_dictionary() -> None:
    assert "password" in common_passwords() and len(common_passwords()) > 10_000
    assert codes("qwertyuiopasdfgh", NIST) >= {"password_too_weak"} or codes(
        "qwertyuiopasdfgh", NIST) == {"password_common"}


def test_nist_penalises_the_guardians_own_details() -> None:
    inputs = ["zoltrax.quimby@example.net", "Zoltrax", "Quimby"]
    assert strength_score("zoltraxquimby24", inputs) < strength_score("zoltraxquimby24")
    assert "password_too_weak" in codes("zoltrax.quimby@example.net", NIST, inputs)


def test_nist_policy_has_no_security_questions() -> None:
    assert NIST.security_questions.count == 0
    assert not any([NIST.password.require_digit, NIST.password.require_letter,
                    NIST.password.require_lower, NIST.password.require_upper,
                    NIST.password.require_special])
    assert NIST.password.blocklist and NIST.password.min_length == 15
    assert NIST.password.max_length >= 64
    # Everything else (read by the other services) keeps compatible values.
    assert NIST.links.deadline_days == DUVAL.links.deadline_days
    assert NIST.inactivity == DUVAL.inactivity and NIST.locales == DUVAL.locales


# --- the policy file itself -----------------------------------------------------------

def test_invalid_policy_files_are_refused_with_clear_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("password: {min_length: 20, max_length: 10}\n")
    with pytest.raises(PolicyError, match="min_length must not exceed max_length"):
        load_policy(bad)
    bad.write_text("password: {minimum: 3}\n")
    with pytest.raises(PolicyError, match=r"password\.minimum"):
        load_policy(bad)
    bad.write_text("inactivity: {disable_after_months: 6, delete_after_months: 6}\n")
    with pytest.raises(PolicyError, match="delete_after_months"):
        load_policy(bad)
    bad.write_text("locales: [en]\ndefault_locale: es\n")
    with pytest.raises(PolicyError, match="default_locale"):
        load_policy(bad)
    bad.write_text("password: [\n")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(bad)
    with pytest.raises(PolicyError, match="does not exist"):
        load_policy(tmp_path / "missing.yaml")


def test_forbidden_domains_are_normalised(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("forbidden_email_domains: [' @DuvalSchools.ORG ']\n")
    assert load_policy(path).forbidden_email_domains == ["duvalschools.org"]


def test_special_rule_needs_a_set() -> None:
    with pytest.raises(ValueError, match="special_characters"):
        PasswordPolicy(special_characters="")
