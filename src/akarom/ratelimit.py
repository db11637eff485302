"""Per-carrier politeness: at most N requests in flight and a minimum gap between starts.

One ``RateLimiter`` exists per carrier per process, and every request to that
carrier (form pages, submits, retries) passes through it, so the limit holds
however many devices or batches are being checked at once. ``defer`` pushes the
next start back for everyone, which is how a 429 ``Retry-After`` or a run of
server errors slows the whole carrier down, not only the request that saw it.

Processes share the gap through a ``SpacingLedger``: a small file per carrier and
host holding the earliest time the next request may start, read and advanced
under an exclusive file lock. Two ``akarom check`` commands run back to back, or
several workers, still leave the carrier the same gap as one process would.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

__all__ = ["RateLimiter", "SpacingLedger"]

try:  # POSIX; on Windows the ledger is skipped and the limit holds per process only.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class SpacingLedger:
    """The next allowed start time for one carrier, shared by every process on the machine.

    Times are wall-clock seconds (``time.time``): the only clock processes share.
    """

    def __init__(self, folder: Path, key: str) -> None:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
        self.path = folder / f"{digest}.next"
        self.key = key

    @classmethod
    def available(cls) -> bool:
        return fcntl is not None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[int]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield descriptor
        finally:
            os.close(descriptor)  # closing releases the lock

    @staticmethod
    def _read(descriptor: int) -> float:
        os.lseek(descriptor, 0, os.SEEK_SET)
        raw = os.read(descriptor, 64)
        try:
            return float(raw.decode("ascii"))
        except ValueError:
            return 0.0  # a new or damaged ledger: no constraint yet

    @staticmethod
    def _write(descriptor: int, value: float) -> None:
        os.ftruncate(descriptor, 0)
        os.lseek(descriptor, 0, os.SEEK_SET)
        os.write(descriptor, f"{value:.6f}".encode("ascii"))

    def reserve(self, interval: float) -> float:
        """Claim the next start: returns when it is (wall clock), and moves the next one on."""
        with self._locked() as descriptor:
            start = max(time.time(), self._read(descriptor))
            self._write(descriptor, start + interval)
        return start

    def confirm(self, interval: float) -> None:
        """Record that a request starts now: the next one waits ``interval`` from here.

        A reserved start can slip (a busy event loop, a slow thread hand-off); the
        gap the carrier sees is measured from the real start, not the planned one.
        """
        with self._locked() as descriptor:
            self._write(descriptor, max(self._read(descriptor), time.time() + interval))

    def defer(self, seconds: float) -> None:
        """Start nothing, in any process, for ``seconds`` from now."""
        with self._locked() as descriptor:
            self._write(descriptor, max(self._read(descriptor), time.time() + seconds))


class RateLimiter:
    """Spaces request starts ``1 / rate_per_s`` seconds apart, ``concurrency`` at a time."""

    def __init__(
        self,
        rate_per_s: float,
        concurrency: int = 1,
        *,
        ledger: SpacingLedger | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate_per_s <= 0 or concurrency < 1:
            raise ValueError("rate and concurrency must be positive")
        self.rate_per_s = rate_per_s
        self.concurrency = concurrency
        self.interval = 1.0 / rate_per_s
        self.ledger = ledger
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
                if self.ledger is not None:
                    start = await asyncio.to_thread(self.ledger.reserve, self.interval)
                    if (wait := start - time.time()) > 0:
                        await self._sleep(wait)
                    await asyncio.to_thread(self.ledger.confirm, self.interval)
                self._next_start = self._clock() + self.interval
            yield

    def busy(self) -> bool:
        """Whether a request starting now would have to wait in this process."""
        return self._slots.locked() or self._turn.locked() or self._next_start > self._clock()

    async def sent(self) -> None:
        """The request held in a slot really left now: measure the next gap from here.

        Opening a connection (a new process's first request) can delay the real
        start well past the slot's start; the carrier counts from what it sees.
        """
        self._next_start = max(self._next_start, self._clock() + self.interval)
        if self.ledger is not None:
            await asyncio.to_thread(self.ledger.confirm, self.interval)

    def defer(self, seconds: float) -> None:
        """Start nothing for ``seconds`` from now (a ``Retry-After``, a back-off)."""
        self._next_start = max(self._next_start, self._clock() + seconds)
        if self.ledger is not None:
            self.ledger.defer(seconds)
