"""``run_bulk``: a dealer's spreadsheet against the sandbox, every row back, resumable."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest

from akarom.config import Settings
from akarom.domain import Carrier, CarrierResult, Source, Status
from akarom.errors import StorageError
from akarom.services import database
from akarom.services.bulk import TableError, run_bulk
from akarom.services.database import OpeningStore
from akarom.storage import NewObservation, Store
from tests.services.conftest import (
    OK_AT_DOCOMO,
    PENDING_AT_SOFTBANK,
    RESTRICTED_AT_AU,
    UNREGISTERED,
)


class SimulatedCrash(Exception):
    """The process dies part-way (the CLI sees Ctrl-C as a cancellation)."""


HEADER = ["管理番号", "製造番号", "キャリア", "備考"]
ROWS = [
    ["A-1", "３５２０９９００１７６１４８１", "docomo", "全角"],
    ["A-2", "35-693803-564380-9", "ソフトバンク", "ハイフン"],
    ["A-3", "", "", "空欄"],
    ["A-4", "35209900176148", "", "14桁"],
    ["A-5", "490154203237518", "au", "赤ロム"],
    ["A-6", "IMEI:352099001761481", "", "重複"],
    ["A-7", "353879234252633", "", "SIMフリー"],
    ["A-8"],
    ["A-9", "352099001761482", "", "チェックディジット違い"],
]


def write_cp932(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", encoding="cp932", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\r\n")
        writer.writerow(HEADER)
        writer.writerows(rows)


def read_report(path: Path) -> list[dict[str, str]]:
    # A cp932 input gets a cp932 report, so the dealer's own tools read it back.
    with path.open(encoding="cp932", newline="") as stream:
        return list(csv.DictReader(stream))


async def test_every_row_comes_back_in_order_with_a_verdict_or_a_reason(
    sandboxed, store, tmp_path
) -> None:
    source, report = tmp_path / "在庫.csv", tmp_path / "結果.csv"
    write_cp932(source, ROWS)
    async with sandboxed(store=store) as (checker, admin):
        summary = await run_bulk(checker, store, source, report)
        stats = (await admin.get("/_sandbox/stats")).json()["carriers"]
    rows = read_report(report)
    assert [row["管理番号"] for row in rows] == [f"A-{n}" for n in range(1, 10)]
    assert [row["verdict"] for row in rows] == [
        "clear",
        "caution",
        "invalid",
        "invalid",
        "red",
        "clear",
        "clear",
        "invalid",
        "invalid",
    ]
    assert rows[0]["imei_normalized"] == OK_AT_DOCOMO
    assert rows[0]["docomo"] == "○"
    assert rows[1]["softbank"] == "△"
    assert rows[4]["au"] == "×"
    assert rows[6][["docomo", "au", "softbank", "rakuten"][0]] == "-"
    assert {rows[6][c] for c in ("docomo", "au", "softbank", "rakuten")} == {"-"}
    assert rows[2]["error"].startswith("empty")
    assert rows[3]["error"].startswith("length")
    assert rows[8]["error"].startswith("checksum")
    assert rows[0]["checked_at"].endswith("+09:00")
    assert summary.rows == 9
    assert summary.duplicate_rows == 1
    assert summary.verdicts == Counter(clear=3, caution=1, red=1, invalid=4)
    # The hint and the order: docomo's device cost docomo one request and nobody else
    # anything; the duplicate cost nothing.
    assert stats["docomo"]["requests"] == 2  # A-1, and A-7 (nobody's device)
    assert stats["rakuten"]["requests"] == 1  # A-7 only


async def test_an_interrupted_run_resumes_without_asking_any_carrier_twice(
    sandboxed, store, tmp_path
) -> None:
    imeis = [OK_AT_DOCOMO, PENDING_AT_SOFTBANK, RESTRICTED_AT_AU, UNREGISTERED]
    rows = [[f"B-{n}", imei, "", ""] for n, imei in enumerate(imeis * 2 + imeis[:2], 1)]
    source, report = tmp_path / "in.csv", tmp_path / "out.csv"
    write_cp932(source, rows)
    slow = {"latency_ms": 40}
    carriers = dict.fromkeys(["docomo", "au", "softbank", "rakuten"], slow)
    async with sandboxed(store=store, carriers=carriers) as (checker, _):
        done: list[int] = []

        def stop_after_three(count: int, total: int) -> None:
            done.append(count)
            if count == 3:
                raise SimulatedCrash

        with pytest.raises(ExceptionGroup) as crashed:
            await run_bulk(
                checker, store, source, report, read_ahead=2, on_progress=stop_after_three
            )
        assert crashed.group_contains(SimulatedCrash)
        assert not report.exists()  # never a half-written report that looks complete
        summary = await run_bulk(checker, store, source, report, resume=True)
    assert summary.resumed_rows == 3
    assert [row["管理番号"] for row in read_report(report)] == [r[0] for r in rows]
    asked = Counter(
        (o.imei, o.carrier)
        for imei in imeis
        for o in store.history(imei)
        if o.source is Source.LIVE
    )
    assert max(asked.values()) == 1


async def test_a_file_without_an_imei_column_is_refused_before_any_request(
    sandboxed, store, tmp_path
) -> None:
    source = tmp_path / "no-imei.csv"
    source.write_text("name,price\nphone,100\n", encoding="utf-8")
    async with sandboxed(store=store) as (checker, admin):
        with pytest.raises(TableError, match="column"):
            await run_bulk(checker, store, source, tmp_path / "out.csv")
        stats = (await admin.get("/_sandbox/stats")).json()["carriers"]
    assert all(c["requests"] == 0 for c in stats.values())


async def test_the_report_cannot_overwrite_the_input(sandboxed, store, tmp_path) -> None:
    source = tmp_path / "in.csv"
    write_cp932(source, ROWS[:1])
    async with sandboxed(store=store) as (checker, _):
        with pytest.raises(TableError, match="overwrite"):
            await run_bulk(checker, store, source, source)


async def test_stored_answers_are_reused_and_say_so(sandboxed, store, tmp_path) -> None:
    async with sandboxed(store=store) as (checker, admin):
        first = await checker.check(OK_AT_DOCOMO)
        second = await checker.check(OK_AT_DOCOMO)
        fresh = await checker.check(OK_AT_DOCOMO, fresh=True)
        stats = (await admin.get("/_sandbox/stats")).json()["carriers"]
    assert first.results[0].source is Source.LIVE
    assert second.results[0].source is Source.CACHE
    assert second.results[0].checked_at == first.results[0].checked_at
    assert fresh.results[0].source is Source.LIVE
    assert stats["docomo"]["requests"] == 2


async def test_a_failure_is_never_served_from_the_cache(sandboxed, store, tmp_path) -> None:
    async with sandboxed(store=store, carriers={"au": {"mode": "blocked"}}) as (checker, _):
        blocked = await checker.check(RESTRICTED_AT_AU)
    async with sandboxed(store=store) as (checker, _):  # the next run, au answering again
        again = await checker.check(RESTRICTED_AT_AU)
    assert blocked.verdict.value == "incomplete"
    assert again.verdict.value == "red"


async def test_a_blocked_carrier_is_paused_for_the_rest_of_the_run(sandboxed, store) -> None:
    async with sandboxed(store=store, carriers={"au": {"mode": "blocked"}}) as (checker, admin):
        await checker.check(RESTRICTED_AT_AU)
        await admin.put("/_sandbox/carriers/au", json={"mode": "normal"})
        later = await checker.check(UNREGISTERED)
        au = (await admin.get("/_sandbox/stats")).json()["carriers"]["au"]
    assert au["requests"] == 1  # the block, and nothing after it
    paused = next(r for r in later.results if r.carrier.value == "au")
    assert paused.error == "blocked"
    assert "paused" in (paused.detail or "")


async def _asked(admin, *, at_least: int) -> dict[str, dict[str, int]]:
    """The sandbox's counters once it has received ``at_least`` requests (5 s at most)."""
    for _ in range(500):
        stats = (await admin.get("/_sandbox/stats")).json()["carriers"]
        if sum(c["requests"] for c in stats.values()) >= at_least:
            break
        await asyncio.sleep(0.01)
    return stats


@pytest.fixture
def held_open(tmp_path, monkeypatch):
    """An installed akarom's database (at this schema) whose opening waits for the test.

    Yields the ``OpeningStore`` of a bulk run and the event that lets it open, as if
    SQLAlchemy were still importing.
    """
    data = tmp_path / "data"
    with Store.open(None, data) as existing:  # answered yesterday evening: reusable today
        existing.record(
            NewObservation.from_result(
                OK_AT_DOCOMO,
                CarrierResult(
                    Carrier.DOCOMO, Status.OK, checked_at=datetime.now(UTC) - timedelta(hours=1)
                ),
            )
        )
    may_open = threading.Event()
    failure: list[Exception] = []  # what opening raises, if a test wants it to fail

    def open_when_allowed(settings: Settings) -> Store:
        may_open.wait(30)
        if failure:
            raise failure[0]
        return Store.open(None, data)

    monkeypatch.setattr(database, "open_store", open_when_allowed)
    opening = OpeningStore.begin(Settings.from_env({"AKAROM_DATA_DIR": str(data)}))
    assert opening is not None
    with opening:
        yield cast("Store", opening), may_open, failure
        may_open.set()  # however the test ended


async def test_a_new_run_asks_the_carriers_while_the_database_is_still_opening(
    sandboxed, held_open, tmp_path
) -> None:
    store, may_open, _ = held_open
    imeis = [OK_AT_DOCOMO, PENDING_AT_SOFTBANK, RESTRICTED_AT_AU, UNREGISTERED]
    source, report = tmp_path / "in.csv", tmp_path / "out.csv"
    write_cp932(source, [[f"C-{n}", imei, "", ""] for n, imei in enumerate(imeis, 1)])
    async with sandboxed(store=store) as (checker, admin):
        run = asyncio.create_task(run_bulk(checker, store, source, report))
        stats = await _asked(admin, at_least=3)
        # The carriers are asked before the database is open; nothing is reported yet,
        # since no answer is reported before it is stored.
        assert sum(c["requests"] for c in stats.values()) >= 3
        assert not run.done()
        assert not report.exists()
        may_open.set()
        summary = await run
    rows = read_report(report)
    assert [row["verdict"] for row in rows] == ["clear", "caution", "red", "clear"]
    # The answer stored before the run was read from the file while it opened: not asked.
    assert summary.cached_answers == 1
    assert rows[0]["docomo"] == "○"
    with Store.open(None, tmp_path / "data") as opened:
        before_the_run = opened.history(OK_AT_DOCOMO)
        asked = [o for imei in imeis[1:] for o in opened.history(imei)]
        left_to_resume = opened.find_run(
            input_sha256=hashlib.sha256(source.read_bytes()).hexdigest(),
            output_name=str(report.resolve()),
        )
    assert [o.run_id for o in before_the_run] == [None]
    # Every answer of the run is stored, with the run's id, and the run is finished.
    assert len(asked) == summary.carrier_checks
    assert summary.run_id is not None
    assert all(o.run_id == summary.run_id for o in asked)
    assert left_to_resume is None


async def test_a_database_that_fails_to_open_fails_the_run_and_reports_nothing(
    sandboxed, held_open, tmp_path
) -> None:
    store, may_open, failure = held_open
    source, report = tmp_path / "in.csv", tmp_path / "out.csv"
    write_cp932(source, [["D-1", RESTRICTED_AT_AU, "", ""], ["D-2", PENDING_AT_SOFTBANK, "", ""]])
    failure.append(StorageError("the database is locked"))
    async with sandboxed(store=store) as (checker, admin):
        run = asyncio.create_task(run_bulk(checker, store, source, report))
        await _asked(admin, at_least=1)
        may_open.set()
        with pytest.raises(ExceptionGroup) as raised:
            await run
    assert raised.group_contains(StorageError)
    assert not report.exists()  # an answer that was not stored is never reported


def test_only_a_database_read_without_sqlalchemy_opens_behind_the_first_checks(tmp_path) -> None:
    """No file yet (the first command creates it), or a server: the run opens it first."""
    data = {"AKAROM_DATA_DIR": str(tmp_path / "data")}
    assert OpeningStore.begin(Settings.from_env(data)) is None
    assert not (tmp_path / "data").exists()
    server = {**data, "AKAROM_DATABASE_URL": "postgresql+psycopg://akarom@db.example/akarom"}
    assert OpeningStore.begin(Settings.from_env(server)) is None
