"""OneRoster 1.1 CSV bundles: parsing, validation and the import plan.

A bundle is a zip with ``manifest.csv``, ``orgs.csv``, ``users.csv``, ``enrollments.csv``
and (optionally) ``demographics.csv``. Students are users with role ``student``; their
student id is ``users.identifier``; their schools come from their enrollments'
``schoolSourcedId`` (falling back to ``users.orgSourcedIds``); the school id guardians type
is ``orgs.identifier`` (falling back to the org's ``sourcedId``); the birth date is
``demographics.birthDate``.

Parsing is all-or-nothing for the file's structure (a bad zip, a missing file or column,
a bad encoding raise :class:`~linking.domain.errors.RosterFileInvalid` and nothing is
written) and row by row for its content (a bad row is rejected with its file, row number
and reason; the other rows are imported).

Scope of a *bulk* import: it replaces the roster of every school listed in its
``orgs.csv``; active students of those schools missing from it are withdrawn (never
deleted). Schools not in the file are untouched, so a truncated district export cannot
wipe a school, and a district may load school by school. A *delta* import
(``file.users=delta``) adds and updates, and withdraws only rows marked ``tobedeleted``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any, Literal, NamedTuple

from linking.domain.errors import RosterFileInvalid
from linking.domain.matching import id_key, name_key, student_doc_id

REQUIRED_FILES = ("manifest.csv", "orgs.csv", "users.csv", "enrollments.csv")
OPTIONAL_FILES = ("demographics.csv",)
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "manifest.csv": ("propertyName", "value"),
    "orgs.csv": ("sourcedId", "name"),
    "users.csv": ("sourcedId", "role", "givenName", "familyName", "identifier"),
    "enrollments.csv": ("sourcedId", "schoolSourcedId", "userSourcedId", "role"),
    "demographics.csv": ("sourcedId", "birthDate"),
}
#: Columns the import reads (others are ignored).
USED_COLUMNS: dict[str, tuple[str, ...]] = {
    "manifest.csv": ("propertyName", "value"),
    "orgs.csv": ("sourcedId", "status", "name", "type", "identifier"),
    "users.csv": (
        "sourcedId",
        "status",
        "role",
        "givenName",
        "familyName",
        "identifier",
        "orgSourcedIds",
    ),
    "enrollments.csv": ("sourcedId", "status", "schoolSourcedId", "userSourcedId", "role"),
    "demographics.csv": ("sourcedId", "status", "birthDate"),
}
#: Zip-bomb guards.
MAX_UNCOMPRESSED_BYTES = 2 * 1024**3
MAX_COMPRESSION_RATIO = 200
MAX_FIELD_LENGTH = 200

Mode = Literal["bulk", "delta"]
#: Bump when the stored form of a student changes, so that a re-import rewrites everyone.
HASH_VERSION = 1


class StoredStudent(NamedTuple):
    """What the import needs to know about a student already in the roster."""

    content_hash: str | None
    status: str
    sourced_id: str | None = None


@dataclass(frozen=True)
class Rejection:
    """A row that was not imported, and why (no student data beyond its sourcedId)."""

    file: str
    row: int
    reason: str
    sourced_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"file": self.file, "row": self.row, "reason": self.reason}
        if self.sourced_id:
            out["sourced_id"] = self.sourced_id
        return out


@dataclass(frozen=True)
class RosterStudent:
    """One student at one school, as stored in ``linking.roster``."""

    school_id: str
    student_id: str
    first_name: str
    last_name: str
    birth_date: str | None
    sourced_id: str
    school_sourced_id: str

    @property
    def doc_id(self) -> str:
        return student_doc_id(self.school_id, self.student_id)

    def fields(self) -> dict[str, Any]:
        """The stored fields (besides status and bookkeeping)."""
        return dict(self._fields)

    @cached_property
    def _fields(self) -> dict[str, Any]:
        return {
            "school_id": self.school_id,
            "student_id": self.student_id,
            "school_key": id_key(self.school_id),
            "first_name": self.first_name,
            "last_name": self.last_name,
            "first_name_key": name_key(self.first_name),
            "last_name_key": name_key(self.last_name),
            "birth_date": self.birth_date,
            "sourced_id": self.sourced_id,
            "school_sourced_id": self.school_sourced_id,
        }

    @cached_property
    def content_hash(self) -> str:
        """Changes when anything stored about the student (or how it is stored) changes."""
        raw = repr(
            (
                HASH_VERSION,
                self.school_id,
                self.student_id,
                self.first_name,
                self.last_name,
                self.birth_date,
                self.sourced_id,
                self.school_sourced_id,
            )
        )
        return hashlib.blake2b(raw.encode(), digest_size=12).hexdigest()


@dataclass
class RosterBundle:
    """A parsed bundle: the students to keep active and what to withdraw."""

    mode: Mode
    students: list[RosterStudent]
    #: School ids (normalised) whose roster a bulk import replaces.
    scope_school_keys: set[str]
    #: Delta imports: roster doc ids to withdraw (``tobedeleted`` rows).
    withdraw_doc_ids: set[str] = field(default_factory=set)
    #: Delta imports: user sourcedIds marked ``tobedeleted`` (withdrawn at every school).
    withdraw_sourced_ids: set[str] = field(default_factory=set)
    rejections: list[Rejection] = field(default_factory=list)
    rows_read: int = 0
    #: The schools of ``orgs.csv`` by school id, with the name families know them by
    #: (the wizard's list of schools); ``tobedeleted`` orgs are in ``closed_school_ids``.
    school_names: dict[str, str] = field(default_factory=dict)
    closed_school_ids: set[str] = field(default_factory=set)

    @property
    def rejected_count(self) -> int:
        return len(self.rejections)


# --- reading the zip ----------------------------------------------------------------


def _open_zip(data: bytes) -> zipfile.ZipFile:
    if not data:
        raise RosterFileInvalid("the file is empty")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise RosterFileInvalid(
            "the file is not a zip archive (expected a OneRoster 1.1 CSV bundle)"
        ) from None
    total = 0
    for info in archive.infolist():
        total += info.file_size
        if info.compress_size and info.file_size / info.compress_size > MAX_COMPRESSION_RATIO:
            raise RosterFileInvalid(f"{info.filename}: suspicious compression ratio")
    if total > MAX_UNCOMPRESSED_BYTES:
        raise RosterFileInvalid("the bundle is too large once uncompressed")
    return archive


def _members(archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """CSV members by lower-case base name (bundles are often zipped inside a folder)."""
    found: dict[str, zipfile.ZipInfo] = {}
    for info in archive.infolist():
        if info.is_dir() or "__MACOSX" in info.filename:
            continue
        base = info.filename.rsplit("/", 1)[-1].lower()
        if base.endswith(".csv"):
            if base in found:
                raise RosterFileInvalid(f"the bundle contains {base} more than once")
            found[base] = info
    return found


def _read_csv(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> list[dict[str, str]]:
    try:
        raw = archive.read(info)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as exc:
        raise RosterFileInvalid(f"{name}: cannot be read from the zip ({exc})") from None
    except Exception as exc:  # zlib errors on corrupt members
        raise RosterFileInvalid(f"{name}: corrupt data in the zip ({type(exc).__name__})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RosterFileInvalid(f"{name}: not UTF-8 text (byte {exc.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader, [])]
        missing = [c for c in REQUIRED_COLUMNS[name] if c not in header]
        if missing:
            raise RosterFileInvalid(f"{name}: missing column(s) {', '.join(missing)}")
        # Only the columns the import reads, as dicts (a 100k-student file has 300k rows).
        wanted = [
            (column, header.index(column)) for column in USED_COLUMNS[name] if column in header
        ]
        width = len(header)
        rows = []
        for values in reader:
            if len(values) < width:
                values = values + [""] * (width - len(values))
            rows.append({column: values[index].strip() for column, index in wanted})
        return rows
    except csv.Error as exc:
        raise RosterFileInvalid(f"{name}: not valid CSV (line {reader.line_num}: {exc})") from None


def _manifest(rows: list[dict[str, str]]) -> dict[str, str]:
    return {r.get("propertyName", "").strip(): r.get("value", "").strip() for r in rows}


def read_bundle(data: bytes) -> dict[str, list[dict[str, str]]]:
    """The bundle's CSV files as rows (dicts by column), validated structurally."""
    archive = _open_zip(data)
    members = _members(archive)
    if "manifest.csv" not in members:
        raise RosterFileInvalid("manifest.csv is missing (not a OneRoster 1.1 CSV bundle)")
    manifest = _manifest(_read_csv(archive, members["manifest.csv"], "manifest.csv"))
    version = manifest.get("oneroster.version", "")
    if version and not version.startswith("1.1"):
        raise RosterFileInvalid(f"manifest.csv: oneroster.version {version} is not 1.1")
    files: dict[str, list[dict[str, str]]] = {
        "manifest.csv": [{"propertyName": k, "value": v} for k, v in manifest.items()]
    }
    for name in REQUIRED_FILES[1:]:
        if name not in members:
            raise RosterFileInvalid(f"{name} is missing from the bundle")
        files[name] = _read_csv(archive, members[name], name)
    for name in OPTIONAL_FILES:
        if name in members:
            files[name] = _read_csv(archive, members[name], name)
    return files


# --- building the students ----------------------------------------------------------


def _mode(manifest_rows: list[dict[str, str]]) -> Mode:
    manifest = _manifest(manifest_rows)
    value = manifest.get("file.users", "bulk").lower() or "bulk"
    if value not in ("bulk", "delta"):
        raise RosterFileInvalid(f"manifest.csv: file.users must be bulk or delta, not {value!r}")
    return value  # type: ignore[return-value]


def _too_long(*values: str) -> bool:
    return any(len(v) > MAX_FIELD_LENGTH for v in values)


def _birth_date(value: str) -> str | None:
    if not value:
        return None
    return date.fromisoformat(value[:10]).isoformat()


def parse_bundle(data: bytes) -> RosterBundle:
    """Parse and validate a OneRoster 1.1 CSV bundle (zip bytes)."""
    files = read_bundle(data)
    return build_bundle(files)


def build_bundle(files: Mapping[str, list[dict[str, str]]]) -> RosterBundle:
    """Students, withdrawals and rejections from the bundle's rows."""
    mode = _mode(files["manifest.csv"])
    rejections: list[Rejection] = []

    def reject(file: str, index: int, reason: str, sourced_id: str | None = None) -> None:
        # Row numbers as a spreadsheet shows them: the header is row 1.
        rejections.append(Rejection(file, index + 2, reason, sourced_id or None))

    # orgs: sourcedId -> school id guardians type
    orgs: dict[str, str] = {}
    scope: set[str] = set()
    school_names: dict[str, str] = {}
    closed: set[str] = set()
    for i, row in enumerate(files["orgs.csv"]):
        sid = row.get("sourcedId", "")
        if not sid:
            reject("orgs.csv", i, "sourcedId is empty")
            continue
        school_id = row.get("identifier", "") or sid
        if row.get("status", "").lower() == "tobedeleted":
            closed.add(school_id)
            continue
        if _too_long(sid, school_id):
            reject("orgs.csv", i, "a value is too long", sid)
            continue
        orgs[sid] = school_id
        scope.add(id_key(school_id))
        school_names[school_id] = " ".join(row.get("name", "").split())[:200] or school_id

    # users: the students
    users: dict[str, tuple[int, dict[str, str]]] = {}
    tobedeleted_users: set[str] = set()
    rows_read = 0
    for i, row in enumerate(files["users.csv"]):
        if row.get("role", "").lower() != "student":
            continue
        rows_read += 1
        sid = row.get("sourcedId", "")
        if not sid:
            reject("users.csv", i, "sourcedId is empty")
            continue
        if row.get("status", "").lower() == "tobedeleted":
            tobedeleted_users.add(sid)
            continue
        if sid in users:
            reject("users.csv", i, "duplicate sourcedId", sid)
            continue
        problems = [
            f"{col} is empty"
            for col in ("identifier", "familyName", "givenName")
            if not row.get(col, "")
        ]
        if problems:
            reject("users.csv", i, "; ".join(problems), sid)
            continue
        if _too_long(sid, row["identifier"], row["familyName"], row["givenName"]):
            reject("users.csv", i, "a value is too long", sid)
            continue
        if not name_key(row["familyName"]):
            reject("users.csv", i, "familyName has no letters or digits", sid)
            continue
        users[sid] = (i, row)

    # demographics: birth dates
    births: dict[str, str | None] = {}
    for i, row in enumerate(files.get("demographics.csv", [])):
        sid = row.get("sourcedId", "")
        if not sid or sid not in users:
            continue
        try:
            births[sid] = _birth_date(row.get("birthDate", ""))
        except ValueError:
            reject("demographics.csv", i, "birthDate is not a date (YYYY-MM-DD)", sid)

    # enrollments: which schools each student attends
    schools_of: dict[str, set[str]] = {}
    withdraw_pairs: set[tuple[str, str]] = set()
    for i, row in enumerate(files["enrollments.csv"]):
        if row.get("role", "").lower() != "student":
            continue
        user = row.get("userSourcedId", "")
        school = row.get("schoolSourcedId", "")
        if user not in users and user not in tobedeleted_users:
            if user:
                reject(
                    "enrollments.csv",
                    i,
                    "userSourcedId is not a student in users.csv",
                    row.get("sourcedId"),
                )
            else:
                reject("enrollments.csv", i, "userSourcedId is empty", row.get("sourcedId"))
            continue
        if school not in orgs:
            reject("enrollments.csv", i, "schoolSourcedId is not in orgs.csv", row.get("sourcedId"))
            continue
        if row.get("status", "").lower() == "tobedeleted":
            withdraw_pairs.add((user, school))
            continue
        schools_of.setdefault(user, set()).add(school)

    students: list[RosterStudent] = []
    seen: dict[str, str] = {}
    for sid, (i, row) in users.items():
        schools = schools_of.get(sid)
        if not schools:
            fallback = {
                o.strip() for o in row.get("orgSourcedIds", "").split(",") if o.strip() in orgs
            }
            schools = fallback
        if not schools:
            reject("users.csv", i, "no enrollment in a school of orgs.csv", sid)
            continue
        for school in sorted(schools):
            student = RosterStudent(
                school_id=orgs[school],
                student_id=row["identifier"],
                first_name=row["givenName"],
                last_name=row["familyName"],
                birth_date=births.get(sid),
                sourced_id=sid,
                school_sourced_id=school,
            )
            other = seen.get(student.doc_id)
            if other is not None:
                reject(
                    "users.csv", i, "identifier already used by another student at this school", sid
                )
                continue
            seen[student.doc_id] = sid
            students.append(student)

    withdraw_doc_ids: set[str] = set()
    if mode == "delta":
        for user, school in withdraw_pairs:
            if user in users and school not in schools_of.get(user, set()):
                withdraw_doc_ids.add(student_doc_id(orgs[school], users[user][1]["identifier"]))
    return RosterBundle(
        mode=mode,
        students=students,
        scope_school_keys=scope,
        withdraw_doc_ids=withdraw_doc_ids,
        withdraw_sourced_ids=tobedeleted_users if mode == "delta" else set(),
        rejections=rejections,
        rows_read=rows_read,
        school_names=school_names,
        closed_school_ids=closed,
    )


# --- the plan -----------------------------------------------------------------------


@dataclass
class ImportPlan:
    """What an import writes: creations, updates and withdrawals (doc ids)."""

    create: list[RosterStudent] = field(default_factory=list)
    update: list[RosterStudent] = field(default_factory=list)
    unchanged: int = 0
    withdraw: list[str] = field(default_factory=list)


def plan_import(bundle: RosterBundle, existing: Mapping[str, StoredStudent]) -> ImportPlan:
    """Compare the bundle with the stored roster.

    ``existing`` maps doc id → :class:`StoredStudent` for every stored student the import
    may touch: for a bulk import every student of the schools in scope; for a delta import
    the students of the file and those whose sourcedId is marked ``tobedeleted``.
    """
    plan = ImportPlan()
    in_file: set[str] = set()
    for student in bundle.students:
        in_file.add(student.doc_id)
        current = existing.get(student.doc_id)
        if current is None:
            plan.create.append(student)
        elif current.content_hash != student.content_hash or current.status != "active":
            plan.update.append(student)
        else:
            plan.unchanged += 1
    if bundle.mode == "bulk":
        candidates = {
            doc_id for doc_id in existing if doc_id.split("|", 1)[0] in bundle.scope_school_keys
        }
    else:
        candidates = set(bundle.withdraw_doc_ids) | {
            doc_id
            for doc_id, stored in existing.items()
            if stored.sourced_id and stored.sourced_id in bundle.withdraw_sourced_ids
        }
    plan.withdraw = sorted(
        doc_id
        for doc_id in candidates
        if doc_id not in in_file and doc_id in existing and existing[doc_id].status == "active"
    )
    return plan


def batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive lists of at most ``size`` items."""
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
