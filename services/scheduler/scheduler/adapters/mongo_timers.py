"""``scheduler.timers`` on MongoDB: every rule of domain/timers.py as a conditional write.

One document per timer::

    {_id: "link-expiry:<link_id>", kind, topic, account_id, subject,
     due_at,                  # on the scheduler's timeline
     state,                   # scheduled | firing | fired | cancelled
     data: {...},             # the event to raise (contract fields)
     armed_by,                # activity / request time that armed it (only moves forward)
     trace: {traceparent},    # of the event that armed it
     lease_owner, lease_until, claims, cancel_requested, cancel_reason,
     fired_at, fired_at_wall, fired_by, closed, created_at, updated_at}

Indexes: ``(state, due_at)`` for the claim (over everything due, or a window of due
times during a backlog: domain/sweep.py), the most recently due and the metrics;
``account_id`` for deletions.
Only operations real MongoDB has are used (no transactions needed: every change is one
document or a conditional multi-document update).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from scheduler.domain.clock import utcnow
from scheduler.domain.sweep import DueSweep
from scheduler.domain.timers import (
    PERSONAL_FIELDS,
    Recipient,
    Timer,
    TimerKind,
    TimerSpec,
    TimerState,
    account_timer_ids,
    timer_id,
)
from scheduler.ports import Claim, TimerStats

SCHEDULED = TimerState.SCHEDULED.value
FIRING = TimerState.FIRING.value
FIRED = TimerState.FIRED.value
CANCELLED = TimerState.CANCELLED.value

#: ``armed_by`` of a tombstone: older than any activity, so arming may follow.
NEVER_ARMED = datetime(1970, 1, 1, tzinfo=UTC)

#: What the firer reads of a claimed timer.
_FIRE_FIELDS = {
    "kind": 1,
    "account_id": 1,
    "due_at": 1,
    "state": 1,
    "data": 1,
    "trace": 1,
    "cancel_requested": 1,
    "lease_owner": 1,
    "lease_until": 1,
    "claims": 1,
    "rev": 1,
}


async def create_indexes(coll: AsyncCollection[dict[str, Any]]) -> None:
    """The indexes the claim, the metrics and account deletion use."""
    await coll.create_index([("state", ASCENDING), ("due_at", ASCENDING)], name="state_due")
    await coll.create_index([("account_id", ASCENDING)], name="account")


def new_rev() -> str:
    """A fresh revision token: every change a firer must not miss sets one."""
    return uuid.uuid4().hex[:16]


def timer_from_doc(doc: Mapping[str, Any]) -> Timer:
    """A stored document as the domain sees it."""
    return Timer(
        id=doc["_id"],
        kind=TimerKind(doc["kind"]),
        account_id=doc.get("account_id", ""),
        due_at=doc.get("due_at"),  # type: ignore[arg-type]
        state=TimerState(doc["state"]),
        data=dict(doc.get("data") or {}),
        armed_by=doc.get("armed_by"),
        closed=bool(doc.get("closed")),
        cancel_requested=bool(doc.get("cancel_requested")),
        cancel_reason=doc.get("cancel_reason"),
        lease_owner=doc.get("lease_owner"),
        lease_until=doc.get("lease_until"),
        fired_at=doc.get("fired_at"),
        trace=dict(doc.get("trace") or {}),
        claims=int(doc.get("claims") or 0),
    )


def new_timer_doc(
    spec: TimerSpec, trace: Mapping[str, str], now: datetime | None = None
) -> dict[str, Any]:
    """The document of a freshly armed timer."""
    now = now or utcnow()
    doc: dict[str, Any] = {
        "_id": spec.id,
        "kind": spec.kind.value,
        "topic": spec.topic.value,
        "account_id": spec.account_id,
        "subject": spec.subject,
        "due_at": spec.due_at,
        "state": spec.state.value,
        "data": dict(spec.data),
        "armed_by": spec.armed_by,
        "rev": new_rev(),
        "created_at": now,
        "updated_at": now,
    }
    if trace:
        doc["trace"] = dict(trace)
    if spec.cancel_reason:
        doc["cancel_reason"] = spec.cancel_reason
    return doc


def _tombstone(
    id_: str, kind: TimerKind, account_id: str, reason: str, closed: bool
) -> dict[str, Any]:
    now = utcnow()
    doc: dict[str, Any] = {
        "kind": kind.value,
        "account_id": account_id,
        "subject": id_.split(":", 1)[1],
        "due_at": None,
        "state": CANCELLED,
        "cancel_reason": reason,
        "data": {},
        "armed_by": NEVER_ARMED,
        "rev": new_rev(),
        "created_at": now,
        "updated_at": now,
    }
    if closed:
        doc["closed"] = True
    return doc


def changed(now: datetime) -> dict[str, Any]:
    """Fields every change sets: the time and a new revision."""
    return {"updated_at": now, "rev": new_rev()}


def _is_duplicate(exc: BulkWriteError) -> bool:
    errors = exc.details.get("writeErrors", [])
    return bool(errors) and all(e.get("code") == 11000 for e in errors)


class MongoTimers:
    """:class:`scheduler.ports.TimerRepository` on a MongoDB collection."""

    def __init__(
        self,
        collection: AsyncCollection[dict[str, Any]],
        *,
        sweep: DueSweep | None = None,
        fresh_window: timedelta = timedelta(minutes=1),
    ) -> None:
        self.coll = collection
        self.sweep = sweep or DueSweep()
        self._fresh_window = fresh_window

    # --- arming ---------------------------------------------------------------------

    async def _insert_missing(self, docs: Sequence[dict[str, Any]]) -> list[str]:
        """Insert-if-absent (upsert of ``$setOnInsert``); the ids actually inserted."""
        if not docs:
            return []
        ops = [UpdateOne({"_id": d["_id"]}, {"$setOnInsert": d}, upsert=True) for d in docs]
        try:
            result = await self.coll.bulk_write(ops, ordered=False)
            upserted = result.upserted_ids or {}
        except BulkWriteError as exc:
            # Two writers inserting the same id at once: the other one won; fine.
            if not _is_duplicate(exc):
                raise
            upserted = {u["index"]: u["_id"] for u in exc.details.get("upserted", [])}
        return [docs[i]["_id"] for i in sorted(upserted)]

    async def arm_once(self, specs: Sequence[TimerSpec], trace: Mapping[str, str]) -> list[str]:
        """See :meth:`scheduler.ports.TimerRepository.arm_once`."""
        now = utcnow()
        return await self._insert_missing([new_timer_doc(s, trace, now) for s in specs])

    def _rearm_op(self, spec: TimerSpec, trace: Mapping[str, str]) -> UpdateOne:
        now = utcnow()
        fields: dict[str, Any] = {
            "kind": spec.kind.value,
            "topic": spec.topic.value,
            "account_id": spec.account_id,
            "subject": spec.subject,
            "due_at": spec.due_at,
            "state": spec.state.value,
            "armed_by": spec.armed_by,
            "rev": new_rev(),
            "updated_at": now,
            "trace": dict(trace),
        }
        # Field by field, so what only some events carry (the recipient) is kept.
        fields.update({f"data.{k}": v for k, v in spec.data.items()})
        unset = dict.fromkeys(
            (
                "lease_owner",
                "lease_until",
                "cancel_requested",
                "fired_at",
                "fired_at_wall",
                "fired_by",
            ),
            "",
        )
        if spec.cancel_reason:
            fields["cancel_reason"] = spec.cancel_reason
        else:
            unset["cancel_reason"] = ""
        return UpdateOne(
            {
                "_id": spec.id,
                "closed": {"$ne": True},
                # Tombstones carry NEVER_ARMED, so every stored timer has an armed_by
                # (and the local server answers a plain range far faster than an $or).
                "armed_by": {"$lt": spec.armed_by},
            },
            {"$set": fields, "$unset": unset},
        )

    async def _move(self, spec: TimerSpec, trace: Mapping[str, str]) -> bool:
        op = self._rearm_op(spec, trace)
        result = await self.coll.bulk_write([op])
        return bool(result.matched_count)

    async def rearm(self, specs: Sequence[TimerSpec], trace: Mapping[str, str]) -> list[str]:
        """See :meth:`scheduler.ports.TimerRepository.rearm`.

        Per timer: move it if it exists and the activity is newer (one conditional
        update); otherwise insert it if missing; if another writer inserted it meanwhile,
        try the conditional move once more (it is then decided against the stored doc).
        """
        moved: list[str] = []
        for spec in specs:
            if await self._move(spec, trace):
                moved.append(spec.id)
            elif await self._insert_missing([new_timer_doc(spec, trace)]):
                moved.append(spec.id)
            elif await self._move(spec, trace):
                moved.append(spec.id)
        return moved

    async def set_recipient(self, account_id: str, recipient: Recipient) -> None:
        """See :meth:`scheduler.ports.TimerRepository.set_recipient`."""
        fields = {f"data.{k}": v for k, v in recipient.fields().items()}
        if not fields:
            return
        await self.coll.update_one(
            {"_id": timer_id(TimerKind.INACTIVITY_REMINDER, account_id), "closed": {"$ne": True}},
            {"$set": {**fields, "rev": new_rev()}},
        )

    # --- cancelling -----------------------------------------------------------------

    async def cancel(self, ids: Sequence[str], *, account_id: str, reason: str) -> int:
        """See :meth:`scheduler.ports.TimerRepository.cancel`."""
        # Tombstones first: once every id exists, no late arming can insert it.
        await self._insert_missing(
            [
                {
                    "_id": i,
                    **_tombstone(i, TimerKind(i.split(":", 1)[0]), account_id, reason, False),
                }
                for i in ids
            ]
        )
        now = utcnow()
        result = await self.coll.update_many(
            {"_id": {"$in": list(ids)}, "state": SCHEDULED},
            {"$set": {"state": CANCELLED, "cancel_reason": reason, **changed(now)}},
        )
        await self.coll.update_many(
            {"_id": {"$in": list(ids)}, "state": FIRING},
            {"$set": {"cancel_requested": True, "cancel_reason": reason, **changed(now)}},
        )
        return result.modified_count

    async def close_account(self, account_id: str, *, reason: str) -> int:
        """See :meth:`scheduler.ports.TimerRepository.close_account`."""
        ids = account_timer_ids(account_id)
        await self._insert_missing(
            [
                {"_id": i, **_tombstone(i, TimerKind(i.split(":", 1)[0]), account_id, reason, True)}
                for i in ids
            ]
        )
        now = utcnow()
        result = await self.coll.update_many(
            {"account_id": account_id, "state": SCHEDULED},
            {"$set": {"state": CANCELLED, "cancel_reason": reason, **changed(now)}},
        )
        await self.coll.update_many(
            {"account_id": account_id, "state": FIRING},
            {"$set": {"cancel_requested": True, "cancel_reason": reason, **changed(now)}},
        )
        await self.coll.update_many(
            {"account_id": account_id},
            {
                "$set": {"closed": True, "erased_at": now, **changed(now)},
                "$unset": {"trace": "", **{f"data.{f}": "" for f in PERSONAL_FIELDS}},
            },
        )
        return result.modified_count

    async def account_closed(self, account_id: str) -> bool:
        """See :meth:`scheduler.ports.TimerRepository.account_closed`."""
        doc = await self.coll.find_one(
            {"_id": timer_id(TimerKind.INACTIVITY_DISABLE, account_id), "closed": True},
            {"_id": 1},
        )
        return doc is not None

    # --- firing ---------------------------------------------------------------------

    async def claim_due(
        self,
        *,
        now: datetime,
        wall: datetime,
        owner: str,
        limit: int,
        fresh: int,
        lease_until: datetime,
    ) -> Claim:
        """See :meth:`scheduler.ports.TimerRepository.claim_due`."""
        expired = {"state": FIRING, "lease_until": {"$lt": wall}}
        due = {"state": SCHEDULED, "due_at": {"$lte": now}}
        stale = [d async for d in self.coll.find(expired, _FIRE_FIELDS).limit(limit)]
        found: list[dict[str, Any]] = []
        room = limit - len(stale)
        if room > 0:
            backlog = self.sweep.in_backlog
            newest = min(fresh, room // 2) if backlog else 0
            found = await self._oldest_due(now, room - newest)
            if newest and found:
                # A backlog: also take the most recently due (a narrow range of due
                # times, cheap), so the backlog never starves timers that just fell due.
                seen = {d["_id"] for d in found}
                recent = {
                    "state": SCHEDULED,
                    "due_at": {"$gt": now - self._fresh_window, "$lte": now},
                }
                found += [
                    d
                    async for d in self.coll.find(recent, _FIRE_FIELDS)
                    .sort("due_at", DESCENDING)
                    .limit(newest)
                    if d["_id"] not in seen
                ]
        if not stale and not found:
            return Claim(0, [])
        lease = {
            "$set": {"state": FIRING, "lease_owner": owner, "lease_until": lease_until},
            "$inc": {"claims": 1},
        }
        # Conditional on the state *and* the revision read: a timer changed since (re-armed,
        # cancelled, flagged) is not taken, so what this firer publishes is exactly what
        # it read, and of two replicas claiming the same timer exactly one gets it. (Two
        # updates rather than one with $or: the local server answers $or far slower.)
        claimed = 0
        for docs, still in ((found, due), (stale, expired)):
            if docs:
                result = await self.coll.update_many(
                    {
                        "_id": {"$in": [d["_id"] for d in docs]},
                        **still,
                        "rev": {"$in": list({d.get("rev") for d in docs})},
                    },
                    lease,
                )
                claimed += result.modified_count
        docs = stale + found
        if claimed < len(docs):  # lost some to another replica or a change: which?
            mine = {
                d["_id"]
                async for d in self.coll.find(
                    {"_id": {"$in": [d["_id"] for d in docs]}, "lease_owner": owner}, {"_id": 1}
                )
            }
            docs = [d for d in docs if d["_id"] in mine]
        held = []
        for doc in docs:
            timer = timer_from_doc(doc)
            timer.state, timer.lease_owner, timer.lease_until = (
                TimerState.FIRING,
                owner,
                lease_until,
            )
            timer.claims += 1
            held.append(timer)
        return Claim(len(stale) + len(found), held)

    async def _oldest_due(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        """The oldest due timers of the sweep's window (domain/sweep.py), moving the
        window forward past empty stretches until something is found or it caught up."""
        while True:
            window = self.sweep.window(now)
            due_at: dict[str, Any] = {"$lte": now}
            if window is not None:
                due_at = {"$gte": window[0], "$lt": window[1], "$lte": now}
            docs = [
                d
                async for d in self.coll.find({"state": SCHEDULED, "due_at": due_at}, _FIRE_FIELDS)
                .sort("due_at", ASCENDING)
                .limit(limit)
            ]
            self.sweep.record([d["due_at"] for d in docs], limit, now)
            if docs or window is None:
                return docs

    async def finish(
        self,
        *,
        owner: str,
        fired: Sequence[str],
        cancelled: Sequence[str],
        fired_at: datetime,
        wall: datetime,
    ) -> None:
        """See :meth:`scheduler.ports.TimerRepository.finish`."""
        release = {"lease_owner": "", "lease_until": "", "cancel_requested": ""}
        if fired:
            await self.coll.update_many(
                {"_id": {"$in": list(fired)}, "lease_owner": owner, "state": FIRING},
                {
                    "$set": {
                        "state": FIRED,
                        "fired_at": fired_at,
                        "fired_at_wall": wall,
                        "fired_by": owner,
                    },
                    "$unset": release,
                },
            )
        if cancelled:
            await self.coll.update_many(
                {"_id": {"$in": list(cancelled)}, "lease_owner": owner, "state": FIRING},
                {"$set": {"state": CANCELLED, "updated_at": wall}, "$unset": release},
            )

    # --- metrics --------------------------------------------------------------------

    async def stats(self, now: datetime) -> TimerStats:
        """See :meth:`scheduler.ports.TimerRepository.stats`."""
        return TimerStats(
            scheduled=await self.coll.count_documents({"state": SCHEDULED}),
            due=await self.coll.count_documents({"state": SCHEDULED, "due_at": {"$lte": now}}),
        )
