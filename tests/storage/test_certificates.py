"""Certificates and signing keys as ``Store`` keeps them, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from akarom.errors import StorageError
from akarom.storage import Store
from akarom.storage.certificates import NewCertificate

T0 = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
KEY = bytes(range(32))


def _certificate(number: int, *, dealer_id: int | None = None, imei: str = "352099001761481"):
    return NewCertificate(
        id=f"{number:032x}",
        dealer_id=dealer_id,
        imei=imei,
        observation_ids=[3, 1],
        payload='{"schema":"akarom-certificate/1"}',
        key_id="a" * 16,
        signature="s" * 86,
        issued_at=T0 + timedelta(minutes=number),
    )


def test_a_certificate_is_kept_with_the_key_that_signed_it(store: Store) -> None:
    kept = store.record_certificate(_certificate(1), public_key=KEY)
    assert store.certificate(kept.id) == kept
    assert kept.observation_ids == (3, 1)
    assert kept.issued_at == T0 + timedelta(minutes=1)
    assert kept.issued_at.tzinfo is not None
    [key] = store.signing_keys()
    assert (key.key_id, key.public_key) == ("a" * 16, KEY)
    assert store.certificate("f" * 32) is None


def test_a_key_is_kept_once_and_never_replaced(store: Store) -> None:
    first = store.keep_signing_key("b" * 16, KEY, at=T0)
    again = store.keep_signing_key("b" * 16, KEY, at=T0 + timedelta(days=1))
    assert again == first  # the first stays, with its date
    with pytest.raises(StorageError):
        store.keep_signing_key("b" * 16, bytes(32))
    store.record_certificate(_certificate(2), public_key=KEY)
    store.record_certificate(_certificate(3), public_key=KEY)  # same key: no conflict
    assert [k.key_id for k in store.signing_keys()] == ["b" * 16, "a" * 16]


def test_a_dealer_lists_only_its_own_certificates(store: Store) -> None:
    mine = store.create_dealer("中古スマホ堂")
    theirs = store.create_dealer("別の店")
    store.record_certificate(_certificate(1, dealer_id=mine.id), public_key=KEY)
    store.record_certificate(
        _certificate(2, dealer_id=mine.id, imei="490154203237518"), public_key=KEY
    )
    store.record_certificate(_certificate(3, dealer_id=theirs.id), public_key=KEY)
    store.record_certificate(_certificate(4), public_key=KEY)  # the operator's
    listed = store.dealer_certificates(mine.id)
    assert [c.id for c in listed] == [f"{2:032x}", f"{1:032x}"]  # newest first
    assert [c.id for c in store.dealer_certificates(mine.id, imei="490154203237518")] == [
        f"{2:032x}"
    ]
    assert [c.id for c in store.dealer_certificates(theirs.id)] == [f"{3:032x}"]


def test_an_id_is_issued_once(store: Store) -> None:
    store.record_certificate(_certificate(1), public_key=KEY)
    with pytest.raises(StorageError):
        store.record_certificate(_certificate(1), public_key=KEY)
