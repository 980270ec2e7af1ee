"""In-memory fakes of the scheduler's ports, following the domain rules exactly as the
MongoDB adapter's conditional writes do."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Mapping, Sequence
from datetime import datetime

from scheduler.domain.timers import (
    LINK_KINDS,
    PERSONAL_FIELDS,
    Recipient,
    Timer,
    TimerKind,
    TimerSpec,
    TimerState,
    account_timer_ids,
    cancel_outcome,
    is_claimable,
    may_rearm,
    timer_id,
)
from scheduler.ports import Claim, TimerStats


def _timer(spec: TimerSpec, trace: Mapping[str, str]) -> Timer:
    return Timer(
        id=spec.id,
        kind=spec.kind,
        account_id=spec.account_id,
        due_at=spec.due_at,
        state=spec.state,
        data=dict(spec.data),
        armed_by=spec.armed_by,
        cancel_reason=spec.cancel_reason,
        trace=dict(trace),
    )


class FakeTimers:
    """TimerRepository in memory. ``yield_points`` interleaves concurrent firers."""

    def __init__(self) -> None:
        self.timers: dict[str, Timer] = {}

    def add(self, timer: Timer) -> None:
        self.timers[timer.id] = timer

    async def arm_once(self, specs: Sequence[TimerSpec], trace: Mapping[str, str]) -> list[str]:
        armed = []
        for spec in specs:
            if spec.id not in self.timers:
                self.timers[spec.id] = _timer(spec, trace)
                armed.append(spec.id)
        return armed

    async def rearm(self, specs: Sequence[TimerSpec], trace: Mapping[str, str]) -> list[str]:
        moved = []
        for spec in specs:
            existing = self.timers.get(spec.id)
            if not may_rearm(existing, spec.armed_by):
                continue
            fresh = _timer(spec, trace)
            if existing is not None:
                fresh.data = {**existing.data, **spec.data}
            self.timers[spec.id] = fresh
            moved.append(spec.id)
        return moved

    async def set_recipient(self, account_id: str, recipient: Recipient) -> None:
        timer = self.timers.get(timer_id(TimerKind.INACTIVITY_REMINDER, account_id))
        if timer is not None and not timer.closed:
            timer.data.update(recipient.fields())

    def _tombstone(self, id_: str, account_id: str, reason: str, closed: bool) -> None:
        if id_ not in self.timers:
            self.timers[id_] = Timer(
                id=id_,
                kind=TimerKind(id_.split(":", 1)[0]),
                account_id=account_id,
                due_at=None,  # type: ignore[arg-type]
                state=TimerState.CANCELLED,
                data={},
                cancel_reason=reason,
                closed=closed,
            )

    def _cancel(self, timer: Timer, reason: str) -> int:
        outcome = cancel_outcome(timer.state)
        if outcome == "cancelled":
            timer.state = TimerState.CANCELLED
            timer.cancel_reason = reason
            return 1
        if outcome == "cancel_requested":
            timer.cancel_requested = True
            timer.cancel_reason = reason
        return 0

    async def cancel(self, ids: Sequence[str], *, account_id: str, reason: str) -> int:
        for id_ in ids:
            self._tombstone(id_, account_id, reason, False)
        return sum(self._cancel(self.timers[i], reason) for i in ids)

    async def close_account(self, account_id: str, *, reason: str) -> int:
        for id_ in account_timer_ids(account_id):
            self._tombstone(id_, account_id, reason, True)
        cancelled = 0
        for timer in self.timers.values():
            if timer.account_id == account_id:
                cancelled += self._cancel(timer, reason)
                timer.closed = True
                timer.trace = {}
                for name in PERSONAL_FIELDS:
                    timer.data.pop(name, None)
        return cancelled

    async def account_closed(self, account_id: str) -> bool:
        timer = self.timers.get(timer_id(TimerKind.INACTIVITY_DISABLE, account_id))
        return timer is not None and timer.closed

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
        expired = [
            t
            for t in self.timers.values()
            if t.state is TimerState.FIRING and is_claimable(t, now=now, wall=wall)
        ][:limit]
        due = sorted(
            (
                t
                for t in self.timers.values()
                if t.state is TimerState.SCHEDULED and is_claimable(t, now=now, wall=wall)
            ),
            key=lambda t: t.due_at,
        )
        room = limit - len(expired)
        newest = min(fresh, room // 2)
        picked = expired + due[: room - newest]
        if newest and len(due) > room - newest:
            picked += [t for t in due[::-1][:newest] if t not in picked]
        ids = [t.id for t in picked]
        await asyncio.sleep(0)  # another firer may run between the find and the update
        for id_ in ids:
            timer = self.timers[id_]
            if is_claimable(timer, now=now, wall=wall):
                timer.state = TimerState.FIRING
                timer.lease_owner = owner
                timer.lease_until = lease_until
                timer.claims += 1
        await asyncio.sleep(0)  # ... and between the update and the read-back
        held = [
            copy.deepcopy(self.timers[i])
            for i in ids
            if self.timers[i].lease_owner == owner and self.timers[i].state is TimerState.FIRING
        ]
        return Claim(len(ids), held)

    async def finish(
        self,
        *,
        owner: str,
        fired: Sequence[str],
        cancelled: Sequence[str],
        fired_at: datetime,
        wall: datetime,
    ) -> None:
        for ids, state in ((fired, TimerState.FIRED), (cancelled, TimerState.CANCELLED)):
            for id_ in ids:
                timer = self.timers[id_]
                if timer.lease_owner == owner and timer.state is TimerState.FIRING:
                    timer.state = state
                    timer.lease_owner = timer.lease_until = None
                    timer.cancel_requested = False
                    if state is TimerState.FIRED:
                        timer.fired_at = fired_at

    async def stats(self, now: datetime) -> TimerStats:
        scheduled = [t for t in self.timers.values() if t.state is TimerState.SCHEDULED]
        due = [t for t in scheduled if t.due_at <= now]
        return TimerStats(scheduled=len(scheduled), due=len(due))

    def of_kind(self, kind: TimerKind) -> list[Timer]:
        return [t for t in self.timers.values() if t.kind is kind]

    def link_timers(self) -> list[Timer]:
        return [t for t in self.timers.values() if t.kind in LINK_KINDS]


class FakeSink:
    """EventSink in memory; ``fail`` makes the next publish raise."""

    def __init__(self) -> None:
        self.published: list[tuple[str, str, datetime, object]] = []
        self.fail = False
        self.before_publish: list[object] = []

    async def publish(self, timers: Sequence[Timer]) -> None:
        for hook in self.before_publish:
            await hook()  # type: ignore[operator]
        if self.fail:
            raise ConnectionError("broker unreachable")
        for timer in timers:
            self.published.append((timer.event_id, timer.id, timer.due_at, timer.event()))
        await asyncio.sleep(0)
