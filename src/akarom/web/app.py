"""The ASGI app of ``akarom serve``: routes, middleware, and one ``Hub`` for its life.

``create_app`` wires the interface; the work is in ``akarom.services``. Everything
that can fail for a person becomes a page or a problem document at one edge
(``_problem`` / ``_error_page``), never a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

from akarom import __version__
from akarom.config import Settings
from akarom.domain import Carrier
from akarom.services.database import open_store
from akarom.services.engine import engine_conninfo
from akarom.services.jobs import InProcessJobs, Jobs
from akarom.services.serving import Hub
from akarom.web import ops
from akarom.web.ops import Metrics, RequestMetrics
from akarom.web.rendering import page
from akarom.web.security import (
    BodyLimit,
    ClientLimits,
    PageSessions,
    SecurityHeaders,
    secret_key,
)

__all__ = ["PUBLIC_CHECKS_PER_HOUR", "create_app", "problem"]

logger = logging.getLogger(__name__)

#: How many checks one address may start from the public page in an hour.
PUBLIC_CHECKS_PER_HOUR = 10
_STATIC = Path(__file__).parent / "static"


def create_app(
    settings: Settings,
    *,
    demo: bool = False,
    transports: Mapping[Carrier, httpx.AsyncBaseTransport] | None = None,
    public_checks_per_hour: int = PUBLIC_CHECKS_PER_HOUR,
    on_start: Callable[[Hub], object] | None = None,
) -> FastAPI:
    """The web app and API for ``settings``.

    ``transports`` replaces the carriers' network (the demo's sandbox, tests);
    ``on_start`` runs once the Hub is open (the demo's dealer is made there).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = open_store(settings)
        hub = Hub(settings, store, transports=transports)
        app.state.hub = hub
        hub_metrics: Metrics = app.state.metrics
        hub_metrics.watch_jobs(store)
        hub.observers.append(hub_metrics.observe)
        jobs = await _start_jobs(hub)
        app.state.jobs = jobs
        if on_start is not None:
            on_start(hub)
        try:
            yield
        finally:
            await jobs.stop()
            await hub.aclose()

    app = FastAPI(
        title="akarom",
        version=__version__,
        summary="赤ロム (network restriction) checks of used phones sold in Japan",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.demo = demo
    app.state.default_lang = settings.lang
    app.state.settings = settings
    app.state.limits = ClientLimits()
    app.state.public_limit = f"{public_checks_per_hour}/hour"
    app.state.metrics = Metrics()

    app.mount("/static", StaticFiles(directory=_STATIC), name="static")
    app.include_router(ops.router)
    for router in _routers():
        app.include_router(router)

    app.add_middleware(PageSessions, secret_key=secret_key(settings.data_dir))
    app.add_middleware(BodyLimit)
    app.add_middleware(SecurityHeaders)  # outside the body limit: its 413 has them too
    app.add_middleware(RequestMetrics, metrics=app.state.metrics)

    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
    return app


def _routers() -> list[APIRouter]:
    from akarom.web import api, api_guarantees, certificates, dealer, guarantees, public

    return [
        public.router,
        certificates.router,
        dealer.router,
        guarantees.router,
        api.router,
        api_guarantees.router,
    ]


async def _start_jobs(hub: Hub) -> Jobs:
    """The job runner of this process, started: the engine's queue on PostgreSQL
    (``services.engine``), else tasks of this process (``services.jobs``)."""
    conninfo = engine_conninfo(hub.settings)
    jobs: Jobs
    if conninfo is None:
        jobs = InProcessJobs(hub)
    else:
        from akarom.services.engine import Engine, EngineJobs  # procrastinate: PostgreSQL only

        jobs = EngineJobs(hub, Engine(conninfo))
    await jobs.start()
    return jobs


def _wants_problem(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: object,
) -> JSONResponse:
    """An ``application/problem+json`` answer (RFC 9457)."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(
        body, status_code=status, media_type="application/problem+json", headers=headers
    )


async def _http_error(request: Request, exc: HTTPException) -> Response:
    if _wants_problem(request):
        return problem(
            exc.status_code,
            _TITLES.get(exc.status_code, "Error"),
            str(exc.detail),
            headers=exc.headers,
        )
    key = "web.error.csrf" if exc.detail == "csrf" else f"web.error.{exc.status_code}"
    return page(
        request,
        "error.html",
        {"message_key": key, "status": exc.status_code},
        status_code=exc.status_code,
    )


async def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
    if _wants_problem(request):
        details = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        )
        return problem(422, "Unprocessable Content", details)
    return page(
        request, "error.html", {"message_key": "web.error.400", "status": 400}, status_code=400
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    logger.exception("unexpected error on %s %s", request.method, request.url.path)
    if _wants_problem(request):
        return problem(500, "Internal Server Error", "an unexpected error; it was logged")
    return page(
        request, "error.html", {"message_key": "web.error.500", "status": 500}, status_code=500
    )


_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    503: "Service Unavailable",
}
