"""School staff and district administrators (from the district identity provider)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from linking.domain.matching import id_key

StaffRole = Literal["school_staff", "district_admin"]


@dataclass(frozen=True)
class StaffIdentity:
    """The staff member making a request: id, role and the schools they act for."""

    staff_id: str
    role: StaffRole
    schools: frozenset[str]

    @property
    def is_district_admin(self) -> bool:
        return self.role == "district_admin"

    def can_act_for(self, school_id: str) -> bool:
        """A district admin acts for every school; staff only for the schools in their
        token (ids compared in normalised form)."""
        if self.is_district_admin:
            return True
        key = id_key(school_id)
        return bool(key) and any(id_key(s) == key for s in self.schools)
