"""Jobs: checks and batch runs asked for through the web or the REST API, kept as rows.

A job holds everything needed to run it (the uploaded file or the list of IMEIs, the
options), so any process with the same database can start or resume it; its results
are rows too (``job_results``: one object per input row, as a line of ``akarom check
--json``). A job moves along one path, each step a conditional update::

    queued ──→ running ──→ done | failed | cancelled
      └──────────────────→ cancelled       a cancel before it started

``dealer_id`` scopes every read by a dealer: ``job(key, dealer_id)`` finds a dealer's
job only for that dealer, and a public job (``dealer_id`` NULL) only when asked with
None, never as a wildcard. ``dealer_devices`` remembers which devices a dealer has
checked, which is what lets it see a device's page and find it by IMEI.

The ``Store`` methods are in ``repo`` (section "jobs"); the queries are here.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, func, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from akarom.storage.records import require_aware
from akarom.storage.tables import DealerDevice, Job, JobResult

__all__ = [
    "JobKind",
    "JobSource",
    "JobStatus",
    "NewJob",
    "StoredJob",
    "StoredJobResult",
]


class JobKind(StrEnum):
    CHECK = "check"  # one device
    BATCH = "batch"  # a file or a list of IMEIs


class JobSource(StrEnum):
    WEB = "web"
    API = "api"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED)


_UNFINISHED = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)


@dataclass(frozen=True, slots=True, kw_only=True)
class NewJob:
    """A job to queue. ``ValueError`` for one that breaks the schema's rules.

    ``dealer_id`` None: a public web check. ``input`` is what the job reads (the
    uploaded file, or the JSON list of IMEIs); ``options`` must be JSON-serialisable.
    ``idempotency_key`` (the client's ``Idempotency-Key``) needs a dealer: it is
    unique per dealer, and a public job has none to be unique within.
    """

    kind: JobKind
    source: JobSource
    dealer_id: int | None = None
    input_name: str | None = None
    input: bytes | None = field(default=None, repr=False)
    options: Mapping[str, Any] = field(default_factory=dict)
    total: int | None = None
    idempotency_key: str | None = None
    key: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        require_aware("created_at", self.created_at)
        if len(self.key) != 32:
            raise ValueError(f"a job key is 32 characters (uuid4 hex), not {self.key!r}")
        if self.idempotency_key is not None:
            if self.dealer_id is None:
                raise ValueError("an idempotency key belongs to a dealer's job")
            if not self.idempotency_key or len(self.idempotency_key) > 200:
                raise ValueError("an idempotency key has 1 to 200 characters")
        if self.total is not None and self.total < 0:
            raise ValueError(f"total cannot be negative: {self.total}")


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredJob:
    """A job as read back (without its input: ``Store.job_input``); timestamps UTC-aware."""

    id: int
    key: str
    dealer_id: int | None
    kind: JobKind
    source: JobSource
    status: JobStatus
    input_name: str | None
    options: Mapping[str, Any]
    total: int | None
    done: int
    verdicts: Mapping[str, int]
    run_id: int | None
    idempotency_key: str | None
    error: str | None
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredJobResult:
    """One row's result: ``result`` is an object as a line of ``akarom check --json``."""

    job_id: int
    row_number: int
    imei: str | None
    result: Mapping[str, Any]
    updated_at: datetime


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _stored(row: Job) -> StoredJob:
    return StoredJob(
        id=row.id,
        key=row.key,
        dealer_id=row.dealer_id,
        kind=JobKind(row.kind),
        source=JobSource(row.source),
        status=JobStatus(row.status),
        input_name=row.input_name,
        options=dict(row.options),
        total=row.total,
        done=row.done,
        verdicts=dict(row.verdicts),
        run_id=row.run_id,
        idempotency_key=row.idempotency_key,
        error=row.error,
        cancel_requested=bool(row.cancel_requested),
        created_at=row.created_at.astimezone(UTC),
        started_at=_utc(row.started_at),
        finished_at=_utc(row.finished_at),
    )


def _result(row: JobResult) -> StoredJobResult:
    return StoredJobResult(
        job_id=row.job_id,
        row_number=row.row_number,
        imei=row.imei,
        result=dict(row.result),
        updated_at=row.updated_at.astimezone(UTC),
    )


def _of_dealer(dealer_id: int | None) -> ColumnElement[bool]:
    """The dealer's jobs only; None means the public jobs, never every job."""
    return Job.dealer_id.is_(None) if dealer_id is None else Job.dealer_id == dealer_id


def _insert(session: Session) -> Any:
    """The dialect's INSERT, which offers ``on_conflict_do_update``."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert
    from sqlalchemy.dialects import sqlite

    return sqlite.insert


def _by_idempotency_key(session: Session, dealer_id: int, idempotency_key: str) -> Job | None:
    return session.scalars(
        select(Job).where(Job.dealer_id == dealer_id, Job.idempotency_key == idempotency_key)
    ).first()


def insert(session: Session, new: NewJob) -> tuple[StoredJob, bool]:
    """Queue ``new``: ``(job, True)``; or, when the dealer already has a job with the
    same idempotency key, ``(that job, False)``: also when another process inserts it
    between our look and our insert (the unique constraint decides, and we read back)."""
    if new.idempotency_key is not None and new.dealer_id is not None:
        existing = _by_idempotency_key(session, new.dealer_id, new.idempotency_key)
        if existing is not None:
            return _stored(existing), False
    row = Job(
        key=new.key,
        dealer_id=new.dealer_id,
        kind=JobKind(new.kind).value,
        source=JobSource(new.source).value,
        status=JobStatus.QUEUED.value,
        input_name=new.input_name,
        input=new.input,
        options=dict(new.options),
        total=new.total,
        done=0,
        verdicts={},
        run_id=None,
        idempotency_key=new.idempotency_key,
        error=None,
        cancel_requested=False,
        created_at=new.created_at,
    )
    try:
        # A savepoint: on PostgreSQL a failed statement spoils the whole transaction,
        # and we still need it to read the winner's job.
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        if new.idempotency_key is None or new.dealer_id is None:
            raise
        existing = _by_idempotency_key(session, new.dealer_id, new.idempotency_key)
        if existing is None:  # another constraint failed: not a race we can settle
            raise
        return _stored(existing), False
    return _stored(row), True


def get(session: Session, job_key: str, dealer_id: int | None) -> StoredJob | None:
    row = session.scalars(select(Job).where(Job.key == job_key, _of_dealer(dealer_id))).first()
    return None if row is None else _stored(row)


def by_id(session: Session, job_id: int) -> StoredJob | None:
    row = session.scalars(select(Job).where(Job.id == job_id)).first()
    return None if row is None else _stored(row)


def of_dealer(session: Session, dealer_id: int, *, limit: int) -> list[StoredJob]:
    query = (
        select(Job)
        .where(Job.dealer_id == dealer_id)
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(limit)
    )
    return [_stored(row) for row in session.scalars(query)]


def to_resume(session: Session) -> list[StoredJob]:
    query = select(Job).where(Job.status.in_(_UNFINISHED)).order_by(Job.created_at, Job.id)
    return [_stored(row) for row in session.scalars(query)]


def counts(session: Session) -> dict[str, int]:
    found = dict.fromkeys((status.value for status in JobStatus), 0)
    for status, count in session.execute(select(Job.status, func.count()).group_by(Job.status)):
        found[status] = count
    return found


def job_input(session: Session, job_id: int) -> bytes | None:
    return session.scalar(select(Job.input).where(Job.id == job_id))


def put_report(session: Session, job_id: int, report: bytes) -> None:
    session.execute(update(Job).where(Job.id == job_id).values(report=report))


def report(session: Session, job_id: int) -> bytes | None:
    return session.scalar(select(Job.report).where(Job.id == job_id))


def start(
    session: Session,
    job_id: int,
    *,
    run_id: int | None,
    total: int | None,
    at: datetime,
) -> StoredJob | None:
    """Mark a queued (or resumed running) job running; None when it is finished (for
    example cancelled before it started) or does not exist. ``started_at`` keeps the
    first start; ``run_id`` and ``total`` change only when given."""
    values: dict[str, Any] = {
        "status": JobStatus.RUNNING.value,
        # The bound time in the column's type, so it is stored in UTC like any other.
        "started_at": func.coalesce(Job.started_at, literal(at, Job.started_at.type)),
    }
    if run_id is not None:
        values["run_id"] = run_id
    if total is not None:
        values["total"] = total
    changed = session.execute(
        update(Job).where(Job.id == job_id, Job.status.in_(_UNFINISHED)).values(**values)
    )
    if getattr(changed, "rowcount", 0) != 1:
        return None
    return by_id(session, job_id)


def progress(
    session: Session,
    job_id: int,
    *,
    done: int,
    total: int | None,
    verdicts: Mapping[str, int],
) -> bool:
    """Record how far an unfinished job is; whether it is still unfinished."""
    if done < 0:
        raise ValueError(f"done cannot be negative: {done}")
    values: dict[str, Any] = {"done": done, "verdicts": dict(verdicts)}
    if total is not None:
        values["total"] = total
    changed = session.execute(
        update(Job).where(Job.id == job_id, Job.status.in_(_UNFINISHED)).values(**values)
    )
    return bool(getattr(changed, "rowcount", 0) == 1)


def finish(
    session: Session, job_id: int, *, status: JobStatus, error: str | None, at: datetime
) -> bool:
    """Move an unfinished job to done, failed or cancelled; whether this call did."""
    if not JobStatus(status).finished:
        raise ValueError(f"a job finishes as done, failed or cancelled, not {status}")
    changed = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status.in_(_UNFINISHED))
        .values(status=JobStatus(status).value, error=error, finished_at=at)
    )
    return bool(getattr(changed, "rowcount", 0) == 1)


def request_cancel(
    session: Session, job_key: str, dealer_id: int | None, *, at: datetime
) -> StoredJob | None:
    """Ask the dealer's job to stop. A queued job is cancelled at once (it will not
    start); a running one gets ``cancel_requested`` and its runner stops it; a finished
    one stays as it was. The job as it is now, or None when the dealer has none such."""
    condition = (Job.key == job_key, _of_dealer(dealer_id))
    session.execute(
        update(Job)
        .where(*condition, Job.status == JobStatus.QUEUED.value)
        .values(status=JobStatus.CANCELLED.value, finished_at=at, cancel_requested=True)
    )
    session.execute(
        update(Job)
        .where(*condition, Job.status == JobStatus.RUNNING.value)
        .values(cancel_requested=True)
    )
    return get(session, job_key, dealer_id)


def requeue(session: Session, job_key: str, dealer_id: int | None) -> StoredJob | None:
    """Queue a cancelled or failed job of the dealer again: its progress (``done``,
    ``total``, ``verdicts``, ``run_id``) is kept, so a resumed run skips finished rows;
    the error, the finish time and a cancel request are cleared. None when the dealer
    has no such job, or it is not cancelled or failed."""
    changed = session.execute(
        update(Job)
        .where(
            Job.key == job_key,
            _of_dealer(dealer_id),
            Job.status.in_((JobStatus.CANCELLED.value, JobStatus.FAILED.value)),
        )
        .values(status=JobStatus.QUEUED.value, error=None, finished_at=None, cancel_requested=False)
    )
    if getattr(changed, "rowcount", 0) != 1:
        return None
    return get(session, job_key, dealer_id)


def put_results(
    session: Session,
    job_id: int,
    results: Sequence[tuple[int, str | None, Mapping[str, Any]]],
    *,
    at: datetime,
) -> None:
    """Write rows' results (row number, IMEI, result); a row written before is replaced
    (the last write wins, within ``results`` too)."""
    # One statement may not touch a row twice (PostgreSQL refuses): the last of each row.
    latest = {row_number: (imei, result) for row_number, imei, result in results}
    if not latest:
        return
    values = [
        {"job_id": job_id, "row_number": n, "imei": imei, "result": dict(result), "updated_at": at}
        for n, (imei, result) in latest.items()
    ]
    statement = _insert(session)(JobResult).values(values)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["job_id", "row_number"],
            set_={
                "imei": statement.excluded.imei,
                "result": statement.excluded.result,
                "updated_at": statement.excluded.updated_at,
            },
        )
    )


def results(
    session: Session, job_id: int, *, after: int | None, limit: int | None
) -> list[StoredJobResult]:
    query = select(JobResult).where(JobResult.job_id == job_id)
    if after is not None:
        query = query.where(JobResult.row_number > after)
    query = query.order_by(JobResult.row_number)
    if limit is not None:
        query = query.limit(limit)
    return [_result(row) for row in session.scalars(query)]


def note_devices(session: Session, dealer_id: int, imeis: Collection[str], *, at: datetime) -> None:
    """Remember that the dealer checked these devices at ``at``."""
    # Each IMEI once: PostgreSQL refuses a statement that updates one row twice.
    wanted = list(dict.fromkeys(imeis))
    if not wanted:
        return
    statement = _insert(session)(DealerDevice)
    statement = statement.on_conflict_do_update(
        index_elements=["dealer_id", "imei"],
        set_={"last_checked_at": statement.excluded.last_checked_at},
        # Never move the time back (a resumed job may note an older check again).
        where=DealerDevice.last_checked_at < statement.excluded.last_checked_at,
    )
    session.execute(
        statement,
        [
            {"dealer_id": dealer_id, "imei": imei, "first_checked_at": at, "last_checked_at": at}
            for imei in wanted
        ],
    )


def has_device(session: Session, dealer_id: int, imei: str) -> bool:
    found = session.scalar(
        select(DealerDevice.imei).where(
            DealerDevice.dealer_id == dealer_id, DealerDevice.imei == imei
        )
    )
    return found is not None


def devices(
    session: Session, dealer_id: int, *, prefix: str, limit: int
) -> list[tuple[str, datetime]]:
    """The dealer's devices whose IMEI starts with ``prefix``, most recently checked first."""
    query = select(DealerDevice.imei, DealerDevice.last_checked_at).where(
        DealerDevice.dealer_id == dealer_id
    )
    if prefix:
        query = query.where(DealerDevice.imei.startswith(prefix, autoescape=True))
    query = query.order_by(DealerDevice.last_checked_at.desc(), DealerDevice.imei).limit(limit)
    return [(imei, at.astimezone(UTC)) for imei, at in session.execute(query)]
