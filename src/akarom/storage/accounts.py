"""Dealers (tenants), their users and their API keys, kept as rows.

A dealer is a tenant: its users log in to its workspace, its API keys call the REST
API on its behalf, and nothing of one dealer is ever read or changed through another.
Every query for a dealer's rows names ``dealer_id`` in its WHERE clause, so a wrong
id finds nothing rather than another dealer's row.

Secrets never reach this module: users carry an Argon2 hash of their password, API
keys the SHA-256 (hex) of the key (``services.accounts`` makes both). E-mail addresses
are stored normalised (``normalise_email``), so one address is one user however it
is typed.

The ``Store`` methods are in ``repo`` (section "dealers, users and API keys"); the
queries are here.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from akarom.storage.tables import ApiKey, Dealer, User

__all__ = [
    "StoredApiKey",
    "StoredDealer",
    "StoredUser",
    "UserRole",
    "normalise_email",
]


class UserRole(StrEnum):
    """What a user may do in the dealer's workspace."""

    ADMIN = "admin"  # also manages the dealer's users and API keys
    STAFF = "staff"


def normalise_email(email: str) -> str:
    """The form an address is stored and looked up in: NFKC (full-width letters, as a
    Japanese input method may type them, become ASCII), trimmed, lower-cased.

    >>> normalise_email("  Tanaka@Example.JP ")
    'tanaka@example.jp'
    >>> normalise_email("ｓａｔｏ＠ｅｘａｍｐｌｅ．ｊｐ")
    'sato@example.jp'
    """
    return unicodedata.normalize("NFKC", email).strip().lower()


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredDealer:
    """A dealer as read back; ``created_at`` is UTC-aware."""

    id: int
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredUser:
    """A user as read back. ``password_hash`` is Argon2's encoded hash, kept out of reprs."""

    id: int
    dealer_id: int
    email: str
    password_hash: str = field(repr=False)
    role: UserRole
    created_at: datetime
    disabled_at: datetime | None

    @property
    def active(self) -> bool:
        """May log in (not disabled)."""
        return self.disabled_at is None


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredApiKey:
    """An API key as read back: who owns it and what a list shows; never the key itself."""

    id: int
    dealer_id: int
    label: str | None
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _dealer(row: Dealer) -> StoredDealer:
    return StoredDealer(id=row.id, name=row.name, created_at=row.created_at.astimezone(UTC))


def _user(row: User) -> StoredUser:
    return StoredUser(
        id=row.id,
        dealer_id=row.dealer_id,
        email=row.email,
        password_hash=row.password_hash,
        role=UserRole(row.role),
        created_at=row.created_at.astimezone(UTC),
        disabled_at=_utc(row.disabled_at),
    )


def _api_key(row: ApiKey) -> StoredApiKey:
    return StoredApiKey(
        id=row.id,
        dealer_id=row.dealer_id,
        label=row.label,
        prefix=row.prefix,
        created_at=row.created_at.astimezone(UTC),
        last_used_at=_utc(row.last_used_at),
        revoked_at=_utc(row.revoked_at),
    )


# -- dealers ------------------------------------------------------------------------


def insert_dealer(session: Session, name: str, *, at: datetime) -> StoredDealer:
    """Add a dealer; a taken name breaks the unique constraint (``IntegrityError``)."""
    if not name.strip():
        raise ValueError("a dealer has a name")
    row = Dealer(name=name, created_at=at)
    session.add(row)
    session.flush()
    return _dealer(row)


def dealer_by_name(session: Session, name: str) -> StoredDealer | None:
    row = session.scalars(select(Dealer).where(Dealer.name == name)).first()
    return None if row is None else _dealer(row)


def dealer(session: Session, dealer_id: int) -> StoredDealer | None:
    row = session.scalars(select(Dealer).where(Dealer.id == dealer_id)).first()
    return None if row is None else _dealer(row)


# -- users --------------------------------------------------------------------------


def insert_user(
    session: Session,
    *,
    dealer_id: int,
    email: str,
    password_hash: str,
    role: UserRole,
    at: datetime,
) -> StoredUser:
    """Add a user (``email`` stored normalised); a taken address is an ``IntegrityError``."""
    if not password_hash:
        raise ValueError("a user has a password hash")
    row = User(
        dealer_id=dealer_id,
        email=normalise_email(email),
        password_hash=password_hash,
        role=UserRole(role).value,
        created_at=at,
        disabled_at=None,
    )
    session.add(row)
    session.flush()
    return _user(row)


def user_by_email(session: Session, email: str) -> StoredUser | None:
    row = session.scalars(select(User).where(User.email == normalise_email(email))).first()
    return None if row is None else _user(row)


def user(session: Session, user_id: int) -> StoredUser | None:
    row = session.scalars(select(User).where(User.id == user_id)).first()
    return None if row is None else _user(row)


def users(session: Session, dealer_id: int) -> list[StoredUser]:
    query = select(User).where(User.dealer_id == dealer_id).order_by(User.email)
    return [_user(row) for row in session.scalars(query)]


def set_password_hash(session: Session, user_id: int, password_hash: str) -> bool:
    """Replace a user's hash (a new password, or the same one rehashed); whether it did."""
    if not password_hash:
        raise ValueError("a user has a password hash")
    changed = session.execute(
        update(User).where(User.id == user_id).values(password_hash=password_hash)
    )
    return bool(getattr(changed, "rowcount", 0) == 1)


# -- API keys -----------------------------------------------------------------------


def insert_api_key(
    session: Session,
    *,
    dealer_id: int,
    key_hash: str,
    prefix: str,
    label: str | None,
    at: datetime,
) -> StoredApiKey:
    if len(key_hash) != 64:
        raise ValueError("an API key is stored as the SHA-256 (64 hex digits) of the key")
    row = ApiKey(
        dealer_id=dealer_id,
        label=label,
        prefix=prefix,
        key_hash=key_hash,
        created_at=at,
        last_used_at=None,
        revoked_at=None,
    )
    session.add(row)
    session.flush()
    return _api_key(row)


def api_key_by_hash(session: Session, key_hash: str) -> StoredApiKey | None:
    """The key with that hash, unless it was revoked."""
    row = session.scalars(
        select(ApiKey).where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
    ).first()
    return None if row is None else _api_key(row)


def api_keys(session: Session, dealer_id: int) -> list[StoredApiKey]:
    """Every key of the dealer, revoked ones too, oldest first."""
    query = (
        select(ApiKey).where(ApiKey.dealer_id == dealer_id).order_by(ApiKey.created_at, ApiKey.id)
    )
    return [_api_key(row) for row in session.scalars(query)]


def revoke_api_key(session: Session, key_id: int, *, dealer_id: int | None, at: datetime) -> bool:
    """Revoke a key not yet revoked (of ``dealer_id`` only, when given); whether it did."""
    conditions = [ApiKey.id == key_id, ApiKey.revoked_at.is_(None)]
    if dealer_id is not None:
        conditions.append(ApiKey.dealer_id == dealer_id)
    changed = session.execute(update(ApiKey).where(*conditions).values(revoked_at=at))
    return bool(getattr(changed, "rowcount", 0) == 1)


def touch_api_key(session: Session, key_id: int, *, at: datetime) -> None:
    """Note that the key was used at ``at`` (never moves ``last_used_at`` back)."""
    session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key_id,
            (ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at < at),
        )
        .values(last_used_at=at)
    )
