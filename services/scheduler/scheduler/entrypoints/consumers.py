"""Subscribers: decode, call one use case, done (the shared consumer acks, retries and
dead-letters)."""

from __future__ import annotations

from typing import cast

from scheduler import handlers
from scheduler.domain.timers import Recipient
from scheduler.handlers import Deps
from shared.contracts.envelope import Envelope
from shared.contracts.events import (
    AccountCreated,
    AccountDeleted,
    AccountSignedIn,
    EmailVerified,
    LinkApproved,
    LinkDenied,
    LinkRequested,
    LinkRevoked,
    LinkWithdrawn,
)
from shared.contracts.topics import Topic
from shared.runtime.service import ServiceRuntime
from shared.runtime.tracing import current_trace_headers


def register(runtime: ServiceRuntime, deps: Deps) -> None:
    """Subscribe the scheduler to every topic of ``CONSUMERS["scheduler"]``."""

    async def on_link_requested(envelope: Envelope) -> None:
        """Arm the link's expiry (and reminder) timer."""
        event = cast(LinkRequested, envelope.event)
        await handlers.link_requested(event, deps, trace=current_trace_headers())

    async def on_link_approved(envelope: Envelope) -> None:
        """Cancel the link's timers: approved."""
        event = cast(LinkApproved, envelope.event)
        await handlers.link_closed(event.link_id, event.account_id, "approved", deps)

    async def on_link_denied(envelope: Envelope) -> None:
        """Cancel the link's timers: denied."""
        event = cast(LinkDenied, envelope.event)
        await handlers.link_closed(event.link_id, event.account_id, "denied", deps)

    async def on_link_revoked(envelope: Envelope) -> None:
        """Cancel the link's timers: revoked."""
        event = cast(LinkRevoked, envelope.event)
        await handlers.link_closed(event.link_id, event.account_id, "revoked", deps)

    async def on_link_withdrawn(envelope: Envelope) -> None:
        """Cancel the link's timers: withdrawn by the guardian or dropped with the account."""
        event = cast(LinkWithdrawn, envelope.event)
        await handlers.link_closed(event.link_id, event.account_id, "withdrawn", deps)

    async def on_account_created(envelope: Envelope) -> None:
        """Arm the account's inactivity timers from its creation."""
        event = cast(AccountCreated, envelope.event)
        recipient = Recipient(event.email, event.locale, event.first_name)
        await handlers.account_active(
            event.account_id,
            event.created_at,
            deps,
            recipient=recipient,
            trace=current_trace_headers(),
        )

    async def on_email_verified(envelope: Envelope) -> None:
        """Re-arm the account's inactivity timers from the verification."""
        event = cast(EmailVerified, envelope.event)
        recipient = Recipient(
            event.email,
            # Only a locale the producer actually sent (the model defaults to "en").
            event.locale if "locale" in event.model_fields_set else None,
            event.first_name,
        )
        await handlers.account_active(
            event.account_id,
            event.verified_at,
            deps,
            recipient=recipient,
            trace=current_trace_headers(),
        )

    async def on_account_signed_in(envelope: Envelope) -> None:
        """Re-arm the account's inactivity timers from the sign-in."""
        event = cast(AccountSignedIn, envelope.event)
        await handlers.account_active(
            event.account_id, event.at, deps, trace=current_trace_headers()
        )

    async def on_account_deleted(envelope: Envelope) -> None:
        """Cancel every timer of the account and erase personal data in them."""
        event = cast(AccountDeleted, envelope.event)
        await handlers.account_deleted(event.account_id, event.reason, deps)

    runtime.subscribe(Topic.LINK_REQUESTED, on_link_requested)
    runtime.subscribe(Topic.LINK_APPROVED, on_link_approved)
    runtime.subscribe(Topic.LINK_DENIED, on_link_denied)
    runtime.subscribe(Topic.LINK_REVOKED, on_link_revoked)
    runtime.subscribe(Topic.LINK_WITHDRAWN, on_link_withdrawn)
    runtime.subscribe(Topic.ACCOUNT_CREATED, on_account_created)
    runtime.subscribe(Topic.EMAIL_VERIFIED, on_email_verified)
    runtime.subscribe(Topic.ACCOUNT_SIGNED_IN, on_account_signed_in)
    runtime.subscribe(Topic.ACCOUNT_DELETED, on_account_deleted)
