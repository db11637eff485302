"""Background work — a check from a page, a batch from a file or the API — as jobs.

The seam has two sides, so that moving jobs to another engine (the scale-out issue)
changes where a job runs, never what it does:

- **What a job does** is ``run_job(hub, job_id)``: everything it needs is in its
  row (the uploaded file or the IMEI, the options), so any process holding a ``Hub``
  on the same database can run it, or resume it after a crash. A batch is
  ``run_bulk`` (resumable: a finished row is never asked again), each row's answer
  kept as it is written (``job_results``, one ``check --json`` object per row); a
  check is one device, its row rewritten as each carrier answers (live progress).
  Whatever goes wrong ends as ``failed`` with a short code, never a lost row.
- **Where it runs** is a ``Jobs`` subclass. ``InProcessJobs`` (the default, with SQLite)
  runs jobs as asyncio tasks on the server's own event loop, a few at a time, and
  picks up queued and interrupted jobs when it starts. Stopping it leaves unfinished
  jobs as they are in the database, for the next start.

``Jobs`` is what the web pages and the API call (``submit_check``, ``submit_batch``,
``cancel``, ``resume``, ``report``); a runner for another engine only says how a
job is handed over (``hand_over``) and how a running one is interrupted
(``interrupt``). ``services.engine.EngineJobs`` is that runner on PostgreSQL: jobs go
to a queue that any number of ``akarom worker`` processes, on any machines, take from.

A batch's run is named after its job (``job:<key>``), not after a file on the machine
that ran it, and its report is kept in the database: a batch that a killed worker
left half done resumes on any machine, and any server hands out its report.

A cancel is recorded first (``cancel_requested``), then the runner interrupts the
job; ``run_job`` also looks at the flag every few seconds, for engines that cannot
interrupt a job from outside.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from akarom.domain import Carrier, CarrierResult, Status
from akarom.errors import AkaromError, InvalidImei, StorageError
from akarom.identity import parse
from akarom.services.advising import advise, today_in_japan
from akarom.services.checking import CheckRequest
from akarom.services.checks import ON_RESULT
from akarom.services.device_reports import DeviceReport
from akarom.services.options import Role
from akarom.services.reports import advice_json, device_json, result_json
from akarom.services.serving import Hub
from akarom.storage import JobKind, JobSource, JobStatus, NewJob, StoredJob
from akarom.tabular import InputRow, TableError, open_table
from akarom.texts import Lang

__all__ = [
    "BATCH_FORMATS",
    "DEFAULT_BATCHES_AT_ONCE",
    "DEFAULT_CHECKS_AT_ONCE",
    "InProcessJobs",
    "Jobs",
    "TableError",
    "batch_input",
    "job_folder",
    "run_job",
]

logger = logging.getLogger(__name__)

#: Batches run at once in one process: each already keeps every carrier busy.
DEFAULT_BATCHES_AT_ONCE = 2
#: Single checks run at once: short, and a person waits for each.
DEFAULT_CHECKS_AT_ONCE = 16
#: The file types a batch takes (as ``akarom bulk``).
BATCH_FORMATS = (".csv", ".tsv", ".xlsx")
#: A batch's progress is written at most this often (a page polls it).
_PROGRESS_EVERY_S = 0.25
#: A batch's rows are kept together, one transaction for those finished in this long
#: (a transaction per row held the rows' output to ≈ 350 a second on PostgreSQL: a
#: run's rows wait for an earlier one, then all come at once).
_KEEP_EVERY_S = _PROGRESS_EVERY_S
#: Rows finished while the last ones are being kept: at this many, the batch waits.
_KEEP_AT_MOST = 2000
#: How often a running batch looks whether it was asked to stop.
_CANCEL_POLL_S = 2.0
#: Results read at a time when a resumed batch looks up what it already kept.
_RESULTS_PAGE = 5000


class JobCancelled(AkaromError):
    """The job saw its ``cancel_requested`` flag and stopped."""


def batch_input(imeis: Iterable[str]) -> bytes:
    """A list of IMEIs as the CSV a batch reads (an ``imei`` header, one per row).

    >>> batch_input(["35-209900-176148-1", "x,y"])
    b'imei\\r\\n35-209900-176148-1\\r\\n"x,y"\\r\\n'
    """
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["imei"])
    writer.writerows([imei] for imei in imeis)
    return text.getvalue().encode("utf-8")


def job_folder(data_dir: Path, job: StoredJob) -> Path:
    """Where a batch's input copy and report live: ``<data_dir>/jobs/<key>``."""
    return data_dir / "jobs" / job.key


def _suffix(input_name: str | None) -> str:
    """The batch file's type from its name; ``TableError`` for one ``bulk`` cannot read."""
    suffix = Path(input_name or "").suffix.lower()
    if suffix not in BATCH_FORMATS:
        raise TableError(
            "only CSV, TSV and XLSX files can be checked",
            path=Path(input_name or "upload"),
            code="unsupported_format",
        )
    return suffix


def _count_rows(path: Path, column: str | None) -> int:
    """The rows of a batch file (blocking); ``TableError`` when ``bulk`` could not use it."""
    with open_table(path, column=column) as table:
        return sum(1 for _ in table.rows())


def _write_input(path: Path, data: bytes) -> None:
    """The job's input as a file (blocking), rewritten only when it differs: a resumed
    run finds its interrupted run by the file's hash and name."""
    if path.is_file() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    partial.write_bytes(data)
    partial.replace(path)


def _read_if_there(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def _error_code(error: BaseException) -> str:
    """A failed job's short reason: a code a page can translate, nothing of the server."""
    if isinstance(error, TableError):
        return f"table.{error.code}"
    if isinstance(error, StorageError):
        return "storage"
    if isinstance(error, InvalidImei):
        return f"invalid.{error.code}"
    return "error"


def _unwrapped(error: BaseException) -> BaseException:
    """The first real error inside the exception groups a TaskGroup raises."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


# -- what a job does -------------------------------------------------------------------


async def run_job(
    hub: Hub, job_id: int, *, hand_back_storage_errors: bool = False
) -> JobStatus | None:
    """Run (or resume) job ``job_id`` to its end; the status it ended with.

    None when there was nothing to run: no such job, or it had already finished
    (cancelled while queued, say). A cancelled task leaves the job ``running`` for
    the next start to resume, unless a cancel was requested (then ``cancelled``).
    With ``hand_back_storage_errors`` (an engine that retries), a database failure
    is raised, leaving the job ``running`` to be resumed, instead of failing it:
    a database that is briefly unreachable must not end a dealer's batch.
    """
    store = hub.store
    before = await asyncio.to_thread(store.job_by_id, job_id)
    if before is None or before.status.finished:
        return None
    job = await asyncio.to_thread(store.start_job, job_id)
    if job is None:
        return None
    if job.cancel_requested:
        await asyncio.to_thread(store.finish_job, job_id, JobStatus.CANCELLED)
        return JobStatus.CANCELLED
    try:
        if job.kind is JobKind.BATCH:
            await _run_batch(hub, job, resumed=before.started_at is not None)
        else:
            await _run_check(hub, job)
    except asyncio.CancelledError:
        now = await asyncio.to_thread(store.job_by_id, job_id)
        if now is not None and now.cancel_requested:
            await asyncio.to_thread(store.finish_job, job_id, JobStatus.CANCELLED)
        raise
    except Exception as raised:
        error = _unwrapped(raised)
        if isinstance(error, JobCancelled):
            await asyncio.to_thread(store.finish_job, job_id, JobStatus.CANCELLED)
            return JobStatus.CANCELLED
        if hand_back_storage_errors and isinstance(error, StorageError):
            logger.warning("job %s: the database failed (%s); it will be resumed", job.key, error)
            raise
        code = _error_code(error)
        if code == "error":
            logger.error("job %s failed unexpectedly", job.key, exc_info=error)
        else:
            logger.warning("job %s failed: %s", job.key, error)
        await asyncio.to_thread(store.finish_job, job_id, JobStatus.FAILED, code)
        return JobStatus.FAILED
    await asyncio.to_thread(store.finish_job, job_id, JobStatus.DONE)
    return JobStatus.DONE


def _carriers(options: Mapping[str, Any]) -> tuple[Carrier, ...] | None:
    named = options.get("carriers")
    return tuple(Carrier(name) for name in named) if named else None


def _lang(options: Mapping[str, Any]) -> Lang:
    return "en" if options.get("lang") == "en" else "ja"


class _LiveCheck:
    """A check job's row 0, rewritten as each carrier answers (one write at a time)."""

    def __init__(self, hub: Hub, job: StoredJob, imei: str) -> None:
        self.store = hub.store
        self.job = job
        self.imei = imei
        self.results: dict[Carrier, CarrierResult] = {}
        self._changed = asyncio.Event()
        self._closed = False
        self._writer = asyncio.create_task(self._write())

    def heard(self, result: CarrierResult) -> None:
        """An answer arrived (``ON_RESULT``): the newest per carrier is shown."""
        self.results[result.carrier] = result
        self._changed.set()

    def snapshot(self) -> dict[str, Any]:
        ordered = [self.results[c] for c in Carrier if c in self.results]
        return {
            "imei": self.imei,
            "verdict": None,
            "results": [result_json(result) for result in ordered],
            "done": False,
        }

    async def _write(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            if self._closed:
                return
            await asyncio.to_thread(
                self.store.put_job_result, self.job.id, 0, self.imei, self.snapshot()
            )

    async def close(self) -> None:
        """Let the last write finish, so it never lands after the final answer."""
        self._closed = True
        self._changed.set()
        await self._writer


async def _run_check(hub: Hub, job: StoredJob) -> None:
    """One device: the answers as they come, then the verdict and each role's advice."""
    store = hub.store
    raw = ((await asyncio.to_thread(store.job_input, job.id)) or b"").decode("utf-8")
    imei = parse(raw).value
    options = job.options
    lang = _lang(options)
    roles = tuple(Role(role) for role in options.get("roles") or (Role.BUYER,))
    request = CheckRequest(
        imeis=(raw,),
        carriers=_carriers(options),
        all_carriers=bool(options.get("all_carriers")),
        fresh=bool(options.get("fresh")),
        roles=roles,
    )
    live = _LiveCheck(hub, job, imei)
    listening = ON_RESULT.set(live.heard)
    try:
        outcome = await hub.check(request, dealer_id=job.dealer_id)
    finally:
        ON_RESULT.reset(listening)
        await live.close()
    device = outcome.devices[0]
    report = device.report
    result = device_json(report, device.advice[0], lang, outcome.manual_urls)
    result["done"] = True
    result["advice_by_role"] = {
        advice.role.value: advice_json(advice, report, lang, outcome.manual_urls)
        for advice in device.advice
    }
    await asyncio.to_thread(store.put_job_result, job.id, 0, imei, result)
    if job.dealer_id is not None:
        await asyncio.to_thread(store.note_dealer_devices, job.dealer_id, [imei])
    await asyncio.to_thread(store.job_progress, job.id, 1, 1, {report.verdict.value: 1})


_STATUS_OF_SYMBOL = {status.symbol: status for status in Status}


def _from_cells(row: InputRow, cells: Mapping[str, str]) -> dict[str, Any]:
    """A row an earlier run finished whose JSON was not kept: what its cells tell.

    Only when a run stopped between keeping a row and keeping its JSON; the carriers'
    wording and times are not in the cells, so those stay null.
    """
    return {
        "input": row.imei,
        "imei": cells.get("imei_normalized") or None,
        "verdict": cells.get("verdict"),
        "origin_carrier": cells.get("origin_carrier") or None,
        "results": [
            {
                "carrier": carrier.value,
                "status": _STATUS_OF_SYMBOL[cells[carrier.value]].value,
                "symbol": cells[carrier.value],
                "checked_at": None,
                "source": "cache",
                "message": None,
                "error": None,
            }
            for carrier in Carrier
            if cells.get(carrier.value) in _STATUS_OF_SYMBOL
            and cells[carrier.value] != Status.UNKNOWN.symbol
        ],
        "advice": None,
    }


class _BatchRows:
    """Keeps a batch's rows, progress and devices as ``run_bulk`` writes its report."""

    def __init__(
        self,
        hub: Hub,
        job: StoredJob,
        *,
        role: Role,
        lang: Lang,
        day: date,
        manual_urls: Mapping[Carrier, str],
    ) -> None:
        self.hub = hub
        self.store = hub.store
        self.job = job
        self.role = role
        self.lang = lang
        self.day = day
        self.manual_urls = manual_urls
        self.total: int | None = job.total
        self.seen = 0
        self.verdicts: Counter[str] = Counter()
        self.kept: set[int] = set()
        self.devices: list[str] = []
        #: Rows finished and not yet being kept: (row number, IMEI, result, verdict).
        self.unkept: list[tuple[int, str | None, dict[str, Any], str]] = []
        #: The rows being kept now, and their verdicts.
        self.writing: tuple[asyncio.Future[None], list[str]] | None = None
        self.last_keep = time.monotonic()
        self.last_progress = 0.0
        self.last_cancel_look = time.monotonic()

    async def load_kept(self) -> None:
        """The rows a resumed batch already kept (their numbers only)."""

        def read() -> set[int]:
            kept: set[int] = set()
            after = None
            while page := self.store.job_results(self.job.id, after=after, limit=_RESULTS_PAGE):
                kept.update(result.row_number for result in page)
                after = page[-1].row_number
            return kept

        self.kept = await asyncio.to_thread(read)

    def progress(self, done: int, total: int) -> None:
        """``run_bulk``'s ``on_progress``: only the total is new (rows come by ``row``)."""
        self.total = total

    async def row(self, row: InputRow, report: DeviceReport | None, cells: dict[str, str]) -> None:
        """``run_bulk``'s ``on_row``: the row's JSON, kept with the rows finished
        around it (``_keep``) and counted once kept; now and then, progress.

        A row the run saved as finished before the job kept it (the job stopped in
        between) is kept from its cells when the job resumes (``load_kept``)."""
        result: dict[str, Any] | None = None
        if report is not None:
            advice = advise(report, self.hub.rules, self.role, on=self.day)
            result = device_json(report, advice, self.lang, self.manual_urls)
            if report.identity is not None:
                self.devices.append(report.identity.value)
        elif row.number not in self.kept:
            result = _from_cells(row, cells)
        if result is None:
            self._count(cells["verdict"])
        else:
            self.unkept.append((row.number, result["imei"], result, cells["verdict"]))
        now = time.monotonic()
        if self.writing is not None and (
            self.writing[0].done() or len(self.unkept) >= _KEEP_AT_MOST
        ):
            await self._kept()
        if self.writing is None and self.unkept and now - self.last_keep >= _KEEP_EVERY_S:
            self._keep()
        if now - self.last_progress >= _PROGRESS_EVERY_S:
            self.last_progress = now
            await self.flush()
        if now - self.last_cancel_look >= _CANCEL_POLL_S:
            self.last_cancel_look = now
            current = await asyncio.to_thread(self.store.job_by_id, self.job.id)
            if current is None or current.cancel_requested:
                raise JobCancelled("the job was cancelled")

    def _count(self, verdict: str) -> None:
        self.seen += 1
        self.verdicts[verdict] += 1

    def _keep(self) -> None:
        """Start keeping the rows finished since the last time, in one transaction.

        A write that started finishes, and is counted, even if the job is stopped
        meanwhile (it is shielded; ``settle``): ``done`` is exactly the rows kept.
        """
        rows, self.unkept = self.unkept, []
        self.last_keep = time.monotonic()
        results = [(number, imei, result) for number, imei, result, _ in rows]
        write = asyncio.ensure_future(
            asyncio.to_thread(self.store.put_job_results, self.job.id, results)
        )
        self.writing = (write, [verdict for *_, verdict in rows])

    async def _kept(self) -> None:
        """Wait for the rows being kept, and count them (a failed write raises here)."""
        assert self.writing is not None
        write, verdicts = self.writing
        try:
            await asyncio.shield(write)
        finally:
            if write.done():
                self.writing = None
                if not write.cancelled() and write.exception() is None:
                    for verdict in verdicts:
                        self._count(verdict)

    async def settle(self) -> None:
        """However the batch ends: wait for the rows being kept, then keep the rest."""
        if self.writing is not None:
            await self._kept()
        if self.unkept:
            self._keep()
            await self._kept()

    async def flush(self) -> None:
        """Write how far the batch is, and the devices checked since the last time."""
        devices, self.devices = self.devices, []
        store, job_id = self.store, self.job.id
        done, total, verdicts = self.seen, self.total, dict(self.verdicts)
        dealer_id = self.job.dealer_id

        def write() -> None:
            if dealer_id is not None and devices:
                store.note_dealer_devices(dealer_id, devices, datetime.now(UTC))
            store.job_progress(job_id, done, total, verdicts)

        await asyncio.to_thread(write)


async def _run_batch(hub: Hub, job: StoredJob, *, resumed: bool) -> None:
    """A file or list of IMEIs through ``run_bulk``: the dealer's report and each row's JSON."""
    from akarom.services.bulk import RowAdvice, run_bulk  # spreadsheets load only for batches

    store = hub.store
    folder = job_folder(hub.settings.data_dir, job)
    data = await asyncio.to_thread(store.job_input, job.id)
    if data is None:
        raise TableError("the job has no input", path=Path("input"), code="not_found")
    input_path = folder / f"input{_suffix(job.input_name)}"
    await asyncio.to_thread(_write_input, input_path, data)
    options = job.options
    lang = _lang(options)
    day = today_in_japan()
    checker = hub.checker(job.dealer_id)
    rows = _BatchRows(
        hub,
        job,
        role=Role(options.get("role") or Role.DEALER),
        lang=lang,
        day=day,
        manual_urls={carrier: checker.adapter(carrier).entry_url for carrier in Carrier},
    )
    if resumed:
        await rows.load_kept()
    try:
        summary = await run_bulk(
            checker,
            store,
            input_path,
            folder / "report.csv",
            column=options.get("column"),
            resume=resumed,
            all_carriers=bool(options.get("all_carriers")),
            fresh=bool(options.get("fresh")),
            lang=lang,
            on_progress=rows.progress,
            advice=RowAdvice(hub.rules, Role.DEALER, day, lang),
            on_row=rows.row,
            output_encoding="utf-8-sig",  # the API's CSV is UTF-8 with BOM, whatever came in
            run_name=f"job:{job.key}",  # the same run whichever machine resumes it
        )
    finally:
        await rows.settle()
        await rows.flush()  # however it ends: the page shows how far it got
    report = await asyncio.to_thread((folder / "report.csv").read_bytes)
    await asyncio.to_thread(store.put_job_report, job.id, report)
    await asyncio.to_thread(store.start_job, job.id, summary.run_id)  # records the run


# -- where a job runs ------------------------------------------------------------------


class Jobs:
    """What pages and the API ask of jobs; a subclass decides where they run (the
    runner: started with the server, stopped with it)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    @property
    def running(self) -> bool:
        raise NotImplementedError

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def hand_over(self, job: StoredJob) -> None:
        """Run ``job`` (queued in the store already), now or when there is room."""
        raise NotImplementedError

    async def interrupt(self, job: StoredJob) -> None:
        """Stop ``job`` now wherever it runs (its cancel is recorded already)."""
        raise NotImplementedError

    async def submit_check(
        self,
        imei_input: str,
        *,
        dealer_id: int | None,
        lang: Lang,
        roles: Sequence[Role] = (Role.BUYER, Role.SELLER),
        carriers: Sequence[Carrier] | None = None,
        all_carriers: bool = False,
        fresh: bool = False,
        source: JobSource | str = JobSource.WEB,
    ) -> StoredJob:
        """Queue a check of one device; ``InvalidImei`` before anything is queued."""
        identity = parse(imei_input)
        new = NewJob(
            kind=JobKind.CHECK,
            source=JobSource(source),
            dealer_id=dealer_id,
            # The device, so a page can name it before any carrier has answered.
            input_name=identity.value,
            input=imei_input.encode("utf-8"),
            options={
                "roles": [Role(role).value for role in roles] or [Role.BUYER.value],
                "lang": lang,
                "carriers": [Carrier(c).value for c in carriers] if carriers else None,
                "all_carriers": all_carriers,
                "fresh": fresh,
            },
            total=1,
        )
        job, _ = await asyncio.to_thread(self.hub.store.create_job, new)
        await self.hand_over(job)
        return job

    async def submit_batch(
        self,
        *,
        dealer_id: int,
        input_name: str,
        data: bytes,
        column: str | None = None,
        all_carriers: bool = False,
        fresh: bool = False,
        lang: Lang = "ja",
        role: Role = Role.DEALER,
        source: JobSource | str = JobSource.WEB,
        idempotency_key: str | None = None,
    ) -> tuple[StoredJob, bool]:
        """Queue a batch of the file ``data`` (named ``input_name``: its type);
        ``(job, created)``, where an ``idempotency_key`` the dealer used before returns
        that job, not a new one. ``TableError`` for a file ``bulk`` cannot use, before
        anything is queued."""
        suffix = _suffix(input_name)
        total = await asyncio.to_thread(self._count, suffix, data, column)
        new = NewJob(
            kind=JobKind.BATCH,
            source=JobSource(source),
            dealer_id=dealer_id,
            input_name=Path(input_name).name[:200] or f"input{suffix}",
            input=data,
            options={
                "column": column,
                "all_carriers": all_carriers,
                "fresh": fresh,
                "role": Role(role).value,
                "lang": lang,
            },
            total=total,
            idempotency_key=idempotency_key,
        )
        job, created = await asyncio.to_thread(self.hub.store.create_job, new)
        if created:
            await self.hand_over(job)
        return job, created

    def _count(self, suffix: str, data: bytes, column: str | None) -> int:
        """Read the upload as ``bulk`` will, from a scratch copy (blocking)."""
        scratch = self.hub.settings.data_dir / "jobs" / f".incoming-{uuid.uuid4().hex}"
        scratch.mkdir(parents=True)
        try:
            path = scratch / f"input{suffix}"
            path.write_bytes(data)
            return _count_rows(path, column)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    async def cancel(self, job_key: str, *, dealer_id: int | None) -> StoredJob | None:
        """Cancel the dealer's job (a finished one stays as it is); None if it has none such."""
        job = await asyncio.to_thread(self.hub.store.request_cancel, job_key, dealer_id)
        if job is not None:
            # Even one cancelled while queued: an engine takes it off its queue.
            await self.interrupt(job)
        return job

    async def resume(self, job_key: str, *, dealer_id: int | None) -> StoredJob | None:
        """Queue a cancelled or failed job again; finished rows are not asked again.
        None when the dealer has no such job, or it is not cancelled or failed."""
        job = await asyncio.to_thread(self.hub.store.requeue_job, job_key, dealer_id)
        if job is not None:
            await self.hand_over(job)
        return job

    async def report(self, job: StoredJob) -> bytes | None:
        """The finished batch's report (``bulk --for dealer`` columns, UTF-8 with BOM)."""
        if not self.has_report(job):
            return None
        report = await asyncio.to_thread(self.hub.store.job_report, job.id)
        if report is None:  # a batch finished before reports were kept in the database
            legacy = job_folder(self.hub.settings.data_dir, job) / "report.csv"
            report = await asyncio.to_thread(
                lambda: legacy.read_bytes() if legacy.is_file() else None
            )
        return report

    @staticmethod
    def has_report(job: StoredJob) -> bool:
        """Whether ``job`` has a report to download: a batch that is done (its report is
        kept before it is marked done)."""
        return job.kind is JobKind.BATCH and job.status is JobStatus.DONE


class InProcessJobs(Jobs):
    """Jobs as asyncio tasks on the server's event loop, a few of each kind at once.

    ``start`` picks up every queued or interrupted job in the store; ``stop`` cancels
    the tasks and leaves their jobs unfinished in the store for the next start.
    """

    def __init__(
        self,
        hub: Hub,
        *,
        batches_at_once: int = DEFAULT_BATCHES_AT_ONCE,
        checks_at_once: int = DEFAULT_CHECKS_AT_ONCE,
    ) -> None:
        super().__init__(hub)
        self._room = {
            JobKind.BATCH: asyncio.Semaphore(batches_at_once),
            JobKind.CHECK: asyncio.Semaphore(checks_at_once),
        }
        self._tasks: dict[int, asyncio.Task[JobStatus | None]] = {}
        self._running = False

    @property
    def running(self) -> bool:
        return self._running

    async def start(self) -> None:
        """Start taking jobs; those left queued or running in the store first."""
        self._running = True
        for job in await asyncio.to_thread(self.hub.store.jobs_to_resume):
            self.submit(job)

    async def stop(self) -> None:
        """Stop every job running here; each stays unfinished in the store."""
        self._running = False
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def hand_over(self, job: StoredJob) -> None:
        self.submit(job)

    def submit(self, job: StoredJob) -> None:
        """Run ``job`` as a task of this loop, when there is room."""
        if not self._running:
            logger.info("job %s stays queued: the runner is stopped", job.key)
            return
        if job.id in self._tasks:
            return
        task = asyncio.get_running_loop().create_task(self._run(job), name=f"job {job.key}")
        self._tasks[job.id] = task
        task.add_done_callback(lambda done: self._ended(job, done))

    async def interrupt(self, job: StoredJob) -> None:
        task = self._tasks.get(job.id)
        if task is not None:
            task.cancel()

    async def wait(self, job_key: str) -> None:
        """Until the job with that key stops running here (tests, a graceful drain)."""
        tasks = [t for t in self._tasks.values() if t.get_name() == f"job {job_key}"]
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, job: StoredJob) -> JobStatus | None:
        async with self._room[job.kind]:
            return await run_job(self.hub, job.id)

    def _ended(self, job: StoredJob, task: asyncio.Task[JobStatus | None]) -> None:
        self._tasks.pop(job.id, None)
        if not task.cancelled() and (error := task.exception()) is not None:
            # run_job records every failure; this is the store failing to record it.
            logger.error("job %s could not be run", job.key, exc_info=error)
