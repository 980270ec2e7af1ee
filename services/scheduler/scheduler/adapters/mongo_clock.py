"""The controllable clock's offset, persisted in ``scheduler.clock`` so that restarts and
every replica agree on the time (only used when ``SCHEDULER_CLOCK_CONTROL=true``)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from scheduler.domain.clock import OffsetClock, utcnow

_CLOCK_ID = "clock"


class MongoClockStore:
    """Reads and moves the shared offset; keeps an :class:`OffsetClock` in step."""

    def __init__(
        self,
        collection: AsyncCollection[dict[str, Any]],
        clock: OffsetClock,
        *,
        max_age_seconds: float = 0.0,
    ) -> None:
        self.coll = collection
        self.clock = clock
        self._max_age = max_age_seconds
        self._read_at = float("-inf")

    async def offset(self) -> timedelta:
        """The persisted offset (zero if the clock was never moved)."""
        doc = await self.coll.find_one({"_id": _CLOCK_ID})
        return timedelta(seconds=float(doc["offset_seconds"])) if doc else timedelta(0)

    async def start_at(self, moment: datetime | None) -> None:
        """On a database whose clock was never set, start the clock at ``moment`` (which
        may be in the past); an existing clock is kept, so restarts change nothing. Then
        adopt the stored offset."""
        if moment is not None:
            await self.coll.update_one(
                {"_id": _CLOCK_ID},
                {
                    "$setOnInsert": {
                        "offset_seconds": (moment - utcnow()).total_seconds(),
                        "updated_at": utcnow(),
                    }
                },
                upsert=True,
            )
        await self.sync(force=True)

    async def sync(self, *, force: bool = False) -> None:
        """Adopt the persisted offset, reading it at most every ``max_age_seconds`` (by
        default on every call: one indexed read, and never a stale offset)."""
        if not force and time.monotonic() - self._read_at < self._max_age:
            return
        self.clock.set_offset(await self.offset())
        self._read_at = time.monotonic()

    async def advance(self, seconds: float) -> timedelta:
        """Move the shared clock forward by ``seconds``; return the new offset."""
        doc = await self.coll.find_one_and_update(
            {"_id": _CLOCK_ID},
            {"$inc": {"offset_seconds": float(seconds)}, "$set": {"updated_at": utcnow()}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:  # an upsert returning the document after: cannot happen
            raise RuntimeError("the clock document was not written")
        offset = timedelta(seconds=float(doc["offset_seconds"]))
        self.clock.set_offset(offset)
        self._read_at = time.monotonic()
        return offset
