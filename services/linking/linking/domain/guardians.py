"""What linking keeps about a guardian account (a projection of identity's events):
contact details for ``LinkApproved`` and whether the email is verified."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.contracts.events import GuardianContact, Phone


@dataclass
class Guardian:
    """The projection of one account."""

    account_id: str
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    locale: str = "en"
    phones: list[dict[str, Any]] = field(default_factory=list)
    verified: bool = False
    verified_at: datetime | None = None
    deleted: bool = False

    @property
    def name(self) -> str:
        """Full name as the SIS shows it."""
        return " ".join(p for p in (self.first_name, self.last_name) if p) or ""

    def contact(self) -> GuardianContact:
        """The guardian contact carried by ``LinkApproved``."""
        phones = []
        for raw in self.phones:
            try:
                phones.append(Phone.model_validate(raw))
            except ValueError:
                continue
        return GuardianContact(name=self.name, email=self.email or "", phones=phones)

    @property
    def can_receive_approvals(self) -> bool:
        """True when ``LinkApproved`` may be published for this account."""
        return self.verified and not self.deleted and bool(self.email)


@dataclass(frozen=True)
class GuardianIdentity:
    """The guardian making an HTTP request (from the identity JWT's claims)."""

    account_id: str
    email: str
    name: str
    locale: str = "en"
    session_id: str | None = None
