"""The sender on fakes: claims, marks, retries with backoff, permanent failures, expiry,
relay down, rate limit, graceful stop."""

from __future__ import annotations

from datetime import timedelta

import pytest
from notifier.domain.model import Notification, RenderedMail, RetryPolicy, Status, Template
from notifier.domain.ratelimit import TokenBucket
from notifier.ports import Handover
from notifier.sender import Sender
from notifier_events import NOW
from notifier_fakes import FakeClock, FakeMailer, FakeNotifications, Killed


def queued(i: int, *, send_before=None) -> Notification:  # type: ignore[no-untyped-def]
    return Notification.queued(
        event_id=f"e{i}", event_type="PasswordChanged", template=Template.PASSWORD_CHANGED,
        account_id="A", to=f"g{i}@example.net", to_name=None,
        mail=RenderedMail("S", "T", "<p>H</p>", "en"), now=NOW, send_before=send_before,
    )  # fmt: skip


class Harness:
    def __init__(self, script: list[str] | None = None, rate: float = 1000.0) -> None:
        self.clock = FakeClock(NOW)
        self.store = FakeNotifications()
        self.mailer = FakeMailer(script)
        self.slept: list[float] = []

        async def fake_sleep(seconds: float) -> None:
            self.slept.append(seconds)
            self.mono += seconds

        self.mono = 0.0
        self.sender = Sender(
            self.store,
            self.mailer,
            bucket=TokenBucket(rate, clock=lambda: self.mono, sleep=fake_sleep),
            retry=RetryPolicy(base_seconds=2, max_seconds=30),
            batch_size=50,
            lease_seconds=60,
            clock=self.clock,
        )

    async def add(self, *notifications: Notification) -> None:
        for n in notifications:
            await self.store.add(n)


async def test_sends_each_queued_notification_once_and_drops_the_body() -> None:
    h = Harness()
    await h.add(*(queued(i) for i in range(5)))
    assert await h.sender.send_due() == 5
    assert [n.id for n in h.mailer.sent] == [f"e{i}:password_changed" for i in range(5)]
    for i in range(5):
        n = h.store.get(f"e{i}:password_changed")
        assert n.status is Status.SENT and n.attempts == 1 and n.text is None
    assert await h.sender.send_due() == 0
    assert len(h.mailer.sent) == 5


async def test_transient_failure_is_retried_with_backoff() -> None:
    h = Harness(["transient", "transient", "ok"])
    await h.add(queued(1))
    await h.sender.send_due()
    n = h.store.get("e1:password_changed")
    assert n.status is Status.QUEUED and n.attempts == 1 and "451" in (n.last_error or "")
    first_delay = n.next_attempt_at - NOW
    assert timedelta(seconds=1) <= first_delay <= timedelta(seconds=2)
    assert await h.sender.send_due() == 0  # not due yet
    h.clock.now = n.next_attempt_at
    await h.sender.send_due()
    n = h.store.get("e1:password_changed")
    assert n.attempts == 2
    second_delay = n.next_attempt_at - h.clock.now
    assert timedelta(seconds=2) <= second_delay <= timedelta(seconds=4)
    h.clock.now = n.next_attempt_at
    await h.sender.send_due()
    n = h.store.get("e1:password_changed")
    assert n.status is Status.SENT and n.attempts == 3
    assert len(h.mailer.sent) == 1


async def test_permanent_refusal_fails_without_retry() -> None:
    h = Harness(["permanent", "ok"])
    await h.add(queued(1), queued(2))
    await h.sender.send_due()
    failed = h.store.get("e1:password_changed")
    assert failed.status is Status.FAILED and failed.attempts == 1
    assert "550" in (failed.last_error or "") and failed.text is None
    assert h.store.get("e2:password_changed").status is Status.SENT
    h.clock.now += timedelta(days=1)
    assert await h.sender.send_due() == 0
    assert h.mailer.attempts.count("e1:password_changed") == 1


async def test_relay_down_puts_the_whole_batch_back_without_hammering() -> None:
    h = Harness(["down"])
    await h.add(*(queued(i) for i in range(4)))
    await h.sender.send_due()
    assert h.mailer.attempts == ["e0:password_changed"]  # the others were not tried
    docs = [h.store.get(f"e{i}:password_changed") for i in range(4)]
    assert all(n.status is Status.QUEUED for n in docs)
    assert docs[0].attempts == 1 and all(n.attempts == 0 for n in docs[1:])
    assert len({n.next_attempt_at for n in docs}) == 1 and docs[0].next_attempt_at > NOW
    h.clock.now = docs[0].next_attempt_at
    await h.sender.send_due()
    assert sorted(n.id for n in h.mailer.sent) == sorted(n.id for n in docs)


async def test_mail_whose_link_expired_is_not_sent() -> None:
    h = Harness()
    await h.add(queued(1, send_before=NOW + timedelta(minutes=5)), queued(2))
    h.clock.now = NOW + timedelta(minutes=10)
    await h.sender.send_due()
    assert h.store.get("e1:password_changed").status is Status.EXPIRED
    assert [n.id for n in h.mailer.sent] == ["e2:password_changed"]


async def test_a_dead_senders_lease_runs_out_and_the_mail_is_sent_by_another() -> None:
    h = Harness()
    await h.add(queued(1))
    stale = await h.store.claim_due(NOW, "dead-owner", 10, NOW + timedelta(seconds=60))
    assert len(stale) == 1
    assert await h.sender.send_due() == 0  # leased to the dead sender
    h.clock.now = NOW + timedelta(seconds=61)
    assert await h.sender.send_due() == 1
    assert h.store.get("e1:password_changed").status is Status.SENT
    # The dead sender's late mark cannot touch it any more.
    await h.store.mark_retry(stale[0], "dead-owner", h.clock.now, h.clock.now, "late")
    assert h.store.get("e1:password_changed").status is Status.SENT


async def test_a_sender_killed_after_the_relay_accepted_does_not_cause_a_resend() -> None:
    h = Harness(["ok", "killed_after"])
    await h.add(queued(1), queued(2))
    with pytest.raises(Killed):
        await h.sender.send_due()
    # The relay has both; the second had its handover mark but no sent mark.
    assert [n.id for n in h.mailer.sent] == ["e1:password_changed", "e2:password_changed"]
    second = h.store.get("e2:password_changed")
    assert second.status is Status.SENDING and second.handed_over_at == NOW
    h.clock.now = NOW + timedelta(seconds=61)  # the dead sender's lease runs out
    assert await h.sender.send_due() == 1
    assert len(h.mailer.sent) == 2  # presumed delivered, not sent again
    assert h.store.get("e2:password_changed").status is Status.SENT


async def test_a_mail_refused_or_dropped_after_the_handover_is_retried_or_failed() -> None:
    h = Harness(["refused_at_end", "dropped_at_end"])
    await h.add(queued(1), queued(2))
    await h.sender.send_due()
    failed, retried = h.store.get("e1:password_changed"), h.store.get("e2:password_changed")
    assert failed.status is Status.FAILED and failed.handed_over_at is None
    assert retried.status is Status.QUEUED and retried.handed_over_at is None
    h.clock.now = retried.next_attempt_at
    await h.sender.send_due()  # the retry really sends (the mark was cleared)
    assert [n.id for n in h.mailer.sent] == ["e2:password_changed"]


async def test_a_sender_whose_claim_ran_out_does_not_send() -> None:
    h = Harness()
    await h.add(queued(1))
    original = h.store.claim_due

    async def claim_then_lose(*args, **kwargs):  # type: ignore[no-untyped-def]
        claimed = await original(*args, **kwargs)
        # Another sender takes the mail over before this one hands it to the relay.
        await original(NOW + timedelta(hours=1), "other", 10, NOW + timedelta(hours=2))
        return claimed

    h.store.claim_due = claim_then_lose  # type: ignore[method-assign]
    await h.sender.send_due()
    assert h.mailer.sent == [] and h.mailer.attempts == ["e1:password_changed"]
    assert h.store.owner("e1:password_changed") == "other"


async def test_rate_limit_spaces_sends() -> None:
    h = Harness(rate=5)
    await h.add(*(queued(i) for i in range(15)))
    await h.sender.send_due()
    assert len(h.mailer.sent) == 15
    assert h.mono == pytest.approx(2.0)  # 5 in the burst, then 10 more at 5/s


async def test_claim_size_fits_in_the_lease_at_the_rate() -> None:
    h = Harness(rate=0.5)
    assert h.sender.claim_size == 10  # 0.5/s * 60 s / 3


async def test_stop_gives_the_rest_of_the_batch_back() -> None:
    h = Harness()
    await h.add(*(queued(i) for i in range(3)))
    original = h.mailer.session

    class StopAfterFirst:
        def __init__(self, session):  # type: ignore[no-untyped-def]
            self.session = session

        async def send(self, n: Notification, handover: Handover) -> None:
            await self.session.send(n, handover)
            h.sender._stopping = True

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def session():  # type: ignore[no-untyped-def]
        async with original() as s:
            yield StopAfterFirst(s)

    h.mailer.session = session  # type: ignore[method-assign]
    await h.sender.send_due()
    assert [n.id for n in h.mailer.sent] == ["e0:password_changed"]
    assert h.store.get("e1:password_changed").status is Status.QUEUED
    assert h.store.owner("e1:password_changed") is None


async def test_an_outage_backs_off_for_the_whole_queue() -> None:
    """While the relay stays down, each round waits longer, whichever mail is tried."""
    h = Harness(["down"] * 4)
    await h.add(*(queued(i) for i in range(4)))
    delays = []
    for _ in range(4):
        await h.sender.send_due()
        waiting = [h.store.get(f"e{i}:password_changed") for i in range(4)]
        due = min(n.next_attempt_at for n in waiting)
        delays.append((due - h.clock.now).total_seconds())
        h.clock.now = due
    # base 2 s, equal jitter: [1, 2], [2, 4], [4, 8], [8, 16]
    for round_, delay in enumerate(delays):
        assert 2**round_ <= delay <= 2 ** (round_ + 1), delays
    assert len(h.mailer.attempts) == 4  # one connection attempt per round
    await h.sender.send_due()
    assert len(h.mailer.sent) == 4
