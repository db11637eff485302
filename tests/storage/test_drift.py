"""Each carrier's pages, read and refused, as ``akarom doctor`` reports them (drift)."""

from __future__ import annotations

from datetime import timedelta

from akarom.domain import Carrier, Source, Status
from akarom.storage import Store
from tests.storage.helpers import IMEI, OTHER_TAC, T0, observation


def _refused(at_minutes: int, reason: str, carrier: Carrier = Carrier.AU, imei: str = IMEI):
    return observation(
        imei,
        carrier,
        Status.UNKNOWN,
        at=T0 + timedelta(minutes=at_minutes),
        error="unrecognised_page",
        detail=f"not au's result list: {reason}",
        reason=reason,
    )


def test_refused_pages_are_counted_by_carrier_and_reason(store: Store) -> None:
    store.record(observation(carrier=Carrier.AU, status=Status.OK, at=T0))
    store.record(_refused(1, "unaccounted text"))
    store.record(_refused(2, "unaccounted text", imei=OTHER_TAC))
    last = store.record(_refused(3, "imei echo"))
    store.record(observation(carrier=Carrier.DOCOMO, status=Status.UNREGISTERED, at=T0))
    store.record(observation(carrier=Carrier.DOCOMO, status=Status.UNKNOWN, error="timeout"))

    found = store.carrier_pages(T0 - timedelta(days=1))

    au = found[Carrier.AU]
    assert (au.read, au.refused) == (1, 3)
    assert dict(au.reasons) == {"unaccounted text": 2, "imei echo": 1}
    assert au.last_refused is not None
    assert au.last_refused.id == last.id
    assert au.last_refused.reason == "imei echo"
    assert au.stopped_matching, "the newest au page was refused: the site has changed"
    docomo = found[Carrier.DOCOMO]
    assert (docomo.read, docomo.refused, docomo.stopped_matching) == (1, 0, False)
    assert Carrier.SOFTBANK not in found


def test_a_page_read_after_the_refusals_means_the_pages_match_again(store: Store) -> None:
    store.record(_refused(1, "unaccounted text"))
    store.record(
        observation(carrier=Carrier.AU, status=Status.RESTRICTED, at=T0 + timedelta(minutes=9))
    )
    au = store.carrier_pages(T0 - timedelta(days=1))[Carrier.AU]
    assert au.refused == 1
    assert not au.stopped_matching


def test_only_live_pages_in_the_window_count(store: Store) -> None:
    store.record(_refused(-60 * 24 * 10, "unaccounted text"))  # ten days before
    store.record(
        observation(carrier=Carrier.AU, status=Status.OK, source=Source.MANUAL, at=T0)
    )  # a person's reading is no page of ours
    assert store.carrier_pages(T0 - timedelta(days=7)) == {}
