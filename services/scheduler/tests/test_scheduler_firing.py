"""The firing loop on fakes: due only, once, cancel flag, leases, backlog spreading."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from scheduler.domain.clock import FixedClock
from scheduler.domain.timers import Timer, TimerKind, TimerState, fire_event_id
from scheduler.firing import Firer
from scheduler_fakes import FakeSink, FakeTimers

NOW = datetime(2025, 6, 1, tzinfo=UTC)


class Wall:
    def __init__(self) -> None:
        self.now = datetime(2024, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def expiry(n: int, due: datetime) -> Timer:
    link = f"lnk-{n}"
    return Timer(
        id=f"link-expiry:{link}",
        kind=TimerKind.LINK_EXPIRY,
        account_id="acc",
        due_at=due,
        state=TimerState.SCHEDULED,
        data={
            "link_id": link,
            "account_id": "acc",
            "requested_at": due - timedelta(days=21),
            "expired_at": due,
        },
    )


def firer(timers: FakeTimers, sink: FakeSink, wall: Wall, **kw: object) -> Firer:
    return Firer(
        timers,
        sink,
        FixedClock(NOW),
        wall=wall,
        batch_size=int(kw.pop("batch_size", 10)),  # type: ignore[call-overload]
        lease_seconds=30,
        replica=str(kw.pop("replica", "r1")),
    )


async def drain(f: Firer) -> None:
    while await f.fire_batch():
        pass


async def test_fires_due_timers_once_with_due_time_and_derived_id() -> None:
    timers, sink, wall = FakeTimers(), FakeSink(), Wall()
    due = NOW - timedelta(hours=1)
    timers.add(expiry(1, due))
    timers.add(expiry(2, NOW + timedelta(seconds=1)))  # not yet
    f = firer(timers, sink, wall)
    await drain(f)
    await drain(f)
    assert [(p[0], p[1]) for p in sink.published] == [
        (fire_event_id("link-expiry:lnk-1", due), "link-expiry:lnk-1")
    ]
    fired = timers.timers["link-expiry:lnk-1"]
    assert fired.state is TimerState.FIRED
    assert fired.fired_at == NOW
    assert timers.timers["link-expiry:lnk-2"].state is TimerState.SCHEDULED


async def test_a_timer_cancelled_while_claimed_is_not_published() -> None:
    timers, sink, wall = FakeTimers(), FakeSink(), Wall()
    timers.add(expiry(1, NOW))
    timers.add(expiry(2, NOW))
    # A firer claims both and dies before publishing; then link 1 is approved.
    claim = await timers.claim_due(
        now=NOW, wall=wall(), owner="dead", limit=10, fresh=0, lease_until=wall()
    )
    assert len(claim.timers) == 2
    await timers.cancel(["link-expiry:lnk-1"], account_id="acc", reason="approved")
    assert timers.timers["link-expiry:lnk-1"].cancel_requested
    # The next firer re-claims both once the lease ran out and reads the flag.
    wall.now += timedelta(seconds=1)
    f = firer(timers, sink, wall)
    await drain(f)
    assert [p[1] for p in sink.published] == ["link-expiry:lnk-2"]
    assert timers.timers["link-expiry:lnk-1"].state is TimerState.CANCELLED
    assert f.cancelled == 1


async def test_two_replicas_fire_each_timer_exactly_once() -> None:
    timers, sink, wall = FakeTimers(), FakeSink(), Wall()
    for n in range(500):
        timers.add(expiry(n, NOW - timedelta(seconds=n)))
    a = firer(timers, sink, wall, replica="a", batch_size=25)
    b = firer(timers, sink, wall, replica="b", batch_size=25)
    await asyncio.gather(drain(a), drain(b), drain(a), drain(b))
    ids = [p[1] for p in sink.published]
    assert len(ids) == 500
    assert len(set(ids)) == 500
    assert a.fired > 0 and b.fired > 0
    assert {t.state for t in timers.timers.values()} == {TimerState.FIRED}


async def test_a_dead_firers_batch_is_reclaimed_after_the_lease_with_the_same_ids() -> None:
    timers, sink, wall = FakeTimers(), FakeSink(), Wall()
    for n in range(5):
        timers.add(expiry(n, NOW))
    dead = firer(timers, sink, wall, replica="dead")
    sink.fail = True  # the broker never acknowledged: as if killed mid-batch
    try:
        await dead.fire_batch()
    except ConnectionError:
        pass
    sink.fail = False
    assert {t.state for t in timers.timers.values()} == {TimerState.FIRING}
    alive = firer(timers, sink, wall, replica="alive")
    assert await alive.fire_batch() == 0  # the lease still holds
    wall.now += timedelta(seconds=31)
    await drain(alive)
    assert sorted(p[1] for p in sink.published) == sorted(timers.timers)
    assert all(t.claims == 2 for t in timers.timers.values())
    assert {p[0] for p in sink.published} == {
        fire_event_id(t.id, t.due_at) for t in timers.timers.values()
    }


async def test_a_late_finish_after_losing_the_lease_changes_nothing() -> None:
    timers, _sink, wall = FakeTimers(), FakeSink(), Wall()
    timers.add(expiry(1, NOW))
    slow = await timers.claim_due(
        now=NOW, wall=wall(), owner="slow", limit=1, fresh=0, lease_until=wall()
    )
    wall.now += timedelta(seconds=1)
    fast = await timers.claim_due(
        now=NOW, wall=wall(), owner="fast", limit=1, fresh=0, lease_until=wall() + timedelta(30)
    )
    assert [t.id for t in slow.timers] == [t.id for t in fast.timers] == ["link-expiry:lnk-1"]
    await timers.finish(
        owner="slow", fired=["link-expiry:lnk-1"], cancelled=[], fired_at=NOW, wall=wall()
    )
    assert timers.timers["link-expiry:lnk-1"].state is TimerState.FIRING
    assert timers.timers["link-expiry:lnk-1"].lease_owner == "fast"


async def test_backlog_is_fired_oldest_first_but_new_timers_are_not_starved() -> None:
    timers, sink, wall = FakeTimers(), FakeSink(), Wall()
    for n in range(100):
        timers.add(expiry(n, NOW - timedelta(days=30) + timedelta(seconds=n)))
    timers.add(expiry(999, NOW))  # just became due, behind a 100-timer backlog
    f = firer(timers, sink, wall, batch_size=10)
    f._fresh = 2  # 10% of the batch, the default share
    await f.fire_batch()
    first = [p[1] for p in sink.published]
    assert len(first) == 10
    assert "link-expiry:lnk-999" in first
    assert first[:8] == [f"link-expiry:lnk-{n}" for n in range(8)]  # oldest first


async def test_stop_waits_for_the_batch_in_progress() -> None:
    timers, sink, wall = FakeTimers(), FakeSink(), Wall()
    for n in range(3):
        timers.add(expiry(n, NOW))
    release = asyncio.Event()

    async def slow_publish() -> None:
        await release.wait()

    sink.before_publish.append(slow_publish)
    f = firer(timers, sink, wall)
    task = asyncio.create_task(f.run())
    await asyncio.sleep(0.01)
    stopping = asyncio.create_task(f.stop())
    await asyncio.sleep(0.01)
    assert not stopping.done()
    release.set()
    await stopping
    await asyncio.wait_for(task, 1)
    assert {t.state for t in timers.timers.values()} == {TimerState.FIRED}


async def test_overdue_gauge_follows_the_oldest_claimed_timer() -> None:
    from prometheus_client import REGISTRY
    from scheduler.firing import watch_gauges

    timers, sink, wall = FakeTimers(), FakeSink(), Wall()
    timers.add(expiry(1, NOW - timedelta(hours=1)))
    timers.add(expiry(2, NOW - timedelta(minutes=5)))
    timers.add(expiry(3, NOW + timedelta(days=1)))
    f = firer(timers, sink, wall)

    def sample(name: str) -> float | None:
        return REGISTRY.get_sample_value(name)

    gauges = asyncio.create_task(watch_gauges(timers, FixedClock(NOW), interval=0.01))
    await asyncio.sleep(0.02)
    assert sample("scheduler_timers_scheduled") == 3
    assert sample("scheduler_timers_due") == 2
    await f.fire_batch()
    assert sample("scheduler_timers_overdue_seconds") == 3600
    await f.fire_batch()  # nothing due any more
    assert sample("scheduler_timers_overdue_seconds") == 0
    await asyncio.sleep(0.02)
    gauges.cancel()
    assert sample("scheduler_timers_scheduled") == 1
    assert sample("scheduler_timers_due") == 0
