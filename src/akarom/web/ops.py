"""Operations: ``/healthz``, ``/readyz`` and ``/metrics`` (Prometheus text).

Metrics live in the app's own registry (two apps in one process, as in tests, never
share counters): HTTP requests by route and status, carrier answers by status and
carrier errors (told by every Checker of the Hub), and jobs by state, read from the
store when scraped.

Both also tell who runs the jobs and how many wait. On PostgreSQL the processes that
run jobs report themselves in the ``workers`` table (``akarom worker``, and a server
running jobs itself while no worker is alive) and the queue is procrastinate's
``procrastinate_jobs``, counted by queue (``checks``, ``batches``) and status
(``todo``, ``doing``, ...). On SQLite no worker exists (the server runs every job) and
the queue is akarom's own unfinished jobs, named the same way (a queued check is
``checks``/``todo``, a running batch ``batches``/``doing``). A Prometheus collector is
called synchronously, so the metrics read these with the store's engine in SQL; the
queue's count there needs procrastinate's table in the store's database (the default:
with ``AKAROM_QUEUE_URL`` elsewhere only ``/readyz`` counts the queue). A scrape never
fails because a database does not answer: the gauge is left out, and that is logged
once (and its end once).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select, text
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from akarom.domain import CarrierResult
from akarom.services.engine import QUEUE_BATCHES, QUEUE_CHECKS, EngineJobs
from akarom.services.jobs import Jobs
from akarom.storage import JobKind, JobStatus, Store
from akarom.storage.tables import Job
from akarom.web.state import hub_of

__all__ = ["Metrics", "RequestMetrics", "router"]

logger = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

_JOB_STATES = ("queued", "running", "done", "failed", "cancelled")


#: How long ``/readyz`` waits for the job queue's database.
_QUEUE_TIMEOUT_S = 5.0
#: The queue depth always told (zeros included): what waits, and what runs.
_DEPTH_STATUSES = ("todo", "doing")
#: On SQLite: akarom's unfinished jobs, named as procrastinate names its queue.
_LOCAL_QUEUES = {JobKind.CHECK.value: QUEUE_CHECKS, JobKind.BATCH.value: QUEUE_BATCHES}
_LOCAL_STATUSES = {JobStatus.QUEUED.value: "todo", JobStatus.RUNNING.value: "doing"}
_PROCRASTINATE_DEPTH = text(
    "SELECT queue_name, status::text, count(*) FROM procrastinate_jobs GROUP BY 1, 2"
)

_T = TypeVar("_T")
Depth = Mapping[tuple[str, str], int]


def _local_depth(engine: Engine) -> dict[tuple[str, str], int]:
    """SQLite: akarom's queued and running jobs by (queue, status) (blocking)."""
    query = (
        select(Job.kind, Job.status, func.count())
        .where(Job.status.in_(tuple(_LOCAL_STATUSES)))
        .group_by(Job.kind, Job.status)
    )
    with engine.connect() as connection:
        return {
            (_LOCAL_QUEUES[kind], _LOCAL_STATUSES[status]): int(count)
            for kind, status, count in connection.execute(query)
        }


def _engine_depth(engine: Engine) -> dict[tuple[str, str], int] | None:
    """PostgreSQL: procrastinate's jobs by (queue, status), read with the store's engine
    (blocking); None when its table is not in this database."""
    with engine.connect() as connection:
        if connection.scalar(text("SELECT to_regclass('procrastinate_jobs')")) is None:
            return None
        return {
            (queue, status): int(count)
            for queue, status, count in connection.execute(_PROCRASTINATE_DEPTH)
        }


def _queue_depth(store: Store) -> dict[tuple[str, str], int] | None:
    """The queue's depth by (queue, status), as the metrics read it (blocking); None
    when this database does not hold the queue."""
    return _local_depth(store.engine) if store.local else _engine_depth(store.engine)


def _with_zeros(depth: Depth) -> dict[tuple[str, str], int]:
    """``depth`` with every queue's ``todo`` and ``doing`` told, zero or not."""
    queues = {QUEUE_CHECKS, QUEUE_BATCHES} | {queue for queue, _ in depth}
    zeros = {(queue, status): 0 for queue in queues for status in _DEPTH_STATUSES}
    return zeros | dict(depth)


def _queue_view(depth: Depth) -> dict[str, dict[str, int]]:
    """``/readyz``'s ``queue``: ``{"checks": {"todo": a, "doing": b}, "batches": ...}``."""
    view: dict[str, dict[str, int]] = {}
    for (queue, status), count in sorted(_with_zeros(depth).items()):
        if status in _DEPTH_STATUSES:
            view.setdefault(queue, {})[status] = count
    return view


class _Quiet:
    """Reads that may fail while the metrics are scraped: each failure is logged once
    (and the recovery once), and the read gives None, never a failed scrape."""

    def __init__(self) -> None:
        self._failing: set[str] = set()

    def read(self, what: str, reader: Callable[[], _T]) -> _T | None:
        try:
            value = reader()
        except Exception as problem:  # noqa: BLE001 - a scrape must answer
            if what not in self._failing:
                logger.warning("metrics: could not read %s (%s); left out", what, problem)
                self._failing.add(what)
            return None
        if what in self._failing:
            logger.warning("metrics: %s can be read again", what)
            self._failing.discard(what)
        return value


class _JobsCollector(Collector):
    """Jobs by state, counted in the store when scraped."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.quiet = _Quiet()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        counts = self.quiet.read("the jobs", self.store.job_counts)
        if counts is None:
            return
        family = GaugeMetricFamily("akarom_jobs", "Jobs by state", labels=["state"])
        for state in _JOB_STATES:
            family.add_metric([state], counts.get(state, 0))
        yield family


class _FleetCollector(Collector):
    """Worker health and queue depth, read when scraped (see the module docstring)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.quiet = _Quiet()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        local = self.store.local
        depth = self.quiet.read("the job queue", lambda: _queue_depth(self.store))
        if local:  # SQLite: no worker; the server runs every job
            alive: int | None = 0
            running = (
                None if depth is None else sum(n for (_, s), n in depth.items() if s == "doing")
            )
        else:
            workers = self.quiet.read("the workers", self.store.live_workers)
            alive = None if workers is None else sum(1 for w in workers if w.kind == "worker")
            running = None if workers is None else sum(w.running for w in workers)
        if alive is not None:
            yield GaugeMetricFamily(
                "akarom_workers_alive",
                "akarom worker processes alive (heartbeat fresh); 0 while servers run the jobs",
                value=alive,
            )
        if running is not None:
            yield GaugeMetricFamily(
                "akarom_worker_jobs_running",
                "Jobs running now, summed over the processes that run jobs",
                value=running,
            )
        if depth is not None:
            family = GaugeMetricFamily(
                "akarom_queue_jobs", "Jobs in the job queue", labels=["queue", "status"]
            )
            for (queue, status), count in sorted(_with_zeros(depth).items()):
                family.add_metric([queue, status], count)
            yield family


class Metrics:
    """The counters of one app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "akarom_http_requests",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "akarom_http_request_seconds",
            "Time to answer an HTTP request",
            ["route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.answers = Counter(
            "akarom_carrier_answers",
            "Carrier answers given (live, cached or manual), by status",
            ["carrier", "status", "source"],
            registry=self.registry,
        )
        self.errors = Counter(
            "akarom_carrier_errors",
            "Carrier answers that were errors, by code",
            ["carrier", "error"],
            registry=self.registry,
        )

    def watch_jobs(self, store: Store) -> None:
        """Jobs by state, worker health and queue depth, read from ``store`` when scraped."""
        self.registry.register(_JobsCollector(store))
        self.registry.register(_FleetCollector(store))

    def observe(self, result: CarrierResult) -> None:
        """A Checker observer: one carrier answer."""
        source = result.source.value if result.source else "none"
        self.answers.labels(result.carrier.value, result.status.value, source).inc()
        if result.error:
            self.errors.labels(result.carrier.value, result.error).inc()


class RequestMetrics:
    """Counts every request by its route template (never the raw path: IMEIs stay out)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500

        async def counting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, counting)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(scope["method"], name, str(status)).inc()
            self.metrics.latency.labels(name).observe(time.perf_counter() - began)


@router.get("/healthz")
async def healthz() -> JSONResponse:
    """The process is up."""
    return JSONResponse({"status": "ok"})


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """The database answers, the job runner runs, and (PostgreSQL) the queue answers;
    with who runs the jobs (``workers``) and how many wait (``queue``)."""
    hub = hub_of(request)
    try:
        await asyncio.wait_for(asyncio.to_thread(hub.store.ping), timeout=5)
    except Exception as problem:  # noqa: BLE001 - any failure means not ready
        logger.warning("not ready: the database does not answer (%s)", problem)
        return JSONResponse({"status": "unavailable", "database": "down"}, status_code=503)
    jobs = getattr(request.app.state, "jobs", None)
    running = jobs is None or jobs.running
    body: dict[str, Any] = {"status": "ok" if running else "unavailable", "database": "ok"}
    body["jobs"] = "ok" if running else "stopped"
    if jobs is not None:
        try:
            body |= await _fleet(jobs)
        except Exception as problem:  # noqa: BLE001 - any failure means not ready
            logger.warning("not ready: the job queue does not answer (%s)", problem)
            body |= {"status": "unavailable", "queue": "down"}
            return JSONResponse(body, status_code=503)
    return JSONResponse(body, status_code=200 if running else 503)


async def _fleet(jobs: Jobs) -> dict[str, Any]:
    """``workers`` and ``queue`` of ``/readyz``; raises when the queue does not answer."""
    if isinstance(jobs, EngineJobs):
        workers = await asyncio.wait_for(jobs.workers(), timeout=_QUEUE_TIMEOUT_S)
        depth = await asyncio.wait_for(jobs.engine.depth(), timeout=_QUEUE_TIMEOUT_S)
        return {
            "workers": {
                "alive": sum(1 for worker in workers if worker.kind == "worker"),
                "running_jobs": sum(worker.running for worker in workers),
                "here": jobs.working_here,
            },
            "queue": _queue_view(depth),
        }
    # In this process (SQLite): no worker; every job runs here.
    local = await asyncio.wait_for(
        asyncio.to_thread(_local_depth, jobs.hub.store.engine), timeout=_QUEUE_TIMEOUT_S
    )
    doing = sum(count for (_, status), count in local.items() if status == "doing")
    return {
        "workers": {"alive": 0, "running_jobs": doing, "here": True},
        "queue": _queue_view(local),
    }


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    registry = request.app.state.metrics.registry
    body = await asyncio.to_thread(generate_latest, registry)
    return PlainTextResponse(body, media_type="text/plain; version=0.0.4; charset=utf-8")
