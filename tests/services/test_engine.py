"""Jobs on the engine (procrastinate on PostgreSQL), in one process: the queue, the
hand-over on stop, the sweep after a worker died, and where the queue may live.

Real worker processes, kill -9 and a shared budget across them: tests/fleet.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from akarom.config import Settings
from akarom.domain import Carrier
from akarom.errors import ConfigError, StorageError
from akarom.services.engine import QUEUE_BATCHES, Engine, EngineJobs, engine_conninfo
from akarom.services.jobs import batch_input
from akarom.services.serving import Hub
from akarom.storage import JobStatus, Store, StoredJob
from tests.services.test_jobs import unregistered
from tests.storage.conftest import postgres_admin, postgres_url  # noqa: F401
from tests.web.conftest import sandbox_app, web_settings


class Fleetless:
    """A PostgreSQL schema, a sandbox, and Hubs on them (as several processes would)."""

    def __init__(self, url: str, data_dir: Path, latency_ms: int = 0) -> None:
        self.url = url
        self.data_dir = data_dir
        self.sandbox = httpx.ASGITransport(app=sandbox_app(latency_ms))

    @asynccontextmanager
    async def hub(self) -> AsyncIterator[Hub]:
        settings = web_settings(self.data_dir, self.url)
        hub = Hub(
            settings,
            Store.open(self.url, self.data_dir),
            transports=dict.fromkeys(Carrier, self.sandbox),
        )
        try:
            yield hub
        finally:
            await hub.aclose()

    @asynccontextmanager
    async def jobs(self, hub: Hub) -> AsyncIterator[EngineJobs]:
        conninfo = engine_conninfo(hub.settings)
        assert conninfo is not None
        jobs = EngineJobs(hub, Engine(conninfo))
        await jobs.start()
        try:
            yield jobs
        finally:
            await jobs.stop()


@pytest.fixture
def place(postgres_url: str, tmp_path: Path) -> Fleetless:  # noqa: F811
    return Fleetless(postgres_url, tmp_path)


async def until(read: Any, *, at_least: int = 1, within_s: float = 10) -> None:
    """Until the awaitable ``read()`` returns at least ``at_least`` items."""
    async with asyncio.timeout(within_s):
        while len(await read()) < at_least:  # noqa: ASYNC110 — polls the database, as a page does
            await asyncio.sleep(0.02)


async def until_status(hub: Hub, job: StoredJob, *wanted: JobStatus, within_s: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while (now := hub.store.job_by_id(job.id)) is None or now.status not in wanted:
        assert asyncio.get_running_loop().time() < deadline, f"job still {now and now.status}"
        await asyncio.sleep(0.05)


async def engine_jobs(jobs: EngineJobs) -> list[tuple[str, str]]:
    """(queue, status) of every engine job."""
    rows = await jobs.engine.app.connector.execute_query_all_async(
        "SELECT queue_name, status::text AS status FROM procrastinate_jobs ORDER BY id"
    )
    return [(row["queue_name"], row["status"]) for row in rows]


async def test_with_no_worker_alive_the_server_runs_jobs_itself(place: Fleetless) -> None:
    async with place.hub() as hub, place.jobs(hub) as jobs:
        assert jobs.working_here
        await until(jobs.workers)
        assert [w.kind for w in await jobs.workers()] == ["server"]
        dealer = hub.store.create_dealer("A")
        check = await jobs.submit_check(unregistered(1)[0], dealer_id=dealer.id, lang="ja")
        batch, _ = await jobs.submit_batch(
            dealer_id=dealer.id, input_name="stock.csv", data=batch_input(unregistered(3))
        )
        await until_status(hub, check, JobStatus.DONE)
        await until_status(hub, batch, JobStatus.DONE)
        report = await jobs.report(hub.store.job_by_id(batch.id))  # type: ignore[arg-type]
        assert report is not None
        assert report.count(b"\r\n") == 4
        assert hub.store.job_results(check.id)[0].result["done"] is True


async def test_the_server_only_queues_once_a_worker_is_alive(place: Fleetless) -> None:
    async with queued_batch(place) as (hub, jobs, batch):
        assert not jobs.working_here
        await asyncio.sleep(1.0)
        assert hub.store.job_by_id(batch.id).status is JobStatus.QUEUED  # type: ignore[union-attr]
        assert await engine_jobs(jobs) == [(QUEUE_BATCHES, "todo")]
        # The same job handed over again (a retried request) is queued once.
        await jobs.hand_over(batch)
        assert await engine_jobs(jobs) == [(QUEUE_BATCHES, "todo")]


async def test_stopping_hands_a_running_batch_back_and_another_process_finishes_it(
    place: Fleetless,
) -> None:
    devices = unregistered(100)
    async with place.hub() as hub:
        dealer = hub.store.create_dealer("A")
    # Slow enough that the batch outlasts the hand-back's grace (BATCH_GRACE_S).
    place.sandbox = httpx.ASGITransport(app=sandbox_app(latency_ms=80))
    async with place.hub() as first:
        async with place.jobs(first) as jobs:
            batch, _ = await jobs.submit_batch(
                dealer_id=dealer.id, input_name="stock.csv", data=batch_input(devices)
            )
            await until(lambda: asyncio.to_thread(first.store.job_results, batch.id), at_least=5)
        # Stopped mid-run: back in the queue, its kept rows kept.
        kept = {r.row_number for r in first.store.job_results(batch.id)}
    assert 5 <= len(kept) < len(devices)
    async with place.hub() as second, place.jobs(second) as jobs:
        assert [status for _, status in await engine_jobs(jobs)] == ["todo"]
        await until_status(second, batch, JobStatus.DONE)
        results = second.store.job_results(batch.id)
    assert [r.row_number for r in results] == list(range(1, len(devices) + 1))


async def test_a_job_of_a_worker_that_died_is_queued_again_by_the_sweep(
    place: Fleetless,
) -> None:
    async with queued_batch(place) as (_, jobs, _batch):
        # A worker took it, then stopped answering (killed: no heartbeat since).
        connector = jobs.engine.app.connector
        await connector.execute_query_async(
            "INSERT INTO procrastinate_workers (last_heartbeat)"
            " VALUES (now() - interval '1 hour');"
            "UPDATE procrastinate_jobs SET status = 'doing',"
            " worker_id = (SELECT max(id) FROM procrastinate_workers)"
        )
        assert await jobs.engine.sweep() == 1
        assert await engine_jobs(jobs) == [(QUEUE_BATCHES, "todo")]
        assert await jobs.engine.sweep() == 0


@asynccontextmanager
async def queued_batch(place: Fleetless) -> AsyncIterator[tuple[Hub, EngineJobs, StoredJob]]:
    """A server that only queues (a worker is alive elsewhere), and a batch it queued."""
    async with place.hub() as hub:
        hub.store.register_worker("elsewhere:1", "worker", 2)
        async with place.jobs(hub) as jobs:
            dealer = hub.store.create_dealer("A")
            batch, _ = await jobs.submit_batch(
                dealer_id=dealer.id, input_name="stock.csv", data=batch_input(unregistered(2))
            )
            yield hub, jobs, batch


async def test_a_job_the_queue_lost_is_queued_again(place: Fleetless) -> None:
    async with queued_batch(place) as (hub, jobs, batch):
        # A server that stopped between recording the job and queueing it.
        await jobs.engine.app.connector.execute_query_async("DELETE FROM procrastinate_jobs")
        assert await jobs.engine.reconcile(hub) == 0  # it may be on its way yet
        assert await jobs.engine.reconcile(hub, older_than=timedelta(0)) == 1
        assert await jobs.engine.reconcile(hub, older_than=timedelta(0)) == 0
        assert hub.store.job_by_id(batch.id).status is JobStatus.QUEUED  # type: ignore[union-attr]


async def test_a_cancelled_job_leaves_the_queue(place: Fleetless) -> None:
    async with queued_batch(place) as (hub, jobs, batch):
        await jobs.cancel(batch.key, dealer_id=batch.dealer_id)
        assert await engine_jobs(jobs) == [(QUEUE_BATCHES, "cancelled")]
        assert hub.store.job_by_id(batch.id).status is JobStatus.CANCELLED  # type: ignore[union-attr]


async def test_two_installations_in_two_schemas_of_one_database_do_not_share_locks(
    place: Fleetless,
    postgres_admin: sa.Engine,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Advisory locks belong to the server, not the schema: a batch's lock names its schema."""
    from tests.storage.conftest import _fresh_schema

    with _fresh_schema(postgres_admin) as other_url:
        other = Fleetless(other_url, tmp_path / "other")
        async with place.hub() as hub_a, other.hub() as hub_b:
            conninfo_a = engine_conninfo(hub_a.settings)
            conninfo_b = engine_conninfo(hub_b.settings)
            assert conninfo_a is not None
            assert conninfo_b is not None
            engine_a, engine_b = Engine(conninfo_a), Engine(conninfo_b)
            async with engine_a._exclusive(1), engine_b._exclusive(1):
                pass  # job 1 of each installation runs at once
            async with engine_a._exclusive(1):
                with pytest.raises(Exception, match="still running"):
                    async with engine_a._exclusive(1):
                        pass


def settings_with(**env: str) -> Settings:
    return Settings.from_env({"AKAROM_DATA_DIR": "/tmp/akarom-test", **env})


def test_the_queue_lives_in_the_database_unless_told_otherwise() -> None:
    assert engine_conninfo(settings_with()) is None  # SQLite: jobs run in-process
    on_pg = settings_with(AKAROM_DATABASE_URL="postgresql+psycopg://a:b@db/akarom")
    assert engine_conninfo(on_pg) == "postgresql://a:b@db/akarom"
    elsewhere = settings_with(
        AKAROM_DATABASE_URL="postgresql+psycopg://a:b@db/akarom",
        AKAROM_QUEUE_URL="postgres://q@queue/jobs",
    )
    assert engine_conninfo(elsewhere) == "postgresql://q@queue/jobs"


@pytest.mark.parametrize(
    ("database", "queue", "says"),
    [
        ("postgresql+psycopg://db/a", "redis://127.0.0.1:6379/0", "no redis broker"),
        ("postgresql+psycopg://db/a", "amqp://guest:guest@127.0.0.1//", "no amqp broker"),
        ("sqlite:///x.db", "postgresql://db/q", "PostgreSQL too"),
    ],
)
def test_a_queue_address_akarom_cannot_use_is_refused(database: str, queue: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        engine_conninfo(settings_with(AKAROM_DATABASE_URL=database, AKAROM_QUEUE_URL=queue))


async def test_a_job_the_database_failed_is_resumed_not_failed(place: Fleetless) -> None:
    """A database that is briefly unreachable must not end a dealer's batch as failed."""
    async with place.hub() as hub:
        store = hub.store
        real_write = store.put_job_results
        failures = []

        def flaky_write(*args: Any, **kwargs: Any) -> None:
            if not failures:
                failures.append(args)
                raise StorageError("could not save the job's result: server closed the connection")
            real_write(*args, **kwargs)

        store.put_job_results = flaky_write  # type: ignore[method-assign]
        async with place.jobs(hub) as jobs:
            dealer = store.create_dealer("A")
            batch, _ = await jobs.submit_batch(
                dealer_id=dealer.id, input_name="stock.csv", data=batch_input(unregistered(3))
            )
            await until_status(hub, batch, JobStatus.DONE, JobStatus.FAILED)
            done = store.job_by_id(batch.id)
        assert failures
        assert done is not None
        assert (done.status, done.done, done.error) == (JobStatus.DONE, 3, None)
