"""Stored answers read without SQLAlchemy are exactly the answers ``Store`` reads, or none.

``latest_answers`` is what a repeated ``akarom check`` reads its answers with, and a
bulk run its first rows' while the store opens. A difference from
``Store.latest_many`` would be a different verdict for the same device, so
Hypothesis holds the two together on any set of observations and any ``since`` (at,
just before and just after a stored moment, in any time zone); the carriers' counts
a bulk run starts from (which carrier to ask first) likewise. Whenever the file is
not one this akarom can be sure of, the answer is None (the command then goes
through ``Store``), and the file is left as it was.
"""

from __future__ import annotations

import itertools
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from akarom.domain import Carrier, Source, Status
from akarom.storage import NewObservation, Store
from akarom.storage.revisions import head_revision
from akarom.storage.sqlite_file import (
    SQLITE_FILENAME,
    carrier_counts_for_tacs,
    carrier_totals,
    latest_answers,
    readable,
)
from tests.storage.helpers import IMEI, T0, observation

_examples = itertools.count(1)

#: Stored moments close together (ties, a microsecond apart, whole seconds).
MOMENTS = [
    T0,
    T0 + timedelta(microseconds=1),
    T0 - timedelta(microseconds=1),
    T0.replace(microsecond=0),
    T0 + timedelta(hours=3),
    T0 - timedelta(days=2),
]
ZONES = [UTC, timezone(timedelta(hours=9)), timezone(timedelta(hours=-5, minutes=-30))]


@st.composite
def _observations(draw: st.DrawFn) -> tuple[list[str], list[NewObservation]]:
    example = next(_examples)
    devices = [f"8{example:06d}{n:08d}" for n in range(3)]
    items = []
    for _ in range(draw(st.integers(0, 16))):
        status = draw(st.sampled_from(list(Status)))
        source = draw(st.sampled_from([Source.LIVE, Source.MANUAL]))
        at = draw(st.sampled_from(MOMENTS)).astimezone(draw(st.sampled_from(ZONES)))
        items.append(
            NewObservation(
                imei=draw(st.sampled_from(devices)),
                carrier=draw(st.sampled_from(list(Carrier))),
                status=status,
                checked_at=at,
                source=source,
                printed_symbol=draw(st.none() | st.sampled_from(["○", "△", "×", "-"])),
                message=draw(st.none() | st.text(max_size=12)),
                error="timeout" if status is Status.UNKNOWN else None,
                detail=draw(st.none() | st.text(max_size=12)),
                elapsed_ms=draw(st.none() | st.integers(0, 60_000)),
                entered_by="田中" if source is Source.MANUAL else None,
                reason=draw(st.none() | st.sampled_from(["extra_notice", "moved"])),
            )
        )
    return devices, items


@settings(
    max_examples=60,
    deadline=None,
    # One store for every example on purpose; each example uses IMEIs of its own.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    drawn=_observations(),
    since=st.sampled_from(MOMENTS),
    nudge=st.sampled_from([timedelta(0), timedelta(microseconds=1), -timedelta(microseconds=1)]),
    zone=st.sampled_from(ZONES),
)
def test_the_answers_read_without_sqlalchemy_are_the_stores(
    sqlite_store: Store,
    tmp_path: Path,
    drawn: tuple[list[str], list[NewObservation]],
    since: datetime,
    nudge: timedelta,
    zone: timezone,
) -> None:
    devices, items = drawn
    sqlite_store.record_many([(new, []) for new in items])
    asked = [*devices, "490154203237518", devices[0]]  # one never seen, one asked twice
    moment = (since + nudge).astimezone(zone)

    read = latest_answers(tmp_path / "data" / SQLITE_FILENAME, asked, since=moment)

    assert read == sqlite_store.latest_many(asked, since=moment)
    assert read is not None
    assert list(read) == list(dict.fromkeys(asked))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(drawn=_observations())
def test_the_carriers_counts_read_without_sqlalchemy_are_the_stores(
    sqlite_store: Store, tmp_path: Path, drawn: tuple[list[str], list[NewObservation]]
) -> None:
    devices, items = drawn
    sqlite_store.record_many([(new, []) for new in items])
    path = tmp_path / "data" / SQLITE_FILENAME
    # This example's model, one never seen, an earlier example's, one asked twice.
    tacs = [devices[0][:8], "49015420", "80000010", devices[0][:8]]

    assert carrier_totals(path) == sqlite_store.carrier_totals()
    assert carrier_counts_for_tacs(path, tacs) == sqlite_store.carrier_counts_for_tacs(tacs)
    assert list(carrier_counts_for_tacs(path, tacs) or {}) == list(dict.fromkeys(tacs))


def test_a_row_of_a_carrier_this_version_does_not_know_is_skipped_as_store_skips_it(
    sqlite_store: Store, tmp_path: Path
) -> None:
    sqlite_store.record(observation(IMEI, Carrier.DOCOMO, Status.OK))
    path = tmp_path / "data" / SQLITE_FILENAME
    with sqlite3.connect(path) as connection:
        connection.execute(
            "INSERT INTO observations (imei, tac, carrier, status, checked_at, source) "
            "VALUES (?, ?, 'povo', 'restricted', ?, 'live')",
            (IMEI, IMEI[:8], "2026-11-26 07:30:00.000000"),
        )
    since = T0 - timedelta(hours=1)
    read = latest_answers(path, [IMEI], since=since)
    assert read == sqlite_store.latest_many([IMEI], since=since)
    assert read is not None
    assert list(read[IMEI]) == [Carrier.DOCOMO]
    assert carrier_totals(path) == sqlite_store.carrier_totals()
    assert carrier_counts_for_tacs(path, [IMEI[:8]]) == sqlite_store.carrier_counts_for_tacs(
        [IMEI[:8]]
    )


def test_no_database_yet_is_no_answer_and_no_file(tmp_path: Path) -> None:
    path = tmp_path / "data" / SQLITE_FILENAME
    assert latest_answers(path, [IMEI], since=T0) is None
    assert not readable(path)
    assert not path.parent.exists()


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE alembic_version SET version_num = '0001'",  # an older schema
        "UPDATE alembic_version SET version_num = 'ffffffffffff'",  # a newer akarom's
        "DELETE FROM alembic_version",
        "DROP TABLE alembic_version",
        "INSERT INTO alembic_version VALUES ('0002')",  # two heads stamped
        "UPDATE observations SET status = 'stolen'",  # a status this version does not know
        "UPDATE observations SET source = 'guess'",
        # A time SQLAlchemy does not write: its zone would be read wrong.
        "UPDATE observations SET checked_at = '2026-11-26T16:00:00+09:00'",
        "UPDATE observations SET checked_at = '2026-11-26 07:00:00'",
        "DROP TABLE observations",
    ],
)
def test_a_database_this_akarom_cannot_be_sure_of_is_no_answer(
    sqlite_store: Store, tmp_path: Path, change: str
) -> None:
    sqlite_store.record(observation(IMEI, Carrier.AU, Status.RESTRICTED))
    path = tmp_path / "data" / SQLITE_FILENAME
    assert latest_answers(path, [IMEI], since=T0 - timedelta(hours=1)) is not None
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA ignore_check_constraints = ON")  # as a damaged file might
        connection.execute(change)
    before = path.read_bytes()

    assert latest_answers(path, [IMEI], since=T0 - timedelta(hours=1)) is None
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE alembic_version SET version_num = '0001'",
        "UPDATE alembic_version SET version_num = 'ffffffffffff'",
        "DROP TABLE alembic_version",
        "DROP TABLE observations",
    ],
)
def test_counts_from_a_database_this_akarom_cannot_be_sure_of_are_no_answer(
    sqlite_store: Store, tmp_path: Path, change: str
) -> None:
    sqlite_store.record(observation(IMEI, Carrier.AU, Status.RESTRICTED))
    path = tmp_path / "data" / SQLITE_FILENAME
    assert carrier_totals(path) == sqlite_store.carrier_totals()
    assert readable(path)
    with sqlite3.connect(path) as connection:
        connection.execute(change)
    before = path.read_bytes()

    assert readable(path) is (change == "DROP TABLE observations")  # stamped right, yet no rows
    assert carrier_totals(path) is None
    assert carrier_counts_for_tacs(path, [IMEI[:8]]) is None
    assert path.read_bytes() == before


def test_a_file_that_is_not_a_database_is_no_answer(tmp_path: Path) -> None:
    path = tmp_path / SQLITE_FILENAME
    path.write_bytes(b"not a database at all" * 100)
    assert latest_answers(path, [IMEI], since=T0) is None
    assert carrier_totals(path) is None
    assert path.read_bytes() == b"not a database at all" * 100


def test_the_head_stamp_is_what_makes_a_file_trusted(sqlite_store: Store, tmp_path: Path) -> None:
    path = tmp_path / "data" / SQLITE_FILENAME
    with sqlite3.connect(path) as connection:
        (stamped,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    assert stamped == head_revision()


def test_a_time_without_a_zone_is_refused(sqlite_store: Store, tmp_path: Path) -> None:
    naive = datetime(2026, 11, 26)  # noqa: DTZ001 — what is refused
    with pytest.raises(ValueError, match="timezone-aware"):
        latest_answers(tmp_path / "data" / SQLITE_FILENAME, [IMEI], since=naive)
