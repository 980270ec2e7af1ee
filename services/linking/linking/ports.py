"""The ports the use cases depend on. ``adapters/mongo_*.py`` implement them on MongoDB;
the unit tests implement them in memory."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from linking.domain.guardians import Guardian, GuardianIdentity
from linking.domain.model import Link, LinkStatus
from linking.domain.roster import RosterStudent, StoredStudent
from shared.contracts.events import (
    AccountCreated,
    AccountProfileUpdated,
    EmailVerified,
    Event,
)


@dataclass(frozen=True)
class RosterEntry:
    """A stored student, as matching and staff views need it."""

    school_id: str
    student_id: str
    first_name: str
    last_name: str
    first_name_key: str
    last_name_key: str
    birth_date: str | None
    status: str

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True)
class ActivationCode:
    """An issued code (the code itself is never stored, only its hash)."""

    code_id: str
    school_id: str
    student_id: str
    issued_by: str
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    used_by: str | None = None
    revoked_at: datetime | None = None
    note: str | None = None

    def state(self, now: datetime) -> str:
        if self.revoked_at:
            return "revoked"
        if self.used_at:
            return "used"
        if self.expires_at <= now:
            return "expired"
        return "active"


@dataclass(frozen=True)
class LegacyCredential:
    """One username of the previous portal and the students it gave access to."""

    username: str
    password_hash: str
    students: frozenset[tuple[str, str]]  # (school key, student key)


@dataclass(frozen=True)
class QueueFilter:
    """Conditions that narrow a school's queue (staff console filters and search)."""

    #: Only this method (``in_person``...).
    method: str | None = None
    #: Only requests whose deadline ends at or before this instant ("days left").
    expires_by: datetime | None = None
    #: A search: any of these (student key, guardian account ids, student last-name key).
    student_key: str | None = None
    account_ids: tuple[str, ...] = ()
    last_name_key: str | None = None

    @property
    def searching(self) -> bool:
        return bool(self.student_key or self.account_ids or self.last_name_key)


class LinkRepository(Protocol):
    async def add(self, link: Link, events: Sequence[Event]) -> bool:
        """Insert a new link with its events; False if the guardian already has a live link
        with the student, or a link with this id exists."""

    async def save(self, link: Link, expected_version: int, events: Sequence[Event]) -> bool:
        """Write a transition and its events atomically if the stored version is still
        ``expected_version``; False otherwise."""

    async def get(self, link_id: str) -> Link | None: ...

    async def get_with_guardian(self, link_id: str) -> tuple[Link, Guardian | None] | None:
        """A link and its guardian's projection, in one round trip (staff decisions)."""

    async def find_live(self, account_id: str, school_id: str, student_id: str) -> Link | None: ...

    async def for_account(
        self, account_id: str, statuses: Iterable[LinkStatus] | None = None, limit: int = 500
    ) -> list[Link]: ...

    async def held_for(self, account_id: str) -> list[Link]:
        """Approved links of the account whose ``LinkApproved`` is held."""

    async def queue(
        self,
        school_key: str,
        status: LinkStatus,
        after: tuple[datetime, str] | None,
        limit: int,
        narrow: QueueFilter | None = None,
    ) -> list[Link]:
        """A school's links in a status, oldest request first, after a cursor, narrowed
        by ``narrow`` (every condition given must hold)."""

    async def for_student(self, school_key: str, student_key: str, limit: int = 200) -> list[Link]:
        """Every link of one student at a school (any status, any guardian), oldest
        request first: the student view of the staff console."""


class RosterRepository(Protocol):
    async def get(self, school_id: str, student_id: str) -> RosterEntry | None: ...

    async def existing_in_schools(self, school_keys: Iterable[str]) -> dict[str, StoredStudent]: ...

    async def existing_by_ids(self, doc_ids: Iterable[str]) -> dict[str, StoredStudent]: ...

    async def existing_by_sourced_ids(
        self, sourced_ids: Iterable[str]
    ) -> dict[str, StoredStudent]: ...

    async def upsert(self, students: Sequence[RosterStudent], import_id: str, at: datetime) -> None:
        """Create or update a batch of students as active."""

    async def insert_new(
        self, students: Sequence[RosterStudent], import_id: str, at: datetime
    ) -> None:
        """Create a batch of students not stored yet (updates any that appeared meanwhile)."""

    async def withdraw(self, doc_ids: Sequence[str], import_id: str, at: datetime) -> int:
        """Mark a batch of students withdrawn; the number changed."""

    async def record_import(self, summary: Mapping[str, Any]) -> None: ...

    async def save_schools(
        self, names: Mapping[str, str], closed: Iterable[str], at: datetime
    ) -> None:
        """Record the schools of an import by id with their names; forget closed ones."""

    async def schools(self) -> list[tuple[str, str]]:
        """Every known school as ``(school_id, name)``, by name."""


class GuardianRepository(Protocol):
    async def get(self, account_id: str) -> Guardian | None: ...

    async def find_by_email(self, email: str) -> Guardian | None:
        """The (not deleted) guardian whose normalised email is ``email``."""

    async def get_many(self, account_ids: Iterable[str]) -> dict[str, Guardian]: ...

    async def record_created(self, event: AccountCreated) -> Guardian | None:
        """Project ``AccountCreated``; None if the account was deleted."""

    async def record_verified(self, event: EmailVerified) -> Guardian | None:
        """Project ``EmailVerified``; None if the account was deleted."""

    async def record_profile(self, event: AccountProfileUpdated) -> None: ...

    async def end_sessions(self, account_id: str, at: datetime) -> None:
        """Refuse the account's tokens issued before ``at`` (never moves back)."""

    async def remember(self, identity: GuardianIdentity) -> Guardian | None:
        """Make sure a projection exists for a guardian seen through a token (contact from
        its claims, never overriding what identity's events said); None if deleted."""

    async def erase(self, account_id: str, at: datetime) -> None:
        """Forget the guardian's personal data, keeping a tombstone."""


class ActivationCodeRepository(Protocol):
    async def add(self, code: ActivationCode, code_hash: str) -> None: ...

    async def consume(
        self, code_hash: str, *, account_id: str, school_id: str, student_id: str, at: datetime
    ) -> ActivationCode | None:
        """Mark the code used by ``account_id`` if it is valid for the student; None if
        not (wrong, used by someone else, expired, revoked)."""

    async def revoke(
        self, code_id: str, *, school_id: str, student_id: str, by: str, at: datetime
    ) -> ActivationCode | None:
        """Revoke an unused code; return the code as stored after the attempt (None if
        unknown)."""

    async def for_student(self, school_id: str, student_id: str) -> list[ActivationCode]: ...

    async def revoke_unused_for_student(
        self, school_id: str, student_id: str, *, by: str, at: datetime
    ) -> int:
        """Revoke every unused, unrevoked code of the student; how many were revoked."""


class LegacyCredentialRepository(Protocol):
    async def get(self, username_key: str) -> LegacyCredential | None: ...

    async def upsert_many(self, rows: Sequence[Mapping[str, Any]], at: datetime) -> None:
        """``rows``: username_key, username, password_hash, students [(school, student)]."""

    async def reference_hash(self) -> str | None:
        """One stored password hash (any), to make an unknown username cost as much as a
        known one; None when nothing was imported."""

    async def claim_use(
        self, username_key: str, school_id: str, student_id: str, account_id: str, at: datetime
    ) -> bool:
        """Record that ``account_id`` used the credentials for the student: True the
        first time (and again for the same account), False once another account used
        them for that student (they are single-use per student)."""


@dataclass(frozen=True)
class StudentRestriction:
    """A student whose instant-approval methods go to staff review (after a revocation)."""

    school_id: str
    student_id: str
    since: datetime
    by: str
    link_id: str | None = None


class RestrictionRepository(Protocol):
    async def restrict(
        self, school_id: str, student_id: str, *, by: str, at: datetime, link_id: str | None
    ) -> None:
        """Put the student (keys as stored on links) under restriction (idempotent)."""

    async def get(self, school_id: str, student_id: str) -> StudentRestriction | None: ...

    async def get_many(
        self, students: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], StudentRestriction]: ...

    async def lift(self, school_id: str, student_id: str) -> bool:
        """End the restriction; False if there was none."""


class AttemptCounter(Protocol):
    async def count(self, account_id: str, day: str) -> int:
        """Failed attempts of the account on ``day`` (YYYY-MM-DD, UTC)."""

    async def record(self, account_id: str, day: str, key: str, expire_at: datetime) -> int:
        """Record one failed attempt (idempotent per ``key``); the new count."""

    async def reserve(
        self, account_id: str, day: str, key: str, expire_at: datetime, limit: int
    ) -> bool:
        """Record an attempt under ``key`` as failed before checking it, atomically, only
        if the day's count stays within ``limit``; False (nothing held) otherwise."""

    async def release(self, account_id: str, day: str, key: str) -> None:
        """Take back the reservation ``key`` (the attempt did not fail)."""

    async def acquire_lease(
        self, account_id: str, lease_id: str, now: datetime, until: datetime
    ) -> bool:
        """Hold the account's single attempt lease until ``until`` (False while another
        unexpired lease holds it)."""

    async def release_lease(self, account_id: str, lease_id: str) -> None:
        """Give the lease ``lease_id`` back."""
