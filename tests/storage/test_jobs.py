"""Jobs: queued once per idempotency key, one path to a finish, tenants kept apart."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest

from akarom.storage import JobKind, JobSource, JobStatus, NewJob, Store
from tests.storage.helpers import IMEI, OTHER_TAC, SAME_TAC, T0


def batch(dealer_id: int | None, **fields: Any) -> NewJob:
    base: dict[str, Any] = {
        "kind": JobKind.BATCH,
        "source": JobSource.API,
        "dealer_id": dealer_id,
        "input_name": "stock.csv",
        "input": b"IMEI\n352099001761481\n",
        "options": {"column": "IMEI", "fresh": False},
        "created_at": T0,
    }
    return NewJob(**(base | fields))


def test_a_job_round_trips(store: Store) -> None:
    dealer = store.create_dealer("A")
    job, created = store.create_job(batch(dealer.id, total=1))
    assert created
    assert store.job(job.key, dealer.id) == job == store.job_by_id(job.id)
    assert (job.status, job.kind, job.source, job.done, job.total) == (
        JobStatus.QUEUED,
        JobKind.BATCH,
        JobSource.API,
        0,
        1,
    )
    assert (job.verdicts, job.options, job.cancel_requested) == (
        {},
        {"column": "IMEI", "fresh": False},
        False,
    )
    assert job.created_at == T0
    assert job.created_at.tzinfo is UTC
    assert len(job.key) == 32
    assert store.job_input(job.id) == b"IMEI\n352099001761481\n"


def test_the_same_idempotency_key_returns_the_same_job(store: Store) -> None:
    a = store.create_dealer("A")
    b = store.create_dealer("B")
    first, created = store.create_job(batch(a.id, idempotency_key="retry-1"))
    again, created_again = store.create_job(batch(a.id, idempotency_key="retry-1"))
    assert created
    assert not created_again
    assert again == first
    other, created_other = store.create_job(batch(b.id, idempotency_key="retry-1"))
    assert created_other
    assert other.id != first.id  # unique per dealer, not across dealers
    assert [job.id for job in store.jobs(a.id)] == [first.id]


def test_concurrent_posts_with_one_idempotency_key_make_one_job(
    database_url: str | None, tmp_path: Path
) -> None:
    """Two Stores (as two processes would) race on the unique constraint; one job wins."""
    stores = [Store.open(database_url, tmp_path / "data") for _ in range(2)]
    try:
        dealer = stores[0].create_dealer("A")
        barrier = threading.Barrier(2)

        def post(store: Store) -> tuple[int, bool]:
            barrier.wait()
            job, created = store.create_job(batch(dealer.id, idempotency_key="k"))
            return job.id, created

        with ThreadPoolExecutor(2) as pool:
            outcomes = list(pool.map(post, stores))
        assert len({job_id for job_id, _ in outcomes}) == 1
        assert sorted(created for _, created in outcomes) == [False, True]
    finally:
        for store in stores:
            store.close()


def test_an_idempotency_key_needs_a_dealer() -> None:
    with pytest.raises(ValueError, match="dealer"):
        batch(None, idempotency_key="k")


def test_a_dealer_never_sees_another_dealers_jobs(store: Store) -> None:
    a = store.create_dealer("A")
    b = store.create_dealer("B")
    job_a, _ = store.create_job(batch(a.id))
    public, _ = store.create_job(batch(None, kind=JobKind.CHECK, source=JobSource.WEB))
    assert store.job(job_a.key, b.id) is None
    assert store.job(job_a.key, None) is None  # None is the public jobs, not every job
    assert store.job(public.key, a.id) is None
    assert store.job(public.key, None) == public
    assert store.jobs(b.id) == []
    assert store.request_cancel(job_a.key, b.id) is None
    assert store.job(job_a.key, a.id) == job_a  # untouched by B's cancel


def test_jobs_are_listed_newest_first_and_resumed_oldest_first(store: Store) -> None:
    a = store.create_dealer("A")
    jobs = [
        store.create_job(batch(a.id, created_at=T0 + timedelta(minutes=n)))[0] for n in range(4)
    ]
    assert [job.id for job in store.jobs(a.id)] == [job.id for job in reversed(jobs)]
    assert [job.id for job in store.jobs(a.id, limit=2)] == [jobs[3].id, jobs[2].id]
    store.start_job(jobs[1].id)
    store.start_job(jobs[2].id)
    store.finish_job(jobs[2].id, JobStatus.DONE)
    assert [job.id for job in store.jobs_to_resume()] == [jobs[0].id, jobs[1].id, jobs[3].id]


def test_a_job_runs_once_to_its_finish(store: Store) -> None:
    a = store.create_dealer("A")
    job, _ = store.create_job(batch(a.id))
    run = store.start_run(input_name="stock.csv", input_sha256="a" * 64, output_name="out.csv")
    started = store.start_job(job.id, run_id=run.id, total=3, at=T0 + timedelta(seconds=1))
    assert started is not None
    assert (started.status, started.run_id, started.total) == (JobStatus.RUNNING, run.id, 3)
    assert started.started_at == T0 + timedelta(seconds=1)
    resumed = store.start_job(job.id, at=T0 + timedelta(hours=1))  # after a restart
    assert resumed is not None
    assert (resumed.started_at, resumed.run_id, resumed.total) == (started.started_at, run.id, 3)

    assert store.job_progress(job.id, 2, verdicts={"clear": 1, "red": 1})
    assert store.finish_job(job.id, JobStatus.FAILED, "carrier down", at=T0 + timedelta(hours=2))
    assert not store.finish_job(job.id, JobStatus.DONE)  # once
    assert not store.job_progress(job.id, 3)  # a finished job's counts stay
    assert store.start_job(job.id) is None
    finished = store.job_by_id(job.id)
    assert finished is not None
    assert (finished.status, finished.error, finished.done, finished.verdicts) == (
        JobStatus.FAILED,
        "carrier down",
        2,
        {"clear": 1, "red": 1},
    )
    assert finished.finished_at == T0 + timedelta(hours=2)
    with pytest.raises(ValueError, match="finishes"):
        store.finish_job(job.id, JobStatus.RUNNING)


def test_a_cancel_stops_a_queued_job_at_once_and_asks_a_running_one(store: Store) -> None:
    a = store.create_dealer("A")
    queued, _ = store.create_job(batch(a.id))
    running, _ = store.create_job(batch(a.id))
    store.start_job(running.id)

    cancelled = store.request_cancel(queued.key, a.id)
    assert cancelled is not None
    assert cancelled.status is JobStatus.CANCELLED
    assert cancelled.finished_at is not None
    assert store.start_job(queued.id) is None  # it will not run

    asked = store.request_cancel(running.key, a.id)
    assert asked is not None
    assert (asked.status, asked.cancel_requested) == (JobStatus.RUNNING, True)
    assert store.finish_job(running.id, JobStatus.CANCELLED)
    assert store.job_counts() == {
        "queued": 0,
        "running": 0,
        "done": 0,
        "failed": 0,
        "cancelled": 2,
    }


def test_results_are_upserted_and_read_in_row_order(store: Store) -> None:
    a = store.create_dealer("A")
    job, _ = store.create_job(batch(a.id))
    store.put_job_result(job.id, 1, SAME_TAC, {"imei": SAME_TAC, "verdict": "clear"}, at=T0)
    store.put_job_result(job.id, 0, IMEI, {"imei": IMEI, "verdict": "incomplete"}, at=T0)
    later = T0 + timedelta(minutes=1)
    store.put_job_result(job.id, 0, IMEI, {"imei": IMEI, "verdict": "red"}, at=later)
    store.put_job_result(job.id, 2, None, {"input": "x", "verdict": "invalid"}, at=T0)
    results = store.job_results(job.id)
    assert [(r.row_number, r.imei, r.result["verdict"]) for r in results] == [
        (0, IMEI, "red"),
        (1, SAME_TAC, "clear"),
        (2, None, "invalid"),
    ]
    assert results[0].updated_at == later
    assert [r.row_number for r in store.job_results(job.id, after=0, limit=1)] == [1]


def test_a_dealer_sees_only_the_devices_it_checked(store: Store) -> None:
    a = store.create_dealer("A")
    b = store.create_dealer("B")
    store.note_dealer_devices(a.id, [IMEI, SAME_TAC, IMEI], T0)
    store.note_dealer_devices(a.id, [SAME_TAC], T0 + timedelta(hours=1))
    store.note_dealer_devices(a.id, [SAME_TAC], T0)  # an older check never moves it back
    store.note_dealer_devices(b.id, [OTHER_TAC], T0)
    assert store.dealer_has_device(a.id, IMEI)
    assert not store.dealer_has_device(b.id, IMEI)
    assert not store.dealer_has_device(a.id, OTHER_TAC)
    assert store.dealer_devices(a.id) == [(SAME_TAC, T0 + timedelta(hours=1)), (IMEI, T0)]
    assert store.dealer_devices(a.id, prefix="3520990017614") == [
        (SAME_TAC, T0 + timedelta(hours=1)),
        (IMEI, T0),
    ]
    assert store.dealer_devices(a.id, prefix="35209900176148") == [(IMEI, T0)]
    assert store.dealer_devices(a.id, prefix="3_") == []  # a wildcard is only a character
    assert store.dealer_devices(a.id, limit=1) == [(SAME_TAC, T0 + timedelta(hours=1))]
    assert store.dealer_devices(b.id) == [(OTHER_TAC, T0)]


def test_a_cancelled_or_failed_job_is_queued_again_with_its_progress(store: Store) -> None:
    a = store.create_dealer("A")
    b = store.create_dealer("B")
    job, _ = store.create_job(batch(a.id))
    assert store.requeue_job(job.key, a.id) is None  # queued: nothing to requeue
    store.start_job(job.id, total=4)
    store.job_progress(job.id, 2, verdicts={"clear": 2})
    store.request_cancel(job.key, a.id)
    store.finish_job(job.id, JobStatus.CANCELLED, "stopped")
    assert store.requeue_job(job.key, b.id) is None  # another dealer's
    again = store.requeue_job(job.key, a.id)
    assert again is not None
    assert (again.status, again.error, again.finished_at, again.cancel_requested) == (
        JobStatus.QUEUED,
        None,
        None,
        False,
    )
    assert (again.done, again.total, again.verdicts) == (2, 4, {"clear": 2})
    store.start_job(job.id)
    store.finish_job(job.id, JobStatus.DONE)
    assert store.requeue_job(job.key, a.id) is None  # done stays done
