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
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path

__all__ = ["RateLimiter", "SpacingLedger"]

#: When the slot held by the current task opened (see ``RateLimiter.sent``).
_SLOT_STARTED: ContextVar[float | None] = ContextVar("_SLOT_STARTED", default=None)

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

    def reserve(self, interval: float, earliest: float | None = None) -> float:
        """Claim the next start, no sooner than ``earliest`` (default: now).

        Returns when it is (wall clock) and moves the next one on by ``interval``.
        """
        with self._locked() as descriptor:
            start = max(time.time() if earliest is None else earliest, self._read(descriptor))
            self._write(descriptor, start + interval)
        return start

    def confirm(self, interval: float, sent_at: float | None = None) -> None:
        """Record that a request left at ``sent_at`` (default: now); the next waits ``interval``.

        A reserved start can slip (a busy event loop, a slow thread hand-off); the
        gap the carrier sees is measured from the real start, not the planned one.
        The time is taken by the caller, on its event loop, not in the worker thread.
        """
        sent_at = time.time() if sent_at is None else sent_at
        with self._locked() as descriptor:
            self._write(descriptor, max(self._read(descriptor), sent_at + interval))

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
        #: How long recent requests took to leave after their slot opened. Starts at
        #: zero: until akarom has seen what is usual, it assumes no lead at all.
        self._leads: deque[float] = deque([0.0], maxlen=50)
        self._confirming: set[asyncio.Future[None]] = set()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for a free slot and for the gap since the previous start, then hold the slot."""
        async with self._slots:
            async with self._turn:
                # Spacing runs on the plan, not on when this coroutine happened to wake
                # up: small delays of our own (a thread hand-off) must not add up.
                planned = max(self._next_start, self._clock())
                while (wait := planned - self._clock()) > 0:
                    await self._sleep(wait)
                    planned = max(planned, self._next_start)  # defer() may have moved it
                if self.ledger is not None:
                    planned_wall = time.time() - (self._clock() - planned)
                    start = await asyncio.to_thread(
                        self.ledger.reserve, self.interval, planned_wall
                    )
                    if (wait := start - time.time()) > 0:
                        await self._sleep(wait)
                    if start > planned_wall:  # another process holds the carrier: its turn first
                        planned = self._clock()
                self._next_start = planned + self.interval
            token = _SLOT_STARTED.set(planned)
            try:
                yield
            finally:
                _SLOT_STARTED.reset(token)

    def busy(self) -> bool:
        """Whether a request starting now would have to wait in this process."""
        return self._slots.locked() or self._turn.locked() or self._next_start > self._clock()

    async def sent(self) -> None:
        """The request held in a slot really left now: measure the next gap from here.

        The carrier counts gaps between the requests it sees. Every request leaves
        some time after its planned start (the ledger's hand-off, the client's own
        work), which is harmless while that lead is the same each time; when it
        grows (a new process opening its first connection), the next request must
        wait for it. So the next start is this send plus the interval, less the
        smallest lead seen lately (what the next request will at least take too).
        """
        now = self._clock()
        started = _SLOT_STARTED.get()
        if started is not None:
            self._leads.append(now - started)
        gap = self.interval - min(self._leads)
        self._next_start = max(self._next_start, now + gap)
        if self.ledger is not None:
            # Not awaited: the request is leaving now and must not wait for the file.
            # The next reservation is at least ``gap`` away, far longer than this takes.
            confirming = asyncio.get_running_loop().run_in_executor(None, self.ledger.confirm, gap)
            self._confirming.add(confirming)
            confirming.add_done_callback(self._confirming.discard)

    def defer(self, seconds: float) -> None:
        """Start nothing for ``seconds`` from now (a ``Retry-After``, a back-off)."""
        self._next_start = max(self._next_start, self._clock() + seconds)
        if self.ledger is not None:
            self.ledger.defer(seconds)
