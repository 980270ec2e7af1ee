"""Composition root of the identity service: the one place real dependencies are wired."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from fastapi import FastAPI

from identity.adapters.captcha import build_captcha
from identity.adapters.hashing import Argon2Hasher, Argon2Parameters
from identity.adapters.jwt_sessions import SessionTokens
from identity.adapters.mongo_accounts import MongoAccounts
from identity.adapters.mongo_helpdesk import MongoHelpDesk
from identity.domain.messages import MESSAGES
from identity.entrypoints import consumers
from identity.entrypoints.http import build_router, install_error_handlers
from identity.entrypoints.keys import build_keys_router
from identity.entrypoints.staff import build_staff_router
from identity.handlers import IdentityService
from identity.helpdesk import HelpDesk
from identity.helpdesk import register as helpdesk_messages
from identity.settings import Settings
from shared.runtime.logs import get_logger
from shared.runtime.problems import register_messages
from shared.runtime.service import ServiceRuntime
from shared.runtime.staff_tokens import StaffTokenVerifier

__all__ = ["Settings", "create_app"]

log = get_logger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the identity service (no I/O until the app starts)."""
    settings = settings or Settings()
    waived = settings.check_production()
    policy = settings.load_policy()
    register_messages(MESSAGES)
    runtime = ServiceRuntime(
        settings,
        # Every request commits to MongoDB; events wait in the outbox while Kafka is down.
        serves_without_kafka=True,
        title="Identity service",
        description="Guardian registration, email verification, sign-in, passwords, profile "
        "and account lifecycle.",
    )
    if waived:  # logged once logging is configured (by the runtime)
        log.warning("production checks waived", waivers=waived)
    repo = MongoAccounts(runtime.db, on_commit=runtime.wake_relay)
    hasher = Argon2Hasher(
        Argon2Parameters(
            memory_kib=settings.identity_argon2_memory_kib,
            time_cost=settings.identity_argon2_time_cost,
            parallelism=settings.identity_argon2_parallelism,
        ),
        workers=settings.identity_hash_workers,
    )
    captcha = build_captcha(
        settings.captcha_provider,
        settings.captcha_secret.get_secret_value() if settings.captcha_secret else None,
        settings.captcha_verify_url,
    )
    tokens = SessionTokens.from_settings(
        settings.identity_jwt_private_keys.get_secret_value()
        if settings.identity_jwt_private_keys
        else None,
        settings.identity_jwt_active_kid,
        production=settings.environment == "production",
    )
    pending: set[asyncio.Task[None]] = set()

    async def after_answer(work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` after the HTTP answer (resend and reset look the account up then,
        so their timing does not depend on it)."""

        async def logged() -> None:
            try:
                await work
            except Exception:
                log.exception("deferred email request failed")

        task = asyncio.create_task(logged())
        pending.add(task)
        task.add_done_callback(pending.discard)

    async def finish_pending() -> None:
        if pending:
            await asyncio.wait(pending, timeout=10)

    service = IdentityService(
        repo=repo, hasher=hasher, captcha=captcha, tokens=tokens, policy=policy,
        after_answer=after_answer,
    )
    runtime.on_shutdown(finish_pending)

    runtime.outbox(repo.accounts)
    runtime.on_startup(repo.create_indexes)
    consumers.subscribe(runtime, service)

    async def purge_unverified_accounts() -> None:
        """Purge never-verified accounts periodically."""
        await asyncio.sleep(settings.identity_purge_first_delay_seconds)
        while True:
            await service.purge_unverified()
            await asyncio.sleep(settings.identity_purge_interval_seconds)

    runtime.background(purge_unverified_accounts)

    async def close_hasher() -> None:
        hasher.close()

    runtime.on_shutdown(close_hasher)
    runtime.include_router(
        build_router(service, trusted_proxy_hops=settings.proxy_hops)
    )
    runtime.include_router(build_keys_router(tokens))
    helpdesk_messages()
    helpdesk = HelpDesk(accounts=MongoHelpDesk(repo.accounts), repo=repo, policy=policy)
    runtime.include_router(
        build_staff_router(
            helpdesk, StaffTokenVerifier(settings.staff_issuers(policy.staff), leeway=30)
        )
    )
    app = runtime.http_app()
    install_error_handlers(app)
    app.state.identity = service
    log.debug("identity app built", policy=policy.name)
    return app
