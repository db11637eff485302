"""Jobs past one machine: procrastinate, on the PostgreSQL akarom already uses.

With ``AKAROM_DATABASE_URL`` on PostgreSQL, a job (a web or API check, a batch) is
deferred to procrastinate's queue in the same database, and any number of ``akarom
worker`` processes on any machines take it from there. What a job does stays
``jobs.run_job``: a worker only decides where it runs. The choice of engine, against
taskiq, Dramatiq and Celery, is argued in ``docs/architecture.md``.

- **Two queues.** ``checks`` (a person is waiting: priority 100) and ``batches``
  (priority 0). Every process runs both, each with its own room, so a batch never
  holds a check up; a batch carries ``lock=batch:<dealer>``, so one dealer runs one
  batch at a time across the fleet and another dealer's batch runs beside it.
- **A killed worker loses nothing.** Each worker writes a heartbeat; every worker
  sweeps the jobs of one not heard from for ``STALLED_S`` back to the queue, and
  the next worker resumes them (``run_bulk`` skips the rows already kept; only the
  requests that were in flight are asked again). A batch holds a PostgreSQL
  advisory lock while it runs, so even a worker wrongly thought dead and still
  running can never run it twice at once.
- **SIGTERM** stops taking jobs, lets running checks finish (``CHECK_GRACE_S``)
  and hands running batches back to the queue at once: their rows are kept.
- **A server runs jobs itself while no worker is alive** (``EngineJobs``), so a
  single ``akarom serve`` on PostgreSQL works alone, and only enqueues once workers
  are there.
- **The monitor is a periodic job.** Every minute one ``akarom.monitor_pass`` is
  deferred for the whole fleet (procrastinate's periodic deferrer), in a ``monitor``
  queue every worker serves one at a time: guaranteed devices are re-checked as long
  as any worker is up, with no separate ``akarom monitor run`` process to keep alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from akarom.config import DEFAULT_WORKER_BATCHES, Settings
from akarom.errors import ConfigError, StorageError
from akarom.services.jobs import DEFAULT_CHECKS_AT_ONCE, Jobs, run_job
from akarom.services.serving import Hub
from akarom.storage import JobKind, LiveWorker, StoredJob
from akarom.storage.pace import libpq_url

if TYPE_CHECKING:
    from akarom.services.monitor import Monitor

__all__ = [
    "Engine",
    "EngineJobs",
    "engine_conninfo",
    "run_worker",
]

logger = logging.getLogger(__name__)

TASK = "akarom.run_job"
QUEUE_CHECKS = "checks"
QUEUE_BATCHES = "batches"
#: The monitor's pass (``services.monitor``), deferred every minute by whichever worker
#: is up (procrastinate's periodic deferrer: one job per minute for the whole fleet).
MONITOR_TASK = "akarom.monitor_pass"
QUEUE_MONITOR = "monitor"
CHECK_PRIORITY = 100
BATCH_PRIORITY = 0

#: How often a worker says it is alive (to procrastinate and to akarom's ``workers``).
HEARTBEAT_S = 2.0
#: A worker not heard from for this long is taken for dead and its jobs queued again.
#: Five heartbeats: a database hiccup must not look like a death (the advisory lock
#: guards a batch even then).
STALLED_S = 10.0
#: How often each worker looks for such jobs, and for jobs the queue lost.
SWEEP_S = 2.0
RECONCILE_S = 30.0
#: A job is taken for lost by the queue only once it is this old.
RECONCILE_AFTER = timedelta(seconds=30)
#: How long SIGTERM lets running checks finish (a person waits for each).
CHECK_GRACE_S = 15.0
#: Batches are handed back at once: their finished rows are kept, the rest resumes.
BATCH_GRACE_S = 0.5
#: Every kill or hand-back is one attempt; a job is never given up for that.
_MAX_ATTEMPTS = 10_000
#: A job handed back (or found busy) is taken again after this long.
_RETRY_WAIT_S = 1
#: The longest wait before a job the database failed is tried again.
_STORAGE_RETRY_MAX_S = 60
#: Advisory locks are per database server, not per schema: their keys name the schema,
#: so that two installations in two schemas of one database never share a lock.
_BATCH_LOCK = "SELECT pg_try_advisory_lock(hashtext('akarom-batch:' || current_schema()), %s)"
_SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(hashtext('akarom-queue:' || current_schema()))"

_UNFINISHED_ENGINE_JOBS = """
SELECT (args->>'job_id')::bigint AS job_id, id, status FROM procrastinate_jobs
 WHERE task_name = %(task)s AND status IN ('todo', 'doing')
   AND (%(job_id)s::bigint IS NULL OR (args->>'job_id')::bigint = %(job_id)s::bigint)
"""


def engine_conninfo(settings: Settings) -> str | None:
    """Where the job queue lives (a libpq URL), or None: jobs run in-process (SQLite).

    ``AKAROM_QUEUE_URL`` may put the queue in another PostgreSQL database; procrastinate
    needs no broker, so a Redis or AMQP address is refused rather than ignored.
    """
    database = settings.database_url or ""
    queue = settings.queue_url
    on_postgres = database.startswith(("postgresql", "postgres:"))
    if queue is None:
        return libpq_url(_sqlalchemy_form(database)) if on_postgres else None
    if not queue.startswith(("postgresql", "postgres:")):
        scheme = queue.split(":", 1)[0]
        raise ConfigError(
            f"AKAROM_QUEUE_URL: akarom's job engine (procrastinate) keeps its queue in "
            f"PostgreSQL and uses no {scheme} broker; leave AKAROM_QUEUE_URL unset (the "
            "queue lives in AKAROM_DATABASE_URL) or give a postgresql:// URL"
        )
    if not on_postgres:
        raise ConfigError(
            "AKAROM_QUEUE_URL is set, but jobs go to a queue only when AKAROM_DATABASE_URL "
            "is PostgreSQL too (workers on other machines must reach the same data)"
        )
    return libpq_url(_sqlalchemy_form(queue))


def _sqlalchemy_form(url: str) -> str:
    return "postgresql" + url.removeprefix("postgres") if url.startswith("postgres:") else url


def _retry_strategy() -> Any:
    """When a run that did not end is taken again: at once after a hand-back (a
    shutdown, a busy lock), later and later while the database fails (up to a minute)."""
    from procrastinate.retry import BaseRetryStrategy, RetryDecision

    class HandBack(BaseRetryStrategy):
        def get_retry_decision(self, *, exception: BaseException, job: Any) -> Any:
            if job.attempts >= _MAX_ATTEMPTS:
                return None
            wait = _RETRY_WAIT_S
            if isinstance(exception, StorageError):
                wait = min(_STORAGE_RETRY_MAX_S, 2 ** min(job.attempts, 6))
            return RetryDecision(retry_in={"seconds": wait})

    return HandBack()


class JobBusy(Exception):
    """Another worker holds this batch's lock: it still runs it (taken for dead wrongly)."""


class Engine:
    """procrastinate's app for akarom's one task, and what a worker does around it."""

    def __init__(self, conninfo: str) -> None:
        import procrastinate  # only on PostgreSQL: the `postgres` extra

        self.conninfo = conninfo
        self.app = procrastinate.App(
            connector=procrastinate.PsycopgConnector(conninfo=conninfo, min_size=1, max_size=8)
        )
        self._already_enqueued = procrastinate.exceptions.AlreadyEnqueued
        self.app.task(name=TASK, pass_context=True, retry=_retry_strategy())(self._run)
        # One pass at a time across the fleet (lock), none piling up behind a slow one
        # (queueing_lock): passes are safe together anyway (Store.claim_due).
        monitor_pass = self.app.task(
            name=MONITOR_TASK,
            queue=QUEUE_MONITOR,
            pass_context=True,
            lock=MONITOR_TASK,
            queueing_lock=MONITOR_TASK,
        )(self._monitor_pass)
        self.app.periodic(cron="* * * * *", periodic_id="monitor")(monitor_pass)
        self._monitor: Monitor | None = None
        #: Jobs this process is running now (its heartbeat tells).
        self.running = 0

    async def open(self) -> None:
        await self._ensure_schema()
        await self.app.open_async()

    async def close(self) -> None:
        await self.app.close_async()

    async def _ensure_schema(self) -> None:
        """procrastinate's tables, made once by whichever process comes first."""
        import psycopg
        from procrastinate.schema import SchemaManager

        async with await psycopg.AsyncConnection.connect(self.conninfo) as connection:
            await connection.execute(_SCHEMA_LOCK)
            cursor = await connection.execute("SELECT to_regclass('procrastinate_jobs')")
            row = await cursor.fetchone()
            if row is None or row[0] is None:
                logger.info("creating the job queue's tables (procrastinate)")
                await connection.execute(SchemaManager.get_schema())

    # -- what a worker runs ------------------------------------------------------------

    async def _run(self, context: Any, job_id: int) -> None:
        hub: Hub = context.additional_context["hub"]
        self.running += 1
        try:
            # Only a batch is locked: a check is short, and run twice costs one device.
            exclusive = context.job.queue == QUEUE_BATCHES
            async with self._exclusive(job_id) if exclusive else contextlib.nullcontext():
                await run_job(hub, job_id, hand_back_storage_errors=True)
        finally:
            self.running -= 1

    async def _monitor_pass(self, context: Any, timestamp: int) -> None:
        """A pass of the monitor (``akarom monitor once``), as the fleet's minute job.

        It asks through the hub's public Checker: the same pace and cap in flight as
        every other request to that carrier, and no person to answer a captcha (the
        carrier's answer stays unknown and is asked again later)."""
        hub: Hub = context.additional_context["hub"]
        if self._monitor is None:
            from akarom.services.alerts import deliver_due
            from akarom.services.monitor import Monitor

            self._monitor = Monitor(
                hub.settings,
                hub.store,
                hub.checker(None, staff=False),
                deliver=lambda now: deliver_due(hub.store, hub.settings, now=now),
            )
        await self._monitor.once()

    @contextlib.asynccontextmanager
    async def _exclusive(self, job_id: int) -> AsyncIterator[None]:
        """The batch's advisory lock for the whole run, on a connection of its own (the
        database frees it when this process dies); ``JobBusy`` if another holds it."""
        import psycopg

        async with await psycopg.AsyncConnection.connect(
            self.conninfo, autocommit=True
        ) as connection:
            cursor = await connection.execute(_BATCH_LOCK, (job_id,))
            row = await cursor.fetchone()
            if row is None or not row[0]:
                raise JobBusy(f"job {job_id} is still running in another worker")
            yield

    # -- the queue -------------------------------------------------------------------

    async def defer(self, job: StoredJob) -> None:
        """Queue ``job`` (once: a job already waiting is not queued twice)."""
        if job.kind is JobKind.CHECK:
            options: dict[str, Any] = {"queue": QUEUE_CHECKS, "priority": CHECK_PRIORITY}
        else:
            options = {
                "queue": QUEUE_BATCHES,
                "priority": BATCH_PRIORITY,
                "lock": f"batch:{job.dealer_id}",
            }
        deferrer = self.app.configure_task(TASK, queueing_lock=f"job:{job.key}", **options)
        with contextlib.suppress(self._already_enqueued):
            await deferrer.defer_async(job_id=job.id)

    async def abort(self, job: StoredJob) -> None:
        """Stop ``job``: taken off the queue, or its running task cancelled where it runs."""
        for row in await self._unfinished(job.id):
            await self.app.job_manager.cancel_job_by_id_async(row["id"], abort=True)

    async def _unfinished(self, job_id: int | None = None) -> list[Mapping[str, Any]]:
        """The engine jobs waiting or running (of akarom's job ``job_id`` only, if given)."""
        rows = await self.app.connector.execute_query_all_async(
            _UNFINISHED_ENGINE_JOBS, task=TASK, job_id=job_id
        )
        return list(rows)

    async def depth(self) -> dict[tuple[str, str], int]:
        """Engine jobs by (queue, status): the queue depth for ``/readyz`` and the metrics."""
        rows = await self.app.connector.execute_query_all_async(
            "SELECT queue_name, status::text AS status, count(*) AS n"
            " FROM procrastinate_jobs GROUP BY 1, 2"
        )
        return {(row["queue_name"], row["status"]): int(row["n"]) for row in rows}

    async def sweep(self) -> int:
        """Queue again the jobs of workers not heard from for ``STALLED_S``; how many."""
        stalled = list(
            await self.app.job_manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_S)
        )
        for job in stalled:
            logger.warning(
                "job %s: its worker stopped answering; queued again (kept rows are not asked "
                "again)",
                job.task_kwargs.get("job_id"),
            )
            await self.app.job_manager.retry_job(job)
        return len(stalled)

    async def reconcile(self, hub: Hub, *, older_than: timedelta = RECONCILE_AFTER) -> int:
        """Queue the unfinished jobs the queue does not hold (a server stopped between
        recording a job and queueing it); how many.

        Only jobs recorded ``older_than`` ago: a younger one may be on its way to the
        queue right now. The store is read before the queue, so a job taken from the
        queue meanwhile is still seen there.
        """
        recorded = await asyncio.to_thread(hub.store.jobs_to_resume)
        waiting = {row["job_id"] for row in await self._unfinished()}
        before = datetime.now(UTC) - older_than
        missing = [job for job in recorded if job.id not in waiting and job.created_at < before]
        for job in missing:
            await self.defer(job)
        if missing:
            logger.info("queued %d unfinished job(s) the queue did not hold", len(missing))
        return len(missing)

    # -- a worker --------------------------------------------------------------------

    async def work(
        self,
        hub: Hub,
        *,
        batches: int = DEFAULT_WORKER_BATCHES,
        checks: int = DEFAULT_CHECKS_AT_ONCE,
        kind: str = "worker",
    ) -> None:
        """Run jobs until cancelled: ``checks`` checks and ``batches`` batches at once.

        Cancelling it is the graceful stop (see the module docstring).
        """
        name = f"{socket.gethostname()}:{os.getpid()}"
        worker_id = await asyncio.to_thread(hub.store.register_worker, name, kind, batches)
        common: dict[str, Any] = {
            "additional_context": {"hub": hub},
            "install_signal_handlers": False,
            "update_heartbeat_interval": HEARTBEAT_S,
            "stalled_worker_timeout": STALLED_S,
            "fetch_job_polling_interval": 1.0,
            "abort_job_polling_interval": 1.0,
            "delete_jobs": "successful",  # akarom's own tables keep the history
        }
        rooms = (
            (QUEUE_CHECKS, checks, CHECK_GRACE_S),
            (QUEUE_BATCHES, batches, BATCH_GRACE_S),
            (QUEUE_MONITOR, 1, BATCH_GRACE_S),
        )
        tasks = [
            asyncio.create_task(
                self.app.run_worker_async(
                    queues=[queue],
                    concurrency=room,
                    name=f"{name}/{queue}",
                    shutdown_graceful_timeout=grace,
                    **common,
                ),
                name=queue,
            )
            for queue, room, grace in rooms
        ]
        tasks.append(asyncio.create_task(self._keep_up(hub, worker_id), name="heartbeat"))
        logger.info("%s %s: running up to %d batches and %d checks", kind, name, batches, checks)
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # a part that stopped on its own: stop the rest, say why
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(hub.store.unregister_worker, worker_id)
            logger.info("%s %s stopped", kind, name)

    async def _keep_up(self, hub: Hub, worker_id: int) -> None:
        """Heartbeat, sweep and reconcile; a failure is logged once, and its end once."""
        loop = asyncio.get_running_loop()
        next_reconcile = loop.time()
        failing = False
        while True:
            try:
                await asyncio.to_thread(hub.store.worker_seen, worker_id, self.running)
                await self.sweep()
                if loop.time() >= next_reconcile:
                    await self.reconcile(hub)
                    next_reconcile = loop.time() + RECONCILE_S
                if failing:
                    logger.warning("the job queue answers again")
                    failing = False
            except Exception:
                if not failing:
                    logger.exception("the job queue does not answer; retrying")
                    failing = True
            await asyncio.sleep(min(HEARTBEAT_S, SWEEP_S))


async def run_worker(settings: Settings, conninfo: str, *, batches: int) -> None:
    """``akarom worker``: one Hub (one database pool, one budget share per carrier) and
    the engine's workers, until cancelled (the graceful stop)."""
    from akarom.services.database import open_store

    store = await asyncio.to_thread(open_store, settings)
    hub = Hub(settings, store)
    engine = Engine(conninfo)
    try:
        await engine.open()
        await engine.work(hub, batches=batches)
    finally:
        await engine.close()
        await hub.aclose()


class EngineJobs(Jobs):
    """Jobs through the engine; the server runs them itself while no worker is alive."""

    def __init__(self, hub: Hub, engine: Engine) -> None:
        super().__init__(hub)
        self.engine = engine
        self._running = False
        self._watch: asyncio.Task[None] | None = None
        self._here: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._running

    @property
    def working_here(self) -> bool:
        """Whether this server runs jobs itself now (no worker is alive)."""
        return self._here is not None and not self._here.done()

    async def start(self) -> None:
        await self.engine.open()
        self._running = True
        await self._follow_workers()
        self._watch = asyncio.create_task(self._watch_workers(), name="watch workers")

    async def stop(self) -> None:
        self._running = False
        for task in (self._watch, self._here):
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in (self._watch, self._here) if t), return_exceptions=True)
        self._watch = self._here = None
        await self.engine.close()

    async def hand_over(self, job: StoredJob) -> None:
        await self.engine.defer(job)

    async def interrupt(self, job: StoredJob) -> None:
        await self.engine.abort(job)

    async def workers(self) -> list[LiveWorker]:
        """Every process running jobs now, this server included when it does."""
        return await asyncio.to_thread(self.hub.store.live_workers)

    async def _watch_workers(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                await self._follow_workers()
            except Exception:
                logger.exception("could not tell whether workers are alive")

    async def _follow_workers(self) -> None:
        workers = [w for w in await self.workers() if w.kind == "worker"]
        if not workers and not self.working_here:
            logger.info("no worker is alive: this server runs jobs itself until one is")
            self._here = asyncio.create_task(
                self.engine.work(self.hub, kind="server"), name="jobs here"
            )
        elif workers and self.working_here:
            logger.info("%d worker(s) alive: this server only queues jobs now", len(workers))
            assert self._here is not None
            self._here.cancel()
            await asyncio.gather(self._here, return_exceptions=True)
            self._here = None
