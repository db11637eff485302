"""Check certificates: one PDF a person can print, show or send, with its proof inside.

A certificate states a device's latest stored check (each carrier's answer, the
verdict) as of when it was issued. The PDF (fpdf2, Japanese in an embedded subset of
Noto Sans JP, a QR code to the verification page drawn as vector rectangles) carries
the signed payload in two comment lines just before its final ``startxref``::

    %AKAROM-CERT-PAYLOAD {canonical JSON}
    %AKAROM-CERT-SIG ed25519 <key id: 16 hex> <signature: 86 base64url>
    startxref
    <N>
    %%EOF

The Ed25519 signature covers ``akarom-certificate/1\\0``, every byte before the
signature line and the final ``startxref … %%EOF`` block, so any changed byte, the
payload's or the page's, breaks it. Verifying reads no PDF and no font: size cap
(4 MiB) → a ``%AKAROM-CERT`` marker (it is on both lines, so no single changed byte
removes it) → the signature line and the tail matched whole and the signature
re-serialised to the same characters (base64's 4 spare bits would otherwise let 15
other last characters through) → the key id known → the signature → only then the
payload line, which must re-canonicalise to the same bytes and name the same key.
Outcomes: authentic (exit 0), not authentic (1), unreadable: no file, too big, or no
marker at all (2). See docs/decisions/guarantee.md, "Certificates".

The payload is canonical JSON (sorted keys, no whitespace, UTF-8, no floats: then
identical to RFC 8785). With ``mask`` the IMEI shows only its TAC (the model) and
the payload carries an argon2id digest of it with a random salt, so ``verify --imei``
can confirm the phone in hand; masking hides the IMEI from a casual reader, it does
not protect it (a TAC leaves 10^6 candidates).

Keys: an Ed25519 private key, PKCS8 PEM, at ``AKAROM_CERTIFICATE_KEY`` or
``<data_dir>/certificate-key.pem`` (created on first use, 0600, never overwritten;
refused when others may read it). A key's id is the first 16 hex digits of the
SHA-256 of its raw public key; every public key is kept in the database by id, so
certificates signed with an older key still verify.

fpdf2 and segno are imported only to issue; verifying needs ``cryptography`` alone.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import secrets
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from akarom.domain import JST, Carrier, CarrierResult, Verdict
from akarom.errors import UsageError
from akarom.identity import Identity
from akarom.services.validation import parse_imei
from akarom.texts import text

if TYPE_CHECKING:
    from fpdf import FPDF

    from akarom.config import Settings
    from akarom.storage import Store, StoredObservation
    from akarom.storage.certificates import StoredCertificate

__all__ = [
    "KEY_FILE",
    "MAX_BYTES",
    "SCHEMA",
    "CertificatePage",
    "CertifiedCheck",
    "IssuedCertificate",
    "NeverChecked",
    "Outcome",
    "PublicKey",
    "SigningKey",
    "Verification",
    "build_payload",
    "canonical_json",
    "certificate_by_id",
    "installation_key",
    "issue_certificate",
    "known_keys",
    "latest_check",
    "load_signing_key",
    "mask_imei",
    "public_key_by_id",
    "read_public_key",
    "render_pdf",
    "seal",
    "verify_certificate",
    "verify_file",
]

#: The payload's ``schema``, and (with a NUL) the domain the signature is made in.
SCHEMA = "akarom-certificate/1"
_DOMAIN = SCHEMA.encode("ascii") + b"\0"
#: Larger files are not read: a certificate is ~25 KB.
MAX_BYTES = 4 * 1024 * 1024
#: The private key's file name in the data folder (``AKAROM_CERTIFICATE_KEY`` unset).
KEY_FILE = "certificate-key.pem"

_MARKER = b"%AKAROM-CERT"
_PAYLOAD_PREFIX = b"%AKAROM-CERT-PAYLOAD "
_SIG_PREFIX = b"%AKAROM-CERT-SIG "
_SIG_LINE = re.compile(rb"%AKAROM-CERT-SIG ed25519 ([0-9a-f]{16}) ([A-Za-z0-9_-]{86})\n")
_TAIL = re.compile(rb"startxref\n([0-9]{1,10})\n%%EOF\n")
#: How fpdf2 ends a file (2.8): the trailer dictionary, then this.
_PDF_END = re.compile(rb"\nstartxref\n([0-9]{1,10})\n%%EOF\n?\Z")
_CERTIFICATE_ID = re.compile(r"[0-9a-f]{32}")

# The PDF's font: Noto Sans JP, reduced to the characters Japanese business text uses
# (akarom/fonts/README.md). A character outside it is printed as 〓 (geta, the
# typesetter's mark for a missing glyph); the signed payload keeps it as it was.
_FONT = "NotoSansJP-Regular.otf"
_MISSING = "〓"


class NeverChecked(UsageError):
    """The device has no stored answer (for this dealer): there is nothing to certify."""

    def __init__(self, imei: str) -> None:
        super().__init__(
            f"{imei} has never been checked: check it first",
            key="certificate.never_checked",
            imei=imei,
        )
        self.imei = imei


# -- keys ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PublicKey:
    """An Ed25519 public key (its 32 raw bytes), as certificates name it."""

    raw: bytes
    #: The first 16 hex digits of the SHA-256 of the raw key: the signature line's id.
    key_id: str = field(init=False, compare=False)
    # Loaded once: a verification is mostly the signature check (~0.15 ms) itself.
    _loaded: Ed25519PublicKey = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.raw) != 32:
            raise ValueError("an Ed25519 public key is 32 bytes")
        object.__setattr__(self, "key_id", hashlib.sha256(self.raw).hexdigest()[:16])
        object.__setattr__(self, "_loaded", Ed25519PublicKey.from_public_bytes(self.raw))

    @property
    def fingerprint(self) -> str:
        """The whole SHA-256 of the raw key, 16 groups of 4 hex digits (printed on the PDF)."""
        digest = hashlib.sha256(self.raw).hexdigest()
        return " ".join(digest[at : at + 4] for at in range(0, 64, 4))

    def pem(self) -> str:
        """The key as a PEM ``PUBLIC KEY`` (SubjectPublicKeyInfo): what ``--key`` reads."""
        return self._loaded.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    def verifies(self, signature: bytes, message: bytes) -> bool:
        try:
            self._loaded.verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True, slots=True)
class SigningKey:
    """This installation's private key, and where it is kept."""

    private: Ed25519PrivateKey
    path: Path

    @property
    def public(self) -> PublicKey:
        return PublicKey(
            self.private.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
        )

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)


def load_signing_key(settings: Settings, *, create: bool = True) -> SigningKey:
    """The signing key: ``AKAROM_CERTIFICATE_KEY``'s file, else ``<data_dir>/certificate-key.pem``.

    The data folder's file is created when missing and ``create`` (0600, with
    ``O_EXCL``: a key is never overwritten); a file named by the setting is never
    created, as a mistyped path would otherwise sign with a key nobody knows.
    ``UsageError`` for a missing file, one that others may read or write, or one
    that holds no Ed25519 private key.
    """
    named = settings.certificate_key
    path = named or settings.data_dir / KEY_FILE
    if not path.exists():
        if named is not None or not create:
            raise UsageError(
                f"there is no certificate key at {path}", key="certificate.no_key", path=path
            )
        _create_key_file(path)
    if os.name == "posix" and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UsageError(
            f"{path} can be read by others: chmod 600 {path}",
            key="certificate.key_exposed",
            path=path,
        )
    try:
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as err:
        raise UsageError(
            f"{path} holds no usable private key ({err})", key="certificate.key_invalid", path=path
        ) from None
    if not isinstance(private, Ed25519PrivateKey):
        raise UsageError(
            f"{path} holds a key that is not Ed25519", key="certificate.key_invalid", path=path
        )
    return SigningKey(private, path)


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another process made it first: use theirs
    with os.fdopen(descriptor, "wb") as out:
        out.write(pem)


def installation_key(store: Store, settings: Settings) -> PublicKey:
    """This installation's public key (the private key is created on first use), kept in
    the database so that verifying needs no key file."""
    public = load_signing_key(settings).public
    store.keep_signing_key(public.key_id, public.raw)
    return public


def read_public_key(data: bytes) -> PublicKey:
    """The Ed25519 public key in a PEM file (``verify --key``); ``ValueError`` if none."""
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as err:
        raise ValueError(f"not a PEM public key: {err}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return PublicKey(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def known_keys(store: Store, settings: Settings) -> list[PublicKey]:
    """The public keys ``verify`` trusts without ``--key``: every key kept in the
    database, and the local key file's (never created here)."""
    keys = [PublicKey(kept.public_key) for kept in store.signing_keys()]
    # No key file here (or one that cannot sign): the database's keys are the ones.
    with contextlib.suppress(UsageError):
        keys.append(load_signing_key(settings, create=False).public)
    return keys


# -- the check a certificate states ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class CertifiedCheck:
    """A device's latest stored answers, joined into a verdict as a check joins them."""

    identity: Identity
    verdict: Verdict
    origin_carrier: Carrier | None
    results: tuple[CarrierResult, ...]
    observation_ids: tuple[int, ...]
    checked_at: datetime


def latest_check(store: Store, raw: str, *, dealer_id: int | None = None) -> CertifiedCheck:
    """The device's latest stored check (no carrier is asked).

    Each carrier's newest answer counts; where a carrier only ever failed, its newest
    failure. ``InvalidImei`` for input that is no IMEI/MEID; ``NeverChecked`` when
    nothing is stored, or (with ``dealer_id``) when that dealer never checked it.
    """
    identity = parse_imei(raw)
    imei = identity.value
    if dealer_id is not None and not store.dealer_has_device(dealer_id, imei):
        raise NeverChecked(imei)
    # A failure never hides the answer before it (as the cache reads them).
    newest: dict[Carrier, StoredObservation] = {
        **store.latest(imei, answered_only=False),
        **store.latest(imei),
    }
    # Imported here: the adapters (and HTTP, the store) are needed to issue, never to verify.
    from akarom.services.checks import carriers_taking
    from akarom.services.device_reports import device_report

    supported = carriers_taking(identity)
    used = {carrier: newest[carrier] for carrier in supported if carrier in newest}
    if not used:
        raise NeverChecked(imei)
    results = {carrier: observation.to_result() for carrier, observation in used.items()}
    # Joined as a check joins its answers: a verdict left open shows its gaps.
    report = device_report(raw, identity, results, supported)
    return CertifiedCheck(
        identity=identity,
        verdict=report.verdict,
        origin_carrier=report.origin_carrier,
        results=report.results,
        observation_ids=tuple(sorted(o.id for o in used.values())),
        checked_at=max(o.checked_at for o in used.values()),
    )


# -- the payload ------------------------------------------------------------------------


def canonical_json(value: Any) -> bytes:
    """``value`` as canonical JSON: sorted keys, no whitespace, UTF-8, no floats.

    >>> canonical_json({"b": [1, None], "a": "赤ロム"})
    b'{"a":"\\xe8\\xb5\\xa4\\xe3\\x83\\xad\\xe3\\x83\\xa0","b":[1,null]}'
    """
    _refuse_floats(value)
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _refuse_floats(value: Any) -> None:
    # Floats have no single canonical spelling: a payload holds none.
    if isinstance(value, float):
        raise ValueError("a certificate's payload holds no floats")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError("a certificate's payload has only string keys")
            _refuse_floats(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _refuse_floats(item)


def mask_imei(identity: Identity) -> str:
    """The IMEI with all but its TAC hidden (a MEID: all but its manufacturer code).

    >>> mask_imei(parse_imei("352099001761481"))
    '35209900*******'
    """
    shown = 8
    return identity.value[:shown] + "*" * (len(identity.value) - shown)


def _imei_digest(imei: str) -> str:
    """A salted argon2id digest of the IMEI (PHC string), for ``verify --imei``.

    argon2id rather than a salted SHA-256: a TAC leaves only 10^6 candidates, which a
    fast hash tries in a second; argon2id's memory cost makes that hours.
    """
    from argon2 import PasswordHasher
    from argon2.profiles import RFC_9106_LOW_MEMORY

    return PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY).hash(imei)


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(JST).isoformat(timespec="seconds")


def build_payload(
    *,
    certificate_id: str,
    issued_at: datetime,
    issuer: str | None,
    public_url: str,
    key_id: str,
    check: CertifiedCheck,
    mask: bool,
) -> dict[str, Any]:
    """What a certificate states and signs (plain JSON values)."""
    identity = check.identity
    device: dict[str, Any] = {"kind": "meid" if identity.kind == "meid" else "imei"}
    if mask:
        device["imei_masked"] = mask_imei(identity)
        device["imei_digest"] = _imei_digest(identity.value)
    else:
        device["imei"] = identity.value
    return {
        "schema": SCHEMA,
        "id": certificate_id,
        "issued_at": _when(issued_at),
        "issuer": {"name": issuer, "url": public_url},
        "key_id": key_id,
        "verify_url": f"{public_url}/certificates/{certificate_id}",
        "device": device,
        "check": {
            "checked_at": _when(check.checked_at),
            "verdict": check.verdict.value,
            "origin_carrier": None if check.origin_carrier is None else check.origin_carrier.value,
            "results": [
                {
                    "carrier": result.carrier.value,
                    "status": result.status.value,
                    "symbol": result.symbol,
                    "checked_at": _when(result.checked_at),
                    "source": None if result.source is None else result.source.value,
                    "error": result.error,
                }
                for result in check.results
            ],
        },
    }


# -- the PDF ----------------------------------------------------------------------------


def seal(pdf: bytes, payload: bytes, key: SigningKey) -> tuple[bytes, str]:
    """The PDF with the payload and its signature before its final ``startxref``.

    Returns the sealed file and the signature (base64url, unpadded).
    """
    end = _PDF_END.search(pdf)
    if end is None:
        raise ValueError("the PDF does not end with startxref N %%EOF")
    if b"\n" in payload or b"\r" in payload:
        raise ValueError("the payload must be one line")
    head = pdf[: end.start() + 1] + _PAYLOAD_PREFIX + payload + b"\n"
    tail = b"startxref\n" + end.group(1) + b"\n%%EOF\n"
    signature = base64.urlsafe_b64encode(key.sign(_DOMAIN + head + tail)).rstrip(b"=")
    line = _SIG_PREFIX + b"ed25519 " + key.public.key_id.encode("ascii") + b" " + signature
    return head + line + b"\n" + tail, signature.decode("ascii")


def render_pdf(payload: Mapping[str, Any], *, fingerprint: str) -> bytes:
    """The certificate's page (A4, Japanese with English beneath), unsealed."""
    from fpdf import FPDF

    with resources.as_file(resources.files("akarom").joinpath("fonts", _FONT)) as font:
        pdf = FPDF(unit="mm", format="A4")
        pdf.set_margins(18, 16, 18)
        pdf.set_auto_page_break(False)
        pdf.add_font("noto", fname=str(font))
        pdf.set_font("noto", size=10)
        issued = datetime.fromisoformat(payload["issued_at"])
        pdf.set_creation_date(issued)
        pdf.set_lang("ja")
        pdf.set_title(f"{text('certificate.pdf.title', 'ja')} {payload['id']}")
        pdf.set_creator("akarom")
        pdf.set_author(payload["issuer"]["name"] or "akarom")
        pdf.add_page()
        _Page(pdf).draw(payload, fingerprint)
        return bytes(pdf.output())


_VERDICT_COLOURS = {
    "clear": (20, 120, 60),
    "caution": (190, 110, 0),
    "red": (200, 20, 30),
    "incomplete": (90, 90, 90),
}


class _Page:
    """Draws one certificate on an fpdf2 page (mm, A4)."""

    def __init__(self, pdf: FPDF) -> None:
        self.pdf = pdf
        self.width = pdf.w - pdf.l_margin - pdf.r_margin
        from fpdf.fonts import TTFFont

        font = pdf.fonts["noto"]
        assert isinstance(font, TTFFont)  # added from our OTF file, never a core font
        self.cmap: Mapping[int, object] = font.cmap

    def shown(self, value: str) -> str:
        """``value`` with each character the font lacks printed as 〓."""
        return "".join(c if ord(c) in self.cmap or c in "\n\t" else _MISSING for c in value)

    def write(self, value: str, *, size: float, colour: int = 0, height: float = 0) -> None:
        pdf = self.pdf
        pdf.set_font_size(size)
        pdf.set_text_color(colour)
        pdf.multi_cell(
            self.width, height or size * 0.5, self.shown(value), new_x="LMARGIN", new_y="NEXT"
        )

    def field(self, key: str, value: str, *, width: float) -> None:
        """A labelled line: the Japanese label over its English, then the value."""
        pdf = self.pdf
        y = pdf.get_y()
        pdf.set_font_size(9)
        pdf.set_text_color(0)
        pdf.cell(34, 5, self.shown(text(key, "ja")), new_x="LEFT", new_y="NEXT")
        pdf.set_font_size(7)
        pdf.set_text_color(110)
        pdf.cell(34, 3.5, self.shown(text(key, "en")))
        pdf.set_xy(pdf.l_margin + 34, y)
        pdf.set_font_size(11)
        pdf.set_text_color(0)
        pdf.multi_cell(width - 34, 5.5, self.shown(value), new_x="LMARGIN", new_y="NEXT")
        pdf.set_y(max(pdf.get_y(), y + 9) + 1.5)

    def draw(self, payload: Mapping[str, Any], fingerprint: str) -> None:
        pdf = self.pdf
        self.write(text("certificate.pdf.title", "ja"), size=18, height=9)
        self.write(text("certificate.pdf.title", "en"), size=10, colour=90, height=5)
        pdf.ln(2)
        pdf.set_draw_color(150)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + self.width, pdf.get_y())
        pdf.ln(4)

        top = pdf.get_y()
        qr_size = 40.0
        self.qr(payload["verify_url"], x=pdf.l_margin + self.width - qr_size, y=top, size=qr_size)
        pdf.set_xy(pdf.l_margin, top)
        left = self.width - qr_size - 6
        device = payload["device"]
        imei = device.get("imei") or (
            f"{device['imei_masked']}　{text('certificate.masked', 'ja')}"
            f"\n{text('certificate.masked', 'en')}"
        )
        issuer = payload["issuer"]["name"] or payload["issuer"]["url"]
        self.field("certificate.pdf.imei", imei, width=left)
        self.field("certificate.pdf.id", payload["id"], width=left)
        self.field("certificate.pdf.issued_at", _shown_time(payload["issued_at"]), width=left)
        self.field("certificate.pdf.issuer", issuer, width=left)
        pdf.set_y(max(pdf.get_y(), top + qr_size + 2))

        check = payload["check"]
        verdict = check["verdict"]
        pdf.ln(2)
        self.write(text("certificate.pdf.verdict", "ja"), size=9, height=5)
        red, green, blue = _VERDICT_COLOURS.get(verdict, (0, 0, 0))
        pdf.set_text_color(red, green, blue)
        pdf.set_font_size(20)
        pdf.cell(
            0, 10, self.shown(text(f"verdict.{verdict}.short", "ja")), new_x="LMARGIN", new_y="NEXT"
        )
        pdf.set_font_size(11)
        pdf.multi_cell(
            self.width,
            6,
            self.shown(text(f"verdict.{verdict}.headline", "ja")),
            new_x="LMARGIN",
            new_y="NEXT",
        )
        self.write(text(f"verdict.{verdict}.headline", "en"), size=8.5, colour=90, height=4.5)
        pdf.ln(3)
        self.results(check)
        pdf.ln(2)
        self.write(
            text("certificate.pdf.checked_at", "ja").format(time=_shown_time(check["checked_at"])),
            size=9,
        )
        self.write(
            text("certificate.pdf.checked_at", "en").format(time=_shown_time(check["checked_at"])),
            size=8,
            colour=90,
        )
        self.footer(payload, fingerprint)

    def results(self, check: Mapping[str, Any]) -> None:
        from fpdf.enums import TextEmphasis
        from fpdf.fonts import FontFace

        pdf = self.pdf
        pdf.set_text_color(0)
        pdf.set_font_size(9)
        pdf.set_draw_color(170)
        headings = FontFace(emphasis=TextEmphasis.NONE, fill_color=(238, 238, 238))
        with pdf.table(
            col_widths=(34, 14, 86, 40),
            width=self.width,
            text_align=("LEFT", "CENTER", "LEFT", "LEFT"),
            line_height=4.6,
            headings_style=headings,
            padding=1.2,
        ) as table:
            heading = table.row()
            for key in ("carrier", "symbol", "status", "time"):
                heading.cell(
                    self.shown(
                        f"{text(f'certificate.pdf.{key}', 'ja')}\n"
                        f"{text(f'certificate.pdf.{key}', 'en')}"
                    )
                )
            for result in check["results"]:
                carrier = Carrier(result["carrier"])
                status = result["status"]
                if result["error"]:  # why it is unknown says more than "unknown"
                    meaning_ja = _error_text(result["error"], "ja")
                    meaning_en = _error_text(result["error"], "en")
                else:
                    meaning_ja = text(f"status.{status}.meaning", "ja")
                    meaning_en = text(f"status.{status}.meaning", "en")
                when = _shown_time(result["checked_at"]) if result["checked_at"] else "-"
                if result["source"] == "manual":
                    when += f"\n{text('certificate.pdf.manual', 'ja')}"
                row = table.row()
                names = dict.fromkeys((carrier.label("ja"), carrier.label("en")))
                row.cell(self.shown("\n".join(names)))
                row.cell(self.shown(result["symbol"]), style=FontFace(size_pt=14))
                row.cell(self.shown(f"{meaning_ja}\n{meaning_en}"))
                row.cell(self.shown(when))

    def footer(self, payload: Mapping[str, Any], fingerprint: str) -> None:
        pdf = self.pdf
        pdf.set_y(pdf.h - 92)
        pdf.set_draw_color(150)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + self.width, pdf.get_y())
        pdf.ln(3)
        for key in ("certificate.pdf.note_time", "certificate.pdf.note_seal"):
            self.write(text(key, "ja"), size=8.5, height=4.4)
            self.write(text(key, "en"), size=7.5, colour=90, height=3.8)
            pdf.ln(1.5)
        self.write(text("certificate.pdf.verify_url", "ja"), size=8.5, height=4.4)
        self.write(text("certificate.pdf.verify_url", "en"), size=7.5, colour=90, height=3.8)
        self.write(payload["verify_url"], size=9, height=5)
        pdf.ln(1.5)
        self.write(text("certificate.pdf.fingerprint", "ja"), size=8.5, height=4.4)
        self.write(text("certificate.pdf.fingerprint", "en"), size=7.5, colour=90, height=3.8)
        self.write(f"{payload['key_id']}  (SHA-256: {fingerprint})", size=8, height=4.6)

    def qr(self, url: str, *, x: float, y: float, size: float) -> None:
        """The QR code of ``url`` as filled rectangles (one per run of dark modules in a
        row), ``size`` mm square with its 4-module quiet zone."""
        for left, top, width, height in _qr_rectangles(url, x=x, y=y, size=size):
            self.pdf.set_fill_color(0)
            self.pdf.rect(left, top, width, height, style="F")


def _qr_rectangles(
    url: str, *, x: float, y: float, size: float
) -> list[tuple[float, float, float, float]]:
    """The dark areas of ``url``'s QR code (error correction M), as (x, y, w, h) in mm."""
    import segno

    code = segno.make(url, error="m", micro=False, boost_error=False)
    matrix = code.matrix
    modules = len(matrix) + 8  # the quiet zone: 4 modules each side
    step = size / modules
    rectangles = []
    for row, line in enumerate(matrix):
        column = 0
        while column < len(line):
            if not line[column]:
                column += 1
                continue
            start = column
            while column < len(line) and line[column]:
                column += 1
            rectangles.append(
                (x + (start + 4) * step, y + (row + 4) * step, (column - start) * step, step)
            )
    return rectangles


def _shown_time(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(JST).strftime("%Y-%m-%d %H:%M JST")


def _error_text(code: str, lang: str) -> str:
    try:
        return text(f"error.{code}", "ja" if lang == "ja" else "en")
    except KeyError:
        return code


# -- issuing -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    """A certificate just issued: the sealed PDF and what it states."""

    id: str
    pdf: bytes
    payload: Mapping[str, Any]
    verdict: Verdict
    key: PublicKey
    verify_url: str


def issue_certificate(
    store: Store,
    settings: Settings,
    raw: str,
    *,
    dealer_id: int | None = None,
    issuer: str | None = None,
    mask: bool = False,
    now: datetime | None = None,
) -> IssuedCertificate:
    """Issue the certificate of the device's latest stored check, and keep its record.

    ``dealer_id``/``issuer``: the dealer issuing it (who must have checked the device)
    and the name printed; None: the installation's operator. ``InvalidImei``,
    ``NeverChecked``, and ``UsageError`` for an unusable key.
    """
    from akarom.storage.certificates import NewCertificate

    check = latest_check(store, raw, dealer_id=dealer_id)
    key = load_signing_key(settings)
    public = key.public
    issued_at = (now or datetime.now(UTC)).replace(microsecond=0)
    certificate_id = secrets.token_hex(16)
    payload = build_payload(
        certificate_id=certificate_id,
        issued_at=issued_at,
        issuer=issuer,
        public_url=settings.public_url,
        key_id=public.key_id,
        check=check,
        mask=mask,
    )
    body = canonical_json(payload)
    sealed, signature = seal(render_pdf(payload, fingerprint=public.fingerprint), body, key)
    store.record_certificate(
        NewCertificate(
            id=certificate_id,
            dealer_id=dealer_id,
            imei=check.identity.value,
            observation_ids=check.observation_ids,
            payload=body.decode("utf-8"),
            key_id=public.key_id,
            signature=signature,
            issued_at=issued_at,
        ),
        public_key=public.raw,
    )
    return IssuedCertificate(
        id=certificate_id,
        pdf=sealed,
        payload=payload,
        verdict=check.verdict,
        key=public,
        verify_url=payload["verify_url"],
    )


# -- verifying ---------------------------------------------------------------------------


class Outcome(StrEnum):
    """What verifying a file found."""

    AUTHENTIC = "authentic"  # signed by a known key, not a byte changed
    OTHER_DEVICE = "other_device"  # authentic, but about another device than --imei
    NOT_AUTHENTIC = "not_authentic"  # changed, or signed by no key known
    UNREADABLE = "unreadable"  # no file, too big, or no certificate at all


_EXIT_CODES = {
    Outcome.AUTHENTIC: 0,
    Outcome.OTHER_DEVICE: 1,
    Outcome.NOT_AUTHENTIC: 1,
    Outcome.UNREADABLE: 2,
}


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome of verifying one file; ``reason`` says why it is not authentic.

    Reasons: ``unreadable``, ``too_large``, ``no_marker`` (UNREADABLE); ``layout``,
    ``unknown_key``, ``signature``, ``payload`` (NOT_AUTHENTIC); ``imei`` (OTHER_DEVICE).
    ``payload`` is the signed payload once the signature holds.
    """

    outcome: Outcome
    reason: str | None = None
    key_id: str | None = None
    payload: Mapping[str, Any] | None = None
    #: The device asked about (``imei``, compact), if any.
    imei: str | None = None

    @property
    def exit_code(self) -> int:
        """0 authentic, 1 not (or another device), 2 unreadable (INTERFACES.md §3)."""
        return _EXIT_CODES[self.outcome]


def _not_authentic(reason: str, key_id: str | None = None) -> Verification:
    return Verification(Outcome.NOT_AUTHENTIC, reason, key_id)


def verify_file(path: Path, keys: Iterable[PublicKey], *, imei: str | None = None) -> Verification:
    """``verify_certificate`` on a file; a file that cannot be read or is over
    ``MAX_BYTES`` is UNREADABLE (read no further than the cap)."""
    try:
        with path.open("rb") as source:
            data = source.read(MAX_BYTES + 1)
    except OSError:
        return Verification(Outcome.UNREADABLE, "unreadable")
    return verify_certificate(data, keys, imei=imei)


def verify_certificate(
    data: bytes, keys: Iterable[PublicKey], *, imei: str | None = None
) -> Verification:
    """Whether ``data`` is a certificate signed by one of ``keys``, not a byte changed.

    With ``imei`` (as typed: ``InvalidImei`` if it is none), also whether it is about
    that device. Reads no PDF structure; the module docstring gives the order of the
    checks.
    """
    if imei is not None:
        imei = parse_imei(imei).value
    if len(data) > MAX_BYTES:
        return Verification(Outcome.UNREADABLE, "too_large")
    at = data.rfind(b"\n" + _SIG_PREFIX)
    if at < 0:  # searched for near the end first: the whole file only when it is not there
        if _MARKER not in data:
            return Verification(Outcome.UNREADABLE, "no_marker")
        return _not_authentic("layout")
    head = data[: at + 1]
    end = data.find(b"\n", at + 1)
    if end < 0:
        return _not_authentic("layout")
    line = _SIG_LINE.fullmatch(data, at + 1, end + 1)
    tail = data[end + 1 :]
    if line is None or _TAIL.fullmatch(tail) is None:
        return _not_authentic("layout")
    key_id = line.group(1).decode("ascii")
    encoded = line.group(2)
    signature = base64.urlsafe_b64decode(encoded + b"==")
    # Re-serialised and compared: the last character's 2 spare bits (4 over the two
    # padding characters) let other spellings decode to the same bytes.
    if base64.urlsafe_b64encode(signature).rstrip(b"=") != encoded:
        return _not_authentic("layout", key_id)
    by_id = {key.key_id: key for key in keys}
    key = by_id.get(key_id)
    if key is None:
        return _not_authentic("unknown_key", key_id)
    if not key.verifies(signature, _DOMAIN + head + tail):
        return _not_authentic("signature", key_id)
    payload = _signed_payload(head, key_id)
    if payload is None:
        return _not_authentic("payload", key_id)
    if imei is not None and not _about(payload, imei):
        return Verification(Outcome.OTHER_DEVICE, "imei", key_id, payload, imei)
    return Verification(Outcome.AUTHENTIC, None, key_id, payload, imei)


def _signed_payload(head: bytes, key_id: str) -> dict[str, Any] | None:
    """The payload line that ends ``head``, if it is canonical and names ``key_id``."""
    start = head.rfind(b"\n", 0, len(head) - 1) + 1
    line = head[start:-1]
    if start == 0 or not line.startswith(_PAYLOAD_PREFIX):
        return None
    body = line[len(_PAYLOAD_PREFIX) :]
    try:
        payload = json.loads(
            body.decode("utf-8"), parse_float=_no_float, parse_constant=_no_constant
        )
        canonical = canonical_json(payload)
    except ValueError:  # also UnicodeDecodeError and JSONDecodeError
        return None
    if canonical != body or not isinstance(payload, dict):
        return None
    if payload.get("schema") != SCHEMA or payload.get("key_id") != key_id:
        return None
    return payload


def _no_float(value: str) -> Any:
    raise ValueError(f"a float in the payload: {value}")


def _no_constant(value: str) -> Any:
    raise ValueError(f"{value} in the payload")


def _about(payload: Mapping[str, Any], imei: str) -> bool:
    """Whether the payload's device is ``imei`` (through its digest when masked)."""
    device = payload.get("device")
    if not isinstance(device, Mapping):
        return False
    if "imei" in device:
        return bool(device["imei"] == imei)
    masked, digest = device.get("imei_masked"), device.get("imei_digest")
    if not isinstance(masked, str) or not isinstance(digest, str) or len(masked) != len(imei):
        return False
    if any(shown not in ("*", actual) for shown, actual in zip(masked, imei, strict=True)):
        return False  # the TAC differs: no need to pay for argon2id
    from argon2 import PasswordHasher
    from argon2.exceptions import VerificationError, VerifyMismatchError

    try:
        return PasswordHasher().verify(digest, imei)
    except (VerifyMismatchError, VerificationError, ValueError):
        return False


# -- the verification page ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CertificatePage:
    """What the public page ``/certificates/<id>`` shows: the payload as signed (the
    IMEI masked when the issuer asked), when, and the key that signed it."""

    id: str
    issued_at: datetime
    payload: Mapping[str, Any]
    verdict: Verdict
    key: PublicKey | None
    signature: str


def certificate_by_id(store: Store, certificate_id: str) -> CertificatePage | None:
    """The certificate with that id (anyone's: the id is its QR code's secret), or None.

    Not a certificate id (32 lower-case hex digits) is None without asking the database.
    """
    if not _CERTIFICATE_ID.fullmatch(certificate_id):
        return None
    stored = store.certificate(certificate_id)
    if stored is None:
        return None
    return _page(stored, {kept.key_id: kept.public_key for kept in store.signing_keys()})


def public_key_by_id(store: Store, key_id: str) -> PublicKey | None:
    """A key certificates were signed with, by its id (16 hex digits), or None."""
    if not re.fullmatch(r"[0-9a-f]{16}", key_id):
        return None
    return next(
        (PublicKey(kept.public_key) for kept in store.signing_keys() if kept.key_id == key_id),
        None,
    )


def _page(stored: StoredCertificate, keys: Mapping[str, bytes]) -> CertificatePage:
    payload = json.loads(stored.payload)
    raw = keys.get(stored.key_id)
    return CertificatePage(
        id=stored.id,
        issued_at=stored.issued_at,
        payload=payload,
        verdict=Verdict(payload["check"]["verdict"]),
        key=None if raw is None else PublicKey(raw),
        signature=stored.signature,
    )
