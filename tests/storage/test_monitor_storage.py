"""The monitor's claims, on SQLite and PostgreSQL: racing monitors never take a watch
twice nor spend past the day's budget, and a day's state carries over midnight."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from akarom.domain import Carrier, Status
from akarom.storage import Store
from akarom.storage.monitor import watch_device

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
DAY = date(2026, 12, 1)


def _watch(store: Store, count: int) -> None:
    with store._writing("test watches") as session:
        for number in range(count):
            watch_device(
                session,
                imei=f"35209900{number:07d}",
                carrier=Carrier.DOCOMO,
                status=Status.OK,
                observation_id=None,
                checked_at=NOW - timedelta(days=2),
                next_due_at=NOW - timedelta(minutes=number),
            )


def test_racing_monitors_take_each_watch_once_and_stop_at_the_budget(
    store: Store, database_url: str | None, tmp_path: Path
) -> None:
    _watch(store, 60)
    stores = [Store.open(database_url, tmp_path / "data") for _ in range(6)]

    def take(racer: Store) -> list[str]:
        taken: list[str] = []
        while batch := racer.claim_due(
            Carrier.DOCOMO, now=NOW, day=DAY, budget=45, most=4, lease=timedelta(hours=1)
        ):
            taken += [watch.imei for watch in batch]
        return taken

    try:
        with ThreadPoolExecutor(len(stores)) as pool:
            results = list(pool.map(take, stores))
    finally:
        for racer in stores:
            racer.close()
    taken = [imei for result in results for imei in result]
    assert len(taken) == 45  # the budget, no more
    assert len(set(taken)) == 45  # none twice
    assert store.spent(Carrier.DOCOMO, DAY) == 45
    # The most overdue went first.
    assert set(taken) == {f"35209900{n:07d}" for n in range(15, 60)}


def test_a_watch_taken_comes_back_after_its_lease_and_unasked_ones_are_refunded(
    store: Store,
) -> None:
    _watch(store, 3)
    lease = timedelta(hours=1)
    first = store.claim_due(Carrier.DOCOMO, now=NOW, day=DAY, budget=10, most=3, lease=lease)
    assert len(first) == 3
    assert store.claim_due(Carrier.DOCOMO, now=NOW, day=DAY, budget=10, most=3, lease=lease) == []
    store.refund(Carrier.DOCOMO, DAY, 2)
    assert store.spent(Carrier.DOCOMO, DAY) == 1
    later = NOW + lease
    again = store.claim_due(Carrier.DOCOMO, now=later, day=DAY, budget=10, most=3, lease=lease)
    assert sorted(w.imei for w in again) == sorted(w.imei for w in first)


def test_a_carrier_down_stays_down_across_midnight_until_said_up(store: Store) -> None:
    store.mark_carrier(Carrier.AU, DAY, down_since=NOW)
    store.claim_due(
        Carrier.AU, now=NOW, day=DAY + timedelta(days=1), budget=1, most=1, lease=timedelta(1)
    )
    assert store.carrier_down_since(Carrier.AU) == NOW
    store.mark_carrier(Carrier.AU, DAY + timedelta(days=1), down_since=None)
    assert store.carrier_down_since(Carrier.AU) is None
