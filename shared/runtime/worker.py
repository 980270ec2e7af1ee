"""The loop every background worker runs: the outbox relay, the notifier's sender, the
scheduler's firer and the webhook deliverer.

Each worker claims a batch of due work under a lease in one *round*; the loop around the
rounds is the same everywhere and written once here:

- a round that did some work is followed at once by another (more may be waiting);
- an idle round waits for :meth:`asyncio.Event.set` on the worker's wake event (a handler
  that just stored work calls it) or for the poll interval, whichever comes first;
- a failed round is logged (the error's type, and its text unless it may quote data) and the wait
  doubles, up to ``max_backoff`` seconds, while MongoDB or Kafka stays unreachable; the
  work it had claimed goes back when its lease runs out, so nothing is lost;
- the loop ends when ``stopped()`` turns true (after the round in progress).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import suppress

from shared.runtime.logs import get_logger
from shared.runtime.mongo import TRANSIENT_ERRORS

log = get_logger(__name__)


async def run_rounds(
    one_round: Callable[[], Awaitable[int]],
    *,
    wake: asyncio.Event,
    stopped: Callable[[], bool],
    poll_seconds: float,
    failure: str,
    on_failure: Callable[[Exception], Awaitable[None]] | None = None,
    again: Callable[[int], bool] = bool,
    max_backoff: float = 10.0,
    log_detail: bool = True,
) -> None:
    """Run ``one_round`` until ``stopped()``. It returns how much it did; ``again(done)``
    says whether to go on at once (default: when it did anything). ``failure`` is the log
    message of a failed round; ``on_failure`` may repair something (a producer) first.
    ``log_detail=False`` keeps the error's text out of the log, for workers whose errors
    may quote the data (a mail address in a duplicate-key message)."""
    backoff = poll_seconds
    while not stopped():
        try:
            done = await one_round()
            backoff = poll_seconds
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            fields = {"detail": str(exc)[:200]} if log_detail else {}
            log.warning(
                failure,
                error=type(exc).__name__,
                transient=isinstance(exc, TRANSIENT_ERRORS),
                **fields,
            )
            if on_failure is not None:
                await on_failure(exc)
            done = 0
            backoff = min(max(backoff, 0.1) * 2, max_backoff)
        if done and again(done):
            continue
        wake.clear()
        with suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=backoff)
