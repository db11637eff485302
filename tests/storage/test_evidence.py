"""Evidence: pages kept byte for byte, bodies stored once, checked on every read."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from akarom.domain import Carrier, Status
from akarom.errors import StorageError
from akarom.storage import Store
from akarom.storage.tables import EvidenceBlob, EvidencePage
from tests.storage.helpers import observation, page

FORM = "<form>ネットワーク利用制限携帯電話機照会</form>".encode("shift_jis")


def _count(store: Store, table: type[EvidenceBlob] | type[EvidencePage]) -> int:
    with store.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


def test_pages_round_trip_in_order(store: Store) -> None:
    pages = [page(FORM), page(b"<p>\x81\x9b</p>", method="POST", url="https://example.jp/r")]
    saved = store.record(observation(carrier=Carrier.AU), pages)
    got = store.pages(saved.id)
    assert [(p.seq, p.method, p.url, p.content) for p in got] == [
        (0, "GET", "https://example.jp/", FORM),
        (1, "POST", "https://example.jp/r", b"<p>\x81\x9b</p>"),
    ]
    assert got[0].headers == {"content-type": "text/html; charset=Shift_JIS"}
    assert got[0].fetched_at == pages[0].fetched_at
    assert store.pages(saved.id + 1) == []


def test_the_same_body_is_stored_once(store: Store) -> None:
    first = store.record(observation(carrier=Carrier.AU), [page(FORM), page(b"ok")])
    second = store.record(
        observation(carrier=Carrier.AU, status=Status.UNREGISTERED), [page(FORM), page(b"-")]
    )
    third = store.record(observation(), [page(FORM), page(FORM)])  # twice in one check
    assert _count(store, EvidencePage) == 6
    assert _count(store, EvidenceBlob) == 3
    assert store.pages(first.id)[0].sha256 == store.pages(second.id)[0].sha256
    assert [p.content for p in store.pages(third.id)] == [FORM, FORM]


@pytest.mark.parametrize(
    "corruption",
    [
        pytest.param(zlib.compress(b"<form>forged</form>"), id="other-bytes"),
        pytest.param(b"not zlib at all", id="not-compressed"),
    ],
)
def test_a_corrupt_body_is_refused(store: Store, corruption: bytes) -> None:
    saved = store.record(observation(), [page(FORM)])
    with store.engine.begin() as connection:
        connection.execute(update(EvidenceBlob).values(data=corruption))
    with pytest.raises(StorageError, match="corrupt"):
        store.pages(saved.id)


def test_an_unknown_encoding_is_refused(store: Store) -> None:
    saved = store.record(observation(), [page(FORM)])
    with store.engine.begin() as connection:
        connection.execute(update(EvidenceBlob).values(encoding="brotli"))
    with pytest.raises(StorageError, match="unknown encoding 'brotli'"):
        store.pages(saved.id)


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """One SQLite store for every hypothesis example (a fresh one each would be slow)."""
    path: Path = tmp_path_factory.mktemp("hypothesis")
    with Store.open(None, path) as opened:
        yield opened


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies=st.lists(st.binary(max_size=4096), min_size=1, max_size=3))
def test_any_bytes_round_trip(shared_store: Store, bodies: list[bytes]) -> None:
    saved = shared_store.record(observation(), [page(body) for body in bodies])
    assert [p.content for p in shared_store.pages(saved.id)] == bodies
