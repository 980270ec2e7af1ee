"""Composition root of the linking service: the one place real dependencies are wired."""

from __future__ import annotations

from fastapi import FastAPI

from linking import messages
from linking.adapters.mongo_store import MongoStore
from linking.adapters.tokens import GuardianTokenVerifier, StaffTokenVerifier
from linking.entrypoints.consumers import subscriptions
from linking.entrypoints.http import build_router, install_linking_problems
from linking.handlers import Deps
from linking.settings import Settings
from shared.runtime.outbox import ImmediateDispatch
from shared.runtime.service import ServiceRuntime

__all__ = ["Settings", "build_deps", "create_app"]

DESCRIPTION = (
    "Student roster, guardian link requests (in person, activation code, legacy "
    "credentials), staff decisions with an audit trail, expiry and revocation; publishes "
    "LinkRequested, LinkApproved, LinkDenied, LinkRevoked and LinkWithdrawn."
)


def build_deps(store: MongoStore, settings: Settings) -> Deps:
    """The use cases' dependencies on MongoDB (shared by the app and the CLI)."""
    return Deps(
        links=store.links,
        roster=store.roster,
        guardians=store.guardians,
        codes=store.codes,
        legacy=store.legacy,
        attempts=store.attempts,
        restrictions=store.restrictions,
        policy=settings.load_policy(),
        roster_batch_size=settings.roster_batch_size,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the linking service (no network I/O until the app starts)."""
    settings = settings or Settings()
    messages.register()
    # Every request commits to MongoDB; events wait in the outbox while Kafka is down.
    runtime = ServiceRuntime(
        settings, title="Linking service", description=DESCRIPTION, serves_without_kafka=True
    )
    # Events are published right after the write that commits them; the shared relay
    # publishes whatever a crash leaves behind (`shared.runtime.outbox.ImmediateDispatch`).
    dispatch = ImmediateDispatch(runtime.publisher, lease_seconds=settings.outbox_lease_seconds)
    store = MongoStore.on(runtime.db, dispatch)
    deps = build_deps(store, settings)
    runtime.outbox(store.links.collection)
    runtime.on_shutdown(dispatch.drain)
    runtime.on_startup(store.create_indexes)
    for topic, handler in subscriptions(deps).items():
        runtime.subscribe(topic, handler)
    guardian_tokens = GuardianTokenVerifier(
        settings.identity_keys(),
        issuer=settings.identity_jwt_issuer,
        audience=settings.identity_jwt_audience,
        leeway=settings.jwt_leeway_seconds,
        jwks_url=settings.identity_jwks_url,
        refresh_seconds=settings.staff_keys_refresh_seconds,
    )
    staff_tokens = StaffTokenVerifier.from_settings(
        settings, deps.policy.staff, settings.jwt_leeway_seconds
    )
    runtime.include_router(build_router(deps, settings, guardian_tokens, staff_tokens))
    # The multipart envelope around the zip takes a few hundred bytes more than the file.
    runtime.allow_larger_body("/v1/roster/imports", settings.roster_max_upload_bytes + 64 * 1024)
    app = runtime.http_app()
    install_linking_problems(app)
    app.state.deps = deps
    return app
