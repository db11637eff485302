"""Bulk runs: what ``akarom bulk --resume`` needs to find and finish a run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from akarom.errors import StorageError
from akarom.storage import Store
from tests.storage.helpers import IMEI, T0

INPUT = "c" * 64


def test_start_find_finish(store: Store) -> None:
    old = store.start_run(
        input_name="stock.csv", input_sha256=INPUT, output_name="out.csv", created_at=T0
    )
    run = store.start_run(
        input_name="stock.csv",
        input_sha256=INPUT,
        output_name="out.csv",
        options={"all_carriers": True, "column": "製造番号"},
        created_at=T0 + timedelta(hours=1),
    )
    store.start_run(input_name="stock.csv", input_sha256=INPUT, output_name="other.csv")
    assert run.options == {"all_carriers": True, "column": "製造番号"}
    assert run.finished_at is None
    assert run.created_at.tzinfo is UTC
    assert store.find_run(input_sha256=INPUT, output_name="out.csv") == run  # the newest
    assert store.find_run(input_sha256="d" * 64, output_name="out.csv") is None

    finished = store.finish_run(run.id)
    assert finished.finished_at is not None
    assert finished.finished_at.tzinfo is UTC
    assert store.find_run(input_sha256=INPUT, output_name="out.csv") == old
    again = store.finish_run(run.id, finished_at=datetime.now(UTC) + timedelta(days=1))
    assert again.finished_at == finished.finished_at  # the first finish time stays


def test_finishing_a_missing_run_is_a_storage_error(store: Store) -> None:
    with pytest.raises(StorageError, match="no bulk run 42"):
        store.finish_run(42)


def test_finished_rows_are_kept_once(store: Store) -> None:
    run = store.start_run(input_name="a.xlsx", input_sha256=INPUT, output_name="b.xlsx")
    first = store.record_row(
        run_id=run.id, row_number=0, imei=IMEI, cells={"verdict": "clear", "docomo": "○"}
    )
    store.record_row(run_id=run.id, row_number=2, imei=None, cells={"verdict": "invalid"})
    again = store.record_row(run_id=run.id, row_number=0, imei=IMEI, cells={"verdict": "red"})
    assert again == first  # append-only: a resumed run cannot rewrite a finished row
    rows = store.finished_rows(run.id)
    assert sorted(rows) == [0, 2]
    assert rows[0].cells == {"verdict": "clear", "docomo": "○"}
    assert rows[2].imei is None
    assert store.finished_rows(run.id + 1) == {}
