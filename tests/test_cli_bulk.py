"""``akarom bulk``, ``history``, ``manual`` and ``doctor`` as a dealer runs them."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from stdnum import luhn

from tests.cli_support import free_port, json_lines, start_sandbox, stop
from tests.services.conftest import OK_AT_DOCOMO, RESTRICTED_AT_AU, UNREGISTERED


def write_excel_csv(path: Path, rows: list[list[str]]) -> None:
    """A cp932 CSV as Excel in Japan saves it."""
    with path.open("w", encoding="cp932", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\r\n")
        writer.writerow(["No", "製造番号(IMEI)", "メモ"])
        writer.writerows(rows)


def test_bulk_writes_every_row_and_summarises(run, tmp_path) -> None:
    source, report = tmp_path / "入荷.csv", tmp_path / "結果.xlsx"
    write_excel_csv(
        source,
        [
            ["1", "35-209900-176148-1", ""],
            ["2", "", "空"],
            ["3", RESTRICTED_AT_AU, ""],
            ["4", "３５２０９９００１７６１４８１", "重複"],
            ["5", "12345", "壊れた行"],
        ],
    )
    result = run("bulk", str(source), "-o", str(report))
    assert result.exit_code == 0, result.output
    assert "5" in result.stdout  # rows written
    assert report.exists()
    openpyxl = pytest.importorskip("openpyxl")
    sheet = openpyxl.load_workbook(report, read_only=True).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    header = rows[0]
    assert header[:3] == ["No", "製造番号(IMEI)", "メモ"]
    assert header[3:] == [
        "imei_normalized",
        "verdict",
        "origin_carrier",
        "docomo",
        "au",
        "softbank",
        "rakuten",
        "checked_at",
        "error",
    ]
    verdicts = [row[header.index("verdict")] for row in rows[1:]]
    assert verdicts == ["clear", "invalid", "red", "clear", "invalid"]


def test_bulk_refuses_a_file_it_cannot_read(run, tmp_path) -> None:
    source = tmp_path / "prices.csv"
    source.write_text("name,price\nphone,100\n", encoding="utf-8")
    result = run("bulk", str(source), "-o", str(tmp_path / "out.csv"))
    assert result.exit_code == 2
    assert "column" in result.output


def test_history_shows_each_answer_with_its_evidence(run, tmp_path) -> None:
    assert run("check", OK_AT_DOCOMO, "--carrier", "docomo").exit_code == 0
    assert run("check", "--fresh", OK_AT_DOCOMO, "--carrier", "docomo").exit_code == 0
    result = run("history", "--json", OK_AT_DOCOMO)
    assert result.exit_code == 0
    entries = json_lines(result.stdout)
    assert [(e["carrier"], e["status"], e["source"]) for e in entries] == [
        ("docomo", "ok", "live"),
        ("docomo", "ok", "live"),
    ]
    assert entries[0]["evidence"][0]["url"].endswith("/search.php")
    assert len(entries[0]["evidence"][0]["sha256"]) == 64
    folder = tmp_path / "evidence"
    assert run("history", OK_AT_DOCOMO, "--evidence", str(folder)).exit_code == 0
    bodies = sorted(folder.glob("*.html"))
    assert bodies
    assert "result-panel" in bodies[0].read_bytes().decode("cp932")
    human = run("history", OK_AT_DOCOMO)
    assert "ドコモ" in human.stdout


def test_a_manual_answer_is_recorded_and_then_reused(run) -> None:
    result = run("manual", UNREGISTERED, "--carrier", "rakuten", "--symbol", "-", "--by", "suzuki")
    assert result.exit_code == 0, result.output
    assert "suzuki" in result.stdout
    entries = json_lines(run("history", "--json", UNREGISTERED).stdout)
    assert [(e["source"], e["entered_by"]) for e in entries] == [("manual", "suzuki")]
    # Rakuten is in maintenance in this sandbox; the person's reading fills the gap.
    check = run("check", "--json", UNREGISTERED)
    rakuten = next(r for r in json_lines(check.stdout)[0]["results"] if r["carrier"] == "rakuten")
    assert rakuten["source"] == "manual"
    assert check.exit_code == 0


def test_a_manual_typo_is_refused(run) -> None:
    result = run("manual", UNREGISTERED, "--carrier", "au", "--symbol", "O", "--by", "suzuki")
    assert result.exit_code == 2
    assert "「O」はキャリアのページに表示される記号ではありません" in result.output
    english = run("manual", UNREGISTERED, "-c", "au", "--symbol", "O", "--by", "s", "--lang", "en")
    assert english.exit_code == 2
    assert "'O' is not a symbol a carrier prints" in english.output
    assert json_lines(run("history", "--json", UNREGISTERED).stdout) == []  # nothing stored


def test_doctor_reports_the_setup_and_the_live_pages(run) -> None:
    result = run("doctor", "--live", "--json")
    data = json.loads(result.stdout)
    outcomes = {c["carrier"]: c["outcome"] for c in data["carriers"]["carriers"]}
    assert outcomes["docomo"] == "ok"
    assert outcomes["rakuten"] == "maintenance"  # this sandbox has Rakuten in maintenance
    assert result.exit_code == 1
    assert data["checks"][-1]["ok"] is True  # the database


def test_doctor_reports_a_carrier_whose_pages_stopped_matching(run, tmp_path) -> None:
    """Pages no template recognised are counted by reason; the newest refused fails doctor."""
    from datetime import UTC, datetime, timedelta

    from akarom.domain import Carrier, Status
    from akarom.storage import NewObservation, Store

    now = datetime.now(UTC)
    with Store.open(None, tmp_path) as store:
        store.record(
            NewObservation(
                imei=OK_AT_DOCOMO,
                carrier=Carrier.DOCOMO,
                status=Status.OK,
                checked_at=now - timedelta(hours=2),
            )
        )
        for minutes, reason in (
            (90, "unaccounted text"),
            (60, "unaccounted text"),
            (30, "imei echo"),
        ):
            store.record(
                NewObservation(
                    imei=UNREGISTERED,
                    carrier=Carrier.AU,
                    status=Status.UNKNOWN,
                    checked_at=now - timedelta(minutes=minutes),
                    error="unrecognised_page",
                    detail="not au's result list: …",
                    reason=reason,
                )
            )
    result = run("doctor", "--json")
    data = json.loads(result.stdout)
    pages = {c["carrier"]: c for c in data["pages"]["carriers"]}
    assert pages["au"]["refused"] == 3
    assert pages["au"]["reasons"] == {"unaccounted text": 2, "imei echo": 1}
    assert pages["au"]["stopped_matching"] is True
    assert pages["au"]["last_refused"]["imei"] == UNREGISTERED
    assert pages["docomo"] == {
        **pages["docomo"],
        "read": 1,
        "refused": 0,
        "stopped_matching": False,
    }
    assert result.exit_code == 1

    human = run("doctor", "--lang", "en")
    assert "au (KDDI) answer pages" in human.stdout
    assert "3 pages in the last 7 days were not recognised" in human.stdout
    assert "the site has probably changed" in human.stdout
    assert f"akarom history {UNREGISTERED} --evidence DIR" in human.stdout


def test_a_killed_bulk_run_resumes_without_asking_twice(tmp_path) -> None:
    """kill -9 part-way through, then --resume: every row back, no device asked twice."""
    scenario = tmp_path / "slow.yaml"
    scenario.write_text(
        "carriers:\n"
        + "".join(f"  {c}: {{latency_ms: 60}}\n" for c in ("docomo", "au", "softbank", "rakuten"))
        + f'devices:\n  "{OK_AT_DOCOMO}": {{docomo: ok}}\n',
        encoding="utf-8",
    )
    port = free_port()
    env = {**os.environ, "AKAROM_DATA_DIR": str(tmp_path / "data")}
    server = start_sandbox(scenario, port, env, tmp_path / "sandbox.log")
    imeis = [f"35{n:012d}" for n in range(120)]
    imeis = [i + luhn.calc_check_digit(i) for i in imeis]
    source, report = tmp_path / "in.csv", tmp_path / "out.csv"
    write_excel_csv(source, [[str(n), imei, ""] for n, imei in enumerate(imeis, 1)])
    client_env = {
        **env,
        "AKAROM_CARRIERS_URL": f"http://127.0.0.1:{port}",
        "AKAROM_RATE_LIMIT": "30",
        "AKAROM_CONCURRENCY": "2",
    }
    command = [sys.executable, "-m", "akarom", "bulk", str(source), "-o", str(report)]
    database = tmp_path / "data" / "akarom.sqlite3"
    try:
        first = subprocess.Popen(
            command, env=client_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 60
        while _rows_done(database) < 1:
            assert first.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.1)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        assert not report.exists()
        second = subprocess.run(
            [*command, "--resume"],
            env=client_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert second.returncode == 0, second.stderr
        stats = httpx.get(f"http://127.0.0.1:{port}/_sandbox/stats").json()["carriers"]
    finally:
        stop(server)
    with report.open(encoding="cp932", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["No"] for row in rows] == [str(n) for n in range(1, 121)]
    assert all(row["verdict"] in ("clear", "incomplete") for row in rows)
    with sqlite3.connect(database) as db:
        twice = db.execute(
            "SELECT imei, carrier, COUNT(*) FROM observations WHERE source = 'live' "
            "GROUP BY imei, carrier HAVING COUNT(*) > 1"
        ).fetchall()
    assert twice == []
    # Every one of the 120 devices is nobody's, so each was asked at Rakuten. Only an
    # answer the dead process had not kept is asked again: a request still in flight
    # (at most AKAROM_CONCURRENCY=2), or an answer waiting for the batch being committed
    # (services._writer; at 30 requests/s, a slow commit on a loaded machine holds one
    # or two more).
    assert 120 <= stats["rakuten"]["requests"] <= 126


def _rows_done(database: Path) -> int:
    if not database.exists():
        return 0
    try:
        with sqlite3.connect(database) as db:
            return int(db.execute("SELECT COUNT(*) FROM bulk_rows").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
