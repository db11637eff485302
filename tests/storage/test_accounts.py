"""Dealers, users and API keys: stored as given, looked up as asked, tenants kept apart."""

from __future__ import annotations

import hashlib
from datetime import UTC, timedelta

import pytest

from akarom.errors import StorageError
from akarom.storage import Store, StoredApiKey, UserRole
from tests.storage.helpers import T0

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"


def key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def add_key(store: Store, dealer_id: int, secret: str, label: str | None = None) -> StoredApiKey:
    return store.create_api_key(dealer_id, key_hash(secret), secret[:12], label, at=T0)


def test_a_dealer_and_its_admin_are_created_together(store: Store) -> None:
    dealer = store.create_dealer(
        "中古スマホ堂", admin_email="Admin@Example.JP", admin_password_hash=HASH, at=T0
    )
    assert store.dealer_by_name("中古スマホ堂") == dealer == store.dealer(dealer.id)
    assert dealer.created_at == T0
    assert dealer.created_at.tzinfo is UTC
    [admin] = store.users(dealer.id)
    assert (admin.email, admin.role, admin.dealer_id) == ("admin@example.jp", UserRole.ADMIN, 1)
    assert admin.password_hash == HASH
    assert HASH not in repr(admin)
    assert admin.active


def test_a_taken_name_or_address_creates_nothing(store: Store) -> None:
    store.create_dealer("A", admin_email="a@example.jp", admin_password_hash=HASH)
    with pytest.raises(StorageError):
        store.create_dealer("A")
    with pytest.raises(StorageError):  # the address is taken: the dealer is not kept either
        store.create_dealer("B", admin_email="A@EXAMPLE.JP", admin_password_hash=HASH)
    assert store.dealer_by_name("B") is None


def test_users_are_found_by_address_however_it_is_written(store: Store) -> None:
    dealer = store.create_dealer("A")
    staff = store.create_user(dealer.id, " Sato@Example.jp", HASH, "staff", at=T0)
    assert staff.role is UserRole.STAFF
    assert store.user_by_email("SATO@example.JP ") == staff == store.user(staff.id)
    assert store.user_by_email("nobody@example.jp") is None
    assert store.set_password_hash(staff.id, HASH + "x")
    changed = store.user(staff.id)
    assert changed is not None
    assert changed.password_hash == HASH + "x"
    with pytest.raises(ValueError, match="UserRole"):
        store.create_user(dealer.id, "x@example.jp", HASH, "owner")


def test_an_api_key_is_found_by_its_hash_until_revoked(store: Store) -> None:
    dealer = store.create_dealer("A")
    key = add_key(store, dealer.id, "akr_secret-one", "POS")
    assert (key.prefix, key.label, key.revoked) == ("akr_secret-o", "POS", False)
    assert store.api_key_by_hash(key_hash("akr_secret-one")) == key
    assert store.api_key_by_hash(key_hash("akr_secret-two")) is None

    store.touch_api_key(key.id, T0 + timedelta(minutes=5))
    store.touch_api_key(key.id, T0 + timedelta(minutes=1))  # never moved back
    [listed] = store.api_keys(dealer.id)
    assert listed.last_used_at == T0 + timedelta(minutes=5)

    assert store.revoke_api_key(key.id)
    assert not store.revoke_api_key(key.id)  # once
    assert store.api_key_by_hash(key_hash("akr_secret-one")) is None
    [revoked] = store.api_keys(dealer.id)
    assert revoked.revoked


def test_a_dealer_sees_and_revokes_only_its_own_keys(store: Store) -> None:
    a = store.create_dealer("A")
    b = store.create_dealer("B")
    key_a = add_key(store, a.id, "akr_of-a")
    key_b = add_key(store, b.id, "akr_of-b")
    assert [k.id for k in store.api_keys(a.id)] == [key_a.id]
    assert [k.id for k in store.api_keys(b.id)] == [key_b.id]
    assert not store.revoke_api_key(key_a.id, dealer_id=b.id)
    assert store.api_key_by_hash(key_hash("akr_of-a")) == key_a
    assert store.revoke_api_key(key_a.id, dealer_id=a.id)
    assert store.users(b.id) == []
