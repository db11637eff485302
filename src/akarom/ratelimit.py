"""Per-carrier politeness: at most N requests in flight and a minimum gap between starts.

One ``RateLimiter`` exists per carrier per process, and every request to that
carrier (form pages, submits, retries) passes through it, so the limit holds
however many devices or batches are being checked at once. ``defer`` pushes the
next start back for everyone, which is how a 429 ``Retry-After`` or a run of
server errors slows the whole carrier down, not only the request that saw it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

__all__ = ["RateLimiter"]


class RateLimiter:
    """Spaces request starts ``1 / rate_per_s`` seconds apart, ``concurrency`` at a time."""

    def __init__(
        self,
        rate_per_s: float,
        concurrency: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate_per_s <= 0 or concurrency < 1:
            raise ValueError("rate and concurrency must be positive")
        self.rate_per_s = rate_per_s
        self.concurrency = concurrency
        self.interval = 1.0 / rate_per_s
        self._clock = clock
        self._sleep = sleep
        self._slots = asyncio.Semaphore(concurrency)
        # Waiters queue on this lock in arrival order (asyncio.Lock is FIFO), so
        # the earliest caller always gets the next start time.
        self._turn = asyncio.Lock()
        self._next_start = 0.0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for a free slot and for the gap since the previous start, then hold the slot."""
        async with self._slots:
            async with self._turn:
                while (wait := self._next_start - self._clock()) > 0:
                    # Re-check after sleeping: defer() may have moved the start meanwhile.
                    await self._sleep(wait)
                self._next_start = self._clock() + self.interval
            yield

    def defer(self, seconds: float) -> None:
        """Start nothing for ``seconds`` from now (a ``Retry-After``, a back-off)."""
        self._next_start = max(self._next_start, self._clock() + seconds)
