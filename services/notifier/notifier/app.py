"""Composition root of the notifier service: the one place real dependencies are wired."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from notifier.adapters.mongo_notifications import MongoNotifications
from notifier.adapters.mongo_recipients import MongoRecipients
from notifier.adapters.smtp_mailer import SmtpConfig, SmtpMailer
from notifier.domain.model import RetryPolicy
from notifier.domain.ratelimit import TokenBucket
from notifier.entrypoints import consumers
from notifier.entrypoints.http import templates_router
from notifier.handlers import Dependencies
from notifier.rendering import Renderer
from notifier.sender import Sender
from notifier.settings import Settings
from shared.runtime.logs import get_logger
from shared.runtime.service import ServiceRuntime

__all__ = ["Settings", "create_app"]

DESCRIPTION = (
    "Renders every guardian email (Jinja2 + gettext, six languages) and sends it over "
    "SMTP once per (event, template), with retries, a rate limit and preferences."
)


log = get_logger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the notifier service (no I/O until the app starts)."""
    settings = settings or Settings()
    waived = settings.check_production()
    runtime = ServiceRuntime(settings, title="Notifier service", description=DESCRIPTION)
    if waived:
        log.warning("production checks waived", waivers=waived)
    policy = settings.load_policy()
    settings.check_timezone(policy.time_zone)
    renderer = Renderer(policy, portal_url=settings.portal_public_url)
    notifications = MongoNotifications(
        runtime.db["notifications"],
        retention=timedelta(days=settings.notifier_retention_days),
        recipient_days=runtime.db["recipient_days"],
    )
    recipients = MongoRecipients(runtime.db["recipients"])
    mailer = SmtpMailer(
        SmtpConfig(
            host=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            starttls=settings.smtp_starttls,
            use_tls=settings.smtp_use_tls,
            timeout=settings.smtp_timeout_seconds,
            mail_from=settings.sender_address(policy.branding.mail_from),
        )
    )
    sender = Sender(
        notifications,
        mailer,
        bucket=TokenBucket(settings.notifier_max_sends_per_second),
        retry=RetryPolicy(
            base_seconds=settings.notifier_retry_base_seconds,
            max_seconds=settings.notifier_retry_max_seconds,
        ),
        batch_size=settings.notifier_batch_size,
        lease_seconds=settings.notifier_lease_seconds,
        poll_seconds=settings.notifier_poll_seconds,
        smtp_host=settings.smtp_host,
    )
    deps = Dependencies(
        notifications=notifications,
        recipients=recipients,
        renderer=renderer,
        policy=policy,
        portal_url=settings.portal_public_url,
        wake_sender=sender.wake,
        daily_cap=settings.notifier_unsolicited_per_recipient_per_day,
    )
    consumers.register(runtime, deps)
    runtime.include_router(templates_router(renderer))
    runtime.on_startup(notifications.create_indexes)

    async def deliver_notifications() -> None:
        await sender.run()

    runtime.background(deliver_notifications)
    runtime.on_shutdown(sender.stop)
    app = runtime.http_app()
    app.state.sender = sender
    return app
