"""Token bucket: at most ``rate`` sends per second on average, bursts up to ``capacity``."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable


class TokenBucket:
    """A token bucket with an injectable clock and sleep (for tests)."""

    def __init__(
        self,
        rate: float,
        capacity: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] | None = None,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = max(1.0, capacity if capacity is not None else rate)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def try_take(self) -> float:
        """Take a token if one is there (returns 0.0), else the seconds to wait for one."""
        self._refill()
        # The tolerance absorbs float rounding: after sleeping exactly the advertised wait
        # the bucket may hold 0.9999999 tokens, and a zero-length wait would spin.
        if self._tokens >= 1.0 - 1e-9:
            self._tokens = max(0.0, self._tokens - 1.0)
            return 0.0
        return (1.0 - self._tokens) / self.rate

    async def acquire(self) -> None:
        """Wait until a token is available and take it."""
        if self._sleep is None:
            import asyncio

            sleep: Callable[[float], Awaitable[object]] = asyncio.sleep
        else:
            sleep = self._sleep
        while True:
            wait = self.try_take()
            if wait == 0.0:
                return
            await sleep(wait)
