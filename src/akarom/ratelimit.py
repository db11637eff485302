"""Per-carrier politeness: at most N requests in flight and a minimum gap between starts.

One ``RateLimiter`` exists per carrier per process, and every request to that
carrier (form pages, submits, retries) passes through it, so the limit holds
however many devices or batches are being checked at once. ``defer`` pushes the
next start back for everyone, which is how a ``Retry-After`` or a run of server
errors slows the whole carrier down, not only the request that saw it.

**Pace, and its safety margin.** A limit of ``r`` requests per second means an
``interval`` of ``1 / r`` between starts, but the limiter plans starts a little
further apart: ``spacing = interval × (1 + margin)``, with a margin of 2 % by
default. A site sees our requests arrive with jitter (scheduling, the network,
its own event loop), so a client that paces itself to exactly the limit gets
refused now and then; the sandbox's sliding window counts ``floor(r)`` requests
per window, so 2 % of 20 requests at 20/s is 20 ms of headroom on top of its own
10 ms grace. (With 1 %, a 10,000-device run at 20/s met one refusal per run: the
sandbox's own event loop, busy on a 2-core machine, delays an arrival by more than
20 ms now and then.) The margin is also the budget for our own late wake-ups: a
start that comes late by less than ``spacing - interval`` is caught up on the next
one, so a busy event loop does not stretch the run; a later one moves the plan,
so no two starts are ever closer than ``interval``. 2 % costs 2 % of the wall
time at the limit, which is the trade.

**A carrier that refuses for rate slows down for good.** ``refused_for_rate``
defers everyone (like ``defer``) and lowers this limiter's pace to 90 % of what
it was, for the rest of its life, never below ``min_rate_per_s`` (by default
1/20 of the configured rate: a site that refuses even that is not counting our
rate, it is refusing us, and slowing further would not help). A limit set higher
than a site allows thus converges in a handful of refusals (twice the site's limit:
seven) instead of turning every later answer into ``unknown``, while one stray
refusal (jitter at the site) costs a tenth of the pace, not a fifth. Requests
already under way when the pace came down draw no second cut: only a refusal of
a request started at the current pace lowers it again.

**Processes share the gap through a ``SpacingLedger``**: a small file per carrier
and host holding the earliest time the next request may start (and any pace a
process has learned from refusals), read and advanced under an exclusive file
lock. Two ``akarom check`` commands run back to back, or several workers, still
leave the carrier the same gap as one process would. The lock is held for a few
system calls, so the event loop takes it directly, without blocking: only when
another process happens to hold it at that instant does the limiter wait for it
in a worker thread. A start is claimed from the ledger only at the moment it is
taken, never in advance, so a process that wakes late cannot leave another
process a stale, too-early slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import hashlib
import logging
import os
import selectors
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "DEFAULT_MARGIN",
    "SLOWDOWN_FACTOR",
    "RateLimiter",
    "SpacingLedger",
    "run_paced",
]

logger = logging.getLogger(__name__)

#: Starts are planned ``interval × (1 + DEFAULT_MARGIN)`` apart (see the module docstring).
DEFAULT_MARGIN = 0.02

#: Each refusal for rate multiplies the pace by this (multiplicative decrease, as TCP does).
SLOWDOWN_FACTOR = 0.9

#: The slowest a limiter goes by default, as a share of its configured rate.
_SLOWEST_SHARE = 1 / 20

#: A pace learned from refusals and shared through the ledger is forgotten once no
#: process has started a request at that carrier for this long: the next run
#: starts from its own configuration again.
_FORGET_LEARNED_AFTER_S = 60.0

#: When the slot held by the current task opened (see ``RateLimiter.sent``).
_SLOT_STARTED: ContextVar[float | None] = ContextVar("_SLOT_STARTED", default=None)

#: The limiter and pace generation of the last slot this task held (kept after the
#: slot closes): tells ``refused_for_rate`` whether the refused request went out
#: at the current pace or at an older, faster one that has been cut already.
_LAST_SLOT: ContextVar[tuple[RateLimiter, int] | None] = ContextVar("_LAST_SLOT", default=None)

try:  # POSIX; on Windows the ledger is skipped and the limit holds per process only.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class _LedgerState:
    """What the ledger file holds: wall-clock seconds, shared by every process."""

    next_start: float = 0.0
    learned_interval: float = 0.0  # 0: no process has been refused for rate lately


@dataclass(frozen=True, slots=True)
class _Claim:
    """The answer to ``SpacingLedger.claim``: a start, or how long to wait for one."""

    start: float | None  # wall clock; None: another process holds the carrier until then
    wait: float  # seconds until the carrier is free, when ``start`` is None
    learned_interval: float


class _Busy:
    """Another process holds the ledger's lock at this instant."""


_BUSY = _Busy()

#: Bytes written per update: fixed, so a shorter value never leaves a longer one's tail.
_RECORD_SIZE = 48


class SpacingLedger:
    """The next allowed start time for one carrier, shared by every process on the machine.

    Times are wall-clock seconds (``time.time``): the only clock processes share.
    Every method first tries the lock without blocking, on a descriptor kept open
    for the ledger's life; ``block=True`` waits for it instead, on a descriptor of
    its own (``flock`` locks belong to an open file description, so a waiting
    thread must not share the event loop's, or the two would not exclude each other).
    """

    def __init__(self, folder: Path, key: str) -> None:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
        self.path = folder / f"{digest}.next"
        self.key = key
        self._descriptor: int | None = None
        self._owner_pid = 0
        self._closer: weakref.finalize[[int], SpacingLedger] | None = None

    @classmethod
    def available(cls) -> bool:
        return fcntl is not None

    def close(self) -> None:
        """Close the descriptor kept open for non-blocking updates (reopened on next use)."""
        if self._closer is not None:
            self._closer()
        self._descriptor = self._closer = None

    def _open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)

    def _shared_descriptor(self) -> int:
        # A forked child shares the parent's open file description, and with it the
        # lock: it must open its own to be excluded by (and exclude) the parent.
        if self._descriptor is None or self._owner_pid != os.getpid():
            self.close()  # in a child, closes only its copy: the parent keeps its lock
            self._descriptor = self._open()
            self._owner_pid = os.getpid()
            self._closer = weakref.finalize(self, os.close, self._descriptor)
        return self._descriptor

    @contextlib.contextmanager
    def _locked_blocking(self) -> Iterator[int]:
        descriptor = self._open()
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield descriptor
        finally:
            os.close(descriptor)  # closing releases the lock

    def _update(
        self, change: Callable[[_LedgerState], tuple[_LedgerState | None, _T]], *, block: bool
    ) -> _T | _Busy:
        """Read, ``change`` and write the state under the lock; ``_BUSY`` if it is held."""
        if block:
            with self._locked_blocking() as descriptor:
                return self._apply(descriptor, change)
        descriptor = self._shared_descriptor()
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return _BUSY
            raise
        try:
            return self._apply(descriptor, change)
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)

    @staticmethod
    def _apply(
        descriptor: int, change: Callable[[_LedgerState], tuple[_LedgerState | None, _T]]
    ) -> _T:
        state, result = change(SpacingLedger._read(descriptor))
        if state is not None:
            record = f"{state.next_start:.6f} {state.learned_interval:.6f}"
            os.pwrite(descriptor, record.ljust(_RECORD_SIZE).encode("ascii"), 0)
        return result

    @staticmethod
    def _read(descriptor: int) -> _LedgerState:
        fields = os.pread(descriptor, 2 * _RECORD_SIZE, 0).split()
        try:
            # An older akarom wrote the next start alone: no learned pace then.
            next_start = float(fields[0]) if fields else 0.0
            learned = float(fields[1]) if len(fields) > 1 else 0.0
        except ValueError:
            return _LedgerState()  # a damaged ledger: no constraint yet
        return _LedgerState(next_start, learned)

    def claim(
        self,
        interval: float,
        margin: float,
        earliest: float,
        *,
        now: float | None = None,
        block: bool = False,
    ) -> _Claim | _Busy:
        """Take the start at ``earliest`` (or the ledger's next, if later) if it has come.

        ``earliest`` is the caller's plan and should not be in the future; it is
        taken as is only if it is at most the margin in the past (``now``, read
        under the lock by default): a claim that comes later starts then, so the
        next process never starts less than ``interval`` after this one. The next
        start then moves on by ``interval × (1 + margin)``, or by the pace learned
        from refusals if that is slower. If another process holds the carrier
        beyond now, nothing is taken: the answer says how long to wait.
        """

        def change(state: _LedgerState) -> tuple[_LedgerState | None, _Claim]:
            moment = time.time() if now is None else now
            learned = state.learned_interval
            if state.next_start < moment - _FORGET_LEARNED_AFTER_S:
                learned = 0.0  # nobody has asked this carrier for a while: a new run
            if state.next_start > moment:
                return None, _Claim(None, state.next_start - moment, learned)
            least = max(interval, learned)
            start = max(earliest, state.next_start, moment - least * margin)
            return _LedgerState(start + least * (1 + margin), learned), _Claim(start, 0.0, learned)

        return self._update(change, block=block)

    def hold_until(self, moment: float, *, block: bool = False) -> bool:
        """Start nothing, in any process, before ``moment`` (wall clock); False if busy."""

        def change(state: _LedgerState) -> tuple[_LedgerState | None, None]:
            if state.next_start >= moment:
                return None, None
            return _LedgerState(moment, state.learned_interval), None

        return not isinstance(self._update(change, block=block), _Busy)

    def learn(self, interval: float, *, block: bool = False) -> bool:
        """Every process at this carrier keeps at least ``interval`` apart from now on.

        Called when the carrier refused for rate; forgotten once the carrier has
        been left alone for a minute. False if the lock was busy.
        """

        def change(state: _LedgerState) -> tuple[_LedgerState | None, None]:
            if state.learned_interval >= interval:
                return None, None
            return _LedgerState(state.next_start, interval), None

        return not isinstance(self._update(change, block=block), _Busy)


class RateLimiter:
    """Spaces request starts at least ``interval`` apart, ``concurrency`` at a time.

    ``rate_per_s`` is the pace in force: the configured one, or lower once the
    carrier has refused for rate (``refused_for_rate``) or another process sharing
    the ledger has learned that it must go slower.
    """

    def __init__(
        self,
        rate_per_s: float,
        concurrency: int = 1,
        *,
        margin: float = DEFAULT_MARGIN,
        min_rate_per_s: float | None = None,
        ledger: SpacingLedger | None = None,
        name: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate_per_s <= 0 or concurrency < 1:
            raise ValueError("rate and concurrency must be positive")
        if not 0 <= margin < 1:
            raise ValueError("the margin is a share of the interval, from 0 up to (not) 1")
        slowest = rate_per_s * _SLOWEST_SHARE if min_rate_per_s is None else min_rate_per_s
        if not 0 < slowest <= rate_per_s:
            raise ValueError("the slowest rate must be positive and at most the rate")
        self.configured_rate_per_s = rate_per_s
        self.min_rate_per_s = slowest
        self.concurrency = concurrency
        self.margin = margin
        self.ledger = ledger
        self.name = name or (ledger.key if ledger is not None else "rate limiter")
        self._clock = clock
        self._sleep = sleep
        self._slots = asyncio.Semaphore(concurrency)
        # Waiters queue on this lock in arrival order (asyncio.Lock is FIFO), so
        # the earliest caller always gets the next start time.
        self._turn = asyncio.Lock()
        self._next_start = 0.0
        self._last_start = float("-inf")
        #: Bumped at every cut in pace; a slot remembers the generation it opened under.
        self._generation = 0
        self._set_pace(rate_per_s)
        #: How long recent requests took to leave after their slot opened. Starts at
        #: zero: until akarom has seen what is usual, it assumes no lead at all.
        self._leads: deque[float] = deque([0.0], maxlen=50)
        self._background: set[asyncio.Future[bool]] = set()

    def _set_pace(self, rate_per_s: float) -> None:
        self._rate_per_s = rate_per_s
        self._interval = 1.0 / rate_per_s
        self._spacing = self._interval * (1 + self.margin)
        # How late a start may be and still be caught up on the next one.
        self._slack = self._spacing - self._interval

    @property
    def rate_per_s(self) -> float:
        """The pace in force, in requests per second (lowered by refusals, never raised)."""
        return self._rate_per_s

    @property
    def interval(self) -> float:
        """The least time between two starts: ``1 / rate_per_s``."""
        return self._interval

    @property
    def spacing(self) -> float:
        """The time planned between starts: ``interval`` plus the safety margin."""
        return self._spacing

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for a free slot and for the gap since the previous start, then hold the slot."""
        async with self._slots:
            async with self._turn:
                planned = await self._wait_for_turn()
            token = _SLOT_STARTED.set(planned)
            _LAST_SLOT.set((self, self._generation))
            try:
                yield
            finally:
                _SLOT_STARTED.reset(token)

    async def _wait_for_turn(self) -> float:
        """Sleep until this task may start, take the start, and return its planned time."""
        while True:
            now = self._clock()
            # Spacing runs on the plan, not on when this coroutine happened to wake
            # up, so small delays of our own do not add up; but only within the
            # margin, so that a late start never leaves the next one too close.
            planned = max(self._next_start, now - self._slack)
            if planned > now:
                await self._sleep(planned - now)
                continue  # defer() or a cut in pace may have moved the plan meanwhile
            if self.ledger is not None:
                shared = await self._claim_shared(planned)
                if shared is None:
                    continue  # another process took the carrier; its turn came first
                planned = shared
            self._next_start = planned + self._spacing
            self._last_start = planned
            return planned

    async def _claim_shared(self, planned: float) -> float | None:
        """Take ``planned`` (or later) from the ledger; None after waiting for another process."""
        assert self.ledger is not None
        planned_wall = time.time() - (self._clock() - planned)
        claim = self.ledger.claim(self._interval, self.margin, planned_wall)
        if isinstance(claim, _Busy):  # held by another process this very instant
            claim = await asyncio.to_thread(
                self.ledger.claim, self._interval, self.margin, planned_wall, block=True
            )
            assert not isinstance(claim, _Busy)  # a blocking claim always gets the lock
        if claim.learned_interval > self._interval * (1 + 1e-9):
            self._slow_to(1.0 / claim.learned_interval, "another process was refused for rate")
        if claim.start is None:
            await self._sleep(claim.wait)
            return None
        return planned + (claim.start - planned_wall)

    def busy(self) -> bool:
        """Whether a request starting now would have to wait in this process."""
        return self._slots.locked() or self._turn.locked() or self._next_start > self._clock()

    async def sent(self) -> None:
        """The request held in a slot really left now: measure the next gap from here.

        The carrier counts gaps between the requests it sees. Every request leaves
        some time after its planned start (the client's own work, a late wake-up),
        which is harmless while that lead is the same each time; when it grows (a
        new process opening its first connection), the next request must wait for
        it. So the next start is this send plus the interval, less the smallest
        lead seen lately (what the next request will at least take too).
        """
        now = self._clock()
        started = _SLOT_STARTED.get()
        if started is not None:
            self._leads.append(now - started)
        self._push_next_start(now + self._interval - min(self._leads))

    def defer(self, seconds: float) -> None:
        """Start nothing for ``seconds`` from now (a ``Retry-After``, a back-off)."""
        self._push_next_start(self._clock() + seconds)

    def refused_for_rate(self, retry_after: float | None = None) -> None:
        """The carrier refused a request for coming too fast (HTTP 429): back off and slow down.

        Defers every task by ``retry_after`` seconds (the site's ``Retry-After``, or
        the caller's own back-off; None: only the new pace), and cuts this limiter's
        pace by ``SLOWDOWN_FACTOR`` for the rest of its life, down to
        ``min_rate_per_s`` at most, unless the refused request was sent before the
        last cut (requests already under way then say nothing about the new pace).
        Call it from the task whose request was refused.
        """
        last = _LAST_SLOT.get()
        if last is None or last[0] is not self or last[1] == self._generation:
            slower = max(self.min_rate_per_s, self._rate_per_s * SLOWDOWN_FACTOR)
            if slower < self._rate_per_s:
                self._slow_to(slower, "refused for rate")
                if self.ledger is not None:
                    self._share(self.ledger.learn, self._interval)
        # The next start keeps the new spacing from the last one, even with no Retry-After.
        self._push_next_start(self._last_start + self._spacing)
        if retry_after is not None and retry_after > 0:
            self.defer(retry_after)

    def _slow_to(self, rate_per_s: float, reason: str) -> None:
        self._set_pace(rate_per_s)
        self._generation += 1
        logger.info(
            "%s: %s; now at most %.3g requests/s (configured %.3g)",
            self.name,
            reason,
            rate_per_s,
            self.configured_rate_per_s,
        )

    def _push_next_start(self, moment: float) -> None:
        """No start before ``moment`` (this limiter's clock), here and in every process.

        The ledger always holds at least this limiter's own next start (every
        change to it goes there too), so a moment already planned needs no write.
        """
        if moment <= self._next_start:
            return
        self._next_start = moment
        if self.ledger is not None:
            self._share(self.ledger.hold_until, time.time() + (moment - self._clock()))

    def _share(self, update: Callable[..., bool], value: float) -> None:
        """Write to the ledger now if its lock is free, else from a worker thread, unawaited.

        The request is leaving (or the task is backing off) and must not wait for
        the file; the next claim is far enough away for the thread to finish first.
        """
        if update(value):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not on an event loop: waiting for the lock is harmless here
            update(value, block=True)
            return
        writing = loop.run_in_executor(None, lambda: update(value, block=True))
        self._background.add(writing)
        writing.add_done_callback(self._background.discard)


def precise_event_loop() -> asyncio.AbstractEventLoop:
    """An event loop whose timers wake on time, to the tens of microseconds.

    The default loop on Linux waits in ``epoll``, whose time-out is whole
    milliseconds rounded up: every limiter wake-up came up to 1 ms late, and at
    20 requests/s that lateness (beyond the margin) cost 2–3 % of the carrier's
    budget on every gap. ``select`` takes microseconds. It is slower than ``epoll``
    only with thousands of sockets; a Checker has a few per carrier.
    """
    return asyncio.SelectorEventLoop(selectors.SelectSelector())


def run_paced(main: Coroutine[Any, Any, _T]) -> _T:
    """``asyncio.run(main)`` on a ``precise_event_loop``: how the CLI runs its checks.

    What exists now (the modules, the settings) lives as long as the process: it is
    frozen out of the garbage collector's full passes, which in a long bulk run
    would otherwise walk it again and again and hold the event loop meanwhile.
    """
    gc.freeze()
    with asyncio.Runner(loop_factory=precise_event_loop) as runner:
        return runner.run(main)
