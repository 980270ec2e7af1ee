"""Builds OneRoster 1.1 CSV bundles (zip) for tests and benchmarks."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Student:
    school_id: str
    student_id: str
    given_name: str
    family_name: str
    birth_date: str = "2015-04-01"


def bundle(students: Iterable[Student], *, school_names: dict[str, str] | None = None) -> bytes:
    """A zip with manifest, orgs, users, enrollments and demographics for ``students``."""
    students = list(students)
    schools = sorted({s.school_id for s in students})
    names = school_names or {}

    def table(header: list[str], rows: Iterable[list[str]]) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        return out.getvalue()

    manifest = table(
        ["propertyName", "value"],
        [
            ["manifest.version", "1.0"],
            ["oneroster.version", "1.1"],
            ["file.academicSessions", "absent"],
            ["file.categories", "absent"],
            ["file.classes", "absent"],
            ["file.classResources", "absent"],
            ["file.courses", "absent"],
            ["file.courseResources", "absent"],
            ["file.demographics", "bulk"],
            ["file.enrollments", "bulk"],
            ["file.lineItems", "absent"],
            ["file.orgs", "bulk"],
            ["file.resources", "absent"],
            ["file.results", "absent"],
            ["file.users", "bulk"],
        ],
    )
    orgs = table(
        [
            "sourcedId",
            "status",
            "dateLastModified",
            "name",
            "type",
            "identifier",
            "parentSourcedId",
        ],
        [
            [
                f"org-{s}",
                "active",
                "2026-08-01T00:00:00Z",
                names.get(s, f"School {s}"),
                "school",
                s,
                "",
            ]
            for s in schools
        ],
    )
    users = table(
        [
            "sourcedId",
            "status",
            "dateLastModified",
            "enabledUser",
            "orgSourcedIds",
            "role",
            "username",
            "userIds",
            "givenName",
            "familyName",
            "middleName",
            "identifier",
            "email",
            "sms",
            "phone",
            "agentSourcedIds",
            "grades",
            "password",
        ],
        [
            [
                f"stu-{s.school_id}-{s.student_id}",
                "active",
                "2026-08-01T00:00:00Z",
                "true",
                f"org-{s.school_id}",
                "student",
                f"u{s.student_id}",
                "",
                s.given_name,
                s.family_name,
                "",
                s.student_id,
                "",
                "",
                "",
                "",
                "03",
                "",
            ]
            for s in students
        ],
    )
    enrollments = table(
        [
            "sourcedId",
            "status",
            "dateLastModified",
            "classSourcedId",
            "schoolSourcedId",
            "userSourcedId",
            "role",
            "primary",
            "beginDate",
            "endDate",
        ],
        [
            [
                f"enr-{s.school_id}-{s.student_id}",
                "active",
                "2026-08-01T00:00:00Z",
                "",
                f"org-{s.school_id}",
                f"stu-{s.school_id}-{s.student_id}",
                "student",
                "true",
                "2026-08-10",
                "2027-06-01",
            ]
            for s in students
        ],
    )
    demographics = table(
        ["sourcedId", "status", "dateLastModified", "birthDate", "sex"],
        [
            [
                f"stu-{s.school_id}-{s.student_id}",
                "active",
                "2026-08-01T00:00:00Z",
                s.birth_date,
                "",
            ]
            for s in students
        ],
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in [
            ("manifest.csv", manifest),
            ("orgs.csv", orgs),
            ("users.csv", users),
            ("enrollments.csv", enrollments),
            ("demographics.csv", demographics),
        ]:
            zf.writestr(name, text)
    return buf.getvalue()
