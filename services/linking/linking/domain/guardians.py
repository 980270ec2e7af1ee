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
    #: Tokens issued before this instant are refused (password changed or reset, account
    #: disabled): identity ends its sessions at once, linking learns it from the events.
    sessions_valid_from: datetime | None = None

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

    def accepts(self, identity: GuardianIdentity) -> bool:
        """False when the token was issued before the account's sessions were ended, or
        the account is deleted. JWT ``iat`` has whole seconds: a token issued in the same
        second as the change (the fresh one returned by a password change) stays valid."""
        if self.deleted:
            return False
        if self.sessions_valid_from is None or identity.issued_at is None:
            return True
        return identity.issued_at >= self.sessions_valid_from.replace(microsecond=0)

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
    issued_at: datetime | None = None
