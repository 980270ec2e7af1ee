"""District policy as data (``DISTRICT_POLICY_FILE``, YAML), validated at start.

One model shared by every service so that they read the same file: identity uses the
password, email-domain, security-question and token rules; linking the link deadline,
required student fields and methods; the scheduler the deadlines and inactivity
thresholds; the notifier the locales, branding and sender.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

POLICY_DIR = Path(__file__).parent / "policies"
DEFAULT_POLICY = POLICY_DIR / "duval.yaml"
#: NIST SP 800-63B-4 / OWASP ASVS 5.0 preset (``DISTRICT_POLICY_FILE`` may point at it).
NIST_POLICY = POLICY_DIR / "nist-800-63b.yaml"


MethodName = Literal["in_person", "activation_code", "legacy_credentials"]
LocaleName = Literal["en", "es", "vi", "ar", "so", "ht"]
ALL_METHODS: tuple[MethodName, ...] = ("in_person", "activation_code", "legacy_credentials")
ALL_LOCALES: tuple[LocaleName, ...] = ("en", "es", "vi", "ar", "so", "ht")


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PasswordPolicy(_Strict):
    """Password rules (default: Duval's composition rules)."""

    min_length: int = Field(8, ge=1, le=256)
    max_length: int = Field(16, ge=1, le=1024)
    require_digit: bool = True
    require_letter: bool = True
    require_lower: bool = True
    require_upper: bool = True
    require_special: bool = True
    special_characters: str = "!\"#$%&'()*+,-./:;<=>?[\\]^@"
    #: Reject passwords found in the common-password blocklist / too guessable.
    blocklist: bool = False
    #: Minimum zxcvbn score (0–4) when ``blocklist`` is on.
    min_strength_score: int = Field(0, ge=0, le=4)

    @model_validator(mode="after")
    def _lengths(self) -> PasswordPolicy:
        if self.min_length > self.max_length:
            raise ValueError("min_length must not exceed max_length")
        if self.require_special and not self.special_characters:
            raise ValueError("require_special needs special_characters")
        return self


class SecurityQuestionPolicy(_Strict):
    """How many security questions a guardian answers, and how long answers are."""

    count: int = Field(3, ge=0, le=10)
    min_answer_length: int = Field(4, ge=1, le=100)
    required_for_reset: bool = False


class TokenPolicy(_Strict):
    """Lifetimes of single-use tokens and sessions."""

    verification_hours: float = Field(24, gt=0)
    reset_minutes: float = Field(60, gt=0)
    session_minutes: float = Field(15, gt=0)
    unverified_purge_days: float = Field(30, gt=0)


class SignInPolicy(_Strict):
    """Brute-force limits on sign-in."""

    max_failures_per_account: int = Field(5, ge=1)
    lockout_minutes: float = Field(15, gt=0)
    max_failures_per_address: int = Field(20, ge=1)
    address_window_minutes: float = Field(15, gt=0)


class LinkPolicy(_Strict):
    """Student linking rules."""

    deadline_days: int = Field(21, ge=1)
    reminder_days_before: int | None = Field(7, ge=1)
    methods: list[MethodName] = Field(default_factory=lambda: list(ALL_METHODS))
    #: Extra student fields a guardian must give besides school, id and last name.
    required_student_fields: list[Literal["student_first_name", "student_birth_date"]] = Field(
        default_factory=list
    )
    max_failed_matches_per_day: int = Field(10, ge=1)
    activation_code_days: int = Field(30, ge=1)


class InactivityPolicy(_Strict):
    """Account lifecycle after inactivity."""

    disable_after_months: int = Field(6, ge=1)
    delete_after_months: int = Field(13, ge=1)
    reminder_days_before_disable: int | None = Field(14, ge=1)

    @model_validator(mode="after")
    def _order(self) -> InactivityPolicy:
        if self.delete_after_months <= self.disable_after_months:
            raise ValueError("delete_after_months must be greater than disable_after_months")
        return self


class Branding(_Strict):
    """How emails look and who sends them."""

    district_name: str = "Duval County Public Schools"
    portal_name: str = "Parent Portal"
    mail_from: str = "Parent Portal <no-reply@portal.example.org>"
    support_email: str = "parentportal@example.org"
    support_phone: str = "(904) 555-0100"
    primary_color: str = "#004B87"
    logo_url: str | None = None


class DistrictPolicy(_Strict):
    """Everything a district configures."""

    name: str = "duval"
    password: PasswordPolicy = Field(default_factory=PasswordPolicy)
    forbidden_email_domains: list[str] = Field(default_factory=list)
    security_questions: SecurityQuestionPolicy = Field(default_factory=SecurityQuestionPolicy)
    tokens: TokenPolicy = Field(default_factory=TokenPolicy)
    sign_in: SignInPolicy = Field(default_factory=SignInPolicy)
    links: LinkPolicy = Field(default_factory=LinkPolicy)
    inactivity: InactivityPolicy = Field(default_factory=InactivityPolicy)
    locales: list[LocaleName] = Field(default_factory=lambda: list(ALL_LOCALES))
    default_locale: str = "en"
    branding: Branding = Field(default_factory=Branding)

    @model_validator(mode="after")
    def _default_locale_offered(self) -> DistrictPolicy:
        if self.default_locale not in self.locales:
            raise ValueError(f"default_locale {self.default_locale!r} is not in locales")
        return self

    @field_validator("forbidden_email_domains")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return [d.strip().lower().lstrip("@") for d in value]


class PolicyError(ValueError):
    """The policy file is missing or invalid; the message says where and why."""


def load_policy(path: Path | None = None) -> DistrictPolicy:
    """Load and validate a policy file (the bundled Duval policy when ``path`` is None)."""
    path = path or DEFAULT_POLICY
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise PolicyError(f"DISTRICT_POLICY_FILE {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"DISTRICT_POLICY_FILE {path} is not valid YAML: {exc}") from None
    try:
        return DistrictPolicy.model_validate(data)
    except ValidationError as exc:
        lines = [
            f"  {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)
        ]
        raise PolicyError(f"DISTRICT_POLICY_FILE {path} is invalid:\n" + "\n".join(lines)) from None
