"""``/v1/admin/clock``: read and move the scheduler's clock (only mounted when
``SCHEDULER_CLOCK_CONTROL=true``, which production refuses)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from scheduler.adapters.mongo_clock import MongoClockStore
from scheduler.firing import Firer

#: Ten years: more is a typo, not a test.
MAX_ADVANCE_SECONDS = 10 * 366 * 24 * 3600


class ClockAdvance(BaseModel):
    """How far to move the clock forward."""

    model_config = ConfigDict(extra="forbid")

    advance_seconds: float = Field(ge=0, le=MAX_ADVANCE_SECONDS)


class ClockView(BaseModel):
    """The scheduler's time and how far it is ahead of the wall clock."""

    now: datetime
    offset_seconds: float


def clock_router(store: MongoClockStore, firer: Firer) -> APIRouter:
    """Routes reading and moving the shared clock."""
    router = APIRouter(prefix="/v1/admin", tags=["clock (local and test only)"])

    @router.get("/clock", response_model=ClockView, summary="The scheduler's current time")
    async def read_clock() -> ClockView:
        await store.sync(force=True)
        return ClockView(now=store.clock.now(), offset_seconds=store.clock.offset.total_seconds())

    @router.post(
        "/clock",
        response_model=ClockView,
        summary="Move the clock forward; due timers fire at once",
    )
    async def advance_clock(body: ClockAdvance) -> ClockView:
        offset = await store.advance(body.advance_seconds)
        firer.wake()
        return ClockView(now=store.clock.now(), offset_seconds=offset.total_seconds())

    return router
