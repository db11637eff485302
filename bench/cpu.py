"""CPU time per carrier answer in akarom itself: reading the page, storing it, and all of it.

Three measurements per carrier, all in ``time.process_time`` (CPU of the whole
process, every thread included) divided by the number of answers:

* **parse**: the adapter's ``screen_page`` and ``parse_result`` on a recorded
  answer page (``tests/carriers/fixtures/<carrier>/{ok,pending,restricted,
  unregistered}/``, the last page of each case, in turn): what reading one answer
  costs, with no I/O at all;
* **store**: ``Store.record`` of one observation with its evidence page into SQLite
  (WAL, ``synchronous=NORMAL``, as akarom opens it), the recorded answer page with
  each device's own IMEI in it so no two bodies are the same (as in a real run; au's
  and SoftBank's form page is one stored body for every check and is left out).
  Wall time is shown too: SQLite's commit waits on the disk, not the CPU;
* **whole check**: ``Checker.check_many`` of distinct IMEIs at that carrier alone
  against the sandbox served over loopback with no latency and no rate limit
  (``AKAROM_RATE_LIMIT=1000000``): everything akarom does per answer, HTTP client,
  rate limiter and its cross-process ledger, parsing, verdict and storing; then again
  with the ledger off, to show its share.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from akarom.carriers import ADAPTERS, CarrierAdapter, Page
from akarom.config import Settings
from akarom.domain import Carrier, Source
from akarom.services import Checker
from akarom.storage import NewObservation, NewPage, Store
from bench._fleet import Fleet, scenario_devices
from bench._report import Outcome, markdown_table
from bench._sandbox import Sandbox, akarom_env

__all__ = ["NAME", "TITLE", "run"]

NAME = "cpu"
TITLE = "CPU time per carrier answer in akarom (parse + store)"

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "carriers" / "fixtures"
CASES = ("ok", "pending", "restricted", "unregistered")


@dataclass(frozen=True, slots=True)
class Answer:
    """A recorded answer page and the IMEI it was recorded for."""

    page: Page
    imei: str


@dataclass(frozen=True, slots=True)
class Timing:
    cpu_us: float
    wall_us: float


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


def _whole(
    env: dict[str, str],
    store: Store,
    carrier: Carrier,
    imeis: Sequence[str],
    *,
    share_limits: bool = True,
) -> Timing:
    async def main() -> Timing:
        settings = Settings.from_env(env)
        async with Checker(settings, store=store, share_limits=share_limits) as checker:
            await checker.check_many(imeis[:4], carriers=[carrier], fresh=True)  # warm up
            cpu, wall = time.process_time(), time.perf_counter()
            reports = await checker.check_many(imeis[4:], carriers=[carrier], fresh=True)
            count = len(reports)
            return Timing(
                (time.process_time() - cpu) / count * 1e6,
                (time.perf_counter() - wall) / count * 1e6,
            )

    return asyncio.run(main())


def run(quick: bool, workdir: Path) -> Outcome:
    began = time.monotonic()
    parses, records, checks = (500, 100, 100) if quick else (5000, 1000, 1000)
    fleet = Fleet(seed=333)
    rows = []
    totals = dict.fromkeys(("parse", "store", "store_wall", "whole", "whole_wall", "unshared"), 0.0)
    devices = {adapter.CARRIER: fleet.devices(records + 2 * (checks + 4)) for adapter in ADAPTERS}
    scenario = {
        "seed": 7,
        "default": "unregistered",
        "devices": scenario_devices(d for group in devices.values() for d in group),
    }
    data = workdir / "data"
    with Sandbox(scenario, workdir) as sandbox, Store.open(None, data) as store:
        env = akarom_env(sandbox.url, data, rate_limit=1_000_000, concurrency=4)
        for adapter in sorted(ADAPTERS, key=lambda a: list(Carrier).index(a.CARRIER)):
            carrier = adapter.CARRIER
            imeis = [d.imei for d in devices[carrier]]
            answers = _answers(adapter)
            parse = _parse(adapter, answers, parses)
            stored = _store(store, adapter, answers, imeis[:records])
            whole = _whole(env, store, carrier, imeis[records : records + checks + 4])
            unshared = _whole(
                env, store, carrier, imeis[records + checks + 4 :], share_limits=False
            )
            rows.append(
                [
                    carrier.value,
                    f"{parse.cpu_us:,.0f}",
                    f"{stored.cpu_us:,.0f}",
                    f"{parse.cpu_us + stored.cpu_us:,.0f}",
                    f"{stored.wall_us:,.0f}",
                    f"{whole.cpu_us:,.0f}",
                    f"{whole.wall_us:,.0f}",
                    f"{unshared.cpu_us:,.0f}",
                ]
            )
            print(
                f"{carrier.value}: parse {parse.cpu_us:.0f} µs, store {stored.cpu_us:.0f} µs CPU "
                f"({stored.wall_us:.0f} µs wall), whole check {whole.cpu_us:.0f} µs CPU "
                f"({unshared.cpu_us:.0f} µs without the ledger)",
                flush=True,
            )
            totals["parse"] += parse.cpu_us / len(ADAPTERS)
            totals["store"] += stored.cpu_us / len(ADAPTERS)
            totals["store_wall"] += stored.wall_us / len(ADAPTERS)
            totals["whole"] += whole.cpu_us / len(ADAPTERS)
            totals["whole_wall"] += whole.wall_us / len(ADAPTERS)
            totals["unshared"] += unshared.cpu_us / len(ADAPTERS)
    rows.append(
        [
            "**mean of the four**",
            f"**{totals['parse']:,.0f}**",
            f"**{totals['store']:,.0f}**",
            f"**{totals['parse'] + totals['store']:,.0f}**",
            f"{totals['store_wall']:,.0f}",
            f"**{totals['whole']:,.0f}**",
            f"{totals['whole_wall']:,.0f}",
            f"{totals['unshared']:,.0f}",
        ]
    )
    table = markdown_table(
        [
            "carrier",
            "parse: screen_page + parse_result (µs CPU)",
            "store: Store.record (µs CPU)",
            "parse + store (µs CPU)",
            "store (µs wall)",
            "whole check against the sandbox (µs CPU)",
            "whole check (µs wall per answer, 4 in flight)",
            "whole check without the cross-process ledger (µs CPU)",
        ],
        rows,
    )
    share = (totals["parse"] + totals["store"]) / totals["whole"]
    body = f"""\
Per answer, in microseconds. Parse: {parses:,} answer pages per carrier (ok, pending,
restricted, unregistered in turn). Store: {records:,} observations per carrier, each with
its page, into one SQLite database. Whole check: {checks:,} IMEIs per carrier through
`Checker.check_many(…, carriers=[carrier], fresh=True)` against the sandbox on loopback
(no latency, no limit; `AKAROM_CONCURRENCY=4`), akarom's own process only (the sandbox
runs in another).

{table}

Parse and store are {share:.0%} of the whole check's CPU. The rest is the HTTP client
(httpx's request and response objects, httpcore's connection pool), the rate limiter,
asyncio and the worker-thread hand-offs (storing, and the limiter's ledger), the verdict
and the result objects. The last column is the same check with the rate limiter's
cross-process spacing ledger turned off (`Checker(share_limits=False)`, a diagnosis:
akarom always has it on): the difference, {totals["whole"] - totals["unshared"]:,.0f} µs per
answer on average, is the ledger's locked-file work and its worker-thread round trips.
At these figures one core keeps up with
~{1e6 / totals["whole"]:,.0f} answers per second, far above any carrier's politeness limit
(0.5 requests/s by default).
"""
    return Outcome(NAME, TITLE, body, time.monotonic() - began)
