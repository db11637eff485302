"""Jobs: what a job does (run_job) wherever it runs; the in-process runner around it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from akarom.domain import Carrier
from akarom.errors import InvalidImei
from akarom.services.jobs import InProcessJobs, batch_input, run_job
from akarom.services.serving import Hub
from akarom.storage import JobKind, JobSource, JobStatus, NewJob, Store, StoredJob
from akarom.tabular import TableError
from tests.services.conftest import OK_AT_DOCOMO, PENDING_AT_SOFTBANK, SANDBOX
from tests.web.conftest import sandbox_app, web_settings


def unregistered(count: int, start: int = 100) -> list[str]:
    """Valid IMEIs no carrier has a record of: every carrier is asked for each."""

    def luhn(digits: str) -> str:
        total = 0
        for position, digit in enumerate(reversed(digits)):
            value = int(digit) * (2 if position % 2 == 0 else 1)
            total += value - 9 if value > 9 else value
        return str((10 - total % 10) % 10)

    bodies = [f"35387923{n:06d}" for n in range(start, start + count)]
    return [body + luhn(body) for body in bodies]


class Place:
    """A database, a sandbox, and a Hub on them (opened again as a restarted server, on
    this machine's data folder or another's)."""

    def __init__(self, data_dir: Path, latency_ms: int = 0) -> None:
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.database_url = f"sqlite:///{data_dir / 'shared.db'}"
        self.sandbox = httpx.ASGITransport(app=sandbox_app(latency_ms))

    @asynccontextmanager
    async def hub(self, machine: Path | None = None) -> AsyncIterator[Hub]:
        """A Hub whose files are in ``machine`` (default: the first machine's folder)."""
        data_dir = machine or self.data_dir
        settings = web_settings(data_dir, self.database_url)
        hub = Hub(
            settings,
            Store.open(self.database_url, data_dir),
            transports=dict.fromkeys(Carrier, self.sandbox),
        )
        try:
            yield hub
        finally:
            await hub.aclose()

    async def requests(self) -> int:
        async with httpx.AsyncClient(transport=self.sandbox, base_url=SANDBOX) as admin:
            stats = (await admin.get("/_sandbox/stats")).json()
        return sum(carrier["requests"] for carrier in stats["carriers"].values())


@asynccontextmanager
async def running(hub: Hub, **options: Any) -> AsyncIterator[InProcessJobs]:
    jobs = InProcessJobs(hub, **options)
    await jobs.start()
    try:
        yield jobs
    finally:
        await jobs.stop()


async def until(condition: Any, within_s: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def job_now(hub: Hub, job: StoredJob) -> StoredJob:
    found = hub.store.job_by_id(job.id)
    assert found is not None
    return found


async def test_a_batch_runs_to_the_end(tmp_path: Path) -> None:
    place = Place(tmp_path)
    async with place.hub() as hub, running(hub) as jobs:
        dealer = hub.store.create_dealer("A")
        job, created = await jobs.submit_batch(
            dealer_id=dealer.id,
            input_name="stock.csv",
            data=batch_input([OK_AT_DOCOMO, "x", PENDING_AT_SOFTBANK]),
            source=JobSource.API,
        )
        assert created
        assert (job.status, job.total, job.kind) == (JobStatus.QUEUED, 3, JobKind.BATCH)
        await jobs.wait(job.key)
        done = job_now(hub, job)
        assert (done.status, done.done, done.total, done.error) == (JobStatus.DONE, 3, 3, None)
        assert done.verdicts == {"clear": 1, "invalid": 1, "caution": 1}
        assert done.run_id is not None
        results = hub.store.job_results(job.id)
        assert [r.row_number for r in results] == [1, 2, 3]
        assert [r.result["verdict"] for r in results] == ["clear", "invalid", "caution"]
        assert results[0].result["advice"]["role"] == "dealer"
        report = await jobs.report(done)
        assert report is not None
        assert report.startswith(b"\xef\xbb\xbf")
        assert report.count(b"\r\n") == 4  # the header and every row
        assert hub.store.dealer_devices(dealer.id, prefix="35") != []


@pytest.mark.parametrize("where", ["same machine", "another machine"])
async def test_an_interrupted_batch_resumes_without_asking_finished_rows_again(
    tmp_path: Path, where: str
) -> None:
    """However it stopped, wherever it resumes: a worker on another machine has no file
    of the first run, only the database."""
    place = Place(tmp_path / "first", latency_ms=60)
    devices = unregistered(20)
    async with place.hub() as hub:
        # What one device costs, on a device of its own.
        dealer = hub.store.create_dealer("A")
        async with running(hub) as jobs:
            probe, _ = await jobs.submit_batch(
                dealer_id=dealer.id, input_name="one.csv", data=batch_input(unregistered(1, 900))
            )
            await jobs.wait(probe.key)
        per_device = await place.requests()
        assert per_device >= len(Carrier)

        async with running(hub) as jobs:
            # fresh: no answer from before the batch is reused, so only the batch's own
            # run can spare the rows it finished.
            job, _ = await jobs.submit_batch(
                dealer_id=dealer.id, input_name="stock.csv", data=batch_input(devices), fresh=True
            )
            # Rows are kept a few at a time: here the first (the model's first device,
            # asked alone), then the others, which finish together.
            await until(lambda: len(hub.store.job_results(job.id)) >= 1)
        # The runner stopped mid-run: the job waits, running, for the next start.
        stopped = job_now(hub, job)
        assert stopped.status is JobStatus.RUNNING
        kept = {r.row_number: r.updated_at for r in hub.store.job_results(job.id)}
        assert 1 <= len(kept) < len(devices)
        asked_before = await place.requests()

    machine = tmp_path / "second" if where == "another machine" else None
    async with place.hub(machine) as restarted, running(restarted) as jobs:
        await until(lambda: job_now(restarted, job).status is JobStatus.DONE)
        results = restarted.store.job_results(job.id)
        report = await jobs.report(job_now(restarted, job))
    assert report is not None
    assert report.count(b"\r\n") == len(devices) + 1
    assert [r.row_number for r in results] == list(range(1, len(devices) + 1))
    # Rows finished before the stop were not checked again: their results are untouched,
    # or (a row kept just as the stop came, before the run saved it) rebuilt from the
    # answers already stored …
    for result in results:
        if result.row_number in kept and result.updated_at != kept[result.row_number]:
            assert {r["source"] for r in result.result["results"]} == {"cache"}
    # … and no carrier was asked about them again.
    asked_after = await place.requests() - asked_before
    assert asked_after <= (len(devices) - len(kept)) * per_device


async def test_a_running_batch_is_cancelled_and_resumed(tmp_path: Path) -> None:
    place = Place(tmp_path, latency_ms=20)
    async with place.hub() as hub, running(hub) as jobs:
        dealer = hub.store.create_dealer("A")
        job, _ = await jobs.submit_batch(
            dealer_id=dealer.id, input_name="stock.csv", data=batch_input(unregistered(12))
        )
        await until(lambda: len(hub.store.job_results(job.id)) >= 2)
        assert await jobs.cancel(job.key, dealer_id=dealer.id + 1) is None  # not theirs
        cancelling = await jobs.cancel(job.key, dealer_id=dealer.id)
        assert cancelling is not None
        assert cancelling.cancel_requested
        await jobs.wait(job.key)
        cancelled = job_now(hub, job)
        assert cancelled.status is JobStatus.CANCELLED
        assert cancelled.done < 12
        assert len(hub.store.job_results(job.id)) == cancelled.done

        resumed = await jobs.resume(job.key, dealer_id=dealer.id)
        assert resumed is not None
        assert resumed.status is JobStatus.QUEUED
        await until(lambda: job_now(hub, job).status is JobStatus.DONE)
        assert job_now(hub, job).done == 12
        assert len(hub.store.job_results(job.id)) == 12


async def test_a_failure_is_recorded_and_no_row_is_lost(tmp_path: Path) -> None:
    place = Place(tmp_path)
    async with place.hub() as hub:
        dealer = hub.store.create_dealer("A")
        # A file that stopped being readable after it was queued (a bug, a bad migration).
        broken, _ = hub.store.create_job(
            NewJob(
                kind=JobKind.BATCH,
                source=JobSource.API,
                dealer_id=dealer.id,
                input_name="stock.csv",
                input=b"name,price\nphone,100\n",
            )
        )
        assert await run_job(hub, broken.id) is JobStatus.FAILED
        assert job_now(hub, broken).error == "table.no_imei_column"
        # Running it again does nothing: it is finished.
        assert await run_job(hub, broken.id) is None


async def test_a_check_job_that_raises_is_failed(tmp_path: Path, monkeypatch) -> None:
    place = Place(tmp_path)
    async with place.hub() as hub, running(hub) as jobs:

        async def broken(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("a bug")

        monkeypatch.setattr(Hub, "check", broken)
        job = await jobs.submit_check(OK_AT_DOCOMO, dealer_id=None, lang="en")
        await jobs.wait(job.key)
        assert (job_now(hub, job).status, job_now(hub, job).error) == (JobStatus.FAILED, "error")


async def test_a_check_job_shows_each_answer_then_the_advice(tmp_path: Path) -> None:
    place = Place(tmp_path)
    async with place.hub() as hub, running(hub) as jobs:
        seen: list[dict[str, Any]] = []
        put = hub.store.put_job_result

        def spy(job_id: int, row: int, imei: str | None, result: Any, **kw: Any) -> None:
            seen.append(dict(result))
            put(job_id, row, imei, result, **kw)

        hub.store.put_job_result = spy  # type: ignore[method-assign]
        job = await jobs.submit_check(
            PENDING_AT_SOFTBANK, dealer_id=None, lang="ja", all_carriers=True
        )
        await jobs.wait(job.key)
        final = hub.store.job_results(job.id)[0].result
    assert any(not s["done"] and s["verdict"] is None for s in seen)  # live progress
    assert final["done"] is True
    assert final["verdict"] == "caution"
    assert set(final["advice_by_role"]) == {"buyer", "seller"}
    assert final["advice"]["role"] == "buyer"
    assert job_now(hub, job).status is JobStatus.DONE


async def test_what_cannot_be_run_is_refused_before_it_is_queued(tmp_path: Path) -> None:
    place = Place(tmp_path)
    async with place.hub() as hub, running(hub) as jobs:
        dealer = hub.store.create_dealer("A")
        with pytest.raises(InvalidImei):
            await jobs.submit_check("352099001761482", dealer_id=None, lang="ja")
        with pytest.raises(TableError):
            await jobs.submit_batch(dealer_id=dealer.id, input_name="x.pdf", data=b"%PDF")
        assert hub.store.job_counts()["queued"] == 0


async def test_a_queued_job_waits_for_room(tmp_path: Path) -> None:
    place = Place(tmp_path, latency_ms=20)
    async with place.hub() as hub, running(hub, batches_at_once=1) as jobs:
        dealer = hub.store.create_dealer("A")
        first, _ = await jobs.submit_batch(
            dealer_id=dealer.id, input_name="a.csv", data=batch_input(unregistered(4))
        )
        second, _ = await jobs.submit_batch(
            dealer_id=dealer.id, input_name="b.csv", data=batch_input(unregistered(4, 500))
        )
        await until(lambda: job_now(hub, first).status is JobStatus.RUNNING)
        assert job_now(hub, second).status is JobStatus.QUEUED
        await jobs.wait(second.key)
        assert job_now(hub, first).status is job_now(hub, second).status is JobStatus.DONE
