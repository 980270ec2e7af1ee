"""In-memory fakes of the linking ports, for fast unit tests of the use cases."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from linking.domain.guardians import Guardian, GuardianIdentity, contact_fields
from linking.domain.matching import id_key, name_key, student_doc_id
from linking.domain.model import Link, LinkStatus
from linking.domain.roster import RosterStudent, StoredStudent
from linking.handlers import Deps
from linking.ports import (
    ActivationCode,
    LegacyCredential,
    QueueFilter,
    RosterEntry,
    StudentRestriction,
)

from shared.contracts.events import (
    AccountCreated,
    AccountProfileUpdated,
    EmailVerified,
    Event,
)
from shared.runtime.policy import DistrictPolicy, LinkPolicy


class FakeLinks:
    def __init__(self, guardians: FakeGuardians | None = None) -> None:
        self.guardians = guardians
        self.docs: dict[str, Link] = {}
        self.events: list[Event] = []
        self.conflicts_to_inject = 0

    async def add(self, link: Link, events: Sequence[Event]) -> bool:
        if link.link_id in self.docs:
            return False
        if link.is_live and any(
            other.is_live and other.live_key == link.live_key for other in self.docs.values()
        ):
            return False
        self.docs[link.link_id] = copy.deepcopy(link)
        self.events.extend(events)
        return True

    async def save(self, link: Link, expected_version: int, events: Sequence[Event]) -> bool:
        if self.conflicts_to_inject:
            self.conflicts_to_inject -= 1
            return False
        stored = self.docs.get(link.link_id)
        if stored is None or stored.version != expected_version:
            return False
        self.docs[link.link_id] = copy.deepcopy(link)
        self.events.extend(events)
        return True

    async def get(self, link_id: str) -> Link | None:
        link = self.docs.get(link_id)
        return copy.deepcopy(link) if link else None

    async def get_with_guardian(self, link_id: str) -> tuple[Link, Guardian | None] | None:
        link = await self.get(link_id)
        if link is None:
            return None
        guardian = await self.guardians.get(link.account_id) if self.guardians else None
        return link, guardian

    async def find_live(self, account_id: str, school_id: str, student_id: str) -> Link | None:
        for link in self.docs.values():
            if link.is_live and link.live_key == f"{account_id}|{school_id}|{student_id}":
                return copy.deepcopy(link)
        return None

    async def for_account(
        self, account_id: str, statuses: Iterable[LinkStatus] | None = None, limit: int = 500
    ) -> list[Link]:
        wanted = set(statuses) if statuses is not None else None
        links = [
            copy.deepcopy(link)
            for link in self.docs.values()
            if link.account_id == account_id and (wanted is None or link.status in wanted)
        ]
        return sorted(links, key=lambda link: link.requested_at, reverse=True)[:limit]

    async def held_for(self, account_id: str) -> list[Link]:
        return [
            copy.deepcopy(link)
            for link in self.docs.values()
            if link.account_id == account_id and link.status == LinkStatus.APPROVED and link.held
        ]

    async def queue(
        self,
        school_key: str,
        status: LinkStatus,
        after: tuple[datetime, str] | None,
        limit: int,
        narrow: QueueFilter | None = None,
    ) -> list[Link]:
        def wanted(link: Link) -> bool:
            if narrow is None:
                return True
            if narrow.method and str(link.method) != narrow.method:
                return False
            if narrow.expires_by is not None and (
                link.expires_at is None or link.expires_at > narrow.expires_by
            ):
                return False
            if narrow.searching:
                return (
                    (
                        narrow.student_key is not None
                        and id_key(link.student_id) == narrow.student_key
                    )
                    or link.account_id in narrow.account_ids
                    or (
                        narrow.last_name_key is not None
                        and name_key(link.student_last_name) == narrow.last_name_key
                    )
                )
            return True

        links = sorted(
            (
                link
                for link in self.docs.values()
                if id_key(link.school_id) == school_key and link.status == status and wanted(link)
            ),
            key=lambda link: (link.requested_at, link.link_id),
        )
        if after is not None:
            links = [link for link in links if (link.requested_at, link.link_id) > after]
        return [copy.deepcopy(link) for link in links[:limit]]

    async def for_student(self, school_key: str, student_key: str, limit: int = 200) -> list[Link]:
        links = sorted(
            (
                link
                for link in self.docs.values()
                if id_key(link.school_id) == school_key and id_key(link.student_id) == student_key
            ),
            key=lambda link: (link.requested_at, link.link_id),
        )
        return [copy.deepcopy(link) for link in links[:limit]]

    def of_type(self, name: str) -> list[Event]:
        return [e for e in self.events if e.event_type() == name]


class FakeRoster:
    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.imports: list[Mapping[str, Any]] = []
        self.school_names: dict[str, str] = {}
        self.writes = 0
        self.inserts = 0

    def add(
        self, school_id: str, student_id: str, first: str, last: str, birth_date: str | None = None
    ) -> None:
        student = RosterStudent(
            school_id, student_id, first, last, birth_date, f"u-{student_id}", f"org-{school_id}"
        )
        self.docs[student.doc_id] = {
            **student.fields(),
            "hash": student.content_hash,
            "status": "active",
        }

    async def get(self, school_id: str, student_id: str) -> RosterEntry | None:
        doc = self.docs.get(student_doc_id(school_id, student_id))
        if doc is None:
            return None
        return RosterEntry(
            school_id=doc["school_id"],
            student_id=doc["student_id"],
            first_name=doc["first_name"],
            last_name=doc["last_name"],
            first_name_key=doc["first_name_key"],
            last_name_key=doc["last_name_key"],
            birth_date=doc["birth_date"],
            status=doc["status"],
        )

    def _stored(self, doc_id: str) -> StoredStudent:
        doc = self.docs[doc_id]
        return StoredStudent(doc.get("hash"), doc["status"], doc.get("sourced_id"))

    async def existing_in_schools(self, school_keys: Iterable[str]) -> dict[str, StoredStudent]:
        keys = set(school_keys)
        return {i: self._stored(i) for i, d in self.docs.items() if d["school_key"] in keys}

    async def existing_by_ids(self, doc_ids: Iterable[str]) -> dict[str, StoredStudent]:
        return {i: self._stored(i) for i in doc_ids if i in self.docs}

    async def existing_by_sourced_ids(self, sourced_ids: Iterable[str]) -> dict[str, StoredStudent]:
        ids = set(sourced_ids)
        return {i: self._stored(i) for i, d in self.docs.items() if d.get("sourced_id") in ids}

    async def upsert(self, students: Sequence[RosterStudent], import_id: str, at: datetime) -> None:
        self.writes += 1
        for s in students:
            self.docs[s.doc_id] = {
                **s.fields(),
                "hash": s.content_hash,
                "status": "active",
                "import_id": import_id,
            }

    async def insert_new(
        self, students: Sequence[RosterStudent], import_id: str, at: datetime
    ) -> None:
        self.inserts += 1
        await self.upsert(students, import_id, at)
        self.writes -= 1

    async def withdraw(self, doc_ids: Sequence[str], import_id: str, at: datetime) -> int:
        n = 0
        for i in doc_ids:
            if self.docs.get(i, {}).get("status") == "active":
                self.docs[i]["status"] = "withdrawn"
                n += 1
        return n

    async def record_import(self, summary: Mapping[str, Any]) -> None:
        self.imports.append(summary)

    async def save_schools(
        self, names: Mapping[str, str], closed: Iterable[str], at: datetime
    ) -> None:
        self.school_names.update(names)
        for school_id in closed:
            self.school_names.pop(school_id, None)

    async def schools(self) -> list[tuple[str, str]]:
        return sorted(self.school_names.items(), key=lambda item: item[1])


class FakeGuardians:
    def __init__(self) -> None:
        self.docs: dict[str, Guardian] = {}

    async def get(self, account_id: str) -> Guardian | None:
        g = self.docs.get(account_id)
        return replace(g) if g else None

    async def get_many(self, account_ids: Iterable[str]) -> dict[str, Guardian]:
        return {a: replace(self.docs[a]) for a in account_ids if a in self.docs}

    async def find_by_email(self, email: str) -> Guardian | None:
        found = [g for g in self.docs.values() if g.email == email and not g.deleted]
        return replace(found[0]) if found else None

    async def record_created(self, event: AccountCreated) -> Guardian | None:
        g = self.docs.get(event.account_id)
        if g and g.deleted:
            return None
        g = g or Guardian(event.account_id)
        g.email = event.email
        if g.contact_updated_at is None or g.contact_updated_at <= event.created_at:
            g.first_name, g.last_name, g.locale = event.first_name, event.last_name, event.locale
            g.phones = [p.model_dump() for p in event.phones]
            for name, value in contact_fields(event).items():
                setattr(g, name, value)
            g.contact_updated_at = event.created_at
        self.docs[event.account_id] = g
        return replace(g)

    async def record_verified(self, event: EmailVerified) -> Guardian | None:
        g = self.docs.get(event.account_id)
        if g and g.deleted:
            return None
        g = g or Guardian(event.account_id, email=event.email)
        g.verified, g.verified_at = True, event.verified_at
        self.docs[event.account_id] = g
        return replace(g)

    async def record_profile(self, event: AccountProfileUpdated) -> None:
        g = self.docs.get(event.account_id)
        if (
            g
            and not g.deleted
            and (g.contact_updated_at is None or g.contact_updated_at < event.updated_at)
        ):
            g.first_name, g.last_name, g.locale = event.first_name, event.last_name, event.locale
            g.phones = [p.model_dump() for p in event.phones]
            for name, value in contact_fields(event).items():
                setattr(g, name, value)
            g.contact_updated_at = event.updated_at

    async def end_sessions(self, account_id: str, at: datetime) -> None:
        g = self.docs.setdefault(account_id, Guardian(account_id))
        if not g.deleted and (g.sessions_valid_from is None or at > g.sessions_valid_from):
            g.sessions_valid_from = at

    async def remember(self, identity: GuardianIdentity) -> Guardian | None:
        g = self.docs.get(identity.account_id)
        if g is None:
            g = Guardian(
                identity.account_id,
                email=identity.email,
                first_name=identity.name,
                locale=identity.locale,
            )
            self.docs[identity.account_id] = g
        return None if g.deleted else replace(g)

    async def erase(self, account_id: str, at: datetime) -> None:
        self.docs[account_id] = Guardian(account_id, deleted=True)

    def verified(
        self,
        account_id: str,
        email: str = "g@example.net",
        name: str = "Gina Guard",
        phones: list[dict[str, Any]] | None = None,
    ) -> Guardian:
        first, _, last = name.partition(" ")
        g = Guardian(
            account_id,
            email=email,
            first_name=first,
            last_name=last,
            verified=True,
            phones=phones or [{"kind": "mobile", "number": "9045550100"}],
        )
        self.docs[account_id] = g
        return g


@dataclass
class StoredCode:
    code: ActivationCode
    code_hash: str


class FakeCodes:
    def __init__(self) -> None:
        self.codes: dict[str, StoredCode] = {}

    async def add(self, code: ActivationCode, code_hash: str) -> None:
        self.codes[code.code_id] = StoredCode(code, code_hash)

    async def consume(
        self, code_hash: str, *, account_id: str, school_id: str, student_id: str, at: datetime
    ) -> ActivationCode | None:
        for stored in self.codes.values():
            c = stored.code
            if (
                stored.code_hash == code_hash
                and c.school_id == school_id
                and c.student_id == student_id
                and c.revoked_at is None
                and c.expires_at > at
                and c.used_by in (None, account_id)
            ):
                if c.used_by is None:
                    stored.code = replace(c, used_by=account_id, used_at=at)
                return stored.code
        return None

    async def revoke_unused_for_student(
        self, school_id: str, student_id: str, *, by: str, at: datetime
    ) -> int:
        revoked = 0
        for stored in self.codes.values():
            c = stored.code
            if (c.school_id, c.student_id) == (school_id, student_id) and (
                c.revoked_at is None and c.used_at is None
            ):
                stored.code = replace(c, revoked_at=at)
                revoked += 1
        return revoked

    async def revoke(
        self, code_id: str, *, school_id: str, student_id: str, by: str, at: datetime
    ) -> ActivationCode | None:
        stored = self.codes.get(code_id)
        if stored is None or (stored.code.school_id, stored.code.student_id) != (
            school_id,
            student_id,
        ):
            return None
        if stored.code.revoked_at is None and stored.code.used_at is None:
            stored.code = replace(stored.code, revoked_at=at)
        return stored.code

    async def for_student(self, school_id: str, student_id: str) -> list[ActivationCode]:
        return [
            s.code
            for s in self.codes.values()
            if (s.code.school_id, s.code.student_id) == (school_id, student_id)
        ]


class FakeLegacy:
    def __init__(self) -> None:
        self.docs: dict[str, LegacyCredential] = {}
        self.uses: dict[tuple[str, str, str], str] = {}

    async def get(self, username_key: str) -> LegacyCredential | None:
        return self.docs.get(username_key)

    async def reference_hash(self) -> str | None:
        return next((c.password_hash for c in self.docs.values()), None)

    async def claim_use(
        self, username_key: str, school_id: str, student_id: str, account_id: str, at: datetime
    ) -> bool:
        used_by = self.uses.setdefault((username_key, school_id, student_id), account_id)
        return used_by == account_id

    async def upsert_many(self, rows: Sequence[Mapping[str, Any]], at: datetime) -> None:
        for row in rows:
            old = self.docs.get(row["username_key"])
            students = set(old.students) if old else set()
            students |= {tuple(s) for s in row["students"]}
            self.docs[row["username_key"]] = LegacyCredential(
                row["username"], row["password_hash"], frozenset(students)
            )


class FakeRestrictions:
    def __init__(self) -> None:
        self.docs: dict[tuple[str, str], StudentRestriction] = {}

    async def restrict(
        self, school_id: str, student_id: str, *, by: str, at: datetime, link_id: str | None
    ) -> None:
        self.docs.setdefault(
            (school_id, student_id), StudentRestriction(school_id, student_id, at, by, link_id)
        )

    async def get(self, school_id: str, student_id: str) -> StudentRestriction | None:
        return self.docs.get((school_id, student_id))

    async def get_many(
        self, students: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], StudentRestriction]:
        return {s: self.docs[s] for s in students if s in self.docs}

    async def lift(self, school_id: str, student_id: str) -> bool:
        return self.docs.pop((school_id, student_id), None) is not None


class FakeAttempts:
    def __init__(self) -> None:
        self.keys: dict[tuple[str, str], set[str]] = {}
        self.leases: dict[str, tuple[str, datetime]] = {}

    async def count(self, account_id: str, day: str) -> int:
        return len(self.keys.get((account_id, day), set()))

    async def record(self, account_id: str, day: str, key: str, expire_at: datetime) -> int:
        bucket = self.keys.setdefault((account_id, day), set())
        bucket.add(key)
        return len(bucket)

    async def reserve(
        self, account_id: str, day: str, key: str, expire_at: datetime, limit: int
    ) -> bool:
        if await self.record(account_id, day, key, expire_at) <= limit:
            return True
        await self.release(account_id, day, key)
        return False

    async def release(self, account_id: str, day: str, key: str) -> None:
        self.keys.get((account_id, day), set()).discard(key)

    async def acquire_lease(
        self, account_id: str, lease_id: str, now: datetime, until: datetime
    ) -> bool:
        held = self.leases.get(account_id)
        if held is not None and held[1] > now:
            return False
        self.leases[account_id] = (lease_id, until)
        return True

    async def release_lease(self, account_id: str, lease_id: str) -> None:
        if self.leases.get(account_id, ("",))[0] == lease_id:
            del self.leases[account_id]


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2026, 9, 1, 15, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    """A Deps bundle on fakes, with handles to each fake."""

    links: FakeLinks
    roster: FakeRoster
    guardians: FakeGuardians
    codes: FakeCodes
    legacy: FakeLegacy
    attempts: FakeAttempts
    restrictions: FakeRestrictions
    clock: Clock
    deps: Deps


def make_world(policy: DistrictPolicy | None = None, **link_policy: Any) -> World:
    guardians = FakeGuardians()
    links, roster = FakeLinks(guardians), FakeRoster()
    codes, legacy, attempts = FakeCodes(), FakeLegacy(), FakeAttempts()
    restrictions = FakeRestrictions()
    clock = Clock()
    if policy is None:
        policy = (
            DistrictPolicy(links=LinkPolicy(**link_policy)) if link_policy else DistrictPolicy()
        )
    deps = Deps(
        links=links,
        roster=roster,
        guardians=guardians,
        codes=codes,
        legacy=legacy,
        attempts=attempts,
        restrictions=restrictions,
        policy=policy,
        clock=clock,
        roster_batch_size=3,
    )
    return World(links, roster, guardians, codes, legacy, attempts, restrictions, clock, deps)


__all__ = ["World", "make_world", "name_key"]
