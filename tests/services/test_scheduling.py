"""How a bulk run spends the carriers' limits: every carrier kept busy, models learnt once,
look-ups and writes in batches (issue 9)."""

from __future__ import annotations

import asyncio
import csv
import math
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from stdnum import luhn

from akarom.domain import Carrier, Source, Status, Verdict
from akarom.errors import StorageError
from akarom.ratelimit import Gate
from akarom.services.bulk import run_bulk
from akarom.storage import Store
from tests.services.conftest import RESTRICTED_AT_AU

HEADER = ["管理番号", "製造番号", "キャリア"]


def imeis_of_model(tac: str, count: int, first_serial: int = 100) -> list[str]:
    """``count`` Luhn-valid IMEIs of one model (one TAC)."""
    bodies = [f"{tac}{serial:06d}" for serial in range(first_serial, first_serial + count)]
    return [body + luhn.calc_check_digit(body) for body in bodies]


def write_sheet(path: Path, rows: list[tuple[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(HEADER)
        writer.writerows([f"R-{n}", imei, hint] for n, (imei, hint) in enumerate(rows, 1))


def read_report(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as stream:
        return list(csv.DictReader(stream))


# --- Admission: who asks a carrier next -------------------------------------------------


async def test_admission_lets_an_urgent_check_ahead_then_keeps_arrival_order() -> None:
    admission = Gate(1)
    served: list[str] = []
    release = asyncio.Event()

    async def check(name: str, *, urgent: bool = False) -> None:
        async with admission.enter(urgent=urgent):
            served.append(name)
            if name == "first":
                await release.wait()

    first = asyncio.create_task(check("first"))
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(check(f"row-{n}")) for n in range(3)]
    await asyncio.sleep(0)
    probe = asyncio.create_task(check("probe", urgent=True))
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(first, *waiting, probe)
    assert served == ["first", "probe", "row-0", "row-1", "row-2"]
    assert admission.inside == 0


async def test_admission_serves_the_device_whose_check_began_first() -> None:
    """A device asking its second carrier (rank 3) goes ahead of devices read after it."""
    admission = Gate(1)
    served: list[str] = []
    release = asyncio.Event()

    async def check(name: str, rank: int) -> None:
        async with admission.enter(rank=rank):
            served.append(name)
            if name == "first":
                await release.wait()

    first = asyncio.create_task(check("first", 0))
    await asyncio.sleep(0)
    later = [asyncio.create_task(check(f"row-{n}", n)) for n in (10, 11)]
    await asyncio.sleep(0)
    second_carrier = asyncio.create_task(check("row-3", 3))
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(first, *later, second_carrier)
    assert served == ["first", "row-3", "row-10", "row-11"]


async def test_a_check_cancelled_while_waiting_gives_up_its_place() -> None:
    admission = Gate(1)
    served: list[str] = []
    release = asyncio.Event()

    async def check(name: str) -> None:
        async with admission.enter():
            served.append(name)
            if name == "first":
                await release.wait()

    first = asyncio.create_task(check("first"))
    await asyncio.sleep(0)
    cancelled = asyncio.create_task(check("cancelled"))
    later = asyncio.create_task(check("later"))
    await asyncio.sleep(0)
    cancelled.cancel()
    release.set()
    await asyncio.gather(first, later)
    assert cancelled.cancelled()
    assert served == ["first", "later"]
    assert admission.inside == 0


# --- Models learnt from their first device ------------------------------------------------


async def test_a_model_nobody_has_seen_is_asked_with_one_device_first(
    sandboxed, store, tmp_path
) -> None:
    """30 phones of one au model, no hints: only the first may ask the wrong carriers."""
    devices = imeis_of_model("35990101", 30)
    source, report = tmp_path / "in.csv", tmp_path / "out.csv"
    write_sheet(source, [(imei, "") for imei in devices])
    async with sandboxed(store=store, devices={i: {"au": "ok"} for i in devices}) as (checker, _):
        summary = await run_bulk(checker, store, source, report)
    assert [row["au"] for row in read_report(report)] == ["○"] * 30
    asked = Counter(
        o.carrier for imei in devices for o in store.history(imei) if o.source is Source.LIVE
    )
    assert asked[Carrier.AU] == 30
    assert asked.total() - 30 <= 3  # the first device's wrong guesses, at most
    assert summary.carrier_checks == asked.total()


async def test_a_model_nobody_owns_does_not_make_its_devices_wait_in_turn(
    sandboxed, store, tmp_path
) -> None:
    """SIM-free phones are nobody's: after the first, the rest are asked side by side."""
    devices = imeis_of_model("35990202", 12)
    source, report = tmp_path / "in.csv", tmp_path / "out.csv"
    write_sheet(source, [(imei, "") for imei in devices])
    slow = {carrier: {"latency_ms": 20} for carrier in ("docomo", "au", "softbank", "rakuten")}
    async with sandboxed(store=store, carriers=slow) as (checker, _):
        checking = 0
        most_at_once = 0
        check = checker.check

        async def counted(*args: Any, **kwargs: Any) -> Any:
            nonlocal checking, most_at_once
            checking += 1
            most_at_once = max(most_at_once, checking)
            try:
                return await check(*args, **kwargs)
            finally:
                checking -= 1

        checker.check = counted  # type: ignore[method-assign]
        await run_bulk(checker, store, source, report)
    assert {row["verdict"] for row in read_report(report)} == {"clear"}
    assert most_at_once > 4


# --- No carrier waits behind another ---------------------------------------------------


async def test_a_slow_carrier_does_not_hold_up_the_others(sandboxed, store, tmp_path) -> None:
    docomo_devices = imeis_of_model("35990303", 40)
    au_devices = imeis_of_model("35990404", 24)
    source, report = tmp_path / "in.csv", tmp_path / "out.csv"
    # The slow carrier's devices come first in the file: they must not block the rest.
    write_sheet(source, [(i, "docomo") for i in docomo_devices] + [(i, "au") for i in au_devices])
    devices: dict[str, Any] = {i: {"docomo": "ok"} for i in docomo_devices}
    devices |= {i: {"au": "ok"} for i in au_devices}
    async with sandboxed(
        store=store,
        devices=devices,
        carriers={"docomo": {"latency_ms": 30}},
        env={"AKAROM_DOCOMO_CONCURRENCY": "1"},
    ) as (checker, _):
        await run_bulk(checker, store, source, report)
    rows = read_report(report)
    assert [row["管理番号"] for row in rows] == [f"R-{n}" for n in range(1, 65)]  # input order
    finished = {
        carrier: sorted(
            o.checked_at
            for imei in group
            for o in store.history(imei)
            if o.source is Source.LIVE and o.carrier is carrier
        )
        for carrier, group in ((Carrier.DOCOMO, docomo_devices), (Carrier.AU, au_devices))
    }
    # Every au device was asked while docomo, one at a time, was still working through
    # the first half of its queue.
    assert finished[Carrier.AU][-1] < finished[Carrier.DOCOMO][len(docomo_devices) // 2]


# --- Look-ups and writes in batches ------------------------------------------------------


class CountingStore:
    """Counts the store's calls, passing each to the real store."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if not callable(attribute):
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return attribute(*args, **kwargs)

        return counted


async def test_stored_answers_and_models_are_looked_up_for_many_rows_at_once(
    sandboxed, store, tmp_path
) -> None:
    devices = imeis_of_model("35990505", 300) + imeis_of_model("35990606", 300)
    source, report = tmp_path / "in.csv", tmp_path / "out.csv"
    write_sheet(source, [(imei, "") for imei in devices])
    counting = CountingStore(store)
    async with sandboxed(store=counting) as (checker, _):
        summary = await run_bulk(checker, counting, source, report)  # type: ignore[arg-type]
    assert summary.rows == 600
    windows = math.ceil(600 / 250)
    assert counting.calls["latest_many"] <= windows
    assert counting.calls["carrier_counts_for_tacs"] <= windows
    assert counting.calls["latest"] == counting.calls["carrier_counts_for_tac"] == 0
    # Observations go to the database in batches, not one transaction per answer.
    assert counting.calls["record"] == 0
    assert 0 < counting.calls["record_many"] < summary.carrier_checks / 5


async def test_a_database_that_fails_mid_run_fails_the_check_not_the_evidence(
    sandboxed, store, monkeypatch
) -> None:
    """An answer whose evidence could not be kept is never reported."""

    def broken(*_: object, **__: object) -> None:
        raise StorageError("could not store the observation: disk I/O error")

    monkeypatch.setattr(store, "record_many", broken)
    async with sandboxed(store=store) as (checker, _):
        with pytest.raises(StorageError):
            await checker.check("352099001761481")


# --- Asking on while answers are stored -----------------------------------------------


@pytest.fixture
def slow_disk(store, monkeypatch) -> threading.Event:
    """The store keeps nothing until the test sets the event (a store still opening)."""
    release = threading.Event()
    record_many = store.record_many

    def when_released(*args: Any, **kwargs: Any) -> Any:
        release.wait(10)
        return record_many(*args, **kwargs)

    monkeypatch.setattr(store, "record_many", when_released)
    yield release
    release.set()


async def _requests(admin: Any, *, at_least: int) -> dict[str, int]:
    """Requests per carrier, once the sandbox has had ``at_least`` of them (5 s at most)."""
    for _ in range(500):
        stats = (await admin.get("/_sandbox/stats")).json()["carriers"]
        counts = {carrier: c["requests"] for carrier, c in stats.items()}
        if sum(counts.values()) >= at_least:
            break
        await asyncio.sleep(0.01)
    return counts


async def test_the_next_carrier_is_asked_while_the_last_answer_is_stored(
    sandboxed, store, slow_disk
) -> None:
    """One carrier at a time, as bulk asks: a page that says "not ours" sends the device
    on at once; the report still waits until every answer is stored."""
    order = [Carrier.DOCOMO, Carrier.SOFTBANK, Carrier.RAKUTEN, Carrier.AU]
    async with sandboxed(store=store) as (checker, admin):
        checking = asyncio.create_task(
            checker.check(RESTRICTED_AT_AU, order=order, one_at_a_time=True)
        )
        counts = await _requests(admin, at_least=5)  # au's form page, then its answer
        assert all(counts[carrier.value] >= 1 for carrier in order)
        assert not checking.done()
        slow_disk.set()
        report = await checking
    assert report.verdict is Verdict.RED
    assert [r.status for r in report.results if r.carrier is Carrier.AU] == [Status.RESTRICTED]
    assert all(r.evidence for r in report.results)  # each answer stored with its pages


async def test_a_models_devices_go_once_its_first_page_names_the_seller(
    sandboxed, store, slow_disk, tmp_path
) -> None:
    """The first au phone of a model nobody has seen is asked alone; once au's page says
    ○, the others go to au without waiting for that answer to be stored."""
    devices = imeis_of_model("35990707", 6)
    source, report = tmp_path / "in.csv", tmp_path / "out.csv"
    write_sheet(source, [(imei, "") for imei in devices])
    async with sandboxed(store=store, devices={i: {"au": "ok"} for i in devices}) as (checker, _):
        read_at_au: set[str] = set()
        au = checker.adapter(Carrier.AU)
        ask_au = au.check

        async def spied(imei: str) -> Any:
            observation = await ask_au(imei)
            read_at_au.add(imei)
            return observation

        au.check = spied  # type: ignore[method-assign]
        run = asyncio.create_task(run_bulk(checker, store, source, report))
        for _ in range(500):
            if len(read_at_au) == len(devices):
                break
            await asyncio.sleep(0.01)
        assert read_at_au == set(devices)  # every page read, no answer stored yet
        assert not run.done()
        slow_disk.set()
        summary = await run
    assert [row["au"] for row in read_report(report)] == ["○"] * 6
    assert summary.carrier_checks - 6 <= 3  # only the first device asked the wrong carriers


# --- A limit set above what the site allows ----------------------------------------------


async def test_a_limit_above_the_sites_own_comes_down_instead_of_losing_answers(
    sandboxed, store, tmp_path
) -> None:
    """AKAROM_RATE_LIMIT=20 at a site that allows 4/s: every device still answered."""
    devices = imeis_of_model("35990707", 16)
    source, report = tmp_path / "in.csv", tmp_path / "out.csv"
    write_sheet(source, [(imei, "au") for imei in devices])
    async with sandboxed(
        store=store,
        devices={i: {"au": "ok"} for i in devices},
        carriers={"au": {"rate_limit_per_s": 4}},
        env={"AKAROM_RATE_LIMIT": "20"},
    ) as (checker, admin):
        summary = await run_bulk(checker, store, source, report)
        stats = (await admin.get("/_sandbox/stats")).json()["carriers"]
        pace = checker.limiter(Carrier.AU).rate_per_s
    assert [row["au"] for row in read_report(report)] == ["○"] * 16
    assert summary.verdicts == Counter(clear=16)
    # It did go too fast at first, and slowed down for the rest of the run.
    assert stats["au"]["rejected_rate_limit"] > 0
    assert pace < 20
