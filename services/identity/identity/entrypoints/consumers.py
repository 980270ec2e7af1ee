"""Event subscribers of the identity service (thin: decode happened in the runtime)."""

from __future__ import annotations

from identity.handlers import IdentityService
from shared.contracts.topics import Topic
from shared.runtime.service import ServiceRuntime


def subscribe(runtime: ServiceRuntime, service: IdentityService) -> None:
    """Consume ``InactivityTimeout`` (disable or erase inactive accounts)."""
    runtime.subscribe(
        Topic.INACTIVITY_TIMEOUT, service.on_inactivity_timeout,
        description="Disable (stage disable) or erase (stage delete) an inactive account; "
        "ignored when the account was active after last_activity_at.",
    )
