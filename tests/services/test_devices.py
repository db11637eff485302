"""A device from its stored answers: the same verdict a check would give, nobody asked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from akarom.domain import Carrier, Source, Status, Verdict
from akarom.services.devices import stored_report
from akarom.storage import NewObservation, Store
from tests.services.conftest import OK_AT_DOCOMO

T0 = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)


def seen(store: Store, carrier: Carrier, status: Status, minutes: int, **fields: object) -> None:
    store.record(
        NewObservation(
            imei=OK_AT_DOCOMO,
            carrier=carrier,
            status=status,
            checked_at=T0 + timedelta(minutes=minutes),
            error="timeout" if status is Status.UNKNOWN else None,
            **fields,  # type: ignore[arg-type]
        )
    )


def test_the_newest_answer_of_each_carrier_counts(store: Store) -> None:
    seen(store, Carrier.DOCOMO, Status.PENDING, 0)
    seen(store, Carrier.DOCOMO, Status.OK, 1)
    seen(store, Carrier.DOCOMO, Status.UNKNOWN, 2)  # a later failure hides nothing
    report = stored_report(store, "35-209900-176148-1")
    assert (report.verdict, report.origin_carrier) == (Verdict.CLEAR, Carrier.DOCOMO)
    assert [(r.carrier, r.status, r.source) for r in report.results] == [
        (Carrier.DOCOMO, Status.OK, Source.CACHE)
    ]
    assert report.input == OK_AT_DOCOMO


def test_a_gap_stays_visible(store: Store) -> None:
    seen(store, Carrier.AU, Status.UNREGISTERED, 0)
    seen(store, Carrier.SOFTBANK, Status.UNKNOWN, 0)
    report = stored_report(store, OK_AT_DOCOMO)
    assert report.verdict is Verdict.INCOMPLETE
    by_carrier = {r.carrier: r for r in report.results}
    assert by_carrier[Carrier.SOFTBANK].error == "timeout"  # only ever failed: why
    assert by_carrier[Carrier.DOCOMO].error == "skipped"  # never asked
    assert set(by_carrier) == set(Carrier)


def test_a_hand_entered_answer_stays_manual(store: Store) -> None:
    seen(store, Carrier.DOCOMO, Status.RESTRICTED, 0, source=Source.MANUAL, entered_by="staff")
    report = stored_report(store, OK_AT_DOCOMO)
    assert report.verdict is Verdict.RED
    assert report.results[0].source is Source.MANUAL
