"""Subscribers of the linking service: each consumed topic calls one use case."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from linking import handlers
from linking.handlers import Deps
from shared.contracts.envelope import Envelope
from shared.contracts.topics import Topic

Handler = Callable[[Envelope], Awaitable[None]]


def subscriptions(deps: Deps) -> dict[Topic, Handler]:
    """The handler of every topic linking consumes (``CONSUMERS["linking"]``)."""

    async def account_created(envelope: Envelope) -> None:
        """Keep the guardian's contact; turn student claims into pending requests."""
        await handlers.on_account_created(deps, envelope)

    async def email_verified(envelope: Envelope) -> None:
        """Mark the guardian verified; release held approvals."""
        await handlers.on_email_verified(deps, envelope)

    async def profile_updated(envelope: Envelope) -> None:
        """Keep the guardian's contact current; tell the SIS of a change."""
        await handlers.on_profile_updated(deps, envelope)

    async def sessions_ended(envelope: Envelope) -> None:
        """Refuse the guardian's tokens issued before a password change or a disabling."""
        await handlers.on_sessions_ended(deps, envelope)

    async def link_expired(envelope: Envelope) -> None:
        """Expire a pending request whose in-person deadline passed."""
        await handlers.on_link_expired(deps, envelope)

    async def account_deleted(envelope: Envelope) -> None:
        """Revoke approved links, withdraw pending ones, erase the guardian."""
        await handlers.on_account_deleted(deps, envelope)

    return {
        Topic.ACCOUNT_CREATED: account_created,
        Topic.EMAIL_VERIFIED: email_verified,
        Topic.ACCOUNT_PROFILE_UPDATED: profile_updated,
        Topic.LINK_EXPIRED: link_expired,
        Topic.ACCOUNT_DELETED: account_deleted,
        Topic.PASSWORD_CHANGED: sessions_ended,
        Topic.ACCOUNT_DISABLED: sessions_ended,
    }
