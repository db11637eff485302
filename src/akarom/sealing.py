"""Personal data sealed at rest: envelope encryption with AES-256-GCM, erasure by shredding.

Every sealed record (an intake's seller, a guarantee's customer, a webhook's signing
secret) gets its own random 256-bit data key. The value, as JSON, is encrypted with it;
the data key is encrypted ("wrapped") with the operator's master key; both are stored
beside the row. The associated data names the table, column and row, so a sealed value
copied to another row, or another column, does not open.

The master key is never in the database: ``AKAROM_DATA_KEY`` (base64 of 32 bytes), or
the file ``<data_dir>/data.key``, created 0600 on first use and refused if anyone but
its owner can read it. Without it the sealed columns cannot be read; the rest of akarom
works. Erasure sets the wrapped key and the ciphertext to NULL: a copy that lingers (a
PostgreSQL row version before VACUUM, a backup) no longer opens, its key being gone.

>>> sealer = Sealer(bytes(32))
>>> sealed = sealer.seal({"name": "山田 太郎"}, context="intakes.seller:1")
>>> sealer.open(sealed, context="intakes.seller:1")
{'name': '山田 太郎'}
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from akarom.errors import ConfigError

__all__ = ["KEY_FILE", "SealError", "Sealed", "Sealer", "load_sealer"]

#: The master key's file in the data folder when ``AKAROM_DATA_KEY`` is not set.
KEY_FILE = "data.key"

_VERSION = b"\x01"
_NONCE = 12
_KEY_ID = 8


class SealError(Exception):
    """A sealed value that does not open: another master key, another row, or altered."""


@dataclass(frozen=True, slots=True)
class Sealed:
    """A sealed value as stored: the ciphertext and its wrapped data key (both bytes)."""

    ciphertext: bytes
    wrapped_key: bytes


class Sealer:
    """Seals and opens values with one master key (32 bytes)."""

    def __init__(self, master_key: bytes) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if len(master_key) != 32:
            raise ValueError("the master key is 32 bytes")
        self._master = AESGCM(master_key)
        #: Names the master key in every wrapped key, so that a key mix-up is told apart
        #: from damage.
        self.key_id = hashlib.sha256(b"akarom-data-key\0" + master_key).digest()[:_KEY_ID]

    def seal(self, value: Any, *, context: str) -> Sealed:
        """``value`` (anything JSON can hold) sealed for ``context`` (table.column:row)."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        aad = context.encode("utf-8")
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(_NONCE)
        plaintext = json.dumps(value, ensure_ascii=False, sort_keys=True).encode("utf-8")
        ciphertext = _VERSION + nonce + AESGCM(data_key).encrypt(nonce, plaintext, aad)
        wrap_nonce = os.urandom(_NONCE)
        wrapped = (
            _VERSION
            + self.key_id
            + wrap_nonce
            + self._master.encrypt(wrap_nonce, data_key, b"akarom-wrap\0" + aad)
        )
        return Sealed(ciphertext, wrapped)

    def open(self, sealed: Sealed, *, context: str) -> Any:
        """The value sealed for ``context``; ``SealError`` if it does not open."""
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        aad = context.encode("utf-8")
        wrapped, ciphertext = sealed.wrapped_key, sealed.ciphertext
        if wrapped[:1] != _VERSION or ciphertext[:1] != _VERSION:
            raise SealError("not a sealed value of this akarom")
        if wrapped[1 : 1 + _KEY_ID] != self.key_id:
            raise SealError("sealed with another master key (AKAROM_DATA_KEY or data.key)")
        body = wrapped[1 + _KEY_ID :]
        try:
            data_key = self._master.decrypt(body[:_NONCE], body[_NONCE:], b"akarom-wrap\0" + aad)
            nonce, sealed_text = ciphertext[1 : 1 + _NONCE], ciphertext[1 + _NONCE :]
            plaintext = AESGCM(data_key).decrypt(nonce, sealed_text, aad)
        except InvalidTag as err:
            raise SealError(f"the sealed value for {context} does not open") from err
        return json.loads(plaintext)


def load_sealer(data_key: str | None, data_dir: Path, *, create: bool = True) -> Sealer:
    """The operator's sealer: ``data_key`` (``AKAROM_DATA_KEY``) or ``<data_dir>/data.key``.

    The file is created (0600, never overwritten) when missing and ``create``; a file
    that others can read is refused. ``ConfigError`` says what to fix.
    """
    if data_key is not None:
        try:
            raw = base64.b64decode(data_key, validate=True)
        except binascii.Error as err:
            raise ConfigError("AKAROM_DATA_KEY must be base64 of 32 random bytes") from err
        if len(raw) != 32:
            raise ConfigError("AKAROM_DATA_KEY must be base64 of 32 random bytes")
        return Sealer(raw)
    path = data_dir / KEY_FILE
    if not path.exists():
        if not create:
            raise ConfigError(f"no master key: set AKAROM_DATA_KEY or restore {path}")
        _create_key_file(path)
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{path} can be read by others: chmod 600 {path}")
    raw = base64.b64decode(path.read_text(encoding="ascii").strip())
    if len(raw) != 32:
        raise ConfigError(f"{path} does not hold a master key (base64 of 32 bytes)")
    return Sealer(raw)


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another process made it first: use theirs
    with os.fdopen(descriptor, "w", encoding="ascii") as out:
        out.write(base64.b64encode(os.urandom(32)).decode("ascii") + "\n")
