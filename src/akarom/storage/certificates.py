"""Records of the 赤ロム guarantee (a mixin of ``Store``):
issued certificates and the public keys that signed them.

A certificate row keeps what was signed (the canonical JSON payload, the signature,
the key id) and which observations it was made from; the PDF itself is the holder's.
Signing keys are kept by key id and never dropped, so a certificate signed with a
key that has since been replaced still verifies. Certificates are only inserted;
nothing here changes one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from akarom.errors import StorageError
from akarom.storage._records import Records
from akarom.storage.tables import Certificate, SigningKey

__all__ = ["CertificateRecords", "NewCertificate", "StoredCertificate", "StoredSigningKey"]


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredSigningKey:
    """A public key certificates were signed with: ``key_id`` and the raw 32 bytes."""

    key_id: str
    public_key: bytes
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class NewCertificate:
    """A certificate to keep, as issued. ``dealer_id`` None: issued by the operator."""

    id: str
    dealer_id: int | None
    imei: str
    observation_ids: Sequence[int]
    payload: str
    key_id: str
    signature: str
    issued_at: datetime

    def __post_init__(self) -> None:
        if self.issued_at.tzinfo is None:
            raise ValueError("issued_at must be timezone-aware")


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredCertificate:
    """A certificate as read back; ``issued_at`` is UTC-aware."""

    id: str
    dealer_id: int | None
    imei: str
    observation_ids: tuple[int, ...]
    payload: str
    key_id: str
    signature: str
    issued_at: datetime


class CertificateRecords(Records):
    """issued certificates and the public keys that signed them, as ``Store`` methods."""

    def keep_signing_key(
        self, key_id: str, public_key: bytes, *, at: datetime | None = None
    ) -> StoredSigningKey:
        """Keep a public key under its id (once: a key already kept is left as it is).

        ``StorageError`` if another key is kept under the same id (two keys whose
        fingerprints share 64 bits: a broken key file, not chance).
        """
        with self._writing("keep the signing key") as session:
            return _keep_key(self, session, key_id, public_key, at or datetime.now(UTC))

    def signing_keys(self) -> list[StoredSigningKey]:
        """Every public key kept, oldest first: what ``verify`` trusts without ``--key``."""
        with self._reading("read the signing keys") as session:
            rows = session.scalars(select(SigningKey).order_by(SigningKey.created_at))
            return [_signing_key(row) for row in rows]

    def record_certificate(
        self, certificate: NewCertificate, *, public_key: bytes
    ) -> StoredCertificate:
        """Keep an issued certificate, and the public key it names, in one transaction."""
        with self._writing("record the certificate") as session:
            _keep_key(self, session, certificate.key_id, public_key, certificate.issued_at)
            row = Certificate(
                id=certificate.id,
                dealer_id=certificate.dealer_id,
                imei=certificate.imei,
                observation_ids=list(certificate.observation_ids),
                payload=certificate.payload,
                key_id=certificate.key_id,
                signature=certificate.signature,
                issued_at=certificate.issued_at,
            )
            session.add(row)
            session.flush()
            return _certificate(row)

    def certificate(self, certificate_id: str) -> StoredCertificate | None:
        """The certificate with this id, whoever issued it, or None.

        Not filtered by dealer: the id (128 random bits) is what the certificate's QR
        code and verification page carry, so knowing it is the permission, as with an
        unguessable link. A page shows the signed payload (which masks the IMEI when
        the issuer asked), never the ``imei`` column.
        """
        with self._reading("read the certificate") as session:
            row = session.get(Certificate, certificate_id)
            return None if row is None else _certificate(row)

    def dealer_certificates(
        self, dealer_id: int, *, imei: str | None = None
    ) -> list[StoredCertificate]:
        """The certificates a dealer issued (of one device with ``imei``), newest first."""
        query = select(Certificate).where(Certificate.dealer_id == dealer_id)
        if imei is not None:
            query = query.where(Certificate.imei == imei)
        query = query.order_by(Certificate.issued_at.desc(), Certificate.id)
        with self._reading("read the dealer's certificates") as session:
            return [_certificate(row) for row in session.scalars(query)]


def _keep_key(
    records: Records, session: Session, key_id: str, public_key: bytes, at: datetime
) -> StoredSigningKey:
    # Another process may keep the same key meanwhile (two first certificates at once):
    # the conflict clause keeps the first, which holds the same bytes.
    insert = records._insert()(SigningKey.__table__).on_conflict_do_nothing(
        index_elements=["key_id"]
    )
    session.execute(insert.values(key_id=key_id, public_key=public_key, created_at=at))
    kept = session.get(SigningKey, key_id)
    assert kept is not None
    if bytes(kept.public_key) != public_key:
        raise StorageError(f"another public key is already kept under the key id {key_id}")
    return _signing_key(kept)


def _signing_key(row: SigningKey) -> StoredSigningKey:
    return StoredSigningKey(
        key_id=row.key_id,
        public_key=bytes(row.public_key),
        created_at=row.created_at.astimezone(UTC),
    )


def _certificate(row: Certificate) -> StoredCertificate:
    return StoredCertificate(
        id=row.id,
        dealer_id=row.dealer_id,
        imei=row.imei,
        observation_ids=tuple(row.observation_ids),
        payload=row.payload,
        key_id=row.key_id,
        signature=row.signature,
        issued_at=row.issued_at.astimezone(UTC),
    )
