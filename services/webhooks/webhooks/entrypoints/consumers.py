"""Subscribers of the webhooks service: every public topic it delivers."""

from __future__ import annotations

from shared.contracts.envelope import Envelope
from shared.contracts.topics import CONSUMERS
from shared.runtime.service import ServiceRuntime
from webhooks import handlers
from webhooks.handlers import Dependencies


def register(runtime: ServiceRuntime, deps: Dependencies) -> None:
    """Subscribe every topic of ``CONSUMERS["webhooks"]``."""

    async def on_public_event(envelope: Envelope) -> None:
        """Queue a signed delivery for every endpoint that receives this event type."""
        await handlers.queue_deliveries(envelope, deps)

    for topic in sorted(CONSUMERS["webhooks"]):
        runtime.subscribe(topic, on_public_event)
