"""CPU per device of the storage calls a check makes, one at a time and in batches.

Not a test (timings vary by machine): run it by hand on SQLite, as akarom opens it::

    .venv/bin/python -m tests.storage.measure_batches

It stores 100 au answers (the form page, one body for all, and a result page with
the device's own IMEI) with ``record`` ×100 and then ``record_many`` of 100, and
reads them back with ``latest`` ×100 and ``latest_many`` of 100, from a database
already holding 5,000 other devices. Figures are ``time.process_time`` (CPU of the
process) per device, the best of several rounds; wall time is shown for the writes
because a commit waits on the disk. Against an older akarom without the batch
methods it measures only the single calls.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from akarom.domain import Carrier, Status
from akarom.storage import NewObservation, NewPage, Store

FIXTURES = Path(__file__).resolve().parents[1] / "carriers" / "fixtures" / "au" / "ok"
DEVICES = 100
ROUNDS = 7
BACKGROUND = 5_000
T0 = datetime(2026, 11, 26, 7, tzinfo=UTC)


def _imei(n: int) -> str:
    return f"35{n:013d}"


def _items(first: int) -> list[tuple[NewObservation, list[NewPage]]]:
    form = (FIXTURES / "01-form.html").read_bytes()
    result = (FIXTURES / "02-result.html").read_bytes()
    items = []
    for n in range(first, first + DEVICES):
        imei = _imei(n)
        pages = [
            NewPage(
                method=method,
                url=f"https://carrier.test/{method.lower()}",
                status_code=200,
                headers={"content-type": "text/html; charset=Shift_JIS"},
                content=body,
                fetched_at=T0,
            )
            for method, body in (("GET", form), ("POST", result + imei.encode()))
        ]
        new = NewObservation(
            imei=imei, carrier=Carrier.AU, status=Status.OK, checked_at=T0, printed_symbol="○"
        )
        items.append((new, pages))
    return items


def _best(run: Callable[[int], None]) -> tuple[float, float]:
    """Best CPU and wall microseconds per device over ``ROUNDS`` rounds."""
    cpu, wall = [], []
    for round_ in range(ROUNDS):
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        run(round_)
        cpu.append(time.process_time() - start_cpu)
        wall.append(time.perf_counter() - start_wall)
    return min(cpu) / DEVICES * 1e6, min(wall) / DEVICES * 1e6


def main() -> None:
    with tempfile.TemporaryDirectory() as folder, Store.open(None, Path(folder)) as store:
        batched = hasattr(store, "record_many")
        background = [
            NewObservation(
                imei=_imei(10_000_000 + n),
                carrier=carrier,
                status=Status.UNREGISTERED,
                checked_at=T0 - timedelta(hours=1),
            )
            for n in range(BACKGROUND)
            for carrier in (Carrier.DOCOMO, Carrier.AU)
        ]
        for observation in background:
            store.record(observation)  # one at a time: works on an older akarom too
        rows: list[tuple[str, tuple[float, float]]] = []

        # Built before the clock starts; new devices (and result bodies) every round.
        singles = [_items(round_ * 1_000) for round_ in range(ROUNDS)]
        batches = [_items(100_000 + round_ * 1_000) for round_ in range(ROUNDS)]

        def record_each(round_: int) -> None:
            for new, pages in singles[round_]:
                store.record(new, pages)

        rows.append(("record ×100", _best(record_each)))
        if batched:
            rows.append(("record_many(100)", _best(lambda r: store.record_many(batches[r]))))
        wanted = [_imei(n) for n in range(DEVICES)]
        since = T0 - timedelta(days=1)

        def latest_each(_round: int) -> None:
            for imei in wanted:
                store.latest(imei, since=since)

        rows.append(("latest ×100", _best(latest_each)))
        if batched:
            rows.append(
                ("latest_many(100)", _best(lambda _: store.latest_many(wanted, since=since)))
            )
        sys.stdout.write(f"{'per device':<18} {'CPU µs':>8} {'wall µs':>8}\n")
        for name, (cpu, wall) in rows:
            sys.stdout.write(f"{name:<18} {cpu:>8.0f} {wall:>8.0f}\n")


if __name__ == "__main__":
    main()
