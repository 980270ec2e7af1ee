"""Use cases: one function per event the scheduler consumes.

Each is idempotent: timers have deterministic ids and every write is conditional, so a
redelivered or reordered event leaves the same timers as a single delivery.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from scheduler import metrics
from scheduler.domain.clock import Clock
from scheduler.domain.timers import (
    Recipient,
    link_timer_ids,
    plan_inactivity_timers,
    plan_link_timers,
)
from scheduler.ports import TimerRepository
from shared.contracts.events import LinkRequested
from shared.runtime.logs import get_logger
from shared.runtime.policy import DistrictPolicy

log = get_logger(__name__)


async def _in_sync() -> None:
    return None


@dataclass
class Deps:
    """What the use cases need, wired in ``app.create_app``."""

    timers: TimerRepository
    clock: Clock
    policy: DistrictPolicy
    #: Brings ``clock`` up to date with the shared (persisted) offset.
    sync_clock: Callable[[], Awaitable[None]] = field(default=_in_sync)


def _count_armed(ids: list[str]) -> None:
    for timer in ids:
        metrics.ARMED.labels(timer.split(":", 1)[0]).inc()


async def link_requested(
    event: LinkRequested, deps: Deps, *, trace: Mapping[str, str] | None = None
) -> int:
    """Arm the link's expiry timer at ``expires_at`` and its reminder ahead of it.

    Returns how many timers were armed (0 on redelivery, after a decision already
    cancelled them, or when the account was deleted).
    """
    if await deps.timers.account_closed(event.account_id):
        log.info("link of a deleted account; not armed", link_id=event.link_id)
        return 0
    await deps.sync_clock()
    specs = plan_link_timers(
        event,
        deps.policy.links,
        now=deps.clock.now(),
        offset=deps.clock.offset,
        tz=deps.policy.tz,
    )
    armed = await deps.timers.arm_once(specs, trace or {})
    _count_armed(armed)
    log.info("link timers armed", link_id=event.link_id, armed=len(armed), due_at=specs[0].due_at)
    return len(armed)


async def link_closed(link_id: str, account_id: str, reason: str, deps: Deps) -> int:
    """A decision (approval, denial, revocation) or a withdrawal ends the wait: cancel the
    link's timers."""
    cancelled = await deps.timers.cancel(
        link_timer_ids(link_id), account_id=account_id, reason=reason
    )
    if cancelled:
        metrics.CANCELLED.labels(reason).inc(cancelled)
    log.info("link timers cancelled", link_id=link_id, reason=reason, cancelled=cancelled)
    return cancelled


async def account_active(
    account_id: str,
    at: datetime,
    deps: Deps,
    *,
    recipient: Recipient | None = None,
    trace: Mapping[str, str] | None = None,
) -> int:
    """Activity at ``at`` (creation, verification, sign-in): (re)arm the account's
    disable, delete and reminder timers from it. Older activity changes nothing."""
    await deps.sync_clock()
    specs = plan_inactivity_timers(
        account_id,
        at,
        deps.policy.inactivity,
        now=deps.clock.now(),
        offset=deps.clock.offset,
        tz=deps.policy.tz,
    )
    moved = await deps.timers.rearm(specs, trace or {})
    if recipient is not None and recipient.fields():
        await deps.timers.set_recipient(account_id, recipient)
    _count_armed(moved)
    log.info(
        "inactivity timers armed",
        account_id=account_id,
        moved=len(moved),
        disable_at=specs[0].due_at,
    )
    return len(moved)


async def account_deleted(account_id: str, reason: str, deps: Deps) -> int:
    """Cancel all of the account's timers for good and erase personal data in them."""
    cancelled = await deps.timers.close_account(account_id, reason="account_deleted")
    if cancelled:
        metrics.CANCELLED.labels("account_deleted").inc(cancelled)
    log.info("account timers closed", account_id=account_id, cancelled=cancelled, why=reason)
    return cancelled
