"""Kafka subscribers of the notifier: thin adapters from a decoded envelope to a handler."""

from __future__ import annotations

from notifier import handlers
from notifier.handlers import Dependencies
from shared.contracts.envelope import Envelope
from shared.contracts.topics import CONSUMERS, Topic
from shared.runtime.service import ServiceRuntime

#: Topics whose events become mail (every other consumed topic feeds the projection).
MAIL_TOPICS: tuple[Topic, ...] = (
    Topic.EMAIL_VERIFICATION_REQUESTED,
    Topic.DUPLICATE_REGISTRATION_ATTEMPTED,
    Topic.EMAIL_VERIFIED,
    Topic.PASSWORD_RESET_REQUESTED,
    Topic.PASSWORD_CHANGED,
    Topic.ACCOUNT_DISABLED,
    Topic.LINK_REQUESTED,
    Topic.LINK_APPROVED,
    Topic.LINK_DENIED,
    Topic.LINK_EXPIRED,
    Topic.LINK_REVOKED,
    Topic.LINK_EXPIRY_REMINDER,
    Topic.INACTIVITY_REMINDER,
)


def register(runtime: ServiceRuntime, deps: Dependencies) -> None:
    """Subscribe every topic the contract gives the notifier."""

    async def on_mail_event(envelope: Envelope) -> None:
        """Record the guardian's mail for this event (queued for the sender)."""
        await handlers.record_notifications(envelope, deps)

    async def on_profile_updated(envelope: Envelope) -> None:
        """Keep the guardian's notification preferences."""
        await handlers.update_recipient(envelope, deps)

    async def on_account_deleted(envelope: Envelope) -> None:
        """Erase what the notifier keeps about the account."""
        await handlers.erase_recipient(envelope, deps)

    for topic in MAIL_TOPICS:
        runtime.subscribe(topic, on_mail_event, description=f"Mails the guardian about {topic}")
    runtime.subscribe(Topic.ACCOUNT_PROFILE_UPDATED, on_profile_updated)
    runtime.subscribe(Topic.ACCOUNT_DELETED, on_account_deleted)
    missing = CONSUMERS["notifier"] - set(runtime.consumers.topics)
    if missing:  # pragma: no cover - guarded by a unit test
        raise RuntimeError(f"notifier does not consume {sorted(missing)}")
