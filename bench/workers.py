"""Jobs on a fleet of ``akarom worker`` processes (PostgreSQL): a batch's pace with 1, 2
and 4 workers, and how long a person's check waits while another dealer's batch runs.

Each run gets a fresh PostgreSQL schema (``AKAROM_BENCH_POSTGRES``, by default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``, with ``search_path`` set to the
new schema) that is dropped afterwards, the sandbox in its own process, and N
``akarom worker`` processes started as an operator starts them (the console script,
settings in the environment, ``AKAROM_DATABASE_URL`` on that schema). The jobs are
submitted from the bench's own process through ``EngineJobs`` (what the web server's
``POST /api/v1/batches`` and ``POST /api/v1/checks`` call, minus HTTP): the bench
opens the engine only to queue jobs and never runs one itself (it does not call
``EngineJobs.start``, which would run jobs in-process while no worker is alive).

**A. A batch's pace.** A batch of uniform-mix devices (a quarter each at docomo, au,
SoftBank and Rakuten; every carrier's limit binds at once), sandbox and akarom both at
20 requests/s per carrier, timed from the call that submits it to its status
``done`` (the bench polls the job's row). The least time the limits permit is the
busiest carrier's ``(requests − 1) / 20 + one latency``, from the sandbox's counts, as
in ``bulk``. One dealer's batch runs in one worker at a time (``lock=batch:<dealer>``);
the extra workers are there to show that idle workers cost the batch nothing and that
the fleet-wide budget (``akarom.storage.pace``: one row per carrier in PostgreSQL,
advisory locks for requests in flight) holds the pace across processes.
Where the time goes is split from the database's own records: submit → the job's
``started_at`` (queueing, pick-up), → the first carrier check's start (the worker
reading the file, opening its checker and pools), the steady part (first to last check
start at the busiest carrier, against what its requests need at 20/s), and → ``done``.

**B. A check beside a batch.** With 2 workers: ten checks of new devices (uniform mix),
one after another, each timed from ``submit_check`` to its first carrier answer (the
job's row 0 written, or the job finished), first on an idle system, then while another
dealer's large batch has been running for 20 s, then idle again once that batch is
cancelled. Median and maximum of each.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import os
import statistics
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from akarom.domain import Carrier
from akarom.ratelimit import DEFAULT_MARGIN
from bench._fleet import UNIFORM_SHARES, Device, Fleet, scenario_devices
from bench._process import AKAROM, environment
from bench._report import Outcome, at_most, markdown_table
from bench._sandbox import AgainstLimits, CarrierStats, Sandbox, akarom_env

__all__ = ["NAME", "TITLE", "run"]

NAME = "workers"
TITLE = "Jobs on `akarom worker` processes (PostgreSQL): a batch's pace, a check beside a batch"

POSTGRES = os.environ.get(
    "AKAROM_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
RATE_PER_S = 20.0
LATENCY_MS = 20.0
#: Requests in flight per carrier: rate × latency is 0.4, so 4 leaves room for form pages
#: and for a busy machine's slower answers; latency never limits.
CONCURRENCY = 4
WORKER_COUNTS = (1, 2, 4)
BATCH, QUICK_BATCH = 4000, 1000
BACKGROUND, QUICK_BACKGROUND = 50_000, 5000
BACKGROUND_RUN_S, QUICK_BACKGROUND_RUN_S = 20.0, 8.0
CHECKS, QUICK_CHECKS = 10, 5
CHECK_WORKERS = 2
RATIO_GOAL = 1.05
#: An interactive check may wait at most one carrier interval more than on an idle system.
CHECK_GOAL_S = 1.0 / RATE_PER_S
#: How often the bench looks at a job's row (A: its status; B: its first answer).
BATCH_POLL_S = 0.025
CHECK_POLL_S = 0.004


@dataclass(frozen=True, slots=True)
class Split:
    """Where a batch's wall time went, from the database's records (seconds)."""

    to_started: float  # submit → jobs.started_at (queued, picked up)
    to_first_check: float  # started_at → first carrier check's start
    steady: float  # first → last check start at the busiest carrier
    steady_least: float  # what those checks' requests need at the limit
    after_last_check: float  # last check start (any carrier) → done seen
    largest_gap: float  # the longest pause between two check starts at the busiest carrier


@dataclass(frozen=True, slots=True)
class BatchRun(AgainstLimits):
    workers: int
    devices: int
    status: str
    wall_s: float
    stats: Mapping[Carrier, CarrierStats]
    split: Split | None
    RATE_PER_S: ClassVar[float] = RATE_PER_S
    LATENCY_MS: ClassVar[float] = LATENCY_MS

    @property
    def wall(self) -> float:
        return self.wall_s

    @property
    def met(self) -> bool:
        return self.status == "done" and self.rejected == 0 and self.ratio <= RATIO_GOAL


@dataclass(frozen=True, slots=True)
class CheckTimes:
    label: str
    first_answer_s: Sequence[float]
    finished_s: Sequence[float]

    @property
    def median(self) -> float:
        return statistics.median(self.first_answer_s) if self.first_answer_s else math.nan

    @property
    def worst(self) -> float:
        return max(self.first_answer_s, default=math.nan)


@dataclass
class Beside:
    idle: CheckTimes | None = None
    loaded: CheckTimes | None = None
    idle_after: CheckTimes | None = None
    background_rows: int = 0
    background_done_at_checks: int = 0
    background_ran_s: float = 0.0
    background_status: str = "?"
    stats: Mapping[Carrier, CarrierStats] = field(default_factory=dict)
    error: str | None = None

    @property
    def reference(self) -> CheckTimes | None:
        """The idle figures to hold the loaded ones against: after the batch (the store
        knows the same models then), else before."""
        return self.idle_after or self.idle

    @property
    def excess(self) -> float:
        if self.loaded is None or self.reference is None:
            return math.nan
        return self.loaded.median - self.reference.median

    @property
    def met(self) -> bool:
        rejected = sum(s.rejected_rate_limit for s in self.stats.values())
        return self.error is None and rejected == 0 and self.excess <= CHECK_GOAL_S


# -- the fleet around each run ---------------------------------------------------------


@contextlib.contextmanager
def _schema() -> Iterator[str]:
    """A fresh schema; yields the database URL that puts akarom (and procrastinate) in it."""
    import sqlalchemy as sa

    name = f"bench_workers_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES)
    try:
        with admin.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{name}"'))
        separator = "&" if "?" in POSTGRES else "?"
        yield f"{POSTGRES}{separator}options=-csearch_path%3D{name}"
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        admin.dispose()


class Workers:
    """N ``akarom worker`` processes on one schema, and the bench's own queueing side."""

    def __init__(self, sandbox: Sandbox, folder: Path, url: str, workers: int) -> None:
        self.folder = folder
        self.count = workers
        self.env = environment(
            {
                **akarom_env(
                    sandbox.url, folder / "data", rate_limit=RATE_PER_S, concurrency=CONCURRENCY
                ),
                "AKAROM_DATABASE_URL": url,
            }
        )
        self.url = url
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    async def __aenter__(self) -> Workers:
        from akarom.config import Settings
        from akarom.services.engine import Engine, EngineJobs, engine_conninfo
        from akarom.services.serving import Hub
        from akarom.storage import Store

        self.folder.mkdir(parents=True, exist_ok=True)
        # The bench creates the database first (as `akarom serve` would have), so the
        # workers do not race to migrate it.
        self.store = await asyncio.to_thread(Store.open, self.url, self.folder / "data")
        self._spawn()
        deadline = time.monotonic() + 60
        while len(await self._alive()) < self.count:
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.processes):
                raise RuntimeError(f"the workers did not start:\n{self.log_tails()}")
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # their queue listeners are up a moment after registering
        settings = Settings.from_env(self.env)
        self.hub = Hub(settings, self.store)
        conninfo = engine_conninfo(settings)
        assert conninfo is not None
        self.engine = Engine(conninfo)
        await self.engine.open()  # to queue jobs only: no EngineJobs.start, no work here
        self.jobs = EngineJobs(self.hub, self.engine)
        return self

    def _spawn(self) -> None:
        for number in range(self.count):
            log = self.folder / f"worker-{number}.log"
            self.logs.append(log)
            with log.open("wb") as stderr:
                self.processes.append(
                    subprocess.Popen(
                        [AKAROM, "worker"], env=self.env, stdout=subprocess.DEVNULL, stderr=stderr
                    )
                )

    async def _alive(self) -> list[Any]:
        workers = await asyncio.to_thread(self.store.live_workers)
        return [w for w in workers if w.kind == "worker"]

    async def __aexit__(self, *exc: object) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                await asyncio.to_thread(process.wait, 30)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait)
        for closing in (self.engine.close, self.hub.aclose):
            with contextlib.suppress(Exception):
                await closing()
        await asyncio.to_thread(self.store.close)

    def dead(self) -> list[int]:
        return [p.returncode for p in self.processes if p.poll() is not None]

    def log_tails(self, lines: int = 8) -> str:
        tails = []
        for log in self.logs:
            text = log.read_text(encoding="utf-8", errors="replace").splitlines()
            tails.append(f"{log.name}:\n" + "\n".join(text[-lines:]))
        return "\n".join(tails)

    def dealer(self, name: str) -> int:
        return int(self.store.create_dealer(name).id)


def _batch_input(devices: Sequence[Device]) -> bytes:
    from akarom.services.jobs import batch_input

    return batch_input(device.imei for device in devices)


# -- A: a batch's pace -----------------------------------------------------------------


async def _batch(
    sandbox: Sandbox, folder: Path, url: str, workers: int, devices: Sequence[Device]
) -> BatchRun:
    async with Workers(sandbox, folder, url, workers) as fleet:
        dealer = await asyncio.to_thread(fleet.dealer, "bench-batch")
        data = _batch_input(devices)
        sandbox.reset()
        began = time.monotonic()
        submitted_at = datetime.now().astimezone()
        job, _ = await fleet.jobs.submit_batch(dealer_id=dealer, input_name="在庫.csv", data=data)
        deadline = began + 40 * len(devices) / RATE_PER_S + 120
        while True:
            now = await asyncio.to_thread(fleet.store.job_by_id, job.id)
            assert now is not None
            if now.status.finished:
                wall = time.monotonic() - began
                break
            if time.monotonic() > deadline or fleet.dead():
                wall = time.monotonic() - began
                print(f"the batch did not finish ({now.status.value}):\n{fleet.log_tails()}")
                break
            await asyncio.sleep(BATCH_POLL_S)
        stats = sandbox.stats()
        split = await asyncio.to_thread(_split, fleet.store, now, submitted_at, wall, stats)
        return BatchRun(workers, len(devices), now.status.value, wall, stats, split)


def _split(
    store: Any, job: Any, submitted_at: datetime, wall: float, stats: Mapping[Carrier, CarrierStats]
) -> Split | None:
    """Where the wall time went, from the job's row and the observations' start times."""
    import sqlalchemy as sa

    with store._engine.connect() as connection:  # a bench's diagnostic read
        rows = connection.execute(
            sa.text("SELECT carrier, checked_at FROM observations ORDER BY checked_at")
        ).all()
    if not rows or job.started_at is None:
        return None
    starts: dict[str, list[datetime]] = {}
    for carrier, at in rows:
        starts.setdefault(carrier, []).append(at)
    busiest = max(stats, key=lambda c: stats[c].requests)
    mine = starts.get(busiest.value, [])
    if len(mine) < 2:
        return None
    per_check = stats[busiest].requests / len(mine)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(mine)]
    first, last = rows[0][1], rows[-1][1]
    done_at = submitted_at.timestamp() + wall
    return Split(
        to_started=(job.started_at - submitted_at).total_seconds(),
        to_first_check=(first - job.started_at).total_seconds(),
        steady=(mine[-1] - mine[0]).total_seconds(),
        steady_least=(len(mine) - 1) * per_check / RATE_PER_S,
        after_last_check=done_at - last.timestamp(),
        largest_gap=max(gaps),
    )


# -- B: a check beside a batch ---------------------------------------------------------


async def _checks(fleet: Workers, dealer: int, devices: Sequence[Device], label: str) -> CheckTimes:
    first, finished = [], []
    for device in devices:
        began = time.monotonic()
        job = await fleet.jobs.submit_check(device.imei, dealer_id=dealer, lang="en")
        answered: float | None = None
        deadline = began + 60
        while True:
            results = await asyncio.to_thread(fleet.store.job_results, job.id, limit=1)
            now = await asyncio.to_thread(fleet.store.job_by_id, job.id)
            elapsed = time.monotonic() - began
            if answered is None and (results or (now is not None and now.status.finished)):
                answered = elapsed
            if now is not None and now.status.finished:
                break
            if elapsed > 60 or time.monotonic() > deadline:
                print(f"{label}: a check did not finish in 60 s")
                break
            await asyncio.sleep(CHECK_POLL_S)
        if answered is not None:
            first.append(answered)
        finished.append(time.monotonic() - began)
    times = CheckTimes(label, first, finished)
    print(
        f"  {label}: first answer median {times.median * 1000:.0f} ms, "
        f"max {times.worst * 1000:.0f} ms; finished median "
        f"{statistics.median(finished) * 1000:.0f} ms "
        f"({', '.join(f'{t * 1000:.0f}' for t in first)} ms)",
        flush=True,
    )
    return times


async def _beside(
    sandbox: Sandbox,
    folder: Path,
    url: str,
    background: Sequence[Device],
    checked: Sequence[Device],
    count: int,
    run_s: float,
) -> Beside:
    outcome = Beside(background_rows=len(background))
    async with Workers(sandbox, folder, url, CHECK_WORKERS) as fleet:
        batch_dealer = await asyncio.to_thread(fleet.dealer, "bench-batch")
        person = await asyncio.to_thread(fleet.dealer, "bench-person")
        data = _batch_input(background)
        sandbox.reset()
        outcome.idle = await _checks(fleet, person, checked[:count], "idle, before the batch")
        job, _ = await fleet.jobs.submit_batch(
            dealer_id=batch_dealer, input_name="大量.csv", data=data
        )
        began = time.monotonic()
        # Let it run ~run_s once its first rows are in (reading 50,000 rows comes first).
        while True:
            now = await asyncio.to_thread(fleet.store.job_by_id, job.id)
            assert now is not None
            if now.done > 0 or now.status.finished or time.monotonic() - began > 120:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(run_s)
        now = await asyncio.to_thread(fleet.store.job_by_id, job.id)
        assert now is not None
        if now.status.finished:
            outcome.error = f"the batch ended ({now.status.value}) before the checks"
        outcome.background_done_at_checks = now.done
        outcome.loaded = await _checks(
            fleet, person, checked[count : 2 * count], "beside the batch"
        )
        outcome.background_ran_s = time.monotonic() - began
        await fleet.jobs.cancel(job.key, dealer_id=batch_dealer)
        deadline = time.monotonic() + 60
        while True:
            now = await asyncio.to_thread(fleet.store.job_by_id, job.id)
            assert now is not None
            if now.status.finished or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        outcome.background_status = now.status.value
        await asyncio.sleep(3.0)  # the cancelled batch's last requests end
        outcome.idle_after = await _checks(
            fleet, person, checked[2 * count : 3 * count], "idle, after the batch"
        )
        outcome.stats = sandbox.stats()
        if fleet.dead():
            outcome.error = f"a worker died:\n{fleet.log_tails()}"
    return outcome


# -- the benchmark ---------------------------------------------------------------------


def _reachable() -> str | None:
    """None when PostgreSQL answers, else why not."""
    import sqlalchemy as sa

    engine = sa.create_engine(POSTGRES, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except Exception as error:  # noqa: BLE001 - any reason is reported as is
        return f"{type(error).__name__}: {str(error).splitlines()[0]}"
    finally:
        engine.dispose()
    return None


def run(quick: bool, workdir: Path) -> Outcome:
    began = time.monotonic()
    unreachable = _reachable()
    if unreachable is not None:
        body = f"Not measured: PostgreSQL at `{POSTGRES}` did not answer ({unreachable})."
        print(body)
        return Outcome(NAME, TITLE, body, time.monotonic() - began)
    size = QUICK_BATCH if quick else BATCH
    rows = QUICK_BACKGROUND if quick else BACKGROUND
    count = QUICK_CHECKS if quick else CHECKS
    run_s = QUICK_BACKGROUND_RUN_S if quick else BACKGROUND_RUN_S
    fleet = Fleet(seed=2027)
    batch = fleet.devices(size, shares=UNIFORM_SHARES)
    background = fleet.devices(rows, shares=UNIFORM_SHARES)
    checked = fleet.devices(3 * count, shares=UNIFORM_SHARES)
    limits = {"latency_ms": LATENCY_MS, "rate_limit_per_s": RATE_PER_S}
    scenario = {
        "seed": 11,
        "default": "unregistered",
        "carriers": {carrier.value: limits for carrier in Carrier},
        "devices": scenario_devices([*batch, *background, *checked]),
    }
    runs: list[BatchRun] = []
    with Sandbox(scenario, workdir) as sandbox:
        for workers in WORKER_COUNTS:
            with _schema() as url:
                measured = asyncio.run(
                    _batch(sandbox, workdir / f"batch-{workers}", url, workers, batch)
                )
            runs.append(measured)
            _print(measured)
        print(f"check beside a {rows:,}-row batch, {CHECK_WORKERS} workers:", flush=True)
        with _schema() as url:
            beside = asyncio.run(
                _beside(sandbox, workdir / "beside", url, background, checked, count, run_s)
            )
        if beside.error:
            print(beside.error)
        print(
            f"  excess of the median over idle: {beside.excess * 1000:+.0f} ms "
            f"(goal ≤ {CHECK_GOAL_S * 1000:.0f} ms); 429s "
            f"{sum(s.rejected_rate_limit for s in beside.stats.values())}",
            flush=True,
        )
    return Outcome(NAME, TITLE, _body(size, runs, beside, run_s), time.monotonic() - began)


def _print(m: BatchRun) -> None:
    split = m.split
    where = (
        f"; submit→started {split.to_started:.2f} s, →first check {split.to_first_check:.2f} s, "
        f"steady {split.steady:.1f} s for {split.steady_least:.1f} s at the limit "
        f"({split.steady / split.steady_least:.3f}), last check→done "
        f"{split.after_last_check:.2f} s, largest gap {split.largest_gap * 1000:.0f} ms"
        if split is not None and split.steady_least
        else ""
    )
    print(
        f"{m.workers} worker(s), {m.devices:,} devices: {m.status}, wall {m.wall_s:.1f} s, "
        f"least {m.bound:.1f} s ({m.busiest.value}), ratio {m.ratio:.3f}; 429s {m.rejected}; "
        + ", ".join(
            f"{c.value} {s.requests} req/{s.max_rate_per_s}/s/{s.max_in_flight} in flight"
            for c, s in m.stats.items()
        )
        + where,
        flush=True,
    )


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if not math.isnan(seconds) else "?"


def _body(size: int, runs: Sequence[BatchRun], beside: Beside, run_s: float) -> str:
    timing = markdown_table(
        [
            "workers",
            "status",
            "wall time (submit → done)",
            "least time (busiest carrier)",
            "**wall ÷ least time**",
            "goal",
            "refused (429)",
        ],
        [
            [
                m.workers,
                m.status,
                f"{m.wall_s:.1f} s",
                f"{m.bound:.1f} s ({m.busiest.value})",
                f"**{m.ratio:.3f}**",
                at_most(m.ratio, RATIO_GOAL),
                f"**{m.rejected}**" + ("" if m.rejected == 0 else " (goal 0)"),
            ]
            for m in runs
        ],
    )
    carriers = markdown_table(
        ["workers", *(f"{c.value}: requests / peak per s / peak in flight" for c in Carrier)],
        [
            [
                m.workers,
                *(
                    f"{cs.requests:,} / {cs.max_rate_per_s} / {cs.max_in_flight}"
                    if (cs := m.stats.get(c)) is not None
                    else "–"
                    for c in Carrier
                ),
            ]
            for m in runs
        ],
    )
    split = markdown_table(
        [
            "workers",
            "submit → started",
            "started → first check",
            "steady part (busiest carrier)",
            "at the limit",
            "steady ÷ limit",
            "longest pause",
            "last check → done seen",
        ],
        [
            [
                m.workers,
                f"{s.to_started:.2f} s",
                f"{s.to_first_check:.2f} s",
                f"{s.steady:.1f} s",
                f"{s.steady_least:.1f} s",
                f"{s.steady / s.steady_least:.3f}" if s.steady_least else "?",
                _ms(s.largest_gap),
                f"{s.after_last_check:.2f} s",
            ]
            for m in runs
            if (s := m.split) is not None
        ],
    )
    rows = [
        [
            t.label,
            len(t.first_answer_s),
            f"**{_ms(t.median)}**",
            _ms(t.worst),
            _ms(statistics.median(t.finished_s)) if t.finished_s else "?",
        ]
        for t in (beside.idle, beside.loaded, beside.idle_after)
        if t is not None
    ]
    checks = markdown_table(
        ["when", "checks", "**first answer, median**", "first answer, max", "finished, median"],
        rows,
    )
    reference = beside.reference
    excess_max = (
        beside.loaded.worst - reference.worst
        if beside.loaded is not None and reference is not None
        else math.nan
    )
    checks_each = len(beside.loaded.first_answer_s) if beside.loaded else 0
    beside_rejected = sum(s.rejected_rate_limit for s in beside.stats.values())
    batch_met = all(m.met for m in runs)
    missed = [
        f"wall ÷ least time {m.ratio:.3f} with {m.workers} worker(s)"
        for m in runs
        if m.ratio > RATIO_GOAL
    ]
    missed += [f"{m.rejected} refused with {m.workers} worker(s)" for m in runs if m.rejected]
    missed += [f"{m.status} with {m.workers} worker(s)" for m in runs if m.status != "done"]
    if not beside.met:
        missed.append(f"a check beside a batch waits {_ms(beside.excess)} more than idle (median)")
    verdict = (
        "**Goals missed in this run: " + "; ".join(missed) + ".**"
        if missed
        else "Every goal was met in this run."
    )
    slow = [m for m in runs if m.split is not None and m.split.steady_least]
    reading = ""
    if slow:
        worst = max(slow, key=lambda m: m.ratio)
        parts = worst.split
        assert parts is not None
        reading = (
            f"With {worst.workers} worker(s), {worst.wall_s - worst.bound:.1f} s above the "
            f"least time: {parts.steady - parts.steady_least:.1f} s of it in the steady part "
            f"(a request every {1000 * parts.steady / parts.steady_least / RATE_PER_S:.1f} ms "
            f"instead of {1000 / RATE_PER_S:g}), "
            f"{parts.to_started + parts.to_first_check:.2f} s before the first check and "
            f"{parts.after_last_check:.2f} s after the last."
        )
    return f"""\
N `akarom worker` processes (the console script, `AKAROM_DATABASE_URL` on PostgreSQL
15 on this machine, a fresh schema per run, dropped after) against the sandbox in
another process with every carrier at `latency_ms: {LATENCY_MS:g}` and
`rate_limit_per_s: {RATE_PER_S:g}`; akarom given `AKAROM_RATE_LIMIT={RATE_PER_S:g}` and
`AKAROM_CONCURRENCY={CONCURRENCY}` (rate × latency is {RATE_PER_S * LATENCY_MS / 1000:g}:
latency never limits); every worker with its default `--concurrency` (2 batches, 16
checks). Jobs are submitted from the bench's process through `EngineJobs.submit_batch`
/ `submit_check` (what the web API calls, without HTTP); the bench only queues, and
polls the job's row (every {BATCH_POLL_S * 1000:g} ms for a batch,
{CHECK_POLL_S * 1000:g} ms for a check).

{verdict}

**A batch's pace**: {size:,} devices of the uniform mix (a quarter each at docomo, au,
SoftBank and Rakuten, so every carrier's limit binds at once), on a database that
knows none of the models, timed from `submit_batch` to the status `done`. One dealer's
batch runs in one worker at a time (`lock=batch:<dealer>`); the other workers stand
idle beside it, heartbeating and sweeping, with their own pools on the fleet-wide
budget. **Least time** = (requests the busiest carrier received − 1) / {RATE_PER_S:g}
per second + {LATENCY_MS:g} ms, from the sandbox's counts (form pages included), as in
`bulk`. Goals: wall ÷ least time ≤ {RATIO_GOAL:g} at every worker count; 0 requests
refused. All met in this run: **{"yes" if batch_met else "no"}**.

{timing}

By carrier (peak per s: the sandbox's busiest trailing second; peak in flight: the most
requests it was answering at once, across all workers):

{carriers}

Where the wall time goes, from the database's records: the job's `started_at`, the
start of each carrier check (`observations.checked_at`), and the moment the bench saw
`done`. The steady part is the busiest carrier's first to last check start, against
what its requests need at {RATE_PER_S:g}/s (the ratio includes akarom's own
{DEFAULT_MARGIN * 100:g} % safety margin, `ratelimit.DEFAULT_MARGIN`).

{split}

{reading}

**A check beside a batch**: {CHECK_WORKERS} workers; {checks_each} checks of new
devices (uniform mix), one after another, each from `submit_check` to its first
carrier answer (the job's row 0 written, or the job finished): on an idle system,
then while another dealer's {beside.background_rows:,}-row batch runs (submitted,
its first rows in, then {run_s:g} s; {beside.background_done_at_checks:,} rows kept
when the checks began: rows are kept in input order, so a row waiting at a busy carrier
holds back the count, not the work; then cancelled: {beside.background_status}), then idle
again. The idle figures held against the loaded ones are those after the batch (the
store then knows the same models as during it). Goal: the median within one carrier
interval ({CHECK_GOAL_S * 1000:g} ms) of idle; 0 refused. Median beside the batch −
idle median: **{_ms(beside.excess)}** ({at_most(beside.excess, CHECK_GOAL_S, " s")});
maximum − idle maximum: {_ms(excess_max)}; refused (429) in this part:
{beside_rejected}.{f" **{beside.error}**" if beside.error else ""}

{checks}
"""
