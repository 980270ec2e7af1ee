"""OneRoster 1.1 bundles for the journey, fault and memory suites: a thin view over the
generator linking ships for local runs (``linking.devtools.oneroster_bundle``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from linking.devtools import BundleStudent, oneroster_bundle


@dataclass(frozen=True)
class Student:
    """A student as the journeys name one."""

    school_id: str
    student_id: str
    given_name: str
    family_name: str
    birth_date: str = "2015-04-01"


def bundle(students: Iterable[Student]) -> bytes:
    """A bulk OneRoster zip with these students."""
    return oneroster_bundle(
        [
            BundleStudent(s.student_id, s.family_name, s.given_name, s.school_id, s.birth_date)
            for s in students
        ]
    )
