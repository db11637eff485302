"""Dealers, users and API keys: passwords kept only as Argon2 hashes, keys only as SHA-256."""

from __future__ import annotations

import hashlib
import time

import pytest
from argon2 import PasswordHasher
from hypothesis import given
from hypothesis import strategies as st

from akarom.errors import UsageError
from akarom.services import accounts
from akarom.services.accounts import (
    KEY_PREFIX,
    add_user,
    authenticate,
    check_email,
    create_api_key,
    create_dealer,
    key_owner,
    list_api_keys,
    revoke_api_key,
)
from akarom.storage import Store, UserRole
from akarom.texts import LANGS, text

PASSWORD = "correct horse battery"


@pytest.fixture
def dealer_store(store: Store) -> Store:
    create_dealer(store, "中古スマホ堂", "Admin@Example.JP", PASSWORD)
    return store


def test_only_an_argon2_hash_of_the_password_is_stored(dealer_store: Store) -> None:
    admin = dealer_store.user_by_email("admin@example.jp")
    assert admin is not None
    assert admin.role is UserRole.ADMIN
    assert admin.password_hash.startswith("$argon2id$")
    assert PASSWORD not in admin.password_hash
    with dealer_store.engine.connect() as connection:  # nowhere in the database's bytes
        dump = "\n".join(connection.connection.dbapi_connection.iterdump())
    assert PASSWORD not in dump


def test_the_right_password_signs_in_and_nothing_else_does(dealer_store: Store) -> None:
    user = authenticate(dealer_store, "ADMIN@example.jp ", PASSWORD)
    assert user is not None
    assert user.email == "admin@example.jp"
    assert authenticate(dealer_store, "admin@example.jp", PASSWORD + "!") is None
    assert authenticate(dealer_store, "admin@example.jp", "") is None
    assert authenticate(dealer_store, "nobody@example.jp", PASSWORD) is None


def test_an_unknown_address_costs_a_verification_too(
    dealer_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    verified: list[str] = []
    real = accounts._hasher()

    class Counting:
        def verify(self, hash: str, password: str) -> bool:
            verified.append(hash)
            return real.verify(hash, password)

        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

    monkeypatch.setattr(accounts, "_hasher", Counting)
    assert authenticate(dealer_store, "nobody@example.jp", PASSWORD) is None
    assert authenticate(dealer_store, "admin@example.jp", "wrong password") is None
    assert len(verified) == 2
    assert all(hash.startswith("$argon2id$") for hash in verified)


def test_an_old_hash_is_replaced_on_sign_in(dealer_store: Store) -> None:
    admin = dealer_store.user_by_email("admin@example.jp")
    assert admin is not None
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    dealer_store.set_password_hash(admin.id, weak)
    assert authenticate(dealer_store, "admin@example.jp", PASSWORD) is not None
    rehashed = dealer_store.user(admin.id)
    assert rehashed is not None
    assert rehashed.password_hash != weak
    assert not accounts._hasher().check_needs_rehash(rehashed.password_hash)
    assert authenticate(dealer_store, "admin@example.jp", PASSWORD) is not None


@pytest.mark.parametrize(
    ("name", "email", "password", "key"),
    [
        ("", "a@example.jp", PASSWORD, "accounts.dealer_name"),
        ("x" * 101, "a@example.jp", PASSWORD, "accounts.dealer_name"),
        ("B", "not an address", PASSWORD, "accounts.email"),
        ("B", "a@example", PASSWORD, "accounts.email"),
        ("B", "a@example.jp", "123456789", "accounts.password_short"),
        ("中古スマホ堂", "b@example.jp", PASSWORD, "accounts.dealer_exists"),
        ("B", "ADMIN@example.jp", PASSWORD, "accounts.email_taken"),
    ],
)
def test_what_cannot_be_used_is_said_in_both_languages(
    dealer_store: Store, name: str, email: str, password: str, key: str
) -> None:
    with pytest.raises(UsageError) as raised:
        create_dealer(dealer_store, name, email, password)
    assert raised.value.key == key
    for lang in LANGS:
        assert text(key, lang).format(**raised.value.fields)
    assert dealer_store.dealer_by_name("B") is None


def test_users_are_added_to_their_dealer(dealer_store: Store) -> None:
    dealer = dealer_store.dealer_by_name("中古スマホ堂")
    assert dealer is not None
    staff = add_user(dealer_store, dealer.id, "sato@example.jp", PASSWORD, "staff")
    assert staff.role is UserRole.STAFF
    with pytest.raises(UsageError) as raised:
        add_user(dealer_store, dealer.id, "x@example.jp", PASSWORD, "owner")
    assert raised.value.key == "accounts.role"
    with pytest.raises(UsageError) as raised:
        add_user(dealer_store, dealer.id, "Sato@Example.jp", PASSWORD, "staff")
    assert raised.value.key == "accounts.email_taken"


@given(
    local=st.from_regex(r"[a-z0-9._+-]{1,20}", fullmatch=True),
    domain=st.from_regex(r"[a-z0-9-]{1,20}\.[a-z]{2,6}", fullmatch=True),
    flips=st.lists(st.booleans(), min_size=50, max_size=50),
    padding=st.sampled_from(["", " ", "\t", "  \n"]),
)
def test_an_address_is_one_address_however_it_is_typed(
    local: str, domain: str, flips: list[bool], padding: str
) -> None:
    address = f"{local}@{domain}"
    typed = "".join(c.upper() if flip else c for c, flip in zip(address, flips, strict=False))
    typed += address[len(flips) :]
    wide = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in typed)
    assert check_email(padding + typed + padding) == address
    assert check_email(wide) == address  # full-width, as a Japanese input method types it
    assert check_email(address) == address  # normal already: unchanged


def test_an_api_key_is_shown_once_and_stored_as_its_sha256(dealer_store: Store) -> None:
    stored, secret = create_api_key(dealer_store, "中古スマホ堂", "POS")
    assert secret.startswith(KEY_PREFIX)
    assert len(secret) >= len(KEY_PREFIX) + 43  # 32 random bytes
    assert secret.startswith(stored.prefix)
    assert len(stored.prefix) <= 16
    assert stored.label == "POS"
    assert dealer_store.api_key_by_hash(hashlib.sha256(secret.encode()).hexdigest()) == stored
    assert key_owner(dealer_store, secret) == stored
    assert key_owner(dealer_store, secret[:-1]) is None
    assert key_owner(dealer_store, "Bearer " + secret) is None
    other, other_secret = create_api_key(dealer_store, "中古スマホ堂")
    assert other_secret != secret
    assert [key.id for key in list_api_keys(dealer_store, "中古スマホ堂")] == [stored.id, other.id]


def test_a_revoked_key_has_no_owner(dealer_store: Store) -> None:
    stored, secret = create_api_key(dealer_store, "中古スマホ堂")
    assert revoke_api_key(dealer_store, stored.id)
    assert not revoke_api_key(dealer_store, stored.id)
    assert key_owner(dealer_store, secret) is None


def test_a_dealer_revokes_only_its_own_keys(dealer_store: Store) -> None:
    create_dealer(dealer_store, "B", "b@example.jp", PASSWORD)
    b = dealer_store.dealer_by_name("B")
    assert b is not None
    stored, secret = create_api_key(dealer_store, "中古スマホ堂")
    assert not revoke_api_key(dealer_store, stored.id, dealer_id=b.id)
    assert key_owner(dealer_store, secret) == stored
    assert list_api_keys(dealer_store, "B") == []


def test_keys_of_an_unknown_dealer_are_a_usage_error(store: Store) -> None:
    with pytest.raises(UsageError) as raised:
        create_api_key(store, "nobody")
    assert raised.value.key == "accounts.unknown_dealer"
    with pytest.raises(UsageError):
        list_api_keys(store, "nobody")


def test_signing_in_takes_about_as_long_for_an_unknown_address(dealer_store: Store) -> None:
    """A coarse guard (the exact guarantee is the verification counted above)."""

    def timed(email: str) -> float:
        start = time.perf_counter()
        authenticate(dealer_store, email, "wrong password")
        return time.perf_counter() - start

    timed("nobody@example.jp")  # the dummy hash is made once, on first use
    known = min(timed("admin@example.jp") for _ in range(3))
    unknown = min(timed("nobody@example.jp") for _ in range(3))
    assert unknown > known / 3
