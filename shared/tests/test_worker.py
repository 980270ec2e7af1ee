"""The background workers' loop: at once again after work, woken or polled when idle,
backing off and repairing after a failure, stopping when asked."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from shared.runtime.worker import run_rounds

pytestmark = pytest.mark.asyncio


async def test_rounds_run_back_to_back_while_there_is_work_then_wait_for_a_wake() -> None:
    wake = asyncio.Event()
    work = [3, 2, 1]
    rounds: list[int] = []
    stop = False

    async def one_round() -> int:
        rounds.append(len(work))
        return work.pop(0) if work else 0

    task = asyncio.create_task(
        run_rounds(one_round, wake=wake, stopped=lambda: stop, poll_seconds=60, failure="x")
    )
    await asyncio.sleep(0.05)
    # Three busy rounds in a row, then one idle round, then waiting (poll is 60 s).
    assert rounds == [3, 2, 1, 0]
    work.append(5)
    wake.set()
    await asyncio.sleep(0.05)
    assert rounds == [3, 2, 1, 0, 1, 0]
    stop = True
    wake.set()
    await asyncio.wait_for(task, 1)


async def test_a_failed_round_is_repaired_and_retried_with_a_growing_wait() -> None:
    wake = asyncio.Event()
    started: list[float] = []
    repaired: list[str] = []
    stop = False

    async def one_round() -> int:
        started.append(time.monotonic())
        if len(started) <= 3:
            raise ConnectionError("broker away")
        return 0

    async def repair(exc: Exception) -> None:
        repaired.append(type(exc).__name__)

    task = asyncio.create_task(
        run_rounds(
            one_round,
            wake=wake,
            stopped=lambda: stop,
            poll_seconds=0.02,
            failure="round failed",
            on_failure=repair,
        )
    )
    while len(started) < 4:
        await asyncio.sleep(0.01)
    stop = True
    wake.set()
    await asyncio.wait_for(task, 2)
    assert repaired == ["ConnectionError"] * 3
    gaps = [b - a for a, b in itertools.pairwise(started)]
    # 0.04, 0.08, 0.16 s: each wait at least the doubled backoff.
    assert all(gap >= want * 0.9 for gap, want in zip(gaps, [0.04, 0.08, 0.16], strict=False))


async def test_again_decides_whether_a_busy_round_is_followed_at_once() -> None:
    wake = asyncio.Event()
    rounds = 0
    stop = False

    async def one_round() -> int:
        nonlocal rounds
        rounds += 1
        return 1  # always busy

    task = asyncio.create_task(
        run_rounds(
            one_round,
            wake=wake,
            stopped=lambda: stop,
            poll_seconds=60,
            failure="x",
            again=lambda _: False,  # e.g. no room left for more deliveries
        )
    )
    await asyncio.sleep(0.05)
    assert rounds == 1
    stop = True
    wake.set()
    await asyncio.wait_for(task, 1)
