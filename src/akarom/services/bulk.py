"""``akarom bulk``: a dealer's whole spreadsheet, every row back, politely and resumably.

The input is read row by row and the report written row by row, in input order,
so memory stays flat however long the file is. Up to ``read_ahead`` rows are
being checked at once, each waiting at its own carrier's limiter, so no carrier's
queue runs dry behind another's; each asks the likeliest selling carrier first (by
TAC and the row's hint) and the next only when the previous had no record. The
first device of a model nobody has seen is asked alone; the rest of that model
then starts at the carrier it named. The same IMEI
twice is asked once. Every row that is finished is saved with the run in the
database, in small batches; ``resume`` continues an interrupted run (Ctrl-C, a
crash, kill -9): finished rows come back from the database, and rows whose
answers were stored but not yet saved as rows are rebuilt from those answers.
No carrier is asked twice for a finished row.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from akarom.domain import JST, Carrier, Source, Status, Verdict, resolve_carrier
from akarom.errors import InvalidImei
from akarom.identity import Identity, parse
from akarom.services.advising import Answer, Role, RuleSet, advise
from akarom.services.checks import Checker
from akarom.services.device_reports import DeviceReport
from akarom.services.inference import TacLearner
from akarom.services.reports import ADVICE_COLUMNS, advice_cells, invalid_message, result_reason
from akarom.storage.observations import StoredObservation
from akarom.storage.records import StoredRow, StoredRun, tac_of

if TYPE_CHECKING:
    from akarom.storage import Store
from akarom.tabular import InputRow, Table, TableError, open_output, open_table
from akarom.texts import Lang

__all__ = [
    "DEFAULT_READ_AHEAD",
    "BulkSummary",
    "ProgressCallback",
    "RowAdvice",
    "RowCallback",
    "TableError",
    "result_cells",
    "run_bulk",
]

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]
#: Told each row as it is written, before it is saved as finished (so what it keeps is
#: never behind the run): the row, its report (None for a row an earlier run finished:
#: only its cells were kept) and its result cells. A job keeps each row's JSON this way.
RowCallback = Callable[[InputRow, DeviceReport | None, dict[str, str]], Awaitable[None]]

#: Stored answers young enough to reuse, by IMEI and carrier.
_Stored = dict[str, dict[Carrier, StoredObservation]]

#: Rows read ahead of the last row written: devices being checked, or finished and
#: waiting for an earlier row. Each device waits at its carrier's limiter, outside
#: the carrier's slots, so every carrier's queue stays full while another is slow.
DEFAULT_READ_AHEAD = 2000
#: Rows looked up together: their stored answers and models in one query each.
_LOOK_AHEAD = 250
#: Rows parsed, or checks started, between two turns of the event loop.
_ROWS_PER_TURN = 16
#: Finished rows are saved together: one transaction per batch, not per row.
_ROW_BATCH = 200
_ROW_BATCH_SECONDS = 2.0
#: Reports kept for repeated IMEIs that were finished recently (a bounded LRU).
_RECENT = 10_000


@dataclass
class BulkSummary:
    """What a run did: every row's verdict, and where the answers came from."""

    output: Path
    #: The run's row in the database (None only while it is being written: a run's
    #: first checks go out before).
    run_id: int | None = None
    rows: int = 0
    verdicts: Counter[str] = field(default_factory=Counter)
    resumed_rows: int = 0
    devices_checked: int = 0
    duplicate_rows: int = 0
    carrier_checks: int = 0
    cached_answers: int = 0
    elapsed_s: float = 0.0
    #: Carriers paused during the run (a block, a captcha), and why.
    paused: dict[Carrier, str] = field(default_factory=dict)


def result_cells(report: DeviceReport, lang: Lang) -> dict[str, str]:
    """The columns akarom adds to a row (INTERFACES.md §3): symbols, verdict, reasons."""
    cells = {
        "imei_normalized": report.identity.value if report.identity else "",
        "verdict": report.verdict.value,
        "origin_carrier": report.origin_carrier.value if report.origin_carrier else "",
    }
    by_carrier = {result.carrier: result for result in report.results}
    problems = []
    for carrier in Carrier:
        result = by_carrier.get(carrier)
        if result is None or result.skipped:
            cells[carrier.value] = ""  # not asked: the verdict did not need it
            continue
        cells[carrier.value] = result.symbol
        if result.status is Status.UNKNOWN:
            problems.append(f"{carrier.value}: {result.error} ({result_reason(result, lang)})")
    times = [r.checked_at for r in report.results if r.checked_at is not None]
    cells["checked_at"] = max(times).astimezone(JST).isoformat(timespec="seconds") if times else ""
    if report.invalid is not None:
        problems.append(
            f"{report.invalid.code}: {invalid_message(report.invalid, report.input, lang)}"
        )
    cells["error"] = "; ".join(problems)
    return cells


_STATUS_OF_SYMBOL = {status.symbol: status for status in Status}


@dataclass(frozen=True, slots=True)
class RowAdvice:
    """``bulk --for ROLE``: the role's advice as extra columns of every row.

    Worked out from a row's result columns when it is written, so a resumed run
    gives rows finished before the interruption the same advice as the others.
    """

    rules: RuleSet
    role: Role
    on: date
    lang: Lang

    @property
    def columns(self) -> tuple[str, ...]:
        return ADVICE_COLUMNS[self.role]

    def cells(self, result: dict[str, str]) -> dict[str, str]:
        origin = result["origin_carrier"]
        answer = Answer.from_symbols(
            Verdict(result["verdict"]),
            Carrier(origin) if origin else None,
            {c: _STATUS_OF_SYMBOL[result[c.value]] for c in Carrier if result.get(c.value)},
        )
        return advice_cells(advise(answer, self.rules, self.role, on=self.on), self.lang)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _open_input(input_path: Path, output_path: Path, column: str | None) -> tuple[Table, int]:
    """Open the input and count its rows: its errors come before any request."""
    if output_path.resolve() == input_path.resolve():
        raise TableError(
            "the report would overwrite the input; choose another -o",
            path=output_path,
            code="write_failed",
        )
    table = open_table(input_path, column=column)
    try:
        return table, sum(1 for _ in table.rows())
    except BaseException:
        table.close()
        raise


def _find_or_start_run(
    store: Store,
    input_path: Path,
    output_path: Path,
    run_name: str | None,
    resume: bool,
    options: dict[str, Any],
) -> tuple[StoredRun, bool]:
    """The interrupted run to resume (and True), or a new run's row (and False)."""
    input_sha256 = _file_sha256(input_path)
    output_name = run_name or str(output_path.resolve())
    previous = None
    if resume:
        previous = store.find_run(input_sha256=input_sha256, output_name=output_name)
    if previous is not None:
        logger.info("resuming run %d of %s", previous.id, input_path)
        return previous, True
    if resume:
        logger.warning("no interrupted run of %s into %s: starting anew", input_path, output_name)
    run = store.start_run(
        input_name=input_path.name,
        input_sha256=input_sha256,
        output_name=output_name,
        options=options,
    )
    return run, False


async def _id_of(starting: Awaitable[tuple[StoredRun, bool]]) -> int:
    run, _ = await starting
    return run.id


def _seen(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


async def _share_the_loop(done: int) -> None:
    """Let the event loop run its timers every ``_ROWS_PER_TURN`` rows.

    A window of rows read ahead is parsed, and its devices' checks started, in one
    go: 250 rows held the loop for 30–70 ms, and every carrier's next request, due
    meanwhile, left that much late (a late start moves the carrier's plan for good).
    """
    if done % _ROWS_PER_TURN == _ROWS_PER_TURN - 1:
        await asyncio.sleep(0)


def _identify(row: InputRow) -> Identity | InvalidImei:
    """The row's IMEI, parsed once for the whole run of the row, or why it is invalid."""
    try:
        return parse(row.imei)
    except InvalidImei as err:
        return err


def _hint(raw: str | None) -> Carrier | None:
    if not raw or not raw.strip():
        return None
    try:
        return resolve_carrier(raw)
    except ValueError:
        return None  # "SIMフリー", a shop name: no carrier to favour


class _Finished:
    """The rows a resumed run already finished, merged in row order with the input."""

    def __init__(self, rows: Iterator[StoredRow]) -> None:
        self._rows = rows
        self._next = next(rows, None)

    def take(self, number: int) -> StoredRow | None:
        """The stored row ``number``, if it was finished; rows are asked in order."""
        while self._next is not None and self._next.row_number < number:
            self._next = next(self._rows, None)
        if self._next is not None and self._next.row_number == number:
            return self._next
        return None


class _Run:
    """One bulk run in progress (see the module docstring)."""

    def __init__(
        self,
        checker: Checker,
        store: Store,
        *,
        run_id: asyncio.Future[int],
        resumed_since: datetime | None,
        all_carriers: bool,
        fresh: bool,
        lang: Lang,
        summary: BulkSummary,
    ) -> None:
        self.checker = checker
        self.store = store
        self.run_id = run_id
        self.resumed_since = resumed_since
        self.all_carriers = all_carriers
        self.fresh = fresh
        self.lang = lang
        self.summary = summary
        self.learner = TacLearner()
        self.pending: dict[str, asyncio.Task[DeviceReport]] = {}
        self.recent: OrderedDict[str, DeviceReport] = OrderedDict()
        #: TACs whose first device is being asked now: the rest of the model waits for it.
        self.probing: dict[str, asyncio.Event] = {}
        #: TACs whose first device was asked in this run (answered or not).
        self.probed: set[str] = set()
        self.unsaved: list[tuple[int, str | None, dict[str, Any]]] = []
        self.last_save = time.monotonic()

    async def start(self) -> None:
        self.learner.totals.update(await asyncio.to_thread(self.store.carrier_totals))

    async def look_ahead(self, identities: list[Identity]) -> _Stored:
        """For the next rows' devices at once: their stored answers and their models' counts.

        One query each for a window of rows, instead of two per device.
        """
        imeis = [identity.value for identity in identities]
        tacs = {tac for imei in imeis if (tac := tac_of(imei)) and not self.learner.known(tac)}
        fresh, since = self.fresh, self.resumed_since

        def read() -> tuple[_Stored, dict[str, dict[Carrier, int]]]:
            if not fresh:
                stored = self.checker.stored_answers(imeis, cached_since=since)
            elif since is not None:
                # Fresh, resumed: nothing from before the run, but the run's own answers
                # (a row answered just as it stopped) are not asked again.
                stored = self.store.latest_many(imeis, since=since)
            else:
                stored = {}
            return stored, self.store.carrier_counts_for_tacs(sorted(tacs)) if tacs else {}

        stored, counts = await asyncio.to_thread(read)
        for tac in tacs:
            self.learner.seed(tac, counts.get(tac, {}))
        return stored

    def outcome(
        self, row: InputRow, identity: Identity | InvalidImei, stored: _Stored
    ) -> DeviceReport | tuple[asyncio.Task[DeviceReport], str]:
        """The row's report now, or the check to wait for and the row's own spelling.

        ``identity`` is the row's IMEI parsed, or why it is invalid.
        """
        if isinstance(identity, InvalidImei):
            return DeviceReport.of_invalid(row.imei, identity)
        imei = identity.value
        if imei in self.recent:
            self.summary.duplicate_rows += 1
            self.recent.move_to_end(imei)
            return self.recent[imei].for_input(row.imei)
        if imei in self.pending:
            self.summary.duplicate_rows += 1
            return self.pending[imei], row.imei
        reuse = not self.fresh or self.resumed_since is not None
        # The device's place in the carriers' queues is its row's: a device that waits
        # for its model's first answer keeps its place ahead of the rows read since.
        task = asyncio.create_task(
            self._check(
                identity,
                _hint(row.hint),
                stored.get(imei, {}) if reuse else None,
                self.checker.place(),
            )
        )
        self.pending[imei] = task
        return task, row.imei

    def cancel(self) -> None:
        """Stop every check still running (the run was interrupted)."""
        for task in list(self.pending.values()):
            task.cancel()

    async def _probe_turn(self, tac: str | None) -> asyncio.Event | None:
        """Wait while another device of this model is asked first; or become that device.

        A model no claim has been seen for (in storage or in this run) is asked with
        one device first; the rest of the model then starts at the carrier that device
        named, instead of each asking the wrong carriers first. Returns the event to
        set when this device was the probe.
        """
        if tac is None or tac in self.probed or any(self.learner.odds(tac).tac_counts.values()):
            return None
        while (event := self.probing.get(tac)) is not None:
            await event.wait()
            if tac in self.probed:
                return None
        event = self.probing[tac] = asyncio.Event()
        return event

    async def _check(
        self,
        identity: Identity,
        hint: Carrier | None,
        stored: Mapping[Carrier, StoredObservation] | None,
        rank: int,
    ) -> DeviceReport:
        tac = tac_of(identity.value)
        probe = None
        named: list[Carrier] = []  # the seller a probe's page named, before it was stored
        try:
            if not stored:  # a device answered from storage teaches nothing new: no turn
                probe = await self._probe_turn(tac)
            order = self.learner.odds(tac).rank(hint)
            report = await self.checker.check(
                identity.input,
                all_carriers=self.all_carriers,
                fresh=self.fresh,
                order=order,
                one_at_a_time=not self.all_carriers,  # asking all: at once
                run_id=self.run_id,
                cached_since=self.resumed_since,
                stored=stored,
                urgent=probe is not None,
                rank=rank,
                any_seller=probe is not None and hint is None,
                on_read=(
                    functools.partial(self._probe_read, tac, named)
                    if probe is not None and tac is not None
                    else None
                ),
            )
            live = [r for r in report.results if r.source is Source.LIVE]
            self.summary.devices_checked += 1
            self.summary.carrier_checks += len(live)
            self.summary.cached_answers += sum(
                1 for r in report.results if r.source is Source.CACHE
            )
            if (
                report.origin_carrier is not None
                and not named  # claimed when its page was read
                and any(r.carrier is report.origin_carrier for r in live)
            ):
                self.learner.claim(tac, report.origin_carrier)
            self.recent[identity.value] = report
            if len(self.recent) > _RECENT:
                self.recent.popitem(last=False)
            return report
        finally:
            if probe is not None and tac is not None:
                self._probed(tac)
            self.pending.pop(identity.value, None)

    def _probe_read(self, tac: str, named: list[Carrier], carrier: Carrier, status: Status) -> None:
        """A probe's page named its seller: the rest of the model goes now, while the
        answer is stored (at a run's start, the store may still be opening)."""
        if status.is_record and not named:
            named.append(carrier)
            self.learner.claim(tac, carrier)
            self._probed(tac)

    def _probed(self, tac: str) -> None:
        """The model's first device has its answer (or has none): the rest may go."""
        self.probed.add(tac)
        if (event := self.probing.pop(tac, None)) is not None:
            event.set()

    async def finished(self, row: InputRow, cells: dict[str, str]) -> None:
        self.unsaved.append((row.number, cells["imei_normalized"] or None, cells))
        if (
            len(self.unsaved) >= _ROW_BATCH
            or time.monotonic() - self.last_save > _ROW_BATCH_SECONDS
        ):
            await self.save()

    async def save(self) -> None:
        rows, self.unsaved = self.unsaved, []
        self.last_save = time.monotonic()
        if rows:
            run_id = await asyncio.shield(self.run_id)
            await asyncio.to_thread(self.store.record_rows, run_id=run_id, rows=rows)


async def run_bulk(
    checker: Checker,
    store: Store,
    input_path: Path,
    output_path: Path,
    *,
    column: str | None = None,
    resume: bool = False,
    all_carriers: bool = False,
    fresh: bool = False,
    lang: Lang = "ja",
    read_ahead: int = DEFAULT_READ_AHEAD,
    on_progress: ProgressCallback | None = None,
    advice: RowAdvice | None = None,
    on_row: RowCallback | None = None,
    output_encoding: str | None = None,
    run_name: str | None = None,
) -> BulkSummary:
    """Check every row of ``input_path`` and write the report to ``output_path``.

    With ``advice``, every row also gets its role's advice columns (``ADVICE_COLUMNS``);
    ``on_row`` is awaited for every row written; ``output_encoding`` overrides the
    report's text encoding (by default it mirrors a cp932 input, else UTF-8 with BOM).
    ``run_name`` names the run a ``resume`` looks for (default: the report's path), so
    that a job resumed on another machine, in another folder, finds its earlier run.

    Raises ``TableError`` for an unusable file (before any carrier is asked).
    The report appears at ``output_path`` only when every row is written.
    """
    began = time.monotonic()
    table, total = await asyncio.to_thread(_open_input, input_path, output_path, column)
    with table:
        starting = asyncio.ensure_future(
            asyncio.to_thread(
                _find_or_start_run,
                store,
                input_path,
                output_path,
                run_name,
                resume,
                {"column": column, "all_carriers": all_carriers, "fresh": fresh},
            )
        )
        # A resumed run's finished rows and moment come first. A new run's row is written
        # while its first checks go out (the store may still be opening: OpeningStore);
        # each check waits for the run's id only to store its answer.
        run, resumed = await starting if resume else (None, False)
        run_id = asyncio.ensure_future(_id_of(starting))
        # Its error reaches the run through the first await that needs the id; a run
        # that failed before any did has its own error to report, not this one.
        run_id.add_done_callback(_seen)
        summary = BulkSummary(output=output_path)
        state = _Run(
            checker,
            store,
            run_id=run_id,
            resumed_since=run.created_at if run is not None and resumed else None,
            all_carriers=all_carriers,
            fresh=fresh,
            lang=lang,
            summary=summary,
        )
        await state.start()
        if on_progress is not None:
            on_progress(0, total)  # the bar knows its length before the first row is back
        finished = _Finished(
            store.iter_finished_rows(run.id) if run is not None and resumed else iter(())
        )
        # (row, its cells or an awaitable of them, whether it comes back from the database).
        # Its bound is the read-ahead: rows being checked or waiting to be written.
        queue: asyncio.Queue[tuple[InputRow, Any, bool] | None] = asyncio.Queue(maxsize=read_ahead)
        writer = open_output(
            output_path,
            table.header,
            input_format=table.format,
            preamble=table.preamble,
            extra_columns=advice.columns if advice is not None else (),
            encoding=output_encoding,
        )

        async def produce() -> None:
            rows = table.rows()
            while window := list(islice(rows, _LOOK_AHEAD)):
                earlier = [finished.take(row.number) for row in window]
                # Each row's IMEI parsed once: for the look-up, then for the check.
                todo: dict[int, Identity | InvalidImei] = {}
                for row, done in zip(window, earlier, strict=True):
                    if done is None:
                        todo[row.number] = _identify(row)
                        await _share_the_loop(len(todo))
                valid = [i for i in todo.values() if isinstance(i, Identity)]
                stored = await state.look_ahead(valid) if valid else {}
                for count, (row, done) in enumerate(zip(window, earlier, strict=True)):
                    await _share_the_loop(count)
                    if done is not None:
                        summary.resumed_rows += 1
                        await queue.put((row, dict(done.cells), True))
                    else:
                        outcome = state.outcome(row, todo[row.number], stored)
                        await queue.put((row, outcome, False))
            await queue.put(None)

        async def consume() -> None:
            while (item := await queue.get()) is not None:
                row, outcome, resumed = item
                report: DeviceReport | None
                if isinstance(outcome, dict):
                    cells, report = outcome, None
                else:
                    if isinstance(outcome, DeviceReport):
                        report = outcome
                    else:
                        task, raw = outcome
                        report = (await task).for_input(raw)
                    cells = result_cells(report, lang)
                written = cells if advice is None else {**cells, **advice.cells(cells)}
                writer.write_row(row.cells, written)
                if on_row is not None:
                    await on_row(row, report, cells)
                if not resumed:
                    await state.finished(row, cells)
                summary.rows += 1
                summary.verdicts[cells["verdict"]] += 1
                if on_progress is not None:
                    on_progress(summary.rows, total)

        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(produce())
                group.create_task(consume())
        except BaseException:
            state.cancel()
            writer.abort()
            raise
        finally:
            # Answers already received are stored before the run ends, however it ends,
            # so a resumed run finds them instead of asking again.
            await checker.flush()
            await state.save()
        writer.close()
    summary.run_id = await run_id
    await asyncio.to_thread(store.finish_run, summary.run_id)
    summary.paused = checker.paused
    summary.elapsed_s = time.monotonic() - began
    return summary
