"""The batch methods answer exactly as the single ones, on any set of observations.

``record_many``, ``latest_many`` and ``carrier_counts_for_tacs`` are what a bulk
run calls for a window of devices; ``record``, ``latest`` and
``carrier_counts_for_tac`` are what one check calls. Hypothesis draws observation
sets (several devices of one model, a MEID, ties in time, failures, manual
readings, shared evidence bodies) and holds the batch answers to the single ones
and to a plain Python model of the rules. Each example writes devices of its own
(a TAC per example), so one database serves every example.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from akarom.domain import Carrier, Source, Status
from akarom.errors import StorageError
from akarom.storage import NewObservation, NewPage, Store, StoredObservation, repo
from akarom.storage.tables import EvidenceBlob
from tests.storage.helpers import IMEI, T0, observation, page

BUILT_IN = [Carrier.DOCOMO, Carrier.AU, Carrier.SOFTBANK, Carrier.RAKUTEN]
BODIES = [b"<form>shared</form>", b"<p>ok</p>", "<p>×</p>".encode("shift_jis"), b""]
TIMES = [T0 + timedelta(minutes=m) for m in (-90, 0, 0, 5)]  # 0 twice: ties happen
RECORD_STATUSES = {Status.OK, Status.PENDING, Status.RESTRICTED}

_examples = itertools.count(1)

PROPERTY = settings(
    max_examples=30,
    deadline=None,
    # One store for every example on purpose; each example uses IMEIs of its own.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _devices(example: int) -> list[str]:
    """Three IMEIs of one model, one of another, and a MEID, none used elsewhere."""
    tac, other_tac = f"9{example:05d}00", f"9{example:05d}01"
    return [f"{tac}{n:07d}" for n in range(3)] + [f"{other_tac}0000000", f"A{example:09d}0000"]


@st.composite
def _observation_sets(draw: st.DrawFn) -> list[tuple[NewObservation, list[NewPage]]]:
    devices = _devices(next(_examples))
    items = []
    for _ in range(draw(st.integers(0, 14))):
        status = draw(st.sampled_from(list(Status)))
        source = draw(st.sampled_from([Source.LIVE, Source.MANUAL]))
        new = NewObservation(
            imei=draw(st.sampled_from(devices)),
            carrier=draw(st.sampled_from(BUILT_IN)),
            status=status,
            checked_at=draw(st.sampled_from(TIMES)),
            source=source,
            error="timeout" if status is Status.UNKNOWN else None,
            entered_by="tanaka" if source is Source.MANUAL else None,
            # PostgreSQL refuses NUL in text (SQLite keeps it): no carrier prints one.
            message=draw(
                st.none()
                | st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8)
            ),
        )
        bodies = draw(st.lists(st.sampled_from(BODIES), max_size=2))
        items.append((new, [page(body) for body in bodies]))
    return items


def _same_fields(saved: StoredObservation, new: NewObservation) -> bool:
    return (
        saved.imei,
        saved.carrier,
        saved.status,
        saved.checked_at,
        saved.source,
        saved.message,
        saved.error,
        saved.entered_by,
    ) == (
        new.imei,
        new.carrier,
        new.status,
        new.checked_at,
        new.source,
        new.message,
        new.error,
        new.entered_by,
    )


def _model_latest(
    saved: Sequence[StoredObservation],
    imei: str,
    since: datetime | None,
    carriers: Sequence[Carrier] | None,
    answered_only: bool,
) -> dict[Carrier, StoredObservation]:
    """The rule in plain Python: per carrier the newest that counts, a tie to the later id."""
    newest: dict[Carrier, StoredObservation] = {}
    for item in saved:
        if item.imei != imei or (since is not None and item.checked_at < since):
            continue
        if carriers is not None and item.carrier not in carriers:
            continue
        if answered_only and item.status is Status.UNKNOWN:
            continue
        best = newest.get(item.carrier)
        if best is None or (item.checked_at, item.id) > (best.checked_at, best.id):
            newest[item.carrier] = item
    return newest


def _model_counts(saved: Sequence[StoredObservation], tac: str) -> dict[Carrier, int]:
    counts = dict.fromkeys(Carrier, 0)
    for carrier in BUILT_IN:
        counts[carrier] = len(
            {
                item.imei
                for item in saved
                if item.tac == tac and item.carrier is carrier and item.status in RECORD_STATUSES
            }
        )
    return counts


@pytest.fixture
def small_chunks() -> Iterator[None]:
    """Two keys per query, so that a handful of devices crosses chunk boundaries."""
    with mock.patch.object(repo, "KEYS_PER_QUERY", 2):
        yield


# -- record_many --------------------------------------------------------------------


@PROPERTY
@given(items=_observation_sets(), split=st.integers(0, 14))
def test_record_many_saves_what_record_saves(
    store: Store, items: list[tuple[NewObservation, list[NewPage]]], split: int
) -> None:
    """Half one by one, half in one batch: one history, in order, with every page."""
    one_by_one = [store.record(new, pages) for new, pages in items[:split]]
    batched = store.record_many(items[split:])
    saved = one_by_one + batched

    assert len(saved) == len(items)
    assert all(_same_fields(s, new) for s, (new, _) in zip(saved, items, strict=True))
    ids = [s.id for s in saved]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    for imei in {new.imei for new, _ in items}:
        assert store.history(imei) == sorted(
            (s for s in saved if s.imei == imei), key=lambda s: (s.checked_at, s.id)
        )
    for stored, (_, pages) in zip(saved, items, strict=True):
        assert [p.content for p in store.pages(stored.id)] == [p.content for p in pages]
    hashes = {hashlib.sha256(p.content).hexdigest() for _, pages in items for p in pages}
    with store.engine.connect() as connection:
        blobs = connection.scalar(
            select(func.count()).select_from(EvidenceBlob).where(EvidenceBlob.sha256.in_(hashes))
        )
    assert blobs == len(hashes), "each body once, however often it was seen"


def test_record_many_of_nothing(store: Store) -> None:
    assert store.record_many([]) == []


def test_record_many_saves_nothing_when_one_fails(store: Store) -> None:
    good = (observation(), [page(b"kept?")])
    bad = (observation(run_id=999), [])  # no such bulk run
    with pytest.raises(StorageError, match="could not save 2 observations"):
        store.record_many([good, bad])
    assert store.history(IMEI) == []


def test_record_many_beyond_the_parameter_limits(store: Store) -> None:
    """2,500 rows of 16 columns would be 40,000 parameters in one statement."""
    devices = [f"35{n:013d}" for n in range(2_500)]
    items = [(observation(imei, Carrier.AU), [page(imei.encode())]) for imei in devices]
    saved = store.record_many(items)
    assert [s.imei for s in saved] == devices
    assert [s.id for s in saved] == list(range(saved[0].id, saved[0].id + 2_500))
    assert store.pages(saved[-1].id)[0].content == devices[-1].encode()
    assert store.latest_many(devices, since=T0)[devices[1234]] == {Carrier.AU: saved[1234]}


# -- latest_many --------------------------------------------------------------------


@PROPERTY
@given(
    items=_observation_sets(),
    since=st.none() | st.sampled_from(TIMES),
    carriers=st.none() | st.lists(st.sampled_from(BUILT_IN), max_size=3, unique=True),
    answered_only=st.booleans(),
)
def test_latest_many_is_latest_for_each(
    store: Store,
    small_chunks: None,
    items: list[tuple[NewObservation, list[NewPage]]],
    since: datetime | None,
    carriers: list[Carrier] | None,
    answered_only: bool,
) -> None:
    saved = store.record_many(items)
    asked = [*{new.imei for new, _ in items}, "490154203237518"]  # one never seen
    asked += asked[:1]  # asked twice

    found = store.latest_many(asked, since=since, carriers=carriers, answered_only=answered_only)

    assert list(found) == list(dict.fromkeys(asked))
    for imei in asked:
        expected = _model_latest(saved, imei, since, carriers, answered_only)
        assert found[imei] == expected
        single = store.latest(imei, since=since, carriers=carriers, answered_only=answered_only)
        assert single == expected


def test_latest_many_of_nothing(store: Store) -> None:
    store.record(observation())
    assert store.latest_many([], since=T0) == {}
    assert store.latest_many([IMEI], since=T0, carriers=[]) == {IMEI: {}}


def test_latest_many_beyond_the_parameter_limits(store: Store) -> None:
    """70,000 IMEIs: over SQLite's 32,766 and PostgreSQL's 65,535 parameters."""
    newest = store.record(observation())
    asked = [f"35{n:013d}" for n in range(70_000)] + [IMEI]
    found = store.latest_many(asked, since=T0)
    assert len(found) == len(asked)
    assert found[IMEI] == {Carrier.DOCOMO: newest}
    assert not any(found[imei] for imei in asked[:-1])


def test_rows_of_a_carrier_this_version_does_not_know_are_skipped(store: Store) -> None:
    store.record(observation())
    with store.engine.begin() as connection:
        connection.execute(
            repo._OBSERVATIONS.insert().values(
                imei=IMEI, tac=IMEI[:8], carrier="povo2", status="ok", checked_at=T0, source="live"
            )
        )
    assert set(store.latest_many([IMEI], since=None)[IMEI]) == {Carrier.DOCOMO}


# -- carrier_counts_for_tacs --------------------------------------------------------


@PROPERTY
@given(items=_observation_sets())
def test_carrier_counts_for_tacs_is_the_single_count_for_each(
    store: Store, small_chunks: None, items: list[tuple[NewObservation, list[NewPage]]]
) -> None:
    saved = store.record_many(items)
    tacs = [*sorted({s.tac for s in saved if s.tac is not None}), "99999999"]

    counts = store.carrier_counts_for_tacs([*tacs, *tacs[:1]])

    assert list(counts) == tacs
    for tac in tacs:
        assert counts[tac] == _model_counts(saved, tac)
        assert store.carrier_counts_for_tac(tac) == counts[tac]
        assert list(counts[tac]) == list(Carrier)


def test_carrier_counts_for_no_tacs(store: Store) -> None:
    assert store.carrier_counts_for_tacs([]) == {}


def test_the_batch_chunk_leaves_room_under_both_limits() -> None:
    sqlite_limit, postgres_limit = 32_766, 65_535
    assert repo.KEYS_PER_QUERY + len(Carrier) + 10 < min(sqlite_limit, postgres_limit)


def test_batches_on_a_shared_file_from_two_stores(tmp_path: Path) -> None:
    """Two Stores (two processes' worth) append batches to one SQLite file in turn."""
    with Store.open(None, tmp_path) as first, Store.open(None, tmp_path) as second:
        a = first.record_many([(observation(at=T0), [])] * 3)
        b = second.record_many([(observation(at=T0), [])] * 3)
        c = first.record_many([(observation(at=T0), [])] * 3)
    ids = [s.id for s in a + b + c]
    assert ids == list(range(ids[0], ids[0] + 9))
    with Store.open(None, tmp_path) as store:
        assert store.latest(IMEI)[Carrier.DOCOMO] == c[-1]  # a tie goes to the last saved
