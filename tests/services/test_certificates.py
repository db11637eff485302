"""Check certificates: issued from stored answers, and no changed byte ever verifies.

The PDFs are read here without a PDF library (none is a dependency): the page's
text through the embedded font's ToUnicode map, and the QR code by drawing the
page's filled rectangles and decoding the picture with zxing-cpp. Where poppler's
``pdftoppm`` is installed, the page as a viewer renders it is decoded too.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import zxingcpp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from akarom.config import Settings
from akarom.domain import Carrier, Source, Status, Verdict
from akarom.errors import InvalidImei, UsageError
from akarom.services.certificates import (
    MAX_BYTES,
    NeverChecked,
    Outcome,
    PublicKey,
    canonical_json,
    certificate_by_id,
    installation_key,
    issue_certificate,
    known_keys,
    load_signing_key,
    read_public_key,
    render_pdf,
    verify_certificate,
    verify_file,
)
from akarom.storage import NewObservation, Store

IMEI = "352099001761481"  # ○ at docomo
OTHER_IMEI = "490154203237518"
SAME_MODEL = "352099001761499"  # same TAC as IMEI, another serial (Luhn-valid)
NOW = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)


@pytest.fixture
def app_settings(tmp_path: Path) -> Settings:
    return Settings.from_env(
        {
            "AKAROM_DATA_DIR": str(tmp_path / "data"),
            "AKAROM_PUBLIC_URL": "https://akarom.example.jp",
        }
    )


def _record(store: Store, imei: str, carrier: Carrier, status: Status, hours_ago: float, **extra):
    error = "timeout" if status is Status.UNKNOWN else None
    return store.record(
        NewObservation(
            imei=imei,
            carrier=carrier,
            status=status,
            checked_at=NOW - timedelta(hours=hours_ago),
            error=error,
            **extra,
        )
    )


@pytest.fixture
def checked(store: Store) -> Store:
    """A store in which IMEI was checked: ○ at docomo, - at au."""
    _record(store, IMEI, Carrier.DOCOMO, Status.OK, 3, printed_symbol="〇")
    _record(store, IMEI, Carrier.AU, Status.UNREGISTERED, 2)
    return store


@pytest.fixture
def issued(checked: Store, app_settings: Settings):
    return issue_certificate(checked, app_settings, IMEI, issuer="中古スマホ堂 渋谷店", now=NOW)


@pytest.fixture
def keys(checked: Store, app_settings: Settings, issued) -> list[PublicKey]:
    return known_keys(checked, app_settings)


# -- reading a PDF without a PDF library ---------------------------------------------------

_STREAM = re.compile(rb"<<((?:(?!>>).)*?/Length (\d+)(?:(?!>>).)*?)>>\s*stream\r?\n", re.S)


def _streams(pdf: bytes) -> list[bytes]:
    """Every stream's contents (decompressed), each exactly ``/Length`` bytes long."""
    found = []
    for match in _STREAM.finditer(pdf):
        body = pdf[match.end() : match.end() + int(match.group(2))]
        found.append(zlib.decompress(body) if b"/FlateDecode" in match.group(1) else body)
    return found


def _unescape(literal: bytes) -> bytes:
    """A PDF literal string's bytes (its backslash escapes undone)."""
    out, index = bytearray(), 0
    simple = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("f"): 12}
    while index < len(literal):
        byte = literal[index]
        if byte == 0x5C:  # backslash
            index += 1
            following = literal[index]
            if 0x30 <= following <= 0x37:
                digits = re.match(rb"[0-7]{1,3}", literal[index:]).group(0)
                out.append(int(digits, 8))
                index += len(digits)
                continue
            out.append(simple.get(following, following))
        else:
            out.append(byte)
        index += 1
    return bytes(out)


def page_text(pdf: bytes) -> str:
    """The text shown on the page, decoded through the font's ToUnicode CMap."""
    streams = _streams(pdf)
    to_unicode: dict[int, str] = {}
    for stream in streams:
        for block in re.findall(rb"beginbfchar\s*(.*?)endbfchar", stream, re.S):
            for code, char in re.findall(rb"<([0-9A-Fa-f]{4})>\s*<([0-9A-Fa-f]+)>", block):
                to_unicode[int(code, 16)] = bytes.fromhex(char.decode()).decode("utf-16-be")
    shown = []
    for stream in streams:
        for literal in re.findall(rb"\(((?:\\.|[^\\)])*)\)\s*Tj", stream, re.S):
            raw = _unescape(literal)
            codes = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
            shown.append("".join(to_unicode.get(code, "") for code in codes))
    return "\n".join(shown)


def qr_picture(pdf: bytes, scale: float = 4.0) -> Image.Image:
    """The page's filled rectangles (``x y w h re f``) drawn black on white."""
    content = next(s for s in _streams(pdf) if b" Tj" in s)
    width, height = 595.28, 841.89  # A4 in points
    picture = Image.new("L", (int(width * scale), int(height * scale)), 255)
    draw = ImageDraw.Draw(picture)
    number = rb"(-?[0-9.]+)"
    for x, y, w, h in re.findall(rb" ".join([number] * 4) + rb" re f\b", content):
        left, bottom = float(x), float(y)
        right, top = left + float(w), bottom + float(h)
        box = sorted((left, right)), sorted((height - bottom, height - top))
        draw.rectangle(
            [box[0][0] * scale, box[1][0] * scale, box[0][1] * scale, box[1][1] * scale], fill=0
        )
    return picture


# -- issuing -------------------------------------------------------------------------------


def test_a_certificate_states_the_latest_stored_answers_and_verifies(issued, keys) -> None:
    payload = issued.payload
    assert issued.verdict is Verdict.CLEAR
    assert payload["device"] == {"imei": IMEI, "kind": "imei"}
    assert payload["issuer"] == {"name": "中古スマホ堂 渋谷店", "url": "https://akarom.example.jp"}
    assert payload["issued_at"] == "2026-11-26T16:00:00+09:00"
    assert payload["verify_url"] == f"https://akarom.example.jp/certificates/{issued.id}"
    assert re.fullmatch(r"[0-9a-f]{32}", issued.id)
    results = {r["carrier"]: r for r in payload["check"]["results"]}
    assert results["docomo"] == {
        "carrier": "docomo",
        "status": "ok",
        "symbol": "○",
        "checked_at": "2026-11-26T13:00:00+09:00",
        "source": "live",
        "error": None,
    }
    assert results["au"]["symbol"] == "-"
    assert payload["check"]["checked_at"] == "2026-11-26T14:00:00+09:00"
    assert payload["check"]["origin_carrier"] == "docomo"

    found = verify_certificate(issued.pdf, keys)
    assert (found.outcome, found.exit_code) == (Outcome.AUTHENTIC, 0)
    assert found.payload == payload
    assert found.key_id == issued.key.key_id


def test_the_sealed_file_ends_as_the_plan_lays_it_out(issued) -> None:
    lines = issued.pdf.split(b"\n")
    *_, payload_line, sig_line, startxref, offset, eof, _ = lines
    assert payload_line == b"%AKAROM-CERT-PAYLOAD " + canonical_json(issued.payload)
    assert re.fullmatch(rb"%AKAROM-CERT-SIG ed25519 [0-9a-f]{16} [A-Za-z0-9_-]{86}", sig_line)
    assert (startxref, eof, _) == (b"startxref", b"%%EOF", b"")
    # startxref still points at the cross-reference table: the comments came after it.
    assert issued.pdf[int(offset) :].startswith(b"xref\n")
    assert issued.pdf.startswith(b"%PDF-")


def test_a_failure_after_an_answer_does_not_hide_it(checked: Store, app_settings, keys) -> None:
    _record(checked, IMEI, Carrier.DOCOMO, Status.UNKNOWN, 1)
    issued = issue_certificate(checked, app_settings, IMEI, now=NOW)
    docomo = next(r for r in issued.payload["check"]["results"] if r["carrier"] == "docomo")
    assert docomo["status"] == "ok"


def test_a_carrier_that_only_failed_leaves_the_verdict_open(store: Store, app_settings) -> None:
    _record(store, OTHER_IMEI, Carrier.AU, Status.UNKNOWN, 1)
    issued = issue_certificate(store, app_settings, OTHER_IMEI, now=NOW)
    assert issued.verdict is Verdict.INCOMPLETE
    results = {r["carrier"]: (r["status"], r["error"]) for r in issued.payload["check"]["results"]}
    assert results == {
        "docomo": ("unknown", "skipped"),
        "au": ("unknown", "timeout"),
        "softbank": ("unknown", "skipped"),
        "rakuten": ("unknown", "skipped"),
    }


def test_a_device_never_checked_gets_no_certificate(checked: Store, app_settings) -> None:
    with pytest.raises(NeverChecked) as raised:
        issue_certificate(checked, app_settings, OTHER_IMEI)
    assert raised.value.key == "certificate.never_checked"
    assert not (app_settings.data_dir / "certificate-key.pem").exists()
    with pytest.raises(InvalidImei):
        issue_certificate(checked, app_settings, "352099001761482")


def test_a_dealer_certifies_only_devices_it_checked(checked: Store, app_settings) -> None:
    dealer = checked.create_dealer("中古スマホ堂")
    with pytest.raises(NeverChecked):
        issue_certificate(checked, app_settings, IMEI, dealer_id=dealer.id)
    checked.note_dealer_devices(dealer.id, [IMEI])
    issued = issue_certificate(checked, app_settings, IMEI, dealer_id=dealer.id, issuer="x")
    assert [c.id for c in checked.dealer_certificates(dealer.id)] == [issued.id]
    assert checked.dealer_certificates(dealer.id + 1) == []


def test_the_verification_page_reads_the_certificate_by_its_id(checked: Store, issued) -> None:
    page = certificate_by_id(checked, issued.id)
    assert page is not None
    assert page.payload == issued.payload
    assert page.verdict is Verdict.CLEAR
    assert page.key == issued.key
    assert page.key.fingerprint == issued.key.fingerprint
    assert certificate_by_id(checked, "0" * 32) is None
    assert certificate_by_id(checked, "../../etc/passwd") is None


# -- what the page shows -------------------------------------------------------------------


def test_the_page_shows_japanese_text_in_an_embedded_font(issued) -> None:
    shown = page_text(issued.pdf)
    for expected in (
        "ネットワーク利用制限（赤ロム）確認証明書",
        "問題なし",
        "利用制限はありません",
        "ドコモ",
        "支払い完了・制限なし",
        "中古スマホ堂 渋谷店",
        IMEI,
        issued.id,
        issued.key.fingerprint,
        "2026-11-26 16:00 JST",
    ):
        assert expected in shown, expected
    assert b"/FontFile3" in issued.pdf  # the font program itself is in the file
    assert re.search(rb"/BaseFont /[A-Z]{6}\+NotoSansJP", issued.pdf)  # a subset of it


def test_a_character_the_font_lacks_is_printed_as_a_geta_mark(checked, app_settings) -> None:
    issued = issue_certificate(checked, app_settings, IMEI, issuer="𠮷野屋")
    assert "〓野屋" in page_text(issued.pdf)
    assert issued.payload["issuer"]["name"] == "𠮷野屋"  # the signed payload keeps it


def test_the_qr_code_leads_to_the_verification_page(issued) -> None:
    decoded = zxingcpp.read_barcodes(qr_picture(issued.pdf))
    assert [code.text for code in decoded] == [issued.verify_url]


@pytest.mark.parametrize("dpi", [72, 150, 300])
def test_the_qr_code_decodes_from_the_page_as_a_viewer_renders_it(issued, tmp_path, dpi) -> None:
    if shutil.which("pdftoppm") is None:
        reason = "poppler's pdftoppm is missing: run scripts/install-browser.sh (apt-get)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)
    source = tmp_path / "certificate.pdf"
    source.write_bytes(issued.pdf)
    subprocess.run(
        ["pdftoppm", "-r", str(dpi), "-png", "-singlefile", source, tmp_path / "page"],
        check=True,
        capture_output=True,
    )
    with Image.open(tmp_path / "page.png") as page:
        assert [code.text for code in zxingcpp.read_barcodes(page)] == [issued.verify_url]


def test_rendering_needs_no_database() -> None:
    payload = {
        "id": "0" * 32,
        "issued_at": "2026-11-26T16:00:00+09:00",
        "issuer": {"name": None, "url": "http://127.0.0.1:8000"},
        "key_id": "0" * 16,
        "verify_url": "http://127.0.0.1:8000/certificates/" + "0" * 32,
        "device": {"imei_masked": "35209900*******", "imei_digest": "x", "kind": "imei"},
        "check": {
            "checked_at": "2026-11-26T16:00:00+09:00",
            "verdict": "red",
            "origin_carrier": "au",
            "results": [
                {
                    "carrier": "au",
                    "status": "restricted",
                    "symbol": "×",
                    "checked_at": "2026-11-26T16:00:00+09:00",
                    "source": "manual",
                    "error": None,
                }
            ],
        },
    }
    shown = page_text(render_pdf(payload, fingerprint="0000 " * 16))
    assert "35209900*******" in shown
    assert "赤ロム（×）" in shown
    assert "ネットワーク利用制限中（赤ロム）" in shown
    assert "（手入力）" in shown


# -- no changed byte verifies --------------------------------------------------------------


def _rejected(data: bytes, keys: list[PublicKey]) -> int:
    return verify_certificate(data, keys).exit_code


def _exit_codes(
    original: bytes, changes: list[tuple[int, int]], keys: list[PublicKey]
) -> Counter[int]:
    """Verify ``original`` with each (position, value) change alone; count the exit codes.

    In this process, on two threads: cryptography releases the GIL while it verifies a
    signature, which is most of the time a verification takes.
    """

    def run(part: list[tuple[int, int]]) -> Counter[int]:
        data = bytearray(original)
        codes: Counter[int] = Counter()
        for position, value in part:
            data[position] = value
            codes[verify_certificate(bytes(data), keys).exit_code] += 1
            data[position] = original[position]
        return codes

    with ThreadPoolExecutor(max_workers=2) as pool:
        return sum(pool.map(run, [changes[0::2], changes[1::2]]), Counter())


def test_every_byte_flipped_is_rejected(issued, keys) -> None:
    """Each position changed once (XOR 0xFF): every change is "not authentic" (1)."""
    flips = [(position, byte ^ 0xFF) for position, byte in enumerate(issued.pdf)]
    assert _exit_codes(issued.pdf, flips, keys) == Counter({1: len(issued.pdf)})


def test_every_value_at_every_position_of_the_unsigned_tail_is_rejected(issued, keys) -> None:
    """From the signature line on, where a parser could be fooled: all 255 other values."""
    start = issued.pdf.rindex(b"\n%AKAROM-CERT-SIG ")
    changes = [
        (position, value)
        for position in range(start, len(issued.pdf))
        for value in range(256)
        if value != issued.pdf[position]
    ]
    assert _exit_codes(issued.pdf, changes, keys) == Counter({1: len(changes)})


def test_other_spellings_of_the_same_signature_are_rejected(issued, keys) -> None:
    """base64's spare bits: 15 other last characters decode to the same signature."""
    line_end = issued.pdf.rindex(b"\nstartxref")
    last = issued.pdf[line_end - 1 : line_end]
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    import base64

    same = [
        bytes([c])
        for c in alphabet
        if bytes([c]) != last
        and base64.urlsafe_b64decode(issued.pdf[line_end - 86 : line_end - 1] + bytes([c]) + b"==")
        == base64.urlsafe_b64decode(issued.pdf[line_end - 86 : line_end] + b"==")
    ]
    assert len(same) == 15
    for spelling in same:
        forged = issued.pdf[: line_end - 1] + spelling + issued.pdf[line_end:]
        assert verify_certificate(forged, keys).reason == "layout"


@settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_single_byte_changed_to_any_value_is_rejected(issued, keys, data) -> None:
    position = data.draw(st.integers(0, len(issued.pdf) - 1), label="position")
    value = data.draw(st.integers(0, 255).filter(lambda v: v != issued.pdf[position]))
    changed = bytearray(issued.pdf)
    changed[position] = value
    assert _rejected(bytes(changed), keys) == 1


def test_signed_by_another_key_is_not_authentic(issued) -> None:
    stranger = PublicKey(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    found = verify_certificate(issued.pdf, [stranger])
    assert (found.outcome, found.reason, found.exit_code) == (
        Outcome.NOT_AUTHENTIC,
        "unknown_key",
        1,
    )
    assert found.key_id == issued.key.key_id
    assert verify_certificate(issued.pdf, []).exit_code == 1


def test_files_that_are_no_certificate_are_unreadable(issued, keys, tmp_path) -> None:
    half = issued.pdf[: len(issued.pdf) // 2]  # cut before both marker lines
    plain_pdf = issued.pdf[: issued.pdf.index(b"%AKAROM-CERT-PAYLOAD")] + b"startxref\n1\n%%EOF\n"
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + os.urandom(2000) + b"\xff\xd9"
    for data in (b"", half, plain_pdf, jpeg, os.urandom(5000).replace(b"%", b"")):
        found = verify_certificate(data, keys)
        assert (found.outcome, found.exit_code) == (Outcome.UNREADABLE, 2)
        assert found.reason == "no_marker"
    too_big = issued.pdf + b"%" + b"0" * MAX_BYTES
    assert verify_certificate(too_big, keys).reason == "too_large"
    assert verify_file(tmp_path / "missing.pdf", keys).reason == "unreadable"
    assert verify_file(tmp_path, keys).reason == "unreadable"  # a folder
    big = tmp_path / "big.pdf"
    big.write_bytes(too_big)
    assert verify_file(big, keys).exit_code == 2


def test_a_file_cut_after_its_markers_is_not_authentic(issued, keys) -> None:
    """Cut within the signature or the tail, the markers remain: a changed file (1)."""
    start = issued.pdf.rindex(b"%AKAROM-CERT-SIG")
    for end in range(start, len(issued.pdf)):
        assert _rejected(issued.pdf[:end], keys) == 1
    assert _rejected(issued.pdf + b"\n", keys) == 1  # and nothing may follow


# -- masked IMEI ----------------------------------------------------------------------------


def test_a_masked_certificate_still_confirms_the_phone_in_hand(checked, app_settings) -> None:
    issued = issue_certificate(checked, app_settings, IMEI, mask=True)
    keys = known_keys(checked, app_settings)
    device = issued.payload["device"]
    assert device["imei_masked"] == "35209900*******"
    assert device["imei_digest"].startswith("$argon2id$")
    assert IMEI not in issued.pdf.decode("latin-1")
    assert IMEI not in page_text(issued.pdf)
    assert verify_certificate(issued.pdf, keys, imei=IMEI).outcome is Outcome.AUTHENTIC
    other = verify_certificate(issued.pdf, keys, imei=SAME_MODEL)
    assert (other.outcome, other.exit_code) == (Outcome.OTHER_DEVICE, 1)
    assert verify_certificate(issued.pdf, keys, imei=OTHER_IMEI).outcome is Outcome.OTHER_DEVICE
    # The record keeps the whole IMEI for the dealer; the page shows the payload.
    assert checked.certificate(issued.id).imei == IMEI


def test_an_unmasked_certificate_names_its_device(issued, keys) -> None:
    assert verify_certificate(issued.pdf, keys, imei=IMEI).outcome is Outcome.AUTHENTIC
    assert verify_certificate(issued.pdf, keys, imei=SAME_MODEL).exit_code == 1


# -- keys ---------------------------------------------------------------------------------


def test_the_key_is_created_once_readable_only_by_its_owner(app_settings) -> None:
    first = load_signing_key(app_settings)
    path = app_settings.data_dir / "certificate-key.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert load_signing_key(app_settings).public == first.public
    assert re.fullmatch(r"[0-9a-f]{16}", first.public.key_id)
    assert re.fullmatch(r"([0-9a-f]{4} ){15}[0-9a-f]{4}", first.public.fingerprint)
    assert first.public.fingerprint.replace(" ", "").startswith(first.public.key_id)


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_a_key_others_can_read_is_refused(app_settings) -> None:
    load_signing_key(app_settings)
    path = app_settings.data_dir / "certificate-key.pem"
    path.chmod(0o640)
    with pytest.raises(UsageError) as raised:
        load_signing_key(app_settings)
    assert raised.value.key == "certificate.key_exposed"


def test_a_named_key_file_is_never_created(tmp_path) -> None:
    named = Settings.from_env(
        {"AKAROM_DATA_DIR": str(tmp_path), "AKAROM_CERTIFICATE_KEY": str(tmp_path / "typo.pem")}
    )
    with pytest.raises(UsageError) as raised:
        load_signing_key(named)
    assert raised.value.key == "certificate.no_key"
    assert not (tmp_path / "typo.pem").exists()


def test_a_file_without_an_ed25519_key_is_refused(tmp_path) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    path.chmod(0o600)
    named = Settings.from_env(
        {"AKAROM_DATA_DIR": str(tmp_path), "AKAROM_CERTIFICATE_KEY": str(path)}
    )
    with pytest.raises(UsageError) as raised:
        load_signing_key(named)
    assert raised.value.key == "certificate.key_invalid"


def test_old_certificates_verify_after_the_key_is_replaced(checked, app_settings, issued) -> None:
    key_file = app_settings.data_dir / "certificate-key.pem"
    key_file.unlink()  # a new key from now on
    newer = issue_certificate(checked, app_settings, IMEI)
    assert newer.key != issued.key
    keys = known_keys(checked, app_settings)
    assert verify_certificate(issued.pdf, keys).outcome is Outcome.AUTHENTIC
    assert verify_certificate(newer.pdf, keys).outcome is Outcome.AUTHENTIC
    # Offline, with the old public key alone: the old one verifies, the new one does not.
    old_only = [read_public_key(issued.key.pem().encode())]
    assert verify_certificate(issued.pdf, old_only).exit_code == 0
    assert verify_certificate(newer.pdf, old_only).exit_code == 1


def test_the_public_key_is_kept_so_verifying_needs_no_key_file(checked, app_settings) -> None:
    public = installation_key(checked, app_settings)
    (app_settings.data_dir / "certificate-key.pem").unlink()
    assert public in known_keys(checked, app_settings)
    with pytest.raises(ValueError, match="not"):
        read_public_key(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")


# -- the payload ---------------------------------------------------------------------------


def test_the_payload_is_canonical_json() -> None:
    assert (
        canonical_json({"b": 1, "a": {"d": None, "c": "ー"}})
        == '{"a":{"c":"ー","d":null},"b":1}'.encode()
    )
    with pytest.raises(ValueError, match="floats"):
        canonical_json({"a": 1.5})


def test_a_manual_answer_is_certified_as_manual(store: Store, app_settings) -> None:
    _record(
        store,
        OTHER_IMEI,
        Carrier.AU,
        Status.RESTRICTED,
        1,
        source=Source.MANUAL,
        entered_by="staff",
    )
    issued = issue_certificate(store, app_settings, OTHER_IMEI)
    assert issued.verdict is Verdict.RED
    au = next(r for r in issued.payload["check"]["results"] if r["carrier"] == "au")
    assert (au["source"], au["symbol"]) == ("manual", "×")
    assert "（手入力）" in page_text(issued.pdf)
