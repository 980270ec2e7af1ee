"""District policy as data (``DISTRICT_POLICY_FILE``, YAML), validated at start.

One model shared by every service so that they read the same file: identity uses the
password, email-domain, security-question and token rules; linking the link deadline,
required student fields and methods, and how staff sign-in claims map to schools and the
district-admin role; the scheduler the deadlines and inactivity thresholds; the notifier
the locales, branding and sender.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from shared.deadlines import zone

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


class MailRequestPolicy(_Strict):
    """Limits on the unauthenticated requests that send an email (verification resend,
    password reset): per email and per client address in a fixed window; once two links
    of a kind were sent within ``coalesce_minutes``, further requests send none (a flood
    cannot push a guardian's valid link out of the ones kept)."""

    max_per_email: int = Field(10, ge=1)
    #: High enough for many families behind one school or library address.
    max_per_address: int = Field(100, ge=1)
    window_minutes: float = Field(60, gt=0)
    coalesce_minutes: float = Field(5, ge=0)


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


#: A claim name, or a dotted path into nested claims (``realm_access.roles``).
_CLAIM_PATH = re.compile(r"^[^.\s]+(\.[^.\s]+)*$")


def _claim_path(value: str) -> str:
    value = value.strip()
    if not _CLAIM_PATH.match(value):
        raise ValueError(f"{value!r} is not a claim name or a dotted path of claim names")
    return value


ClaimPath = Annotated[str, AfterValidator(_claim_path)]
#: A short machine name (``drivers_license``).
IdName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,64}$")]


def claim_values(claims: Mapping[str, Any], claim: str) -> list[str] | None:
    """The string values of ``claim`` in a token's claims: a top-level claim of that exact
    name first (namespaced claims such as ``https://district.example/schools`` contain
    dots), else the dotted path into nested objects. A string counts as one value, a list
    keeps its strings; ``None`` when the claim is absent."""
    value: Any
    if claim in claims:
        value = claims[claim]
    else:
        value = claims
        for part in claim.split("."):
            if not isinstance(value, Mapping) or part not in value:
                return None
            value = value[part]
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


class SchoolClaimRule(_Strict):
    """One claim of the staff token that names schools the staff member acts for.

    Its values are school ids as they are (a Keycloak ``schools`` user attribute), or go
    through ``values`` (Entra ID group object ids or Google group addresses mapped to
    school ids), or through ``pattern`` (a regular expression whose named group ``school``
    is the school id, e.g. ``^school-(?P<school>\\d{4})-staff$``). Values that match
    nothing are ignored: a staff member is in many groups that are not schools.
    """

    claim: ClaimPath
    values: dict[str, str] = Field(default_factory=dict)
    pattern: str | None = None

    @field_validator("values")
    @classmethod
    def _school_ids(cls, value: dict[str, str]) -> dict[str, str]:
        cleaned = {k.strip(): v.strip() for k, v in value.items()}
        for key, school in cleaned.items():
            if not key or not school or len(school) > 64:
                raise ValueError(f"value {key!r}: needs a school id of 1 to 64 characters")
        return cleaned

    @field_validator("pattern")
    @classmethod
    def _has_school_group(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"pattern is not a regular expression: {exc}") from None
        if "school" not in compiled.groupindex:
            raise ValueError("pattern needs a named group (?P<school>...) for the school id")
        return value

    @model_validator(mode="after")
    def _one_way(self) -> SchoolClaimRule:
        if self.values and self.pattern:
            raise ValueError("give either values or pattern, not both")
        return self

    def schools(self, claims: Mapping[str, Any]) -> set[str]:
        """The school ids this rule finds in ``claims``."""
        found: set[str] = set()
        for value in claim_values(claims, self.claim) or []:
            if self.values:
                school = self.values.get(value.strip())
            elif self.pattern:
                match = re.fullmatch(self.pattern, value.strip())
                school = match.group("school") if match else None
            else:
                school = value.strip()
            if school and len(school) <= 64:
                found.add(school)
        return found


class AdminClaimRule(_Strict):
    """A claim whose value (one of ``values``) makes the staff member a district admin:
    an Entra ID app role or group id, a Keycloak realm role, a Google group address."""

    claim: ClaimPath
    values: list[str] = Field(min_length=1)

    @field_validator("values")
    @classmethod
    def _non_empty(cls, value: list[str]) -> list[str]:
        cleaned = [v.strip() for v in value]
        if not all(cleaned):
            raise ValueError("values must not be empty strings")
        return cleaned

    def matches(self, claims: Mapping[str, Any]) -> bool:
        """True when the claim holds one of the values."""
        held = {v.strip() for v in claim_values(claims, self.claim) or []}
        return bool(held.intersection(self.values))


@dataclass(frozen=True)
class StaffAccess:
    """What a staff token allows, read through :class:`StaffPolicy`."""

    staff_id: str
    schools: frozenset[str]
    district_admin: bool
    #: Why no school was found (shown to the staff member), when ``schools`` is empty.
    missing: str | None = None


class StaffPolicy(_Strict):
    """How the district identity provider's claims map to schools and the district-admin
    role (linking applies it to every staff token; docs/operations/staff-sign-in.md shows
    Entra ID, Google Workspace and Keycloak set-ups).

    The bundled default reads what the local Keycloak realm issues: a ``schools`` claim
    (a user attribute) and the realm role ``district-admin``.
    """

    school_claims: list[SchoolClaimRule] = Field(
        default_factory=lambda: [SchoolClaimRule(claim="schools")], min_length=1
    )
    district_admin_claims: list[AdminClaimRule] = Field(
        default_factory=lambda: [
            AdminClaimRule(claim="realm_access.roles", values=["district-admin"])
        ]
    )
    #: The claim that names the staff member in the audit trail (``approved_by``...):
    #: ``sub`` everywhere; ``oid`` (Entra ID) or ``preferred_username`` read better.
    staff_id_claim: ClaimPath = "sub"
    #: The photo ID documents a school may record when it approves in person (ids; the
    #: staff console names the known ones in the staff member's language).
    id_document_types: list[IdName] = Field(
        default_factory=lambda: [
            "drivers_license",
            "state_id",
            "passport",
            "military_id",
            "consular_id",
            "other_government_id",
        ],
        min_length=1,
    )

    def access(self, claims: Mapping[str, Any]) -> StaffAccess | None:
        """The staff member's schools and role; ``None`` when the token has no usable
        ``staff_id_claim``."""
        ids = claim_values(claims, self.staff_id_claim)
        if not ids or not ids[0].strip() or len(ids[0]) > 256:
            return None
        schools: set[str] = set()
        for rule in self.school_claims:
            schools |= rule.schools(claims)
        admin = any(rule.matches(claims) for rule in self.district_admin_claims)
        missing = None
        if not schools:
            missing = self._why_no_school(claims)
        return StaffAccess(ids[0].strip(), frozenset(schools), admin, missing)

    def _why_no_school(self, claims: Mapping[str, Any]) -> str:
        names = claims.get("_claim_names")
        for rule in self.school_claims:
            if isinstance(names, Mapping) and rule.claim in names:
                # Entra ID leaves out "groups" past 200 groups ("overage")
                return (
                    f"the provider left the {rule.claim!r} claim out of the token "
                    "(too many groups): emit only the groups assigned to the application"
                )
        wanted = ", ".join(repr(r.claim) for r in self.school_claims)
        return f"no school in the token's {wanted} claim"


class DistrictPolicy(_Strict):
    """Everything a district configures."""

    name: str = "duval"
    #: IANA zone of the district: every deadline is a local day that ends at local
    #: midnight (shared/deadlines.py), and emails print dates and times in it.
    time_zone: str = "America/New_York"
    password: PasswordPolicy = Field(default_factory=PasswordPolicy)
    forbidden_email_domains: list[str] = Field(default_factory=list)
    security_questions: SecurityQuestionPolicy = Field(default_factory=SecurityQuestionPolicy)
    tokens: TokenPolicy = Field(default_factory=TokenPolicy)
    sign_in: SignInPolicy = Field(default_factory=SignInPolicy)
    mail_requests: MailRequestPolicy = Field(default_factory=MailRequestPolicy)
    links: LinkPolicy = Field(default_factory=LinkPolicy)
    inactivity: InactivityPolicy = Field(default_factory=InactivityPolicy)
    locales: list[LocaleName] = Field(default_factory=lambda: list(ALL_LOCALES))
    default_locale: str = "en"
    branding: Branding = Field(default_factory=Branding)
    staff: StaffPolicy = Field(default_factory=StaffPolicy)

    @model_validator(mode="after")
    def _default_locale_offered(self) -> DistrictPolicy:
        if self.default_locale not in self.locales:
            raise ValueError(f"default_locale {self.default_locale!r} is not in locales")
        return self

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zone(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r}: use an IANA name such as America/Chicago"
            ) from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        """The district's time zone."""
        return zone(self.time_zone)

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
