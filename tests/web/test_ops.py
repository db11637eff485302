"""Operations and the protections every response has (web/app.py, ops.py, security.py)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from akarom.domain import Carrier
from akarom.storage import JobKind, JobSource, NewJob
from akarom.web import ops
from akarom.web.app import create_app
from akarom.web.security import MAX_BODY_BYTES
from akarom.web.server import JsonFormatter
from tests.web.conftest import sandbox_app, web_settings

SANDBOX = "http://sandbox.test"


@pytest.fixture
async def ops_app(tmp_path: Path) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    transport = httpx.ASGITransport(app=sandbox_app())
    app = create_app(web_settings(tmp_path), transports=dict.fromkeys(Carrier, transport))
    async with app.router.lifespan_context(app):
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
        async with client:
            yield app, client


async def test_health_and_readiness(ops_app) -> None:
    _app, client = ops_app
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["database"] == "ok"


IDLE_QUEUE = {"checks": {"todo": 0, "doing": 0}, "batches": {"todo": 0, "doing": 0}}


async def test_on_sqlite_every_job_runs_here_and_the_queue_is_the_unfinished_jobs(
    ops_app,
) -> None:
    app, client = ops_app
    ready = (await client.get("/readyz")).json()
    assert ready["jobs"] == "ok"
    assert ready["workers"] == {"alive": 0, "running_jobs": 0, "here": True}
    assert ready["queue"] == IDLE_QUEUE
    # A job recorded but not handed to the runner: it waits in the queue.
    app.state.hub.store.create_job(NewJob(kind=JobKind.CHECK, source=JobSource.WEB, total=1))
    assert (await client.get("/readyz")).json()["queue"]["checks"] == {"todo": 1, "doing": 0}
    text = (await client.get("/metrics")).text
    assert "akarom_workers_alive 0.0" in text
    assert "akarom_worker_jobs_running 0.0" in text
    assert 'akarom_queue_jobs{queue="checks",status="todo"} 1.0' in text
    assert 'akarom_queue_jobs{queue="batches",status="doing"} 0.0' in text


async def test_a_scrape_answers_when_the_queue_does_not_and_says_so_once(
    ops_app, monkeypatch, caplog
) -> None:
    _, client = ops_app

    def down(*_: object) -> None:
        raise RuntimeError("the queue went away")

    monkeypatch.setattr(ops, "_local_depth", down)
    with caplog.at_level(logging.WARNING, logger="akarom.web.ops"):
        for _ in range(2):
            scraped = await client.get("/metrics")
            assert scraped.status_code == 200
            assert "akarom_queue_jobs" not in scraped.text
            assert 'akarom_jobs{state="queued"}' in scraped.text
    assert sum("could not read the job queue" in r.message for r in caplog.records) == 1
    assert (await client.get("/readyz")).status_code == 503
    monkeypatch.undo()
    with caplog.at_level(logging.WARNING, logger="akarom.web.ops"):
        assert "akarom_queue_jobs" in (await client.get("/metrics")).text
    assert any("can be read again" in r.message for r in caplog.records)


@pytest.mark.postgres
async def test_on_postgresql_workers_and_the_queue_are_told(
    tmp_path: Path, postgres_url: str, monkeypatch
) -> None:
    from akarom.services.engine import QUEUE_CHECKS, TASK, EngineJobs

    transport = httpx.ASGITransport(app=sandbox_app())
    settings = web_settings(tmp_path, postgres_url)
    app = create_app(settings, transports=dict.fromkeys(Carrier, transport))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        jobs = app.state.jobs
        assert isinstance(jobs, EngineJobs)
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["workers"] == {"alive": 0, "running_jobs": 0, "here": True}
        assert ready.json()["queue"] == IDLE_QUEUE
        text = (await client.get("/metrics")).text
        assert "akarom_workers_alive 0.0" in text
        assert 'akarom_queue_jobs{queue="checks",status="todo"} 0.0' in text

        # A job deferred for later waits in the queue (no worker takes it yet).
        deferrer = jobs.engine.app.configure_task(
            TASK, queue=QUEUE_CHECKS, schedule_in={"hours": 1}
        )
        await deferrer.defer_async(job_id=0)
        assert (await client.get("/readyz")).json()["queue"]["checks"] == {"todo": 1, "doing": 0}
        text = (await client.get("/metrics")).text
        assert 'akarom_queue_jobs{queue="checks",status="todo"} 1.0' in text

        store = app.state.hub.store
        worker = store.register_worker("h:1", "worker", 2)
        store.worker_seen(worker, 3)
        text = (await client.get("/metrics")).text
        assert "akarom_workers_alive 1.0" in text
        assert "akarom_worker_jobs_running 3.0" in text
        workers = (await client.get("/readyz")).json()["workers"]
        assert workers["alive"] == 1
        assert workers["running_jobs"] == 3

        async def down() -> None:
            raise OSError("the queue's database went away")

        monkeypatch.setattr(jobs.engine, "depth", down)
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["queue"] == "down"
        assert ready.json()["database"] == "ok"


async def test_not_ready_when_the_database_does_not_answer(ops_app) -> None:
    app, client = ops_app
    app.state.hub.store.engine.dispose()

    def broken() -> None:
        raise RuntimeError("the database went away")

    app.state.hub.store.ping = broken
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["database"] == "down"


async def test_metrics_count_requests_by_route_not_by_imei(ops_app) -> None:
    _, client = ops_app
    await client.get("/healthz")
    await client.get("/api/v1/devices/352099001761481")  # no key: 401, still counted
    text = (await client.get("/metrics")).text
    assert 'akarom_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert "352099001761481" not in text  # the route template, never the device
    assert 'akarom_jobs{state="queued"}' in text


async def test_every_page_has_a_strict_content_security_policy(ops_app) -> None:
    _, client = ops_app
    for path in ("/healthz", "/", "/no-such-page"):
        response = await client.get(path)
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"


async def test_an_unknown_page_is_a_page_and_an_unknown_api_path_a_problem(ops_app) -> None:
    _, client = ops_app
    page = await client.get("/no-such-page")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "ページが見つかりません" in page.text
    assert "Page not found" in (await client.get("/no-such-page?lang=en")).text
    api = await client.get("/api/v1/no-such-thing")
    assert api.status_code == 404
    assert api.headers["content-type"] == "application/problem+json"
    assert api.json()["status"] == 404


async def test_a_body_over_the_limit_is_refused_before_it_is_read(ops_app) -> None:
    _, client = ops_app
    big = b"x" * (MAX_BODY_BYTES + 1)
    declared = await client.post("/api/v1/batches", content=big)
    assert declared.status_code == 413
    assert "content-security-policy" in declared.headers
    assert declared.json()["status"] == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        yield (
            b'--BOUNDARY123\r\nContent-Disposition: form-data; name="photo"; filename="a.jpg"\r\n'
            b"Content-Type: image/jpeg\r\n\r\n"
        )
        for _ in range(MAX_BODY_BYTES // 2**20 + 2):
            yield b"a" * 2**20

    streamed = await client.post(
        "/scan",
        content=chunks(),
        headers={"content-type": "multipart/form-data; boundary=BOUNDARY123"},
    )
    assert streamed.status_code == 413, streamed.text[-900:]


async def test_the_session_cookie_is_secure_whenever_the_page_came_over_https(ops_app) -> None:
    app, _ = ops_app
    for scheme, secure in (("https", True), ("http", False)):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=f"{scheme}://t") as client:
            cookie = (await client.get("/")).headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=lax" in cookie
        assert ("secure" in cookie) is secure, scheme


async def test_the_api_never_gets_a_session(ops_app) -> None:
    _, client = ops_app
    response = await client.get("/api/v1/devices/352099001761481")
    assert "set-cookie" not in response.headers


def test_logs_are_one_json_object_per_line() -> None:
    record = logging.makeLogRecord(
        {"name": "akarom.web", "levelname": "WARNING", "msg": "docomo %s", "args": ("paused",)}
    )
    record.carrier = "docomo"
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "docomo paused"
    assert entry["level"] == "warning"
    assert entry["carrier"] == "docomo"
