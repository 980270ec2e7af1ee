"""What linking keeps about a guardian account (a projection of identity's events):
contact details for ``LinkApproved`` and whether the email is verified."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from shared.contracts.events import (
    AccountCreated,
    AccountProfileUpdated,
    GuardianContact,
    Phone,
    PostalAddress,
)
from shared.contracts.phones import e164

#: The parts of a guardian's contact block the SIS is told about when they change
#: (``GuardianContactUpdated.changed``), in the order they are listed.
CONTACT_PARTS = (
    "name",
    "email",
    "phones",
    "emergency_phone",
    "secondary_email",
    "address",
    "locale",
)

#: Contact fields identity's events carry since issue 20; an event without the key (an
#: older identity) says nothing about them, so the stored value is kept.
CONTACT_FIELDS = ("emergency_phone", "secondary_email", "address")


def contact_fields(event: AccountCreated | AccountProfileUpdated) -> dict[str, Any]:
    """The contact fields ``event`` states (present in its data, even as null), as
    stored."""
    out: dict[str, Any] = {}
    for name in CONTACT_FIELDS:
        if name in event.model_fields_set:
            value = getattr(event, name)
            out[name] = value.model_dump() if isinstance(value, BaseModel) else value
    return out


@dataclass
class Guardian:
    """The projection of one account."""

    account_id: str
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    locale: str = "en"
    phones: list[dict[str, Any]] = field(default_factory=list)
    #: The rest of the contact block (issue 20), as identity's events said.
    emergency_phone: str | None = None
    secondary_email: str | None = None
    address: dict[str, Any] | None = None
    #: When identity last changed the contact (the profile update, else the creation).
    contact_updated_at: datetime | None = None
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
        """The guardian contact carried by ``LinkApproved`` and ``GuardianContactUpdated``:
        phones with their E.164 form (derived here when an older identity event did not
        carry it) and SMS consent, emergency phone, secondary email and address."""
        phones = []
        for raw in self.phones:
            try:
                phone = Phone.model_validate(raw)
            except ValueError:
                continue
            if phone.e164 is None and e164(phone.number) is not None:
                phone = phone.model_copy(update={"e164": e164(phone.number)})
            phones.append(phone)
        address = None
        if self.address:
            try:
                address = PostalAddress.model_validate(self.address)
            except ValueError:
                address = None
        emergency = self.emergency_phone if self.emergency_phone in ("mobile", "home", "work") else None
        return GuardianContact(
            name=self.name,
            email=self.email or "",
            phones=phones,
            emergency_phone=emergency,  # type: ignore[arg-type]
            secondary_email=self.secondary_email,
            address=address,
        )

    def contact_digest(self) -> dict[str, str]:
        """A short digest of each part of the contact block (:data:`CONTACT_PARTS`): a link
        keeps the digests it last announced, so a change is published once and a
        redelivered event publishes nothing. Digests, not values: no second copy of the
        guardian's personal data in the link documents."""
        block = self.contact().model_dump(mode="json")
        block["locale"] = self.locale or "en"
        return {
            part: hashlib.sha256(
                json.dumps(block.get(part), sort_keys=True).encode()
            ).hexdigest()[:16]
            for part in CONTACT_PARTS
        }

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
