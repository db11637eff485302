"""CPU time per carrier check in akarom itself: the whole check on the uniform mix, and its parts.

All in ``time.process_time`` (CPU of the whole process, every thread included):

* **whole check** (the figure with a goal): ``run_bulk`` (what ``akarom bulk``
  calls) over a sheet of the **uniform** mix (a quarter of the devices at each
  carrier, ``bench/_fleet.py``), in this process, with a ``Checker`` and the store
  opened as the command opens them, against the sandbox served by another process
  over loopback with no latency and no limit (``AKAROM_RATE_LIMIT=1000000``), so
  that nothing waits and every CPU second is akarom's: HTTP, the rate limiter,
  parsing, the verdict, storing, the report. Divided by the carrier checks made (the
  report's carrier columns holding a symbol). The Checker first runs a short sheet
  of other devices, so imports and first-use costs are not counted;
* **raw HTTP**: a bare ``httpx.AsyncClient`` (no akarom at all) asking the same
  sandbox for each carrier's entry page, as many requests as the whole check made,
  as many at once: what the HTTP client alone costs. The whole check less that, per
  check, is akarom's own work (parse, store, limiter, verdict, the row and report);
* **parse**, per carrier: the adapter's ``screen_page`` and ``parse_result`` on a
  recorded answer page (``tests/carriers/fixtures/<carrier>/{ok,pending,restricted,
  unregistered}/``, the last page of each case, in turn): reading one answer, with
  no I/O at all;
* **store**, per carrier: ``Store.record`` of one observation with its evidence page
  into SQLite, one call per observation (the page carries each device's own IMEI so
  no two bodies are the same). Wall time is shown too: a commit waits on the disk.

Parse and store reach into akarom's internals (adapters, ``Store.record``); when
those change shape the part is reported as not measured instead of stopping the
benchmark, while the whole check goes only through ``Checker`` and ``run_bulk``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from akarom.carriers import ADAPTERS, CarrierAdapter, Page
from akarom.config import Settings
from akarom.domain import Carrier
from akarom.services import Checker
from akarom.services.bulk import run_bulk
from akarom.storage import Store
from bench._fleet import UNIFORM_SHARES, Device, Fleet, read_report, scenario_devices, write_sheet
from bench._report import Outcome, at_most, markdown_table
from bench._sandbox import Sandbox, akarom_env

__all__ = ["NAME", "TITLE", "run"]

NAME = "cpu"
TITLE = "CPU time per carrier check in akarom (whole check on the uniform mix; parse, store)"

GOAL_MS = 3.0
FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "carriers" / "fixtures"
CASES = ("ok", "pending", "restricted", "unregistered")
WARM_UP_DEVICES = 40

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Answer:
    """A recorded answer page and the IMEI it was recorded for."""

    page: Page
    imei: str


@dataclass(frozen=True, slots=True)
class Timing:
    cpu_us: float
    wall_us: float


@dataclass(frozen=True, slots=True)
class WholeCheck:
    """The measured bulk run: CPU and wall per carrier check, and what was counted."""

    cpu_ms: float
    wall_ms: float
    devices: int
    carrier_checks: int
    requests: int


def _raw_http(sandbox: Sandbox, requests: int, at_once: int) -> float:
    """CPU per request of a bare httpx client fetching the carriers' entry pages (µs)."""
    import httpx  # the bench's own client, as akarom's adapters get one (no limiter)

    paths = [adapter.ENTRY_PATH for adapter in ADAPTERS]

    async def main() -> float:
        slots = asyncio.Semaphore(at_once)
        async with httpx.AsyncClient(base_url=sandbox.url) as client:

            async def fetch(number: int) -> None:
                async with slots:
                    response = await client.get(paths[number % len(paths)])
                    await response.aread()

            await asyncio.gather(*(fetch(n) for n in range(len(paths) * 4)))  # warm-up
            cpu = time.process_time()
            await asyncio.gather(*(fetch(n) for n in range(requests)))
            return (time.process_time() - cpu) / requests * 1e6

    return asyncio.run(main())


def _diagnostic(label: str, work: Callable[[], T]) -> T | None:
    """``work()``, or None with a note when akarom's internals no longer fit this bench."""
    try:
        return work()
    except (ImportError, AttributeError, TypeError) as problem:
        print(f"{label}: not measured, akarom's internals changed shape ({problem!r})")
        return None


def _answers(adapter: type[CarrierAdapter]) -> list[Answer]:
    imeis = {case.name: case.imei for case in adapter.TESTS}
    answers = []
    for name in CASES:
        folder = FIXTURES / adapter.CARRIER.value / name
        spec = json.loads((folder / "case.json").read_text(encoding="utf-8"))
        step = spec["steps"][-1]
        page = Page(
            method=step["method"],
            url="https://carrier.test" + step["path"],
            status_code=step["status"],
            headers={k.lower(): v for k, v in step.get("headers", {}).items()},
            content=(folder / step["body"]).read_bytes(),
        )
        answers.append(Answer(page, imeis[name]))
    return answers


def _timed(count: int, work: Callable[[int], object]) -> Timing:
    cpu, wall = time.process_time(), time.perf_counter()
    for number in range(count):
        work(number)
    return Timing(
        (time.process_time() - cpu) / count * 1e6, (time.perf_counter() - wall) / count * 1e6
    )


def _parse(adapter: type[CarrierAdapter], answers: Sequence[Answer], count: int) -> Timing:
    def work(number: int) -> object:
        answer = answers[number % len(answers)]
        adapter.screen_page(answer.page)
        return adapter.parse_result(answer.page, answer.imei)

    work(0)  # warm up: selectolax, regexes, codecs
    return _timed(count, work)


def _store(
    store: Store, adapter: type[CarrierAdapter], answers: Sequence[Answer], imeis: Sequence[str]
) -> Timing:
    from akarom.domain import Source
    from akarom.storage import NewObservation, NewPage

    readings = [adapter.parse_result(answer.page, answer.imei) for answer in answers]

    def work(number: int) -> object:
        answer, reading = answers[number % len(answers)], readings[number % len(answers)]
        imei = imeis[number]
        page = answer.page
        now = datetime.now(UTC)
        observation = NewObservation(
            imei=imei,
            carrier=adapter.CARRIER,
            status=reading.status,
            checked_at=now,
            source=Source.LIVE,
            printed_symbol=reading.symbol,
            message=reading.message,
            elapsed_ms=150,
            adapter_version=adapter.VERSION,
        )
        evidence = NewPage(
            method=page.method,
            url=page.url.replace(answer.imei, imei),
            status_code=page.status_code,
            headers=page.headers,
            content=page.content.replace(answer.imei.encode(), imei.encode()),
            fetched_at=now,
        )
        return store.record(observation, [evidence])

    return _timed(len(imeis), work)


def _whole_check(
    env: dict[str, str], sandbox: Sandbox, warm_up: Sequence[Device], measured: Sequence[Device]
) -> WholeCheck:
    folder = Path(env["AKAROM_DATA_DIR"])
    folder.mkdir(parents=True)
    warm_sheet, sheet = folder / "warm-up.csv", folder / "在庫.csv"
    write_sheet(warm_sheet, warm_up)
    write_sheet(sheet, measured)
    report = folder / "結果.csv"

    async def main(store: Store) -> tuple[float, float]:
        settings = Settings.from_env(env)
        async with Checker(settings, store=store) as checker:
            await run_bulk(checker, store, warm_sheet, folder / "warm-up report.csv", lang="en")
            sandbox.reset()
            cpu, wall = time.process_time(), time.perf_counter()
            await run_bulk(checker, store, sheet, report, lang="en")
            return time.process_time() - cpu, time.perf_counter() - wall

    settings = Settings.from_env(env)
    with Store.open(settings.database_url, settings.data_dir) as store:
        cpu_s, wall_s = asyncio.run(main(store))
    checks = sum(len(row.asked) for row in read_report(report))
    requests = sum(s.requests for s in sandbox.stats().values())
    return WholeCheck(
        cpu_s / checks * 1000, wall_s / checks * 1000, len(measured), checks, requests
    )


def run(quick: bool, workdir: Path) -> Outcome:
    began = time.monotonic()
    parses, records, devices_checked = (500, 100, 200) if quick else (5000, 1000, 2000)
    fleet = Fleet(seed=333)
    whole_devices = fleet.devices(WARM_UP_DEVICES + devices_checked, shares=UNIFORM_SHARES)
    stored_imeis = {adapter.CARRIER: fleet.devices(records) for adapter in ADAPTERS}
    scenario = {
        "seed": 7,
        "default": "unregistered",
        "devices": scenario_devices(whole_devices),
    }
    with Sandbox(scenario, workdir) as sandbox:
        env = akarom_env(sandbox.url, workdir / "whole", rate_limit=1_000_000, concurrency=4)
        whole = _whole_check(
            env, sandbox, whole_devices[:WARM_UP_DEVICES], whole_devices[WARM_UP_DEVICES:]
        )
        raw_us = _raw_http(sandbox, whole.requests, at_once=4 * len(ADAPTERS))
    raw_per_check_ms = raw_us * whole.requests / whole.carrier_checks / 1000
    own_ms = whole.cpu_ms - raw_per_check_ms
    print(
        f"whole check (run_bulk, uniform mix): {whole.cpu_ms:.2f} ms CPU per carrier check "
        f"({whole.wall_ms:.2f} ms wall); {whole.carrier_checks:,} checks for "
        f"{whole.devices:,} devices, {whole.requests:,} HTTP requests; raw HTTP "
        f"{raw_us:.0f} µs per request, so akarom's own work {own_ms:.2f} ms per check",
        flush=True,
    )

    rows: list[list[Any]] = []
    parse_total = store_total = 0.0
    measured_parts = 0
    with Store.open(None, workdir / "parts") as store:
        for adapter in sorted(ADAPTERS, key=lambda a: list(Carrier).index(a.CARRIER)):
            carrier = adapter.CARRIER
            answers = _answers(adapter)
            imeis = [d.imei for d in stored_imeis[carrier]]
            parse = _diagnostic(f"{carrier.value} parse", partial(_parse, adapter, answers, parses))
            stored = _diagnostic(
                f"{carrier.value} store", partial(_store, store, adapter, answers, imeis)
            )
            rows.append(
                [
                    carrier.value,
                    f"{parse.cpu_us:,.0f}" if parse else "not measured",
                    f"{stored.cpu_us:,.0f}" if stored else "not measured",
                    f"{stored.wall_us:,.0f}" if stored else "–",
                ]
            )
            if parse and stored:
                parse_total += parse.cpu_us
                store_total += stored.cpu_us
                measured_parts += 1
                print(
                    f"{carrier.value}: parse {parse.cpu_us:.0f} µs, store {stored.cpu_us:.0f} µs "
                    f"CPU ({stored.wall_us:.0f} µs wall)",
                    flush=True,
                )
    if measured_parts:
        rows.append(
            [
                "**mean**",
                f"**{parse_total / measured_parts:,.0f}**",
                f"**{store_total / measured_parts:,.0f}**",
                "",
            ]
        )
    parts = markdown_table(
        [
            "carrier",
            "parse: screen_page + parse_result (µs CPU)",
            "store: Store.record (µs CPU)",
            "store (µs wall)",
        ],
        rows,
    )
    share = (
        f"Reading and storing one answer alone, one at a time, take "
        f"{(parse_total + store_total) / measured_parts / 1000:.2f} ms of the whole check's "
        f"{whole.cpu_ms:.2f} ms; the rest is the HTTP client, the rate limiter, the event "
        "loop and its hand-offs to threads, the verdict, the bulk run's own rows and report."
        if measured_parts
        else ""
    )
    body = f"""\
**akarom's own work: {own_ms:.2f} ms of CPU per carrier check** (parse + store + limiter
+ verdict + row and report; goal {at_most(own_ms, GOAL_MS, " ms")}): the whole check,
**{whole.cpu_ms:.2f} ms** ({whole.wall_ms:.2f} ms of wall time), less the HTTP client's own
cost, {raw_per_check_ms:.2f} ms per check ({raw_us:.0f} µs for each of the
{whole.requests / whole.carrier_checks:.2f} requests a check made, measured with a bare
`httpx.AsyncClient` fetching the carriers' entry pages from the same sandbox,
{4 * len(ADAPTERS)} at once, {whole.requests:,} requests).

The whole check:
`run_bulk` over {whole.devices:,} devices of the uniform mix (a quarter at each carrier;
cp932 CSV, no キャリア column) in this process, as `akarom bulk` calls it (the store as
the command opens it, answers not `--fresh`), after a warm-up sheet of {WARM_UP_DEVICES}
other devices on the same `Checker`; against the sandbox in another process on
loopback, with no latency and no limit (`AKAROM_RATE_LIMIT=1000000`,
`AKAROM_CONCURRENCY=4`). {whole.carrier_checks:,} carrier
checks ({whole.requests:,} HTTP requests, au's and SoftBank's form pages included): parse,
store, rate limiter, verdict, the row and the report, everything akarom spends per check.

The parts, per answer, in microseconds. Parse: {parses:,} answer pages per carrier (ok,
pending, restricted, unregistered in turn). Store: {records:,} observations per carrier,
each with its page, one `Store.record` call each, into one SQLite database.

{parts}

{share}
"""
    return Outcome(NAME, TITLE, body, time.monotonic() - began)
