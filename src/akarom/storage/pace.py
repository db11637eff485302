"""The politeness budget of a fleet, kept in PostgreSQL (``ratelimit.SharedPace``).

Every process on every machine pointed at the same database draws each carrier's
starts from one row of ``carrier_pace``, and its requests in flight from one set
of PostgreSQL advisory locks, so adding workers never adds requests at a carrier.

**Pace.** The row holds what the file ledger holds on one machine (the next start
and a pace learned from refusals), advanced by one atomic ``UPDATE … RETURNING``
on the *database's* clock: machines whose clocks disagree never see each other's
times, only how long ago a start was planned (``late_by``) and how long to wait.
Measured against the libraries (``docs/architecture.md``): ``limits`` counts whole
windows and lets 20 requests leave at once; pyrate-limiter's GCRA polls and came
out 4–7 % below the pace; this statement held 19.6 of 20 per second with no gap
under 48 ms across three processes, as the file ledger does on one machine.

**Alone or shared.** The row names the process that claimed last (``claimant``, a
random id per process), and a claim is told whether another process claimed in the
last few seconds (``PaceClaim.shared``), as the file ledger tells it: a worker alone
at a carrier paces as one process does (``RateLimiter`` then skips the guards that
only protect other processes' starts).

**In flight.** A request holds one of ``concurrency`` session advisory locks for
its carrier for as long as it is under way. The database frees them if the process
dies, so a killed worker never keeps a slot.

**One connection per process.** Every carrier's claims, back-offs and slots go
through one connection (``FleetBudget``), so a fleet of workers costs the database
one connection each for its politeness, however busy. Session locks are reentrant
within a connection, so the process keeps which slots it holds itself, and tries
only the others. If the connection is lost, the next statement opens a new one (the
server freed the old one's slots: the requests under way finish, uncounted).

A 429 or a block seen by one process reaches all: ``learn`` and ``hold_for`` write
the row, and every process reads it at its next claim.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from akarom.ratelimit import PaceClaim

__all__ = ["FleetBudget", "PgPace", "libpq_url"]

logger = logging.getLogger(__name__)

#: A pace learned from refusals is forgotten after the carrier was left alone this long
#: (as ``ratelimit``'s file ledger does).
_FORGET_LEARNED_AFTER_S = 60.0

_NOW = "extract(epoch FROM clock_timestamp())::float8"
#: A claim that reaches the database this little before the next start is granted
#: that start (the caller waits for it): a claim sent on time arrives a little early
#: or late by its own transit, and a refusal would cost it a second round trip.
_EARLY_S = 0.002

#: A carrier counts as shared until this long after a claim by a process other than
#: the one before (as ``ratelimit``'s file ledger counts it).
_SHARED_FOR_S = 5.0

_LEARNED = (
    f"CASE WHEN p.next_start < c.t - {_FORGET_LEARNED_AFTER_S} THEN 0.0 ELSE p.learned_interval END"
)
_LEAST = f"greatest(%(interval)s, {_LEARNED})"
_START = f"greatest(c.t - %(late)s, p.next_start, c.t - {_LEAST} * %(margin)s)"
# When this claimant may start: an urgent one at the next start, the others also not
# before a start kept for an urgent claimant (``reserved_until``).
_HELD = "CASE WHEN %(urgent)s THEN p.next_start ELSE greatest(p.next_start, p.reserved_until) END"
# Every SET expression reads the row as it was: one statement both decides and records,
# under the row's lock, so two claims never take the same start. An urgent claimant
# that must wait keeps the next start for itself, for half an interval past it.
# (S608: the f-strings below are built from this module's constants only.)
_CLAIM = f"""
UPDATE carrier_pace AS p SET
    learned_interval = {_LEARNED},
    last_t = c.t,
    last_start = CASE WHEN {_HELD} > c.t + %(early)s THEN NULL ELSE {_START} END,
    next_start = CASE WHEN {_HELD} > c.t + %(early)s THEN p.next_start
                      ELSE {_START} + {_LEAST} * (1 + %(margin)s) END,
    reserved_until = CASE
        WHEN {_HELD} > c.t + %(early)s AND %(urgent)s
            THEN greatest(p.reserved_until, p.next_start + 0.5 * {_LEAST})
        WHEN %(urgent)s THEN 0.0
        ELSE p.reserved_until END,
    claimant = %(me)s,
    shared_until = CASE WHEN p.claimant NOT IN ('', %(me)s) THEN c.t + {_SHARED_FOR_S}
                        ELSE p.shared_until END
FROM (SELECT {_NOW} AS t) AS c
WHERE p.key = %(key)s
RETURNING p.last_start, p.next_start, p.reserved_until, p.last_t, p.learned_interval,
    p.shared_until > p.last_t
"""  # noqa: S608
_ENSURE_ROW = """
INSERT INTO carrier_pace (key, next_start, learned_interval, last_start, last_t, reserved_until)
VALUES (%s, 0, 0, NULL, 0, 0) ON CONFLICT (key) DO NOTHING
"""
_EXTEND = f"""
UPDATE carrier_pace SET next_start = greatest(next_start, {_NOW} + %(seconds)s)
WHERE key = %(key)s AND next_start = %(token)s RETURNING 1
"""  # noqa: S608
_HOLD = f"UPDATE carrier_pace SET next_start = greatest(next_start, {_NOW} + %s) WHERE key = %s"  # noqa: S608
_TAKE_SLOT = "SELECT pg_try_advisory_lock(hashtext(%s || current_schema()), %s)"
_UNLOCK_SLOT = "SELECT pg_advisory_unlock(hashtext(%s || current_schema()), %s)"
_LEARN = "UPDATE carrier_pace SET learned_interval = greatest(learned_interval, %s) WHERE key = %s"


def libpq_url(sqlalchemy_url: str) -> str:
    """The libpq form of a SQLAlchemy PostgreSQL URL (no ``+driver``), password kept.

    >>> libpq_url("postgresql+psycopg://akarom:pw@db:5432/akarom")
    'postgresql://akarom:pw@db:5432/akarom'
    """
    from sqlalchemy.engine import make_url

    url = make_url(sqlalchemy_url)
    return url.set(drivername=url.get_backend_name()).render_as_string(hide_password=False)


class FleetBudget:
    """The one connection every carrier's ``PgPace`` of one process shares.

    Opened on first use (it needs the running event loop); ``aclose`` closes it.
    """

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        #: This process, as the pace rows name their last claimant.
        self.claimant = uuid.uuid4().hex
        self._connection: Any = None
        self._opening: asyncio.Lock | None = None
        self._users = 0

    def pace(self, key: str) -> PgPace:
        self._users += 1
        return PgPace(self, key)

    async def execute(self, query: str, params: Any) -> Any:
        """Run one statement (autocommit); its first row, if it returns rows."""
        connection = await self._connected()
        try:
            cursor = await connection.execute(query, params)
        except Exception:
            if connection.closed or connection.broken:
                self._connection = None  # the next statement opens a new one
            raise
        return await cursor.fetchone() if cursor.description else None

    async def _connected(self) -> Any:
        if self._connection is None or self._connection.closed:
            if self._opening is None:
                self._opening = asyncio.Lock()
            async with self._opening:
                if self._connection is None or self._connection.closed:
                    import psycopg

                    self._connection = await psycopg.AsyncConnection.connect(
                        self.conninfo, autocommit=True
                    )
        return self._connection

    async def release(self) -> None:
        """One ``PgPace`` is done; the last closes the connection (and its slots)."""
        self._users -= 1
        if self._users <= 0 and self._connection is not None:
            connection, self._connection = self._connection, None
            await connection.close()


class PgPace:
    """One carrier's ``SharedPace`` row and slots (see the module docstring)."""

    def __init__(self, budget: FleetBudget, key: str) -> None:
        self.budget = budget
        self.key = key
        # The slots' advisory-lock namespace: the key and the schema (locks are per server).
        self._lock_space = f"akarom-pace:{key}"
        self._row_ready = False
        self._background: set[asyncio.Task[None]] = set()
        #: Slots this process holds (a session lock is reentrant: ask only the others).
        self._held: set[int] = set()

    async def _execute(self, query: str, params: Any) -> Any:
        if not self._row_ready:
            await self.budget.execute(_ENSURE_ROW, (self.key,))
            self._row_ready = True
        return await self.budget.execute(query, params)

    async def claim(
        self, interval: float, margin: float, late_by: float, *, urgent: bool = False
    ) -> PaceClaim:
        params = {
            "key": self.key,
            "interval": interval,
            "margin": margin,
            "late": late_by,
            "urgent": urgent,
            "early": _EARLY_S,
            "me": self.budget.claimant,
        }
        row = await self._execute(_CLAIM, params)
        last_start, next_start, reserved_until, now, learned, shared = row
        if last_start is None:
            held = next_start if urgent else max(next_start, reserved_until)
            return PaceClaim(None, max(0.0, held - now), learned, next_start, shared)
        return PaceClaim(last_start - (now - late_by), 0.0, learned, next_start, shared)

    async def extend(self, token: float, seconds: float) -> bool:
        params = {"key": self.key, "token": token, "seconds": seconds}
        return await self._execute(_EXTEND, params) is not None

    def hold_for(self, seconds: float) -> None:
        self._in_background(_HOLD, (seconds, self.key))

    def learn(self, interval: float) -> None:
        self._in_background(_LEARN, (interval, self.key))

    def _in_background(self, query: str, params: Any) -> None:
        """Written without holding up the request (the next claim is far enough away)."""
        task = asyncio.get_running_loop().create_task(self._write(query, params))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _write(self, query: str, params: Any) -> None:
        try:
            await self._execute(query, params)
        except Exception:  # the database is down: each process still keeps its own pace
            logger.warning("%s: could not share a back-off with the fleet", self.key, exc_info=True)

    async def take_slot(self, concurrency: int) -> int | None:
        for slot in range(concurrency):
            if slot in self._held:
                continue
            row = await self.budget.execute(_TAKE_SLOT, (self._lock_space, slot))
            if row is not None and row[0]:
                self._held.add(slot)
                return slot
        return None

    async def free_slot(self, slot: int) -> None:
        self._held.discard(slot)
        with contextlib.suppress(Exception):  # a lost connection freed it already
            await self.budget.execute(_UNLOCK_SLOT, (self._lock_space, slot))

    async def aclose(self) -> None:
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.budget.release()
