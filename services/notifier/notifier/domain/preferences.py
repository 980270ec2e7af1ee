"""Recipient preferences (a projection of ``AccountProfileUpdated``) and the send decision."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from notifier.domain.model import CATEGORY, Category, SkipReason, Template

ALL_KINDS: tuple[str, ...] = ("link_updates", "reminders", "account")


@dataclass(frozen=True)
class Recipient:
    """What the notifier keeps about an account: preferences, never an address."""

    account_id: str
    kinds: tuple[str, ...] = ALL_KINDS
    channels: tuple[str, ...] = ("email",)
    first_name: str | None = None
    locale: str | None = None
    updated_at: datetime | None = None
    deleted: bool = False


@dataclass(frozen=True)
class Decision:
    """Send, or record as skipped with a reason."""

    send: bool
    reason: SkipReason | None = None


SEND = Decision(True)


def decide(template: Template, to: str | None, recipient: Recipient | None) -> Decision:
    """Whether ``template`` goes to ``to``: security mail always goes (when there is an
    address); other mail follows the guardian's kinds and needs the email channel."""
    if not to:
        return Decision(False, SkipReason.NO_ADDRESS)
    if recipient is not None and recipient.deleted:
        return Decision(False, SkipReason.ACCOUNT_DELETED)
    category = CATEGORY[template]
    if category is Category.SECURITY or recipient is None:
        return SEND
    if "email" not in recipient.channels or str(category) not in recipient.kinds:
        return Decision(False, SkipReason.PREFERENCES)
    return SEND


@dataclass
class RecipientUpdate:
    """A preferences change taken from an ``AccountProfileUpdated`` event."""

    account_id: str
    kinds: list[str] = field(default_factory=lambda: list(ALL_KINDS))
    channels: list[str] = field(default_factory=lambda: ["email"])
    first_name: str | None = None
    locale: str | None = None
    updated_at: datetime | None = None
