"""The ports and settings every use case takes, and the transition retry bound."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from linking.domain.errors import (
    LinkingError,
)
from linking.ports import (
    ActivationCodeRepository,
    AttemptCounter,
    GuardianRepository,
    LegacyCredentialRepository,
    LinkRepository,
    RestrictionRepository,
    RosterRepository,
)
from shared.runtime.policy import DistrictPolicy

#: How often a transition is retried when the link changed under it.
MAX_TRANSITION_ATTEMPTS = 3


def utcnow() -> datetime:
    """The current time (UTC, aware), to the millisecond (what MongoDB stores)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@dataclass
class Deps:
    """The ports and settings every use case needs (wired in ``app.py``)."""

    links: LinkRepository
    roster: RosterRepository
    guardians: GuardianRepository
    codes: ActivationCodeRepository
    legacy: LegacyCredentialRepository
    attempts: AttemptCounter
    restrictions: RestrictionRepository
    policy: DistrictPolicy
    clock: Callable[[], datetime] = utcnow
    roster_batch_size: int = 1000


class InvalidCursor(LinkingError):
    code = "invalid-cursor"
    status = 422
