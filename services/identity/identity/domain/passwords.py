"""Password rules of the district policy (Duval's composition rules or the NIST SP
800-63B-4 / OWASP ASVS 5.0 preset: length, no composition, blocklist).

The blocklist is the common-password dictionary shipped with the maintained ``zxcvbn``
library (30,000 most common passwords) plus zxcvbn's guessability score, which also
penalises the guardian's own email and names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from shared.runtime.policy import PasswordPolicy

#: zxcvbn's cost grows quickly with length; its score is computed on this prefix.
_SCORE_PREFIX = 100


@dataclass(frozen=True)
class Violation:
    """One broken rule: a message code and its parameters."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)


@cache
def common_passwords() -> frozenset[str]:
    """zxcvbn's common-password dictionary (lower case)."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def strength_score(password: str, user_inputs: list[str] | None = None) -> int:
    """zxcvbn's 0–4 guessability score, penalising ``user_inputs`` (email, names)."""
    from zxcvbn import zxcvbn

    inputs = [i for i in (user_inputs or []) if i]
    return int(zxcvbn(password[:_SCORE_PREFIX], user_inputs=inputs)["score"])


def check_password(
    password: str, policy: PasswordPolicy, user_inputs: list[str] | None = None
) -> list[Violation]:
    """Every rule of ``policy`` that ``password`` breaks (empty when it is acceptable).

    Length counts Unicode code points (NIST). Composition rules apply only when the
    policy asks for them; the blocklist and score only when ``policy.blocklist`` is on.
    """
    out: list[Violation] = []
    length = len(password)
    if length < policy.min_length:
        out.append(Violation("password_too_short", {"min": policy.min_length}))
    if length > policy.max_length:
        out.append(Violation("password_too_long", {"max": policy.max_length}))
    if policy.require_digit and not any(c.isdigit() for c in password):
        out.append(Violation("password_missing_digit"))
    if policy.require_letter and not any(c.isalpha() for c in password):
        out.append(Violation("password_missing_letter"))
    if policy.require_lower and not any(c.islower() for c in password):
        out.append(Violation("password_missing_lower"))
    if policy.require_upper and not any(c.isupper() for c in password):
        out.append(Violation("password_missing_upper"))
    if policy.require_special and not any(c in policy.special_characters for c in password):
        out.append(Violation("password_missing_special", {"chars": policy.special_characters}))
    if policy.blocklist and length <= policy.max_length:
        if password.lower() in common_passwords():
            out.append(Violation("password_common"))
        elif (
            policy.min_strength_score
            and strength_score(password, user_inputs) < policy.min_strength_score
        ):
            out.append(Violation("password_too_weak"))
    return out
