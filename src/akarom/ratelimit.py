"""Per-carrier politeness: at most N requests in flight and a minimum gap between starts.

One ``RateLimiter`` exists per carrier per process, and every request to that
carrier (form pages, submits, retries) passes through it, so the limit holds
however many devices or batches are being checked at once. ``defer`` pushes the
next start back for everyone, which is how a ``Retry-After`` or a run of server
errors slows the whole carrier down, not only the request that saw it.

**Pace, and its safety margin.** A limit of ``r`` requests per second means an
``interval`` of ``1 / r`` between starts, but the limiter plans starts a little
further apart: ``spacing = interval × (1 + margin)``, with a margin of 1.5 % by
default. A site sees our requests arrive with jitter (scheduling, the network,
its own event loop), so a client that paces itself to exactly the limit gets
refused now and then; the sandbox's sliding window counts ``floor(r)`` requests
per window, so 1.5 % of 20 requests at 20/s is 15 ms of headroom on top of its own
10 ms grace. Our own delays are not part of that jitter: a window counts from when
each request's head was really written (``written``), which a busy event loop held
back by up to 50 ms now and then (with the window counted from when the write
began, a 1 % margin met one refusal per 10,000-device run, and so, once, did 2 %).
Measured at the sandbox with 1.5 %, over 10,000-device runs on both mixes, 20
consecutive arrivals never spanned less than 1.012 s, against the 0.99 s it needs.
The margin is also the budget for our own late wake-ups: a start that comes late
by less than ``spacing - interval`` is caught up on the next one; a later one
moves the plan. 1.5 % costs 1.5 % of the wall time at the limit, which is the trade.

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

**A fleet shares one budget.** The file ledger is one machine's. Workers on several
machines share a ``SharedPace`` kept in the database instead (``akarom.storage.pace``:
the same state in one PostgreSQL row per carrier, advanced by one atomic statement on
the database's clock, and a fleet-wide cap on requests in flight). ``RateLimiter``
talks to either through ``SharedPace``; ``FileShare`` is the file ledger behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import gc
import hashlib
import heapq
import itertools
import logging
import math
import os
import selectors
import statistics
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

__all__ = [
    "DEFAULT_MARGIN",
    "SLOWDOWN_FACTOR",
    "URGENT",
    "FileShare",
    "Gate",
    "PaceClaim",
    "RateLimiter",
    "SharedPace",
    "SpacingLedger",
    "run_paced",
]

logger = logging.getLogger(__name__)

#: Starts are planned ``interval × (1 + DEFAULT_MARGIN)`` apart (see the module docstring).
DEFAULT_MARGIN = 0.015

#: Each refusal for rate multiplies the pace by this (multiplicative decrease, as TCP does).
SLOWDOWN_FACTOR = 0.9

#: The slowest a limiter goes by default, as a share of its configured rate.
_SLOWEST_SHARE = 1 / 20

#: A pace learned from refusals and shared through the ledger is forgotten once no
#: process has started a request at that carrier for this long: the next run
#: starts from its own configuration again.
_FORGET_LEARNED_AFTER_S = 60.0

#: A ledger claimed from by more than one process counts as shared until this long
#: after the last claim of a process other than the one before it.
_SHARED_FOR_S = 5.0

#: The furthest ahead of its planned start a claim is sent to the share.
_MOST_CLAIM_LEAD_S = 0.005

#: A start reached later than this (and than the margin's slack) after the share
#: granted it is sent only if no process has claimed since (``SharedPace.extend``).
#: Below it, the lateness is the machine's own scheduling, which ``sent`` absorbs.
_LATE_AFTER_S = 0.001

#: When the slot held by the current task opened (see ``RateLimiter.sent``).
_SLOT_STARTED: ContextVar[float | None] = ContextVar("_SLOT_STARTED", default=None)

#: When the request this task sent last left, as this limiter's window keeps it: set
#: when its head starts to be written (``sent``), moved to when the write ended
#: (``written``).
_LEFT_AT: ContextVar[list[float] | None] = ContextVar("_LEFT_AT", default=None)

#: The limiter and pace generation of the last slot this task held (kept after the
#: slot closes): tells ``refused_for_rate`` whether the refused request went out
#: at the current pace or at an older, faster one that has been cut already.
_LAST_SLOT: ContextVar[tuple[RateLimiter, int] | None] = ContextVar("_LAST_SLOT", default=None)

#: Set where a person waits for the answer (a check from a page or the API): such a
#: request goes ahead of a batch's, in this process and, through the share, the fleet.
URGENT: ContextVar[bool] = ContextVar("URGENT", default=False)

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
    claimant: int = 0  # the process that claimed last (its pid)
    shared_until: float = 0.0  # another process claimed lately: shared until then


@dataclass(frozen=True, slots=True)
class _Claim:
    """The answer to ``SpacingLedger.claim``: a start, or how long to wait for one."""

    start: float | None  # wall clock; None: another process holds the carrier until then
    wait: float  # seconds until the carrier is free, when ``start`` is None
    learned_interval: float
    next_start: float = 0.0  # the ledger's next start after this claim (wall clock)
    shared: bool = True  # whether several processes have claimed from it lately


class _Busy:
    """Another process holds the ledger's lock at this instant."""


_BUSY = _Busy()

#: Bytes written per update: fixed, so a shorter value never leaves a longer one's tail.
_RECORD_SIZE = 96
#: Decimals of a second the ledger file keeps (microseconds).
_DIGITS = 6


def _as_stored(seconds: float) -> float:
    """``seconds`` as the ledger file holds it, read back."""
    return float(f"{seconds:.{_DIGITS}f}")


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
            record = (
                f"{state.next_start:.{_DIGITS}f} {state.learned_interval:.{_DIGITS}f} "
                f"{state.claimant} {state.shared_until:.{_DIGITS}f}"
            )
            os.pwrite(descriptor, record.ljust(_RECORD_SIZE).encode("ascii"), 0)
        return result

    @staticmethod
    def _read(descriptor: int) -> _LedgerState:
        fields = os.pread(descriptor, 2 * _RECORD_SIZE, 0).split()
        try:
            # An older akarom wrote the next start alone, then with the learned pace.
            next_start = float(fields[0]) if fields else 0.0
            learned = float(fields[1]) if len(fields) > 1 else 0.0
            claimant = int(fields[2]) if len(fields) > 2 else 0
            shared_until = float(fields[3]) if len(fields) > 3 else 0.0
        except ValueError:
            return _LedgerState()  # a damaged ledger: no constraint yet
        return _LedgerState(next_start, learned, claimant, shared_until)

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
            shared_until = state.shared_until
            if state.claimant not in (0, os.getpid()):
                shared_until = moment + _SHARED_FOR_S
            shared = moment < shared_until
            if state.next_start > moment:
                wait = state.next_start - moment
                return None, _Claim(None, wait, learned, state.next_start, shared)
            least = max(interval, learned)
            start = max(earliest, state.next_start, moment - least * margin)
            # As the file will hold it: the claim's token must equal what ``extend`` reads.
            after = _as_stored(start + least * (1 + margin))
            claimed = _LedgerState(after, learned, os.getpid(), shared_until)
            return claimed, _Claim(start, 0.0, learned, after, shared)

        return self._update(change, block=block)

    def hold_until(self, moment: float, *, block: bool = False) -> bool:
        """Start nothing, in any process, before ``moment`` (wall clock); False if busy."""

        def change(state: _LedgerState) -> tuple[_LedgerState | None, None]:
            if state.next_start >= moment:
                return None, None
            return dataclasses.replace(state, next_start=moment), None

        return not isinstance(self._update(change, block=block), _Busy)

    def extend(self, token: float, moment: float, *, block: bool = False) -> bool | _Busy:
        """Start nothing before ``moment`` if no process has claimed since the claim
        that left the next start at ``token``; whether that was so."""

        def change(state: _LedgerState) -> tuple[_LedgerState | None, bool]:
            if state.next_start != token:
                return None, False
            return dataclasses.replace(state, next_start=max(moment, token)), True

        return self._update(change, block=block)

    def learn(self, interval: float, *, block: bool = False) -> bool:
        """Every process at this carrier keeps at least ``interval`` apart from now on.

        Called when the carrier refused for rate; forgotten once the carrier has
        been left alone for a minute. False if the lock was busy.
        """

        def change(state: _LedgerState) -> tuple[_LedgerState | None, None]:
            if state.learned_interval >= interval:
                return None, None
            return dataclasses.replace(state, learned_interval=interval), None

        return not isinstance(self._update(change, block=block), _Busy)


@dataclass(frozen=True, slots=True)
class PaceClaim:
    """A ``SharedPace``'s answer: a start, or how long the carrier is held by others.

    Times are relative, so that machines whose clocks disagree still agree on gaps.
    """

    start_after: float | None  # the start is this long after the caller's planned time
    wait: float  # when ``start_after`` is None: seconds until the carrier is free
    learned_interval: float  # the least gap some process learned from refusals (0: none)
    token: float = 0.0  # the share's next start after this claim, for ``extend`` (opaque)
    shared: bool = True  # whether other processes have claimed from the share lately


class SharedPace(Protocol):
    """One carrier's budget, shared with other processes (see the module docstring)."""

    key: str

    async def claim(
        self, interval: float, margin: float, late_by: float, *, urgent: bool = False
    ) -> PaceClaim:
        """Take a start planned ``late_by`` seconds ago, as ``SpacingLedger.claim``; an
        ``urgent`` claimant that must wait has the next start kept for it."""
        ...

    def hold_for(self, seconds: float) -> None:
        """Start nothing anywhere for ``seconds`` from now (may be written after it returns)."""
        ...

    async def extend(self, token: float, seconds: float) -> bool:
        """The start just claimed (``token``) is being sent late: if no process has
        claimed since, start nothing anywhere for ``seconds`` from now, and True; else
        False, and the start must go unused (it could leave too close to the next)."""
        ...

    def learn(self, interval: float) -> None:
        """Every process keeps at least ``interval`` apart from now on (a refusal for rate)."""
        ...

    async def take_slot(self, concurrency: int) -> int | None:
        """One of ``concurrency`` slots in flight across the share, or None if all are
        taken; ``free_slot`` gives it back when the request ends."""
        ...

    async def free_slot(self, slot: int) -> None: ...

    async def aclose(self) -> None: ...


class FileShare:
    """A ``SpacingLedger`` as a ``SharedPace``: one machine's processes.

    The lock is held for a few system calls, so the event loop takes it directly;
    only when another process holds it at that instant does a worker thread wait.
    Requests in flight are capped per process only (each its own ``concurrency``).
    """

    def __init__(self, ledger: SpacingLedger) -> None:
        self.ledger = ledger
        self.key = ledger.key
        self._background: set[asyncio.Future[bool]] = set()

    async def claim(
        self, interval: float, margin: float, late_by: float, *, urgent: bool = False
    ) -> PaceClaim:
        earliest = time.time() - late_by
        claim = self.ledger.claim(interval, margin, earliest)
        if isinstance(claim, _Busy):  # held by another process this very instant
            claim = await asyncio.to_thread(
                self.ledger.claim, interval, margin, earliest, block=True
            )
            assert not isinstance(claim, _Busy)  # a blocking claim always gets the lock
        start_after = None if claim.start is None else claim.start - earliest
        return PaceClaim(
            start_after, claim.wait, claim.learned_interval, claim.next_start, claim.shared
        )

    async def extend(self, token: float, seconds: float) -> bool:
        moment = time.time() + seconds
        done = self.ledger.extend(token, moment)
        if isinstance(done, _Busy):
            done = await asyncio.to_thread(self.ledger.extend, token, moment, block=True)
        return done is True

    def hold_for(self, seconds: float) -> None:
        self._share(self.ledger.hold_until, time.time() + seconds)

    def learn(self, interval: float) -> None:
        self._share(self.ledger.learn, interval)

    async def take_slot(self, concurrency: int) -> int | None:
        return 0  # each process keeps its own ``concurrency``

    async def free_slot(self, slot: int) -> None:
        return None

    async def aclose(self) -> None:
        await asyncio.gather(*self._background, return_exceptions=True)

    def _share(self, update: Callable[..., bool], value: float) -> None:
        """Write now if the lock is free, else from a worker thread, unawaited.

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


class Gate:
    """At most ``size`` holders; waiters enter urgent ones first, then by ``rank``.

    A waiter's ``rank`` is its arrival unless the caller gives one: a Checker's
    admission to a carrier (``services.checks``), where checks wait rather than
    inside the limiter, ranks each by when its device's check began, so that a
    device asking its second carrier goes ahead of the devices that came after
    it. A limiter's slots and turn are gates too, in arrival order.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.inside = 0
        self._waiting: list[tuple[int, int, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()

    def locked(self) -> bool:
        return self.inside >= self.size or bool(self._waiting)

    @asynccontextmanager
    async def enter(self, *, urgent: bool = False, rank: int | None = None) -> AsyncIterator[None]:
        if self.inside < self.size and not self._waiting:
            self.inside += 1
        else:
            admitted = asyncio.get_running_loop().create_future()
            arrival = next(self._arrivals)
            place = (0 if urgent else 1, arrival if rank is None else rank, arrival, admitted)
            heapq.heappush(self._waiting, place)
            try:
                await admitted
            except asyncio.CancelledError:
                if admitted.done() and not admitted.cancelled():
                    self._leave()  # admitted just as it was cancelled: pass it on
                raise
        try:
            yield
        finally:
            self._leave()

    def _leave(self) -> None:
        while self._waiting:
            *_, waiting = heapq.heappop(self._waiting)
            if not waiting.done():
                waiting.set_result(None)  # the place passes straight to the next
                return
        self.inside -= 1


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
        ledger: SpacingLedger | SharedPace | None = None,
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
        self.ledger: SharedPace | None = (
            FileShare(ledger) if isinstance(ledger, SpacingLedger) else ledger
        )
        self.name = name or (ledger.key if ledger is not None else "rate limiter")
        self._clock = clock
        self._sleep = sleep
        self._slots = Gate(concurrency)
        # Waiters queue for the turn in arrival order, so the earliest caller gets the
        # next start time; an urgent one (``URGENT``) goes ahead of the others.
        self._turn = Gate(1)
        self._next_start = 0.0
        self._last_start = float("-inf")
        #: When this process's last request really left (``sent``).
        self._last_sent = float("-inf")
        #: Bumped at every cut in pace; a slot remembers the generation it opened under.
        self._generation = 0
        self._set_pace(rate_per_s)
        #: How long recent requests took to leave after their slot opened. Starts at
        #: zero: until akarom has seen what is usual, it assumes no lead at all.
        self._leads: deque[float] = deque([0.0], maxlen=50)
        #: Whether other processes drew from the same share at the last claim.
        self._shared = False
        #: How long recent claims from the share took, there and back.
        self._claim_trips: deque[float] = deque([0.0], maxlen=31)

    def _set_pace(self, rate_per_s: float) -> None:
        self._rate_per_s = rate_per_s
        self._interval = 1.0 / rate_per_s
        self._spacing = self._interval * (1 + self.margin)
        # How late a start may be and still be caught up on the next one.
        self._slack = self._spacing - self._interval
        # A site counts whole windows: at most floor(rate) requests in floor(rate)/rate
        # seconds. Catching up keeps each gap at least an interval, but several caught-up
        # gaps in a row would spend a window's whole margin; the last sends of a window
        # are kept so that no window ever holds less than its margin.
        window = max(1, math.floor(rate_per_s))
        self._window_span = window * self._spacing
        previous = getattr(self, "_window_sends", ())
        # One cell per send, so that ``written`` can move a send to when it really left.
        self._window_sends: deque[list[float]] = deque(previous, maxlen=window)

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
        urgent = URGENT.get()
        async with self._slots.enter(urgent=urgent), contextlib.AsyncExitStack() as held:
            async with self._turn.enter(urgent=urgent):
                planned = await self._wait_for_turn(urgent, held)
            token = _SLOT_STARTED.set(planned)
            _LAST_SLOT.set((self, self._generation))
            try:
                yield
            finally:
                _SLOT_STARTED.reset(token)

    async def aclose(self) -> None:
        """Let the share finish what it is writing, and close it."""
        if self.ledger is not None:
            await self.ledger.aclose()

    async def _wait_for_turn(
        self, urgent: bool = False, held: contextlib.AsyncExitStack | None = None
    ) -> float:
        """Sleep until this task may start, take the start, and return its planned time.

        With a share, the start is claimed first and then one of the share's slots in
        flight, without waiting (released through ``held`` when the request ends): a
        slot is held only while a request is under way, never while one waits for its
        turn, so a busy process cannot keep another's urgent request out. A start
        claimed when every slot is in flight goes unused (a carrier that slow is
        bound by its slots, not its pace).
        """
        while True:
            now = self._clock()
            # Spacing runs on the plan, not on when this coroutine happened to wake
            # up, so small delays of our own do not add up; but only within the
            # margin, so that a late start never leaves the next one too close.
            planned = max(self._next_start, now - self._slack, self._window_opens())
            # A share is asked its round trip ahead, so that its answer comes back at
            # the planned start, not that much after it.
            asked_at = planned - self._claim_lead()
            if asked_at > now:
                await self._sleep(asked_at - now)
                continue  # defer() or a cut in pace may have moved the plan meanwhile
            if self.ledger is not None:
                shared = await self._claim_shared(planned, urgent)
                if shared is None:
                    continue  # another process took the carrier; its turn came first
                slot = await self.ledger.take_slot(self.concurrency)
                if slot is None:
                    self._next_start = shared + self._spacing  # the start goes unused
                    continue
                if held is not None:
                    held.push_async_callback(self.ledger.free_slot, slot)
                planned = shared
            self._next_start = planned + self._spacing
            self._last_start = planned
            return planned

    async def _claim_shared(self, planned: float, urgent: bool) -> float | None:
        """Take ``planned`` (or later) from the share; None after waiting for another
        process, or after giving up a start reached too late (claimed again then)."""
        assert self.ledger is not None
        asked = self._clock()
        claim = await self.ledger.claim(self._interval, self.margin, asked - planned, urgent=urgent)
        self._claim_trips.append(self._clock() - asked)
        self._shared = claim.shared
        if claim.learned_interval > self._interval * (1 + 1e-9):
            self._slow_to(1.0 / claim.learned_interval, "another process was refused for rate")
        if claim.start_after is None:
            await self._sleep(claim.wait)
            return None
        start = planned + claim.start_after
        now = self._clock()
        if start > now:  # granted a moment ahead (the claim's own transit): keep to it
            await self._sleep(start - now)
            now = self._clock()
        # The share granted the start knowing the time it was asked at, so only what
        # came after is lateness it could not see: the way back, a late wake-up here.
        if now - max(start, asked) > max(self._slack, _LATE_AFTER_S):
            if not claim.shared:
                # Alone at the share (nobody else claimed lately), a late answer costs
                # what a late wake-up costs, as without a share: the plan moves by what
                # the margin cannot catch up. Guarding the start (``extend``) would cost
                # a round trip, and, with a database's trips, a third of all starts.
                return max(start, now - self._slack)
            # The answer came back late (a slow database, a busy event loop): sent now,
            # the request could leave too close to a start claimed since by another
            # process. Unless nobody has claimed since, the start goes unused.
            if not await self.ledger.extend(claim.token, self._spacing):
                return None
            return self._clock()
        return start

    def _window_opens(self) -> float:
        """The earliest start that keeps the last window's sends within the margin: a
        window's span after the oldest send of the last full window (none until full),
        less the smallest recent lead (what this start will at least take to leave)."""
        sends = self._window_sends
        if len(sends) < (sends.maxlen or 1):
            return float("-inf")
        return sends[0][0] + self._window_span - min(self._leads)

    def _claim_lead(self) -> float:
        """How far ahead of a planned start to ask the share: a claim's usual round
        trip (the median of recent ones; nothing without a share), at most the slack
        of a whole interval's margin away from mattering."""
        if self.ledger is None:
            return 0.0
        return min(statistics.median(self._claim_trips), _MOST_CLAIM_LEAD_S)

    def busy(self) -> bool:
        """Whether a request starting now would have to wait in this process."""
        return self._slots.locked() or self._turn.locked() or self._next_start > self._clock()

    async def sent(self) -> None:
        """The request held in a slot really left now: the sends a site counts.

        Every request leaves some time after its planned start (the client's own
        work, a late wake-up: its *lead*). The plan does not move with each lead:
        moving the next start to this send plus an interval, less the smallest recent
        lead, stretched every gap by however much that lead exceeded the smallest,
        and bulk at 20/s ran 2.5 % slower than its plan for it. Two rules on the sends
        themselves keep what a site sees instead. The window: no run of ``floor(rate)``
        sends comes closer together than that many spacings (``_window_opens``, less
        the smallest recent lead, which the next request will at least take too). And
        the last gate: a request about to leave less than an interval after this
        process's previous one waits out the rest (a lead that grew, a new connection
        or a stall of the event loop, would otherwise send two together).

        When other processes draw from the same share, they cannot see this one's
        sends: the next start anywhere then also waits for this send plus the
        interval, less the smallest recent lead. A request sent outside any slot has
        no plan: the next start then counts from it.
        """
        now = self._clock()
        started = _SLOT_STARTED.get()
        if started is not None:
            # The client's own work, before any wait below: a lead that counted the
            # gate's waits would pull the next window's start earlier, and so make
            # the gate wait longer the next time.
            self._leads.append(now - started)
        leaves = max(now, self._last_sent + self._interval)
        self._last_sent = leaves
        if leaves > now:
            await self._sleep(leaves - now)
            now = self._clock()
        left_at = [now]
        self._window_sends.append(left_at)
        _LEFT_AT.set(left_at)
        if started is None:
            self._push_next_start(now + self._interval)
        elif self._shared:
            # Other processes plan from the share, blind to this one's window: the
            # share's next start moves to this send plus the interval, less the
            # smallest recent lead (what the next request will at least take too).
            self._push_next_start(now + self._interval - min(self._leads))

    def written(self) -> None:
        """The head of the request ``sent`` last in this task is written: it has left.

        Writing it may wait for the event loop, which a busy process holds for tens of
        milliseconds now and then (seen: 1 request in 100 at 40–50 ms, under a bulk
        run's parsing and storing). The site counts the request when it arrives, so
        the window it opens counts from here, not from when the write began: a request
        held back that long would otherwise arrive bunched with the ones planned
        after it and spend the whole margin of their window. (The gate between two
        requests stays with when the write began: counted from its end, every late
        wake-up of the loop added to the next gap, and bulk ran 2 % slower.)
        """
        left_at = _LEFT_AT.get()
        if left_at is None:
            return
        left_at[0] = max(left_at[0], self._clock())

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
                    self.ledger.learn(self._interval)
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
            self.ledger.hold_for(moment - self._clock())


#: Passes of the middle generation between two full collections (Python's default: 10).
_FULL_COLLECTION_EVERY = 200


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
    would otherwise walk it again and again and hold the event loop meanwhile. Full
    passes still walk what a bulk run holds (its read-ahead rows, their checks):
    20–50 ms each, in which every carrier's next request waits, and a late start
    moves the carrier's plan for good. Python runs one after every 10 passes of the
    middle generation, five times in a 2,000-device run; after every
    ``_FULL_COLLECTION_EVERY`` instead, once. Young cycles (most of them: a task, a
    response) are still collected as soon as ever; only garbage that outlived two
    young passes waits longer.
    """
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, _FULL_COLLECTION_EVERY)
    with asyncio.Runner(loop_factory=precise_event_loop) as runner:
        return runner.run(main)
