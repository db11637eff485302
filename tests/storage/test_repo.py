"""Observations: saving, reading back, the cache's view, carrier inference."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from akarom.domain import Carrier, CarrierResult, Source, Status
from akarom.errors import StorageError
from akarom.storage import NewObservation, NewPage, Store, StoredObservation
from akarom.storage.tables import EvidenceBlob, Observation
from tests.storage.helpers import IMEI, MEID, OTHER_TAC, SAME_TAC, T0, observation, page


def test_record_and_history_round_trip_every_field(store: Store) -> None:
    run = store.start_run(input_name="in.csv", input_sha256="a" * 64, output_name="out.csv")
    new = observation(
        carrier=Carrier.SOFTBANK,
        status=Status.PENDING,
        printed_symbol="▲",
        message="ご請求金額の未払いがあります",
        elapsed_ms=812,
        adapter_version="softbank-2026.11.26",
        run_id=run.id,
    )
    saved = store.record(new)
    assert [saved] == store.history(IMEI)
    expected = {f.name: getattr(new, f.name) for f in dataclasses.fields(NewObservation)}
    got = {name: getattr(saved, name) for name in expected}
    assert got == expected
    assert saved.tac == "35209900"
    assert saved.checked_at.tzinfo is UTC
    assert saved.checked_at == T0  # the same instant, written in JST, read in UTC
    assert saved.checked_at.hour == 7


def test_unknown_and_manual_observations_keep_their_fields(store: Store) -> None:
    failed = store.record(
        observation(status=Status.UNKNOWN, error="captcha", detail="画像認証が必要です")
    )
    manual = store.record(
        observation(
            carrier=Carrier.AU,
            status=Status.RESTRICTED,
            source=Source.MANUAL,
            entered_by="suzuki@shop",
            printed_symbol="×",
            at=T0 + timedelta(minutes=1),
        )
    )
    assert (failed.error, failed.detail, failed.status) == (
        "captcha",
        "画像認証が必要です",
        Status.UNKNOWN,
    )
    assert (manual.source, manual.entered_by) == (Source.MANUAL, "suzuki@shop")
    assert store.history(IMEI) == [failed, manual]


def test_history_is_oldest_first_and_per_imei(store: Store) -> None:
    later = store.record(observation(at=T0 + timedelta(hours=1)))
    earlier = store.record(observation(carrier=Carrier.AU, status=Status.UNREGISTERED))
    store.record(observation(OTHER_TAC))
    assert [o.id for o in store.history(IMEI)] == [earlier.id, later.id]
    assert store.history("490154203237518") == []


def test_a_meid_has_no_tac(store: Store) -> None:
    saved = store.record(observation(MEID, Carrier.AU, Status.OK))
    assert saved.tac is None
    assert store.history(MEID) == [saved]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"status": Status.UNKNOWN, "error": None}, "unknown exactly when"),
        ({"status": Status.OK, "error": "timeout"}, "unknown exactly when"),
        ({"source": Source.CACHE}, "cached answer"),
        ({"source": Source.MANUAL, "entered_by": None}, "names who entered it"),
        ({"entered_by": "tanaka"}, "names who entered it"),
        ({"checked_at": datetime(2026, 1, 1)}, "timezone-aware"),  # noqa: DTZ001 - the point
        ({"imei": "35-209900-176148-1"}, "compact"),
        ({"imei": "a0000012345678"}, "compact"),
        ({"elapsed_ms": -1}, "negative"),
    ],
)
def test_new_observation_refuses_what_the_schema_forbids(
    fields: dict[str, Any], message: str
) -> None:
    base: dict[str, Any] = {
        "imei": IMEI,
        "carrier": Carrier.DOCOMO,
        "status": Status.OK,
        "checked_at": T0,
    }
    with pytest.raises(ValueError, match=message):
        NewObservation(**(base | fields))


def test_results_convert_both_ways(store: Store) -> None:
    result = CarrierResult(
        Carrier.RAKUTEN,
        Status.OK,
        checked_at=T0,
        source=Source.LIVE,
        message="制限なし",
        printed_symbol="〇",
        elapsed_s=1.25,
    )
    saved = store.record(NewObservation.from_result(IMEI, result, adapter_version="r-1"))
    assert saved.elapsed_ms == 1250
    assert saved.to_result() == result
    assert saved.to_result(cached=True).source is Source.CACHE
    with pytest.raises(ValueError, match="checked_at"):
        NewObservation.from_result(IMEI, CarrierResult(Carrier.AU, Status.OK))


def test_a_missing_bulk_run_is_a_storage_error(store: Store) -> None:
    with pytest.raises(StorageError, match="could not save the observation"):
        store.record(observation(run_id=999))
    assert store.history(IMEI) == []  # nothing half-written


def test_new_page_copies_any_page_like_object() -> None:
    @dataclasses.dataclass
    class Response:
        method: str = "POST"
        url: str = "https://example.jp/result"
        status_code: int = 200
        headers: dict[str, str] = dataclasses.field(default_factory=lambda: {"x": "y"})
        content: bytes = b"<html>"
        fetched_at: datetime = T0

    assert NewPage.from_page(Response()) == NewPage(
        method="POST",
        url="https://example.jp/result",
        status_code=200,
        headers={"x": "y"},
        content=b"<html>",
        fetched_at=T0,
    )


class TestLatest:
    def test_newest_answer_per_carrier(self, store: Store) -> None:
        store.record(observation(status=Status.PENDING))
        newest = store.record(observation(at=T0 + timedelta(hours=2)))
        au = store.record(observation(carrier=Carrier.AU, status=Status.UNREGISTERED))
        store.record(observation(OTHER_TAC, at=T0 + timedelta(hours=5)))
        assert store.latest(IMEI) == {Carrier.DOCOMO: newest, Carrier.AU: au}

    def test_a_later_failure_does_not_hide_the_answer(self, store: Store) -> None:
        answered = store.record(observation(carrier=Carrier.SOFTBANK, status=Status.RESTRICTED))
        failed = store.record(
            observation(carrier=Carrier.SOFTBANK, status=Status.UNKNOWN, at=T0 + timedelta(1))
        )
        only_failed = store.record(observation(carrier=Carrier.AU, status=Status.UNKNOWN))
        assert store.latest(IMEI) == {Carrier.SOFTBANK: answered}
        assert store.latest(IMEI, answered_only=False) == {
            Carrier.SOFTBANK: failed,
            Carrier.AU: only_failed,
        }

    def test_since_keeps_only_fresh_answers(self, store: Store) -> None:
        store.record(observation(carrier=Carrier.AU, at=T0 - timedelta(days=2)))
        fresh = store.record(observation(at=T0))
        assert store.latest(IMEI, since=T0) == {Carrier.DOCOMO: fresh}  # at counts
        assert store.latest(IMEI, since=T0 + timedelta(microseconds=1)) == {}
        assert set(store.latest(IMEI, since=T0 - timedelta(days=3))) == {
            Carrier.AU,
            Carrier.DOCOMO,
        }

    def test_carriers_filter(self, store: Store) -> None:
        store.record(observation(carrier=Carrier.AU))
        docomo = store.record(observation(carrier=Carrier.DOCOMO))
        assert store.latest(IMEI, carriers=[Carrier.DOCOMO, Carrier.RAKUTEN]) == {
            Carrier.DOCOMO: docomo
        }

    def test_ties_go_to_the_last_saved(self, store: Store) -> None:
        store.record(observation(status=Status.PENDING))
        second = store.record(observation(status=Status.OK))
        assert store.latest(IMEI)[Carrier.DOCOMO] == second

    def test_naive_since_is_refused(self, store: Store) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            store.latest(IMEI, since=datetime(2026, 1, 1))  # noqa: DTZ001 - the point


def test_carrier_counts_for_tac(store: Store) -> None:
    store.record(observation(IMEI, Carrier.DOCOMO, Status.OK))
    store.record(observation(IMEI, Carrier.DOCOMO, Status.RESTRICTED, at=T0 + timedelta(1)))
    store.record(observation(IMEI, Carrier.AU, Status.UNREGISTERED))
    store.record(observation(SAME_TAC, Carrier.DOCOMO, Status.PENDING))
    store.record(observation(SAME_TAC, Carrier.SOFTBANK, Status.UNKNOWN))
    store.record(observation(OTHER_TAC, Carrier.SOFTBANK, Status.OK, source=Source.MANUAL))
    assert store.carrier_counts_for_tac("35209900") == {
        Carrier.DOCOMO: 2,  # two devices; the same device twice counts once
        Carrier.AU: 0,  # unregistered is no record
        Carrier.SOFTBANK: 0,  # unknown is no answer
        Carrier.RAKUTEN: 0,
    }
    assert store.carrier_counts_for_tac("99999999") == dict.fromkeys(Carrier, 0)
    assert store.carrier_totals() == {
        Carrier.DOCOMO: 2,
        Carrier.AU: 0,
        Carrier.SOFTBANK: 1,
        Carrier.RAKUTEN: 0,
    }


def test_concurrent_writers_never_hit_a_lock(database_url: str | None, tmp_path: Path) -> None:
    """Threads share one Store, and a second Store stands in for another process."""
    threads_per_store, records_each = 4, 15
    with (
        Store.open(database_url, tmp_path / "data") as first,
        Store.open(database_url, tmp_path / "data") as second,
    ):

        def work(target: Store, worker: int) -> None:
            for n in range(records_each):
                target.record(
                    observation(at=T0 + timedelta(seconds=worker * 100 + n)),
                    [page(b"<form>shared</form>"), page(f"{worker}-{n}".encode())],
                )
                target.latest(IMEI)

        targets = [first, second] * threads_per_store
        with ThreadPoolExecutor(len(targets)) as pool:
            futures = [pool.submit(work, t, worker) for worker, t in enumerate(targets)]
            for future in futures:
                future.result()  # re-raises a failure of that thread
        total = 2 * threads_per_store * records_each
        assert len(first.history(IMEI)) == total
        with first.engine.connect() as connection:
            blobs = connection.execute(select(func.count()).select_from(EvidenceBlob)).scalar()
        assert blobs == total + 1


def test_no_update_or_delete_for_observations() -> None:
    names = {name for name in dir(Store) if not name.startswith("_")}
    assert not {n for n in names if "update" in n or "delete" in n or "remove" in n}
    assert StoredObservation.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert Observation.__tablename__ == "observations"
