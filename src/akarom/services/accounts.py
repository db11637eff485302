"""Dealers, their people and their API keys: creating them, and knowing who is asking.

A *dealer* is a tenant; its first user is an ``admin``. Passwords are hashed with
Argon2id (``argon2-cffi``'s ``PasswordHasher``, its default parameters, which follow
RFC 9106's recommendation) and only the hash is stored. ``authenticate`` takes as
long for an unknown address as for a wrong password (it verifies a dummy hash), so
timing does not tell which addresses have accounts, and it rehashes a password whose
hash used older parameters.

An API key is ``akr_`` followed by 32 random bytes (``secrets.token_urlsafe``); it
is shown once, and only its SHA-256 is stored: 256 random bits need no slow hash to
stay unguessable, and a fast one lets every API request find its key in one lookup.

Every problem a person can fix is a ``UsageError`` whose ``key`` names the sentence in
the catalogue (``accounts.*``).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from functools import cache
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from akarom.errors import StorageError, UsageError
from akarom.storage import StoredApiKey, StoredDealer, StoredUser, UserRole, normalise_email

if TYPE_CHECKING:
    from akarom.storage import Store

__all__ = [
    "KEY_PREFIX",
    "MAX_LABEL",
    "MAX_NAME",
    "MAX_PASSWORD",
    "MIN_PASSWORD",
    "add_user",
    "authenticate",
    "check_email",
    "check_password",
    "create_api_key",
    "create_dealer",
    "dealer_named",
    "hash_key",
    "key_owner",
    "list_api_keys",
    "revoke_api_key",
]

#: Every API key starts with this, so a leaked key is recognisable (secret scanners).
KEY_PREFIX = "akr_"
#: How many of a key's first characters are kept to tell keys apart in a list: the
#: prefix and 8 random characters (48 bits: far too few to help guess the rest).
_SHOWN_CHARACTERS = len(KEY_PREFIX) + 8

MAX_NAME = 100  # dealers.name
MIN_PASSWORD = 10
#: Argon2 accepts any length; a cap keeps one login from costing unbounded work.
MAX_PASSWORD = 1024
MAX_LABEL = 200
_MAX_EMAIL = 254  # users.email, RFC 5321's path limit

# The shape only: something@domain.tld, no spaces, one @. Whether it receives mail is
# not ours to know.
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


@cache
def _dummy_hash() -> str:
    """A hash of no one's password, verified when the address is unknown (same cost)."""
    return _hasher().hash(secrets.token_urlsafe(16))


def check_email(email: str) -> str:
    """The address as stored (NFKC, trimmed, lower-cased); ``UsageError`` if it is none.

    >>> check_email(" Tanaka@Example.JP")
    'tanaka@example.jp'
    """
    normal = normalise_email(email)
    if len(normal) > _MAX_EMAIL or not _EMAIL.fullmatch(normal):
        raise UsageError(f"{email!r} is not an e-mail address", key="accounts.email", value=email)
    return normal


def check_password(password: str) -> str:
    """``password`` if it is long enough (and not absurdly long); else ``UsageError``."""
    if len(password) < MIN_PASSWORD:
        raise UsageError(
            f"a password has at least {MIN_PASSWORD} characters",
            key="accounts.password_short",
            minimum=MIN_PASSWORD,
        )
    if len(password) > MAX_PASSWORD:
        raise UsageError(
            f"a password has at most {MAX_PASSWORD} characters",
            key="accounts.password_long",
            maximum=MAX_PASSWORD,
        )
    return password


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise UsageError(
            f"a dealer's name has 1 to {MAX_NAME} characters",
            key="accounts.dealer_name",
            maximum=MAX_NAME,
        )
    return name


def _role(role: UserRole | str) -> UserRole:
    try:
        return UserRole(role)
    except ValueError:
        raise UsageError(
            f"a role is admin or staff, not {role!r}", key="accounts.role", value=role
        ) from None


def _email_taken(email: str) -> UsageError:
    return UsageError(
        f"the address {email} is already in use", key="accounts.email_taken", email=email
    )


def create_dealer(store: Store, name: str, admin_email: str, password: str) -> StoredDealer:
    """Create a dealer and its first admin, together or not at all.

    ``UsageError`` for a name, address or password that cannot be used, or a name or
    address already taken.
    """
    name = _check_name(name)
    email = check_email(admin_email)
    check_password(password)
    if store.dealer_by_name(name) is not None:
        raise UsageError(
            f"there is already a dealer named {name!r}", key="accounts.dealer_exists", name=name
        )
    if store.user_by_email(email) is not None:
        raise _email_taken(email)
    password_hash = _hasher().hash(password)
    try:
        return store.create_dealer(name, admin_email=email, admin_password_hash=password_hash)
    except StorageError:
        # Someone took the name or the address between our look and our insert.
        if store.dealer_by_name(name) is not None:
            raise UsageError(
                f"there is already a dealer named {name!r}",
                key="accounts.dealer_exists",
                name=name,
            ) from None
        if store.user_by_email(email) is not None:
            raise _email_taken(email) from None
        raise


def add_user(
    store: Store, dealer_id: int, email: str, password: str, role: UserRole | str
) -> StoredUser:
    """Add a person to the dealer; ``UsageError`` as ``create_dealer`` says."""
    chosen = _role(role)
    normal = check_email(email)
    check_password(password)
    if store.user_by_email(normal) is not None:
        raise _email_taken(normal)
    password_hash = _hasher().hash(password)
    try:
        return store.create_user(dealer_id, normal, password_hash, chosen)
    except StorageError:
        if store.user_by_email(normal) is not None:
            raise _email_taken(normal) from None
        raise


def authenticate(store: Store, email: str, password: str) -> StoredUser | None:
    """The active user with that address and password; None for anything else.

    An unknown address costs one Argon2 verification, as a known one does, so the
    answer's timing does not reveal which addresses have accounts. A hash made with
    older parameters is replaced by a current one on a successful login.
    """
    user = store.user_by_email(email) if len(password) <= MAX_PASSWORD else None
    hasher = _hasher()
    try:
        hasher.verify(_dummy_hash() if user is None else user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if hasher.check_needs_rehash(user.password_hash):
        store.set_password_hash(user.id, hasher.hash(password))
    return user


def dealer_named(store: Store, name: str) -> StoredDealer:
    """The dealer with that name; ``UsageError`` when there is none."""
    dealer = store.dealer_by_name(name.strip())
    if dealer is None:
        raise UsageError(
            f"there is no dealer named {name!r}", key="accounts.unknown_dealer", name=name
        )
    return dealer


def hash_key(secret: str) -> str:
    """How an API key is stored and looked up: the SHA-256 of the whole key, in hex."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_api_key(
    store: Store, dealer_name: str, label: str | None = None
) -> tuple[StoredApiKey, str]:
    """A new key for the dealer: the stored record and the key itself, to show once."""
    dealer = dealer_named(store, dealer_name)
    label = (label or "").strip() or None
    if label is not None and len(label) > MAX_LABEL:
        raise UsageError(
            f"a label has at most {MAX_LABEL} characters",
            key="accounts.label_long",
            maximum=MAX_LABEL,
        )
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    stored = store.create_api_key(dealer.id, hash_key(secret), secret[:_SHOWN_CHARACTERS], label)
    return stored, secret


def list_api_keys(store: Store, dealer_name: str) -> list[StoredApiKey]:
    """Every key of the dealer, revoked ones too, oldest first."""
    return store.api_keys(dealer_named(store, dealer_name).id)


def revoke_api_key(store: Store, key_id: int, dealer_id: int | None = None) -> bool:
    """Revoke the key (only the dealer's own, when ``dealer_id`` is given); whether this
    call revoked it."""
    return store.revoke_api_key(key_id, dealer_id)


def key_owner(store: Store, secret: str) -> StoredApiKey | None:
    """The live key a request presented; None when it is unknown or revoked.

    No ``hmac.compare_digest`` is needed: the secret is never compared with a stored
    secret. The database finds the row by the SHA-256 of what was sent, and how long
    that lookup takes can tell an attacker only about hashes, which reveal nothing of
    any key (finding a key from its hash is a preimage search).
    """
    if not secret.startswith(KEY_PREFIX) or len(secret) > 200:
        return None  # not one of our keys: no need to ask the database
    return store.api_key_by_hash(hash_key(secret))
