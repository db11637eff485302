"""Operations: ``/healthz``, ``/readyz`` and ``/metrics`` (Prometheus text).

Metrics live in the app's own registry (two apps in one process, as in tests, never
share counters): HTTP requests by route and status, carrier answers by status and
carrier errors (told by every Checker of the Hub), and jobs by state, read from the
store when scraped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

from fastapi import APIRouter, Request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from akarom.domain import CarrierResult
from akarom.storage import Store
from akarom.web.state import hub_of

__all__ = ["Metrics", "RequestMetrics", "router"]

logger = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

_JOB_STATES = ("queued", "running", "done", "failed", "cancelled")


class _JobsCollector(Collector):
    """Jobs by state, counted in the store when scraped."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("akarom_jobs", "Jobs by state", labels=["state"])
        counts = self.store.job_counts()
        for state in _JOB_STATES:
            family.add_metric([state], counts.get(state, 0))
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
        self.registry.register(_JobsCollector(store))

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
    """The database answers (and the job runner runs)."""
    hub = hub_of(request)
    try:
        await asyncio.wait_for(asyncio.to_thread(hub.store.ping), timeout=5)
    except Exception as problem:  # noqa: BLE001 - any failure means not ready
        logger.warning("not ready: the database does not answer (%s)", problem)
        return JSONResponse({"status": "unavailable", "database": "down"}, status_code=503)
    jobs = getattr(request.app.state, "jobs", None)
    running = jobs is None or jobs.running
    body = {"status": "ok" if running else "unavailable", "database": "ok"}
    body["jobs"] = "ok" if running else "stopped"
    return JSONResponse(body, status_code=200 if running else 503)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    registry = request.app.state.metrics.registry
    body = await asyncio.to_thread(generate_latest, registry)
    return PlainTextResponse(body, media_type="text/plain; version=0.0.4; charset=utf-8")
